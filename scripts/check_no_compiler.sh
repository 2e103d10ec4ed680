#!/usr/bin/env bash
# With no C compiler (CC=false) the package must still build and install, say so
# loudly in the build log, and warn at import that the NumPy reference is in use.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
. "$repo/scripts/_fresh_venv.sh"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

python -m build --sdist --outdir "$work/dist" "$repo" > /dev/null
fresh_venv "$work/venv"
CC=false "$work/venv/bin/python" -m pip install -v --no-deps --no-build-isolation \
    "$work"/dist/fanin-*.tar.gz > "$work/install.log" 2>&1
grep -q "WARNING: fanin's compiled kernel (fanin.stream._kernel) was NOT built" "$work/install.log" \
    || { echo "no warning in the install log" >&2; tail -30 "$work/install.log" >&2; exit 1; }
cd "$work"
"$work/venv/bin/python" -W error::RuntimeWarning -c "import fanin" 2> "$work/import.err" \
    && { echo "import fanin did not warn" >&2; exit 1; }
grep -q "NumPy reference" "$work/import.err" \
    || { echo "unexpected import error:" >&2; cat "$work/import.err" >&2; exit 1; }
echo "no-compiler build: install log and import both warn"
