#!/usr/bin/env bash
# With no C compiler (CC=false) the package must still build and install, say so
# loudly in the build log, and warn at import that the NumPy reference is in use.
# Checked twice: from the sdist, and from a source tree that was built once with a
# compiler (its build/ folder holds a kernel that must not be reused).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
. "$repo/scripts/_fresh_venv.sh"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

python -m build --sdist --outdir "$work/dist" "$repo" > /dev/null
sdist=$(ls "$work"/dist/fanin-*.tar.gz)
mkdir "$work/src"
tar -xzf "$sdist" -C "$work/src"
tree=$(ls -d "$work"/src/fanin-*/)
# The earlier build: compiles the kernel into the tree's build/ folder.
python -m pip wheel -q --no-deps --no-build-isolation -w "$work/wheel" "$tree" > /dev/null
ls "$tree"/build/lib*/fanin/stream/_kernel*.so > /dev/null

check() {  # check LABEL SOURCE: install SOURCE with CC=false in a fresh venv
    local label=$1 source=$2 venv="$work/venv-$1"
    fresh_venv "$venv"
    CC=false "$venv/bin/python" -m pip install -v --no-deps --no-build-isolation \
        "$source" > "$work/install-$label.log" 2>&1
    grep -q "WARNING: fanin's compiled kernel (fanin.stream._kernel) was NOT built" \
        "$work/install-$label.log" \
        || { echo "$label: no warning in the install log" >&2
             tail -30 "$work/install-$label.log" >&2; exit 1; }
    (cd "$work" && "$venv/bin/python" -W error::RuntimeWarning -c "import fanin") \
        2> "$work/import.err" && { echo "$label: import fanin did not warn" >&2; exit 1; }
    grep -q "NumPy reference" "$work/import.err" \
        || { echo "$label: unexpected import error:" >&2; cat "$work/import.err" >&2; exit 1; }
    echo "no-compiler build from the $label: install log and import both warn"
}
check sdist "$sdist"
check built-tree "$tree"
