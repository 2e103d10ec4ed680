"""A griffe extension for the API reference: docstrings render as Markdown should.

- fanin's docstrings hold plain ``>>>`` doctest examples (run by pytest). Markdown
  would read their outputs as text, e.g. ``['0x66...']`` as a link reference; each
  run of example lines (a ``>>>`` line, its ``...`` continuations and its output, up
  to a blank line) is wrapped in a ``pycon`` code fence.
- Sphinx roles (``:meth:`draw```, ``:class:`~fanin.draws.Draw```) become links to
  the documented object when it is on the API page, and code otherwise: the link is
  an *optional* cross-reference, which mkdocs-autorefs renders as plain code when
  the target is not documented, so internals never break the strict build.
"""

from __future__ import annotations

import html
import re

import griffe

ROLE = re.compile(r":(?:py:)?(?:func|meth|class|mod|attr|data|exc|obj):`(~?)([^`]+)`")


def fence_examples(text: str) -> str:
    out: list[str] = []
    in_example = False
    for line in text.splitlines():
        starts = line.lstrip().startswith(">>>")
        if starts and not in_example:
            out.append("```pycon")
            in_example = True
        elif in_example and not line.strip():
            out.append("```")
            in_example = False
        out.append(line)
    if in_example:
        out.append("```")
    return "\n".join(out)


def _resolve(obj: griffe.Object, name: str) -> str | None:
    """The full path of ``name`` as seen from ``obj`` (its scope, then its parents')."""
    if name.startswith("fanin."):
        return name
    scope: griffe.Object | None = obj
    while scope is not None:
        try:
            return scope.resolve(name.split(".")[0]) + name[len(name.split(".")[0]):]
        except (griffe.NameResolutionError, AttributeError, KeyError, ValueError):
            scope = scope.parent
    return None


def render_roles(text: str, obj: griffe.Object) -> str:
    """Sphinx roles in ``text`` as optional cross-references (code when unresolved)."""

    def link(match: re.Match[str]) -> str:
        short, name = match.group(1), match.group(2).lstrip(".")
        shown = name.rsplit(".", 1)[-1] if short else name
        code = f"<code>{html.escape(shown)}</code>"
        path = _resolve(obj, name)
        if path is None:
            return code
        return f'<autoref identifier="{html.escape(path)}" optional>{code}</autoref>'

    return ROLE.sub(link, text)


def render_docstring(text: str, obj: griffe.Object) -> str:
    """Roles outside the example fences rendered; examples fenced."""
    parts = re.split(r"(^```.*?^```)", fence_examples(text), flags=re.M | re.S)
    return "".join(p if p.startswith("```") else render_roles(p, obj) for p in parts)


class DoctestFences(griffe.Extension):
    def on_instance(self, *, obj: griffe.Object, **kwargs: object) -> None:
        if obj.docstring is not None:
            obj.docstring.value = render_docstring(obj.docstring.value, obj)
