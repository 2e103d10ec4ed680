#!/usr/bin/env bash
# fanin on a CUDA GPU: bit identity of fanin.jax, fanin.torch and the fused Triton kernel
# (fanin.stream.triton) against the NumPy reference, then a short benchmark (the Triton
# kernel against torch's normal_/uniform_/trunc_normal_ on 4096x4096 and 2**30 elements,
# float32 and bfloat16, with peak device memory). Runs from the source tree with the
# torch, JAX and Triton already installed (no network, no installs, no compiled kernel
# needed; Triton needs a C compiler for its launcher).
#
#   scripts/gpu_check.sh [--quick] [--skip-bench] [--out FILE]
#
# Without a GPU, the same checks run on CPU devices (degraded mode); the Triton kernel
# then runs only with TRITON_INTERPRET=1 (interpreted, small shapes). Exit status: 0 all
# matched, 1 some value differed or a part failed, 2 no framework could run.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export FANIN_NO_KERNEL_WARNING=1
# JAX must not grab 75% of the GPU's memory up front: torch runs in the same process.
export XLA_PYTHON_CLIENT_PREALLOCATE=false
PY="${PYTHON:-python3}"
"$PY" -c 'import sys; print("python", sys.version.split()[0])'
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null \
  || echo "no nvidia-smi: degraded mode (CPU devices)"
exec timeout "${GPU_CHECK_TIMEOUT:-900}" "$PY" scripts/gpu_check.py "$@"
