"""Seeds: validation, and the seeds of unseeded initializers.

Rule: the n-th unseeded initializer created after ``set_random_seed(g)`` gets seed
``w0 | w1 << 32``, where ``w0, w1`` are words ``4n`` and ``4n + 1`` of the word stream
of key ``g mod 2**64`` at the reserved call index ``2**64 - 1``. Without
``set_random_seed``, the seed is 64 bits of Python's ``random`` module, as Keras 3's
unseeded initializers draw theirs: ``keras.utils.set_random_seed`` (which seeds
``random``) makes them reproducible, and an unseeded program gets fresh entropy
(Python seeds ``random`` from the operating system).
"""

from __future__ import annotations

import operator
import random
import threading
from typing import SupportsIndex

import numpy as np

from fanin.restore import Restore
from fanin.stream import seed_to_key, words

#: The call index of the word stream that seeds unseeded initializers.
SEED_CALL = (1 << 64) - 1

_lock = threading.Lock()
#: A seed argument: any integer (taken mod 2**64), or None for an unseeded instance.
Seed = SupportsIndex | None

_global_key: int | None = None
_created = 0


def check_seed(seed: SupportsIndex | None) -> int | None:
    """``None`` or an integer (Python or numpy; not bool); ``TypeError`` otherwise.

    >>> check_seed(np.int64(3)), check_seed(None)
    (3, None)
    """
    if seed is None:
        return None
    if isinstance(seed, (bool, np.bool_)):
        raise TypeError(f"`seed` must be an integer or None, got {seed!r}.")
    try:
        return operator.index(seed)
    except TypeError:
        raise TypeError(f"`seed` must be an integer or None, got {seed!r} "
                        f"of type {type(seed).__name__}.") from None


def get_state() -> tuple[int | None, int]:
    """(global key or None, unseeded initializers created since): for tests' restore."""
    with _lock:
        return _global_key, _created


def set_state(state: tuple[int | None, int]) -> None:
    """Put back a :func:`get_state`."""
    global _global_key, _created
    with _lock:
        _global_key, _created = state


def set_random_seed(seed: SupportsIndex) -> Restore:
    """Make every unseeded initializer created from now on reproducible.

    The n-th unseeded initializer created after this call draws its seed from
    (seed, n). Seeded initializers are not affected. As a context manager, the
    previous global seed state comes back at the end.

    >>> import fanin
    >>> with fanin.set_random_seed(1):
    ...     a = fanin.LecunNormal()((2,))
    >>> with fanin.set_random_seed(1):
    ...     b = fanin.LecunNormal()((2,))
    >>> bool((a == b).all())
    True
    """
    global _global_key, _created
    checked = check_seed(seed)
    if checked is None:
        raise TypeError("`seed` must be an integer, got None.")
    previous = get_state()
    with _lock:
        _global_key, _created = seed_to_key(checked), 0
    return Restore(lambda: set_state(previous))


def fresh_seed() -> int:
    """A 64-bit seed for a newly created unseeded initializer (see the module rule)."""
    global _created
    with _lock:
        if _global_key is None:
            return random.getrandbits(64)
        n, key = _created, _global_key
        _created += 1
    w = words(key, SEED_CALL, 4 * n, 2)  # lanes 0 and 1 of Philox block n
    return int(w[0]) | (int(w[1]) << 32)
