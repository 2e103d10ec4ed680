"""The NumPy reference: Philox4x32-10 and the word stream in NumPy, and the reference fill.

Word ``w`` of (key, call) is lane ``w % 4`` of
``philox4x32(counter=(b_lo, b_hi, call_lo, call_hi), key=(key_lo, key_hi))`` with
``b = w // 4``; element ``i`` of a format with ``k`` words per element uses words
``k*i .. k*i + k - 1``. The transforms are :mod:`fanin.stream.transforms` over
NumPy's operations (:mod:`fanin.stream.ops`).

>>> [hex(int(w)) for w in words(0, 0, 0, 4)]
['0x6627e8d5', '0xe169c58d', '0xbc57ac4c', '0x9b00dbd8']
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from fanin.stream import spec, transforms
from fanin.stream.kinds import Distribution, clamp_bounds
from fanin.stream.ops import NUMPY

__all__ = ["philox4x32", "words", "row_words", "values", "fill_reference_rows"]

# Elements handled per NumPy step: bounds the reference's temporary memory
# (about 100 bytes per element) whatever the size of the output.
CHUNK = 1 << 16


def philox4x32(counter: Sequence, key: Sequence[int]) -> tuple:
    """Philox4x32-10: four 32-bit counter words and two key words to four words.

    ``counter`` is a sequence of four integers or equal-shaped integer arrays;
    ``key`` two integers. Returns four ``uint64`` arrays holding 32-bit values.

    >>> [hex(int(w)) for w in philox4x32((0, 0, 0, 0), (0, 0))]
    ['0x6627e8d5', '0xe169c58d', '0xbc57ac4c', '0x9b00dbd8']
    """
    c0, c1, c2, c3 = (np.asarray(c, dtype=np.uint64) for c in counter)
    k0, k1 = int(key[0]) & spec.MASK32, int(key[1]) & spec.MASK32
    m0, m1, mask = np.uint64(spec.PHILOX_M0), np.uint64(spec.PHILOX_M1), np.uint64(spec.MASK32)
    shift = np.uint64(32)
    for _ in range(spec.PHILOX_ROUNDS):
        p0 = c0 * m0  # 32 x 32 -> 64 bits: exact in uint64
        p1 = c2 * m1
        c0, c1, c2, c3 = ((p1 >> shift) ^ c1 ^ np.uint64(k0), p1 & mask,
                          (p0 >> shift) ^ c3 ^ np.uint64(k1), p0 & mask)
        k0 = (k0 + spec.PHILOX_W0) & spec.MASK32
        k1 = (k1 + spec.PHILOX_W1) & spec.MASK32
    return c0, c1, c2, c3


def row_words(key: int, call: int, starts: np.ndarray, count: int) -> np.ndarray:
    """Words ``starts[r] + t`` (t < count) of the word stream, shape (rows, count)."""
    call &= spec.MASK64
    first_block = starts >> np.uint64(2)
    lane = (starts & np.uint64(3)).astype(np.intp)
    nblocks = (count + 3) // 4 + 1  # enough for any starting lane
    blocks = first_block[:, None] + np.arange(nblocks, dtype=np.uint64)[None, :]
    c0 = blocks & np.uint64(spec.MASK32)
    c1 = blocks >> np.uint64(32)
    r = philox4x32((c0, c1, np.full_like(c0, call & spec.MASK32),
                    np.full_like(c0, call >> 32)),
                   (key & spec.MASK32, key >> 32))
    out = np.stack(r, axis=-1).reshape(len(starts), nblocks * 4)
    if not lane.any():
        return out[:, :count]
    take = lane[:, None] + np.arange(count, dtype=np.intp)[None, :]
    return np.take_along_axis(out, take, axis=1)


def words(key: int, call: int, first: int, count: int) -> np.ndarray:
    """Words ``first .. first + count - 1`` of the word stream of (key, call), uint64.

    >>> bool((words(0, 0, 2, 2) == words(0, 0, 0, 4)[2:]).all())
    True
    """
    return row_words(int(key) & spec.MASK64, int(call) & spec.MASK64,
                     np.array([first], np.uint64), count)[0]


def values(ws: np.ndarray, dist: Distribution, fmt: str) -> np.ndarray:
    """Stream words (uint64 holding 32-bit values, element-major along the last axis) to
    values: float32 for the 32-bit float formats, float64, or the integer format."""
    per = spec.words_per_element(fmt)
    o = NUMPY[64 if fmt == "float64" else 32]
    return transforms.transform(o, [ws[..., t::per] for t in range(per)], dist, fmt)


def store(vals: np.ndarray, out_flat: np.ndarray, fmt: str,
          bounds: tuple[float, float]) -> None:
    """Round working-precision values to ``fmt``, clamp into ``bounds``, write."""
    if fmt in spec.INT_FORMATS:
        out_flat[...] = vals
        return
    o = NUMPY[64 if fmt == "float64" else 32]
    x = transforms.round_and_clamp(o, vals, fmt, bounds)
    if fmt == "bfloat16":
        out_flat[...] = (x.view(np.uint32) >> np.uint32(16)).astype(np.uint16)
    else:
        out_flat[...] = x


def fill_reference_rows(flat_out: np.ndarray, key: int, call: int, dist: Distribution,
                        fmt: str, starts: np.ndarray, row_len: int) -> None:
    """The pure-NumPy reference on validated arguments.

    ``flat_out``: a 1-D C-contiguous array of ``fmt``'s storage (uint16 bits for
    bfloat16; float16 or uint16 for float16); ``starts``: a C-contiguous np.uint64
    array with ``len(starts) * row_len == flat_out.size``. Element ``t`` of row ``r``
    gets the value of flat element index ``starts[r] + t``.
    """
    if flat_out.size == 0:
        return
    bounds = clamp_bounds(dist, fmt)
    per = spec.words_per_element(fmt)
    rows = flat_out.reshape(len(starts), row_len)
    if row_len >= CHUNK:
        for r, s in enumerate(starts):
            for t in range(0, row_len, CHUNK):
                count = min(CHUNK, row_len - t)
                w = row_words(key, call, np.array([(int(s) + t) * per], np.uint64), count * per)
                store(values(w[0], dist, fmt), rows[r, t:t + count], fmt, bounds)
    else:
        group = max(1, CHUNK // row_len)
        for g in range(0, len(starts), group):
            w = row_words(key, call, starts[g:g + group] * np.uint64(per), row_len * per)
            store(values(w, dist, fmt), rows[g:g + group], fmt, bounds)
