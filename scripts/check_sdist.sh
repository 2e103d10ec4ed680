#!/usr/bin/env bash
# Build the sdist, install it (kernel included) in a fresh virtual environment and run
# the tests it ships against the installed package, from a directory that holds no
# fanin/ source. Runs the `-m "not slow"` tier and the installed modules' doctests.
# Usage: scripts/check_sdist.sh   (from any directory; needs python with build,
# setuptools>=77, numpy and the test extras on PATH)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
. "$repo/scripts/_fresh_venv.sh"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

python -m build --sdist --outdir "$work/dist" "$repo"
sdist=$(ls "$work"/dist/fanin-*.tar.gz)
tar -xzf "$sdist" -C "$work"
unpacked=$(ls -d "$work"/fanin-*/)
for need in LICENSE conftest.py tests/conftest.py docs/stream.md; do
    [ -e "$unpacked/$need" ] || { echo "sdist lacks $need" >&2; exit 1; }
done

fresh_venv "$work/venv"
# The build requirements come from the environment (no index needed).
"$work/venv/bin/python" -m pip install -q --no-deps --no-build-isolation "$sdist"

# The tests and their conftests, without the source tree next to them.
mkdir "$work/run"
# (pyproject.toml for the pytest markers and options; its testpaths are not used)
cp -r "$unpacked"/tests "$unpacked"/conftest.py "$unpacked"/pyproject.toml \
    "$unpacked"/README.md "$unpacked"/LICENSE "$unpacked"/docs "$work/run/"
cd "$work/run"
"$work/venv/bin/python" - <<'PY'
import fanin, fanin.stream._kernel  # the installed package, with its kernel
assert "site-packages" in fanin.__file__, fanin.__file__
print("testing", fanin.__file__, fanin.__version__)
PY
export FANIN_REQUIRE_KERNEL=1
"$work/venv/bin/python" -m pytest -q -p no:cacheprovider -m "not slow" tests
# The installed modules' doctests, by file. The Keras adapters' doctests run in
# tests/test_keras.py's Keras child processes (the root conftest leaves them out
# in-process the same way; --ignore-glob does not reach into site-packages).
modules=$("$work/venv/bin/python" -c 'import fanin, os
d = os.path.dirname(fanin.__file__)
print(" ".join(os.path.join(d, f) for f in sorted(os.listdir(d))
               if f.endswith(".py") and f not in ("keras.py", "tf_keras.py")))')
# shellcheck disable=SC2086  # one argument per module path
"$work/venv/bin/python" -m pytest -q -p no:cacheprovider --doctest-modules $modules
