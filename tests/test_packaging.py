"""The sdist holds what its own tests and readers need, and the build does not warn.

(scripts/check_sdist.sh goes further: it installs the sdist in a fresh venv and runs
its tests; CI runs it.)
"""

import ast
import email
import importlib.metadata
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


def _installed_version(distribution: str) -> tuple[int, ...] | None:
    """The installed version of a distribution, or None. Looks at installed metadata,
    not at importable names: a checkout's setuptools output folder `build/` imports as a
    namespace package called `build` but is not the PyPA build tool."""
    try:
        text = importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None
    return tuple(int(p) for p in text.split(".")[:2] if p.isdigit())


def why_no_build() -> str:
    """Why the sdist cannot be built without isolation here, or ""."""
    if _installed_version("build") is None:
        return "the `build` package is not installed (it is in the `test` extra)"
    setuptools = _installed_version("setuptools")
    if setuptools is None or setuptools < (77,):
        return "setuptools >= 77 is not installed (it is in the `test` extra)"
    return ""


@pytest.fixture(scope="module")
def sdist(tmp_path_factory):
    if why_no_build():
        pytest.skip(why_no_build())
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


def test_skip_check_is_not_fooled_by_a_build_folder(tmp_path, monkeypatch):
    (tmp_path / "build").mkdir()  # what `pip install .` leaves in a checkout
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(importlib.metadata, "version", _no_build_distribution)
    assert "`build` package is not installed" in why_no_build()


def _no_build_distribution(name: str) -> str:
    if name == "build":
        raise importlib.metadata.PackageNotFoundError(name)
    return "80.0"


def test_license_file_is_apache_2():
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text


def _coverage_tool():
    """tools/annotation_coverage.py, which reads the source tree's fanin/ (absent where
    the tests run against an installed sdist or wheel)."""
    if not (ROOT / "tools" / "annotation_coverage.py").exists() or not (ROOT / "fanin").is_dir():
        pytest.skip("needs the source tree (tools/ and fanin/)")
    spec = importlib.util.spec_from_file_location("annotation_coverage",
                                                  ROOT / "tools" / "annotation_coverage.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_annotation_coverage_counts_public_parameters_only():
    tool = _coverage_tool()
    tree = ast.parse("__all__ = ['f', 'C']\n"
                     "def f(a: int, b, *args, c: str = '', **kw) -> None: ...\n"
                     "def g(x): ...\n"  # not in __all__
                     "class C:\n"
                     "    def __init__(self, n: int): ...\n"
                     "    def __call__(self, x): ...\n"
                     "    def _hidden(self, y): ...\n")
    found = {name: tool.counts(node, "." in name) for name, node in tool.functions(tree)}
    assert found == {"f": (2, 5), "C.__init__": (1, 1), "C.__call__": (0, 1)}


def test_public_api_is_annotated():
    rows = _coverage_tool().measure(set())
    annotated, total = sum(r[1] for r in rows), sum(r[2] for r in rows)
    assert total > 100 and annotated / total >= 0.95, rows
