#!/usr/bin/env bash
# Install the manylinux wheel that scripts/build_wheels.sh wrote (dist/ by default) in
# a fresh virtual environment, check that it runs the compiled kernel, and run the
# quick tests (`-m "not slow"`) against it from a folder without the source tree.
# Usage: scripts/check_wheel.sh [WHEEL]   (needs the test extras in the running python)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
. "$repo/scripts/_fresh_venv.sh"
wheel=${1:-$(ls "$repo"/dist/fanin-*-manylinux*_x86_64.whl)}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fresh_venv "$work/venv"
"$work/venv/bin/python" -m pip install -q --no-deps "$wheel"
mkdir "$work/run"
cp -r "$repo"/tests "$repo"/conftest.py "$repo"/pyproject.toml "$repo"/README.md \
    "$repo"/LICENSE "$repo"/docs "$work/run/"
cd "$work/run"
"$work/venv/bin/python" - <<'PY'
import fanin, fanin.stream
assert "site-packages" in fanin.__file__, fanin.__file__
assert fanin.stream.using_kernel(), "the wheel's compiled kernel is not in use"
print("testing the wheel:", fanin.__file__, fanin.__version__, "(compiled kernel)")
PY
export FANIN_REQUIRE_KERNEL=1
"$work/venv/bin/python" -m pytest -q -p no:cacheprovider -m "not slow" tests
