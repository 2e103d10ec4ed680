"""A griffe extension for the API reference: docstring examples render as code.

fanin's docstrings hold plain ``>>>`` doctest examples (run by pytest). Markdown would
read their outputs as text, e.g. ``['0x66...']`` as a link reference; this wraps each
run of example lines (a ``>>>`` line, its ``...`` continuations and its output, up
to a blank line) in a ``pycon`` code fence when the API pages are built.
"""

from __future__ import annotations

import griffe


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


class DoctestFences(griffe.Extension):
    def on_instance(self, *, obj: griffe.Object, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = fence_examples(obj.docstring.value)
