"""The package's layout rules, checked on its source: no import cycles, no private name
of one module read by another, short functions and modules, and comments that point
only at what a reader has (no issue numbers, finding ids or outside documents).
See docs/design.md."""

from __future__ import annotations

import ast
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "fanin"
GENERATED = {"fanin.stream._tables"}
MAX_FUNCTION_LINES = 60
MAX_MODULE_LINES = 800


def _module_name(path: pathlib.Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
TREES = {name: ast.parse(path.read_text(encoding="utf-8")) for name, path in MODULES.items()}


def _package_of(name: str) -> str:
    return name if MODULES[name].name == "__init__.py" else name.rpartition(".")[0]


def _resolve(module: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = _package_of(module).split(".")
    base = base[:len(base) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(module: str) -> dict[str, set[str]]:
    """fanin module -> names imported from it (``"*"``: the module itself), anywhere
    in ``module`` (function-level imports count: they are edges too)."""
    found: dict[str, set[str]] = {}
    for node in ast.walk(TREES[module]):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name in MODULES:
                    found.setdefault(a.name, set()).add("*")
        elif isinstance(node, ast.ImportFrom):
            source = _resolve(module, node)
            for a in node.names:
                sub = f"{source}.{a.name}"
                if sub in MODULES:
                    found.setdefault(sub, set()).add("*")
                elif source in MODULES:
                    found.setdefault(source, set()).add(a.name)
    return found


def _edges() -> dict[str, set[str]]:
    """Import edges between fanin's modules (a package's own submodules that its
    ``__init__`` re-exports do not make the package a dependency of them)."""
    edges = {}
    for module in MODULES:
        targets = set(_imports(module))
        edges[module] = {t for t in targets if t != module
                         and not (module.startswith(t + ".") and t == _package_of(module))}
    return edges


def test_no_import_cycles():
    edges, state, cycles = _edges(), {}, []

    def visit(node, path):
        state[node] = "open"
        for nxt in sorted(edges[node]):
            if state.get(nxt) == "open":
                cycles.append(path[path.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = "done"

    for module in sorted(MODULES):
        if module not in state:
            visit(module, [module])
    assert not cycles, cycles


def _same_package(a: str, b: str) -> bool:
    return _package_of(a) == _package_of(b) or b.startswith(_package_of(a) + ".")


def test_no_private_names_read_across_modules():
    """``from m import _x`` or ``m._x`` for another fanin module ``m`` (a package may use
    its own private modules, e.g. ``fanin.stream._tables``)."""
    bad = []
    for module in MODULES:
        imports = _imports(module)
        for source, names in imports.items():
            for name in names - {"*"}:
                if name.startswith("_") and not _same_package(module, source):
                    bad.append((module, f"{source}.{name}"))
            if source.rpartition(".")[2].startswith("_") and not _same_package(module, source):
                bad.append((module, source))
        aliases = {}
        for node in ast.walk(TREES[module]):
            if isinstance(node, ast.ImportFrom):
                src = _resolve(module, node)
                for a in node.names:
                    if f"{src}.{a.name}" in MODULES:
                        aliases[a.asname or a.name] = f"{src}.{a.name}"
        for node in ast.walk(TREES[module]):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in aliases and node.attr.startswith("_")
                    and not node.attr.startswith("__")
                    and not _same_package(module, aliases[node.value.id])):
                bad.append((module, f"{aliases[node.value.id]}.{node.attr}"))
    assert not bad, sorted(set(bad))


def test_functions_are_short():
    long = []
    for module, tree in TREES.items():
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                body = node.body[1:] if ast.get_docstring(node) else node.body
                if body:
                    n = body[-1].end_lineno - body[0].lineno + 1
                    if n > MAX_FUNCTION_LINES:
                        long.append((module, node.name, n))
    assert not long, long


def test_modules_are_short():
    long = [(m, n) for m, p in MODULES.items() if m not in GENERATED
            and (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES]
    assert not long, long


_OUTSIDE = re.compile(r"DESIGN(\.md| \d)|\bfinding [A-Z]?\d|\bissue \d+|\((T3-)?[FRNOPS]\d+\)"
                      r"|\bT3-[A-Z]\d|findings/|\.\./shared")


@pytest.mark.parametrize("folder", ["fanin", "tests", "benchmarks", "scripts", "tools"])
def test_no_references_to_documents_outside_the_repository(folder):
    this = pathlib.Path(__file__).resolve()
    hits = []
    for path in sorted((ROOT / folder).rglob("*")):
        if path.suffix in (".py", ".c", ".h", ".sh", ".md") and path.resolve() != this:
            for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if _OUTSIDE.search(line):
                    hits.append(f"{path.relative_to(ROOT)}:{i}: {line.strip()}")
    assert not hits, "\n".join(hits)
