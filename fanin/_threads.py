"""Thread count of the compiled stream kernel.

``fanin.set_num_threads(n)`` / ``fanin.get_num_threads()``. The default is the
``FANIN_NUM_THREADS`` environment variable (read when fanin is imported), else the
number of CPUs this process may run on. Results never depend on the thread count:
the stream is position-stable. Without the compiled kernel the setting is kept but
has no effect (the NumPy reference is single-threaded).

>>> n = get_num_threads(); set_num_threads(1); get_num_threads()
1
>>> set_num_threads(n)
"""

from __future__ import annotations

import os

__all__ = ["set_num_threads", "get_num_threads", "default_num_threads"]

try:
    from fanin import _kernel
except ImportError:  # pragma: no cover - the NumPy fallback
    _kernel = None


def _cpu_count() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def default_num_threads() -> int:
    """``FANIN_NUM_THREADS`` if set to a positive integer, else the usable CPU count.

    >>> default_num_threads() >= 1
    True
    """
    env = os.environ.get("FANIN_NUM_THREADS", "").strip()
    if env:
        try:
            n = int(env)
        except ValueError:
            n = 0
        if n >= 1:
            return n
    return _cpu_count()


_num_threads = default_num_threads()
if _kernel is not None:
    _kernel.set_num_threads(_num_threads)


def set_num_threads(n: int | None) -> None:
    """Use ``n`` threads for large fills (``None``: back to the default).

    >>> set_num_threads(0)
    Traceback (most recent call last):
    ...
    ValueError: number of threads must be a positive integer, got 0
    """
    global _num_threads
    if n is None:
        n = default_num_threads()
    if isinstance(n, bool) or not isinstance(n, int) and not hasattr(n, "__index__"):
        raise TypeError(f"number of threads must be an int, got {type(n).__name__}")
    n = int(n.__index__()) if not isinstance(n, int) else n
    if n < 1:
        raise ValueError(f"number of threads must be a positive integer, got {n}")
    if _kernel is not None:
        _kernel.set_num_threads(n)
    _num_threads = n


def get_num_threads() -> int:
    """The number of threads large fills use.

    >>> get_num_threads() >= 1
    True
    """
    if _kernel is not None:
        return _kernel.get_num_threads()
    return _num_threads
