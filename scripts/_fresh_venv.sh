# Sourced by the check_*.sh scripts: fresh_venv DIR makes a virtual environment that
# sees the packages of the running Python's environment (numpy, scipy, pytest, ...)
# through a .pth line, but not its fanin (an editable install's finder is a .pth
# hook of that environment, which a plain path line does not run). So only the
# package under test is new, and nothing is downloaded.
fresh_venv() {
    local dir=$1 parent
    parent=$(python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    python -m venv "$dir"
    local site
    site=$("$dir/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    echo "$parent" > "$site/_parent_env.pth"
    # venv's bundled setuptools is older than the build needs (>=77): use the parent's.
    "$dir/bin/python" -m pip uninstall -q -y setuptools
}
