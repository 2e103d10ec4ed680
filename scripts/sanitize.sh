#!/usr/bin/env bash
# Build fanin.stream._kernel with AddressSanitizer + UndefinedBehaviorSanitizer into a scratch
# copy of the package and run the kernel tests (every ISA variant the CPU has) on it.
# CI calls this once; needs gcc. Usage: scripts/sanitize.sh [extra pytest args]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp -r "$root/fanin" "$root/setup.py" "$root/pyproject.toml" "$work/"
rm -f "$work"/fanin/stream/_kernel*.so
cd "$work"
CFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g" \
LDFLAGS="-fsanitize=address,undefined" \
    python setup.py build_ext --inplace -q 2>&1 | grep -v -i "deprecat\|\*\*\*\|^!!\|^ *$\|license" || true
so="$(ls fanin/stream/_kernel*.so)" || { echo "sanitized build failed" >&2; exit 1; }
nm -D "$so" | grep -q __asan_init || { echo "$so is not instrumented" >&2; exit 1; }
export LD_PRELOAD="$(gcc -print-file-name=libasan.so):$(gcc -print-file-name=libubsan.so)"
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export PYTHONPATH="$work"
export FANIN_REQUIRE_KERNEL=1
cp -r "$root/tests" "$work/tests"
python -m pytest -q -p no:cacheprovider -o addopts="" "$work/tests/test_kernel.py" \
    -k "not interrupted" "$@"
