"""NumPy's :class:`fanin.stream.transforms.Ops`: the reference's array operations.

Words arrive as ``uint64`` arrays holding 32-bit values; the working integers are
``uint32`` (32-bit formats) or ``uint64`` (float64), so every shift and mask is the
spec's own, with no sign to mind.

>>> import numpy as np
>>> from fanin.stream import transforms
>>> o = NUMPY[32]
>>> float(transforms.unit(o, np.array([1 << 22], np.uint32))[0])
0.5
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from fanin.stream import spec
from fanin.stream.transforms import Array

__all__ = ["NumpyOps", "NUMPY", "mulhi_limbs"]


class NumpyOps:
    """Plain NumPy arithmetic in one working precision (``bits`` 32 or 64)."""

    def __init__(self, bits: int) -> None:
        self.bits = bits
        self.prec = spec.P32 if bits == 32 else spec.P64
        self._f, self._u = self.prec.float, self.prec.uint

    def c(self, x: float) -> Array:
        return self._f(x)

    def u(self, n: int) -> Array:
        return self._u(n)

    def as_float(self, u: Array) -> Array:
        return u.view(self._f)

    def as_uint(self, f: Array) -> Array:
        return f.view(self._u)

    def signed(self, u: Array) -> Array:
        return u.astype(np.int64)

    def to_float(self, i: Array) -> Array:
        return i.astype(self._f)

    def where(self, cond: Array, a: Array, b: Array) -> Array:
        return np.where(cond, a, b)

    def minimum(self, a: Array, b: Array) -> Array:
        return np.minimum(a, b)

    def abs(self, a: Array) -> Array:
        return np.abs(a)

    def clip(self, i: Array, lo: int, hi: int) -> Array:
        return np.clip(i, lo, hi)

    def to_bool(self, u: Array) -> Array:
        return u.astype(bool)

    def mul(self, a: Array, b: Array) -> Array:
        return a * b

    def rows(self, table: Array, idx: Array) -> list:
        picked = np.asarray(table)[idx]
        return [picked[..., k] for k in range(picked.shape[-1])]

    def work(self, ws: Sequence[Array]) -> Array:
        if self.bits == 32:
            return ws[0].astype(np.uint32)
        return (ws[1] << np.uint64(32)) | ws[0]

    def cast(self, f: Array, fmt: str) -> Array:
        with np.errstate(over="ignore"):
            return f.astype(fmt, copy=False)

    def scalar_like(self, x: Array, v: float) -> Array:
        return x.dtype.type(v)

    def uniform_int(self, ws: Sequence[Array], low: int, n: int, fmt: str) -> Array:
        q = mulhi_limbs(list(ws), n)
        with np.errstate(over="ignore"):
            v = q + np.uint64(low & spec.MASK64)  # mod 2**64: two's complement
        return v.view(np.int64).astype(fmt) if fmt.startswith("int") else v.astype(fmt)


NUMPY = {32: NumpyOps(32), 64: NumpyOps(64)}


def mulhi_limbs(limbs: list, n: int) -> np.ndarray:
    """floor(R * n / 2**(32 k)) for R = sum limbs[t] << 32 t (k limbs, uint64 arrays
    of 32-bit values) and 0 < n <= 2**64: schoolbook columns with carries.

    >>> int(mulhi_limbs([np.array([0], np.uint64), np.array([2**31], np.uint64)], 10)[0])
    5
    """
    k = len(limbs)
    mask, shift = np.uint64(spec.MASK32), np.uint64(32)
    cols = [np.zeros_like(limbs[0]) for _ in range(k + 2)]
    for i, r in enumerate(limbs):
        for j, nj in enumerate((n & spec.MASK32, n >> 32)):
            if nj:
                prod = r * np.uint64(nj)  # < 2**64: r < 2**32, nj <= 2**32
                cols[i + j] += prod & mask
                cols[i + j + 1] += prod >> shift
    carry = np.zeros_like(limbs[0])
    out = []
    for c in cols:
        acc = c + carry
        out.append(acc & mask)
        carry = acc >> shift
    return out[k] | (out[k + 1] << shift)
