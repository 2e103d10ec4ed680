"""How much of fanin's public API carries type annotations.

Reads the source (nothing is imported, so no framework is needed): the public
modules of the package (no leading underscore in any part of the module's name),
their public functions, and the public methods of their public classes, ``__init__``
and ``__call__`` included. A module with ``__all__`` exposes the names listed there.
Counts the parameters (not ``self`` / ``cls``) that have an annotation, and the
functions with a return annotation.

    python tools/annotation_coverage.py                 # table and totals
    python tools/annotation_coverage.py --min 95        # exit 1 below 95 % of parameters
    python tools/annotation_coverage.py --skip fanin.torch fanin.stream   # and submodules
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "fanin"
DUNDERS = {"__init__", "__call__", "__new__"}


def public_modules(root: Path = PACKAGE) -> dict[str, Path]:
    """Module name -> file, for the package's public modules."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if not any(p.startswith("_") for p in parts):
            found[".".join(parts)] = path
    return found


def _exported(tree: ast.Module) -> set[str] | None:
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            if isinstance(node.value, (ast.List, ast.Tuple)):
                return {e.value for e in node.value.elts
                        if isinstance(e, ast.Constant) and isinstance(e.value, str)}
    return None


def _is_public(name: str, exported: set[str] | None) -> bool:
    return name in exported if exported is not None else not name.startswith("_")


def functions(tree: ast.Module) -> list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    """(qualified name, node) of the public functions and methods."""
    exported = _exported(tree)
    out = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if _is_public(node.name, exported):
                out.append((node.name, node))
        elif isinstance(node, ast.ClassDef) and _is_public(node.name, exported):
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and (
                        item.name in DUNDERS or not item.name.startswith("_")):
                    out.append((f"{node.name}.{item.name}", item))
    return out


def counts(node: ast.FunctionDef | ast.AsyncFunctionDef, method: bool) -> tuple[int, int]:
    """(annotated parameters, parameters) of one function, ``self``/``cls`` left out."""
    a = node.args
    params = [*a.posonlyargs, *a.args, *a.kwonlyargs,
              *([a.vararg] if a.vararg else []), *([a.kwarg] if a.kwarg else [])]
    if method and params and params[0].arg in ("self", "cls"):
        params = params[1:]
    return sum(p.annotation is not None for p in params), len(params)


def measure(skip: set[str]) -> list[tuple[str, int, int, int, int]]:
    """Per module: (name, annotated params, params, annotated returns, functions)."""
    rows = []
    for name, path in public_modules().items():
        if any(name == s or name.startswith(s + ".") for s in skip):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        ann = total = ret = funcs = 0
        for qual, node in functions(tree):
            got, n = counts(node, "." in qual)
            ann, total = ann + got, total + n
            funcs += 1
            ret += node.returns is not None or node.name == "__init__"
        rows.append((name, ann, total, ret, funcs))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--min", type=float, default=None,
                        help="exit 1 when the parameter share is below this percentage")
    parser.add_argument("--skip", nargs="*", default=[],
                        help="modules to leave out, with their submodules")
    args = parser.parse_args(argv)
    rows = measure(set(args.skip))
    print(f"{'module':<22} {'parameters':>14} {'returns':>12}")
    for name, ann, total, ret, funcs in rows:
        print(f"{name:<22} {ann:>6}/{total:<7} {ret:>5}/{funcs:<6}")
    ann, total = sum(r[1] for r in rows), sum(r[2] for r in rows)
    ret, funcs = sum(r[3] for r in rows), sum(r[4] for r in rows)
    share = 100.0 * ann / total if total else 100.0
    print(f"annotated parameters: {ann}/{total} = {share:.1f} %; "
          f"return annotations: {ret}/{funcs} = {100.0 * ret / max(funcs, 1):.1f} %")
    if args.min is not None and share < args.min:
        print(f"below the required {args.min:g} %", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
