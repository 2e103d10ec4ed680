#!/usr/bin/env bash
# fanin on a CUDA GPU: bit identity of fanin.jax and fanin.torch against the NumPy
# reference, then a short benchmark (a few minutes). Runs from the source tree with the
# torch and JAX already installed (no network, no installs, no compiled kernel needed).
#
#   scripts/gpu_check.sh [--quick] [--skip-bench] [--out FILE]
#
# Without a GPU, the same checks run on CPU devices (degraded mode). Exit status: 0 all
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
