"""Thread count of the compiled stream kernel.

``fanin.set_num_threads(n)`` / ``fanin.get_num_threads()``. The kernel owns the
value: its default is the ``FANIN_NUM_THREADS`` environment variable (read when the
kernel loads; a value that is not a positive integer is ignored), else the number of
CPUs this process may run on; at most :data:`MAX_THREADS` (the kernel's). Results never depend on
the thread count: the stream is position-stable. Without the compiled kernel the
setting is kept here and has no effect (the NumPy reference is single-threaded).

>>> with set_num_threads(1):
...     get_num_threads()
1
"""

from __future__ import annotations

import operator
import os

from fanin.restore import Restore
from fanin.stream.kernel import KERNEL as _kernel, MAX_THREADS

__all__ = ["set_num_threads", "get_num_threads", "MAX_THREADS"]


def _cpu_count() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


_fallback = _cpu_count()  # the setting when there is no kernel to own it


def set_num_threads(n: int | None) -> Restore:
    """Use ``n`` threads for large fills (``None``: back to the default).

    Counts above :data:`MAX_THREADS` are capped (``get_num_threads`` then says so).
    As a context manager, the previous count comes back at the end.

    >>> set_num_threads(0)
    Traceback (most recent call last):
    ...
    ValueError: number of threads must be a positive integer, got 0
    """
    global _fallback
    if n is not None:
        if isinstance(n, bool):
            raise TypeError("number of threads must be an int, got bool")
        try:
            n = operator.index(n)
        except TypeError:
            raise TypeError(f"number of threads must be an int, got "
                            f"{type(n).__name__}") from None
        if n < 1:
            raise ValueError(f"number of threads must be a positive integer, got {n}")
        n = min(n, MAX_THREADS or n)
    previous = get_num_threads()
    if _kernel is not None:
        _kernel.set_num_threads(n)
    else:
        _fallback = _cpu_count() if n is None else n
    return Restore(lambda: set_num_threads(previous))


def get_num_threads() -> int:
    """The number of threads large fills use.

    >>> get_num_threads() >= 1
    True
    """
    return _kernel.get_num_threads() if _kernel is not None else _fallback
