"""What every global setter returns: ignore it, or use it to put the old value back.

>>> import fanin
>>> with fanin.set_floatx("float64"):
...     fanin.floatx()
'float64'
>>> fanin.floatx()
'float32'
"""

from __future__ import annotations

from typing import Any, Callable

__all__ = ["Restore"]


class Restore:
    """What a setter returns: ignore it, or use it as a context manager that restores."""

    def __init__(self, restore: Callable[[], Any]):
        self._restore = restore

    def __enter__(self) -> "Restore":
        return self

    def __exit__(self, *exc: object) -> None:
        self._restore()
