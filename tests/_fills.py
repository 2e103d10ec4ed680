"""Test helpers: the stream on explicit rows, in the old one-call form.

``fill(out, seed, call, dist, starts=, row_len=, fmt=)``: the backend in use;
``fill_reference(...)``: the NumPy reference. Both go through
:func:`fanin.stream.fill_rows`, so every check it makes applies.
"""

import numpy as np

from fanin import stream


def _fmt(out, fmt):
    if fmt is not None:
        return fmt
    name = getattr(getattr(out, "dtype", None), "name", None)
    if name in stream.FORMATS:
        return name
    raise TypeError(f"Cannot fill an array of dtype {getattr(out, 'dtype', None)}.")


def fill(out, seed, call, dist, *, starts=None, row_len=None, fmt=None):
    fmt = _fmt(out, fmt)
    n = getattr(out, "size", 0)
    starts = np.zeros(1, np.uint64) if starts is None else np.ascontiguousarray(
        starts, dtype=np.uint64).reshape(-1)
    row_len = n if row_len is None else int(row_len)
    stream.fill_rows(out, stream.seed_to_key(seed), int(call) & ((1 << 64) - 1), dist, fmt,
                     starts, row_len)


def fill_reference(out, seed, call, dist, **kw):
    with stream.set_backend("reference"):
        fill(out, seed, call, dist, **kw)
