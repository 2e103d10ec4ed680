"""Every ```python block of README.md and docs/ runs, as a reader would run it.

Each block runs on its own, in a fresh namespace (a reader may copy any one block:
its imports are inside it); the blocks of one file share one interpreter. A block
of ``>>>`` lines runs as a doctest (its outputs are checked, with ELLIPSIS); any
other block is executed as a script. A block that
imports a framework that is not installed skips the rest of its file. Keras runs on
the JAX backend (the root conftest sets KERAS_BACKEND=jax before anything imports
Keras, as the Keras guide tells readers to). Files whose blocks import a framework
are marked slow (the imports alone take seconds).
"""

import doctest
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FILES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.M | re.S)
# A block right after this comment is only compiled, not run: it needs what a test
# process cannot have (torch.distributed ranks, a 20 GB output). The reason is required.
NO_RUN = re.compile(r"<!-- no-run: [^>]+ -->\s*$")
# Optional packages a block may import (module name as imported).
OPTIONAL = ("torch", "keras", "jax", "flax", "tensorflow", "safetensors", "matplotlib",
            "ml_dtypes", "scipy")
FRAMEWORKS = ("torch", "keras", "jax", "flax", "tensorflow")


def blocks(path: Path, runnable=True):
    """(line number, code) of the python blocks of ``path`` to run (``runnable``), or
    of those marked no-run."""
    text = path.read_text()
    return [(text.count("\n", 0, m.start(1)) + 1, m.group(1)) for m in FENCE.finditer(text)
            if bool(NO_RUN.search(text, 0, m.start())) != runnable]


def imported(code: str, names=OPTIONAL):
    """The optional packages ``code`` imports (``import a, b.c`` / ``from a import``)."""
    found = set()
    for line in code.splitlines():
        line = line.strip().removeprefix(">>> ").removeprefix("... ")
        if line.startswith("from "):
            found.add(line.split()[1].split(".")[0])
        elif line.startswith("import "):
            for item in line[len("import "):].split(","):
                found.add(item.split()[0].split(".")[0])
    return [n for n in names if n in found]


def _param(path: Path):
    codes = [code for _, code in blocks(path)]
    slow = any(imported(code, FRAMEWORKS) for code in codes)
    return pytest.param(path, id=str(path.relative_to(ROOT)),
                        marks=[pytest.mark.slow] if slow else [])


DOCUMENTED = [_param(p) for p in FILES if blocks(p)]


@pytest.mark.parametrize("path", [p for p in FILES if blocks(p, runnable=False)],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_no_run_blocks_compile(path):
    for line, code in blocks(path, runnable=False):
        compile(code, f"{path.relative_to(ROOT)}:{line}", "exec")


def run_block(code: str, where: str, namespace: dict) -> None:
    if code.lstrip().startswith(">>>"):
        test = doctest.DocTestParser().get_doctest(code, namespace, where, where, 0)
        runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
        report = []
        runner.run(test, out=report.append, clear_globs=False)
        namespace.update(test.globs)  # DocTest ran on a copy: keep its names for later blocks
        assert runner.failures == 0, f"{where}:\n" + "".join(report)
    else:
        exec(compile(code, where, "exec"), namespace)  # noqa: S102 -- the docs' own code


def test_documentation_is_found():
    names = {p.name for p in FILES}
    assert {"README.md", "index.md", "keras.md", "pytorch.md", "jax.md", "scale.md"} <= names
    assert len(DOCUMENTED) >= 7  # README, index, cli and the four guides hold python blocks


def run_file(path: Path) -> str:
    """Run ``path``'s blocks in order, each in a fresh namespace; return why it stopped
    early, or ""."""
    for line, code in blocks(path):
        missing = [n for n in imported(code) if importlib.util.find_spec(n) is None]
        if missing:
            return f"{path.name}:{line} needs {', '.join(missing)} (not installed)"
        run_block(code, f"{path.relative_to(ROOT)}:{line}", {"__name__": "__doc_block__"})
    return ""


@pytest.mark.parametrize("path", DOCUMENTED)
def test_code_blocks_run(path, tmp_path):
    """Each file's blocks run in a fresh interpreter, as a reader runs them: importing
    Keras in this process would turn later tests' fanin objects into Keras-side ones."""
    env = {**os.environ, "KERAS_BACKEND": os.environ.get("KERAS_BACKEND", "jax"),
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    r = subprocess.run([sys.executable, __file__, str(path)], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    if r.stdout.startswith("skip: "):
        pytest.skip(r.stdout[len("skip: "):].strip())


def test_extraction_sees_doctests_scripts_and_imports(tmp_path):
    sample = ("text\n```python\n>>> import fanin\n>>> 1 + 1\n2\n```\n"
              "```bash\npip install torch\n```\n```python\nimport numpy as np, torch\n```\n"
              "<!-- no-run: needs ranks -->\n```python\nrun_on_ranks()\n```\n")
    path = tmp_path / "sample.md"
    path.write_text(sample)
    found = blocks(path)
    assert [line for line, _ in found] == [3, 11]
    assert blocks(path, runnable=False) == [(15, "run_on_ranks()\n")]
    assert imported(found[1][1]) == ["torch"] and imported(found[0][1]) == []
    with pytest.raises(AssertionError, match="Expected"):
        run_block(">>> 1 + 1\n3\n", "sample", {})


if __name__ == "__main__":  # the child of test_code_blocks_run: python test_readme.py FILE
    why = run_file(Path(sys.argv[1]))
    print(f"skip: {why}" if why else "ok")
