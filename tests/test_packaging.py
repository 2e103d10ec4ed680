"""The sdist holds what its own tests and readers need, and the build does not warn.

(scripts/check_sdist.sh goes further: it installs the sdist in a fresh venv and runs
its tests; CI runs it.)
"""

import email
import importlib.util
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

import fanin

ROOT = Path(__file__).resolve().parents[1]
NEEDED = ("LICENSE", "README.md", "pyproject.toml", "setup.py", "conftest.py",
          "tests/conftest.py", "tests/test_stream.py", "docs/stream.md", "docs/index.md",
          "mkdocs.yml", "fanin/py.typed", "fanin/stream/_kernel.c", "fanin/stream/_kernel_impl.h",
          "fanin/stream/_tables.h")


@pytest.fixture(scope="module")
def sdist(tmp_path_factory):
    if importlib.util.find_spec("build") is None:
        pytest.skip("the `build` package is not installed")
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run([sys.executable, "-m", "build", "--sdist", "--no-isolation",
                           "--outdir", str(out), str(ROOT)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    (path,) = out.glob("fanin-*.tar.gz")
    return path, done.stdout + done.stderr


@pytest.mark.slow
def test_sdist_holds_tests_docs_and_license(sdist):
    path, _ = sdist
    with tarfile.open(path) as tar:
        top = tar.getnames()[0].split("/")[0]
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
        info = email.message_from_bytes(tar.extractfile(f"{top}/PKG-INFO").read())
    missing = [n for n in NEEDED if n not in names]
    assert not missing, f"the sdist lacks {missing}"
    assert not [n for n in names if n.endswith((".so", ".pyc"))]
    assert info["Version"] == fanin.__version__  # one version source: fanin/__init__.py
    assert info["License-Expression"] == "Apache-2.0"
    assert info["Requires-Python"] == ">=3.11"


@pytest.mark.slow
def test_build_prints_no_deprecation_warning(sdist):
    _, log = sdist
    assert "deprecat" not in log.lower(), [ln for ln in log.splitlines() if "eprecat" in ln]


def test_license_file_is_apache_2():
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text
