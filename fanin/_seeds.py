"""Seeds: validation, and the seeds of unseeded initializers.

Rule (stream v1): the n-th unseeded initializer created after ``set_random_seed(g)``
gets seed ``w0 | w1 << 32`` where ``(w0, w1, _, _) = philox4x32((n_lo, n_hi,
0xFFFFFFFF, 0xFFFFFFFF), key(g))``: the word stream of seed g at the reserved call
index 2**64 - 1. Without ``set_random_seed`` the seed comes from the operating system.
"""

from __future__ import annotations

import operator
import secrets
import threading

import numpy as np

from fanin.stream import philox4x32, seed_to_key

_lock = threading.Lock()
_global_key: int | None = None
_created = 0


def check_seed(seed):
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


def set_random_seed(seed) -> None:
    """Make every unseeded initializer created from now on reproducible.

    The n-th unseeded initializer created after this call draws its seed from
    (seed, n). Seeded initializers are not affected.

    >>> import fanin
    >>> fanin.set_random_seed(1); a = fanin.LecunNormal()((2,))
    >>> fanin.set_random_seed(1); b = fanin.LecunNormal()((2,))
    >>> bool((a == b).all())
    True
    """
    global _global_key, _created
    seed = check_seed(seed)
    if seed is None:
        raise TypeError("`seed` must be an integer, got None.")
    with _lock:
        _global_key = seed_to_key(seed)
        _created = 0


def fresh_seed() -> int:
    """A 64-bit seed for a newly created unseeded initializer."""
    global _created
    with _lock:
        if _global_key is None:
            return secrets.randbits(64)
        n = _created
        _created += 1
        key = _global_key
    w = philox4x32((n & 0xFFFFFFFF, n >> 32, 0xFFFFFFFF, 0xFFFFFFFF),
                   (key & 0xFFFFFFFF, key >> 32))
    return int(w[0]) | (int(w[1]) << 32)
