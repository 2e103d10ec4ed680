"""fanin's stream in JAX operations: jit-able, shard-local, the reference's bits.

The transforms are :mod:`fanin.stream.transforms`, over :class:`JaxOps`; this module
adds only what JAX does differently, so values are computed on the device that holds
them, inside ``jax.jit``, equal bit for bit to the NumPy reference.

How it stays bit-identical:

- Philox4x32-10 on ``uint32`` arrays. The 32 x 32 -> 64-bit products are built
  from 16-bit halves (four ``uint32`` products that cannot overflow), so no
  64-bit integer type is needed and float32 works without ``jax_enable_x64``.
- Element indices come from ``lax.broadcasted_iota`` over the output shape,
  one iota per dimension. Under a sharded ``jit`` the SPMD partitioner turns
  them into shard-sized iotas plus the shard's offset: every device computes
  its own shard and nothing else, with no communication.
- XLA contracts ``a * b + c`` into a fused multiply-add and regroups
  ``(a * c1) * c2`` into ``a * (c1 * c2)``; both change roundings the spec
  fixes, and no flag stops them. Every product is therefore written
  ``a * b + nz`` where ``nz`` is ``-0.0`` computed from the key at run time:
  adding ``-0.0`` is exact for every value, and since the compiler cannot know
  ``nz``, it cannot fuse the product into the next addition or regroup it.
  ``tests/test_jax.py`` keeps a canary where the unguarded expression differs.
- A +0.0 constant (a mean of 0) is opaque to the compiler too: XLA folds
  ``0.0 + x`` to ``x``, which turns IEEE's +0.0 into -0.0 for ``x = -0.0``.
- One difference remains: XLA on CPU flushes subnormal float32 results to zero,
  so values below 2**-126 in magnitude (a stddev near 1e-40) differ from the
  reference there (``tests/test_jax.py`` keeps it as an expected failure).
- Table rows are gathered per element from constants (sharded like the output);
  float16 is XLA's round-to-nearest-even conversion, bfloat16 the transforms'
  integer rounding of the float32 bits, packed by a bit cast.

Work per element: one Philox block gives four words, so the stream is computed
on groups of the 4 / 2 / 1 consecutive elements that share a block (32-bit
floats / float64 and the 8-32-bit integers / 64-bit integers) along the last
axis when its length allows, else on smaller groups (each group then computes a
whole block and keeps the words it needs).

>>> import jax, jax.numpy as jnp, numpy as np
>>> from fanin import stream
>>> dist = stream.normal(0.0, 1.0)
>>> v = jax.jit(lambda k: values(k, 0, dist, "float32", (2, 3)))(key_words(5))
>>> ref = np.empty((2, 3), np.float32)
>>> stream.fill(ref, stream.plan(5, 0, dist, "float32", (2, 3)))
>>> bool((np.asarray(v) == ref).all())
True
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from fanin.stream import spec as _spec, transforms
from fanin.stream.kinds import Distribution, check_format, clamp_bounds
from fanin.stream.transforms import Array

__all__ = ["JaxOps", "key_words", "philox4x32", "words", "values"]

_M32 = 0xFFFFFFFF
_U32 = jnp.uint32


def key_words(seed: int) -> Array:
    """The Philox key words ``(k0, k1)`` of a fanin seed, as a ``uint32[2]`` array.

    >>> [int(w) for w in key_words(2**32 + 7)]
    [7, 1]
    """
    k = _spec.seed_to_key(seed)
    return jnp.array([k & _M32, k >> 32], dtype=_U32)


# --------------------------------------------------------------------------- #
# Philox4x32-10 on uint32 arrays
# --------------------------------------------------------------------------- #


def _mulhilo(a, m: int):
    """(hi, lo) words of the 64-bit product of uint32 ``a`` and the constant ``m``.

    With 16-bit halves ``a = ah 2**16 + al`` and ``m = mh 2**16 + ml``, each
    partial sum below is < 2**32, so uint32 arithmetic is exact.
    """
    ml, mh = _U32(m & 0xFFFF), _U32(m >> 16)
    al, ah = a & _U32(0xFFFF), a >> _U32(16)
    ll = al * ml
    t = ah * ml + (ll >> _U32(16))
    u = al * mh + (t & _U32(0xFFFF))
    hi = ah * mh + (t >> _U32(16)) + (u >> _U32(16))
    return hi, a * _U32(m)  # the low word is the wrapped product


def philox4x32(counter: Sequence[Any], key: Sequence[Any]) -> tuple:
    """Philox4x32-10 of four uint32 counter words (arrays or scalars) and two key words.

    Same results as :func:`fanin.stream.philox4x32`.

    >>> z = jnp.zeros(1, jnp.uint32)
    >>> [hex(int(w[0])) for w in philox4x32((z, z, z, z), (z[0], z[0]))]
    ['0x6627e8d5', '0xe169c58d', '0xbc57ac4c', '0x9b00dbd8']
    """
    c0, c1, c2, c3 = (jnp.asarray(c, _U32) for c in counter)
    k0, k1 = (jnp.asarray(k, _U32) for k in key)
    for r in range(_spec.PHILOX_ROUNDS):
        if r:
            k0 = k0 + _U32(_spec.PHILOX_W0)
            k1 = k1 + _U32(_spec.PHILOX_W1)
        hi0, lo0 = _mulhilo(c0, _spec.PHILOX_M0)
        hi1, lo1 = _mulhilo(c2, _spec.PHILOX_M1)
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
    return c0, c1, c2, c3


# --------------------------------------------------------------------------- #
# Element indices from iotas, in (lo, hi) uint32 pairs when they need 64 bits
# --------------------------------------------------------------------------- #


def _add64(a, b):
    """(lo, hi) sum of two (lo, hi) pairs, modulo 2**64 (hi may be the int 0)."""
    lo = a[0] + b[0]
    carry = (lo < a[0]).astype(_U32)
    return lo, a[1] + b[1] + carry


def _mul64(x, c: int):
    """(lo, hi) of uint32 array ``x`` times the 64-bit constant ``c``, mod 2**64."""
    hi, lo = _mulhilo(x, c & _M32)
    return lo, hi + x * _U32(c >> 32)


def _group_starts(grid, strides, offsets, group: int, wide: bool, spec):
    """Flat index of the first element of each group: (lo, hi) uint32 arrays.

    ``grid`` is the output shape with the last axis divided by ``group``;
    ``strides`` / ``offsets`` are the full tensor's strides and the block's
    offset. With ``wide=False`` the indices fit 32 bits and ``hi`` is 0.
    ``spec`` (a PartitionSpec, for meshes with Explicit axes) shards the iotas.
    """
    lo, hi = jnp.zeros(grid, _U32, out_sharding=spec), _U32(0)
    for d in range(len(grid)):
        step = strides[d] * (group if d == len(grid) - 1 else 1)
        iota = lax.broadcasted_iota(_U32, grid, d, out_sharding=spec)
        if wide:
            lo, hi = _add64((lo, hi), _mul64(iota, step))
        else:
            lo = lo + iota * _U32(step)
    base = sum(o * s for o, s in zip(offsets, strides))
    if wide:
        return _add64((lo, hi), (_U32(base & _M32), _U32(base >> 32)))
    return lo + _U32(base), hi


def _shift_right64(pair, k: int):
    lo, hi = pair
    if k == 0:
        return lo, hi
    return (lo >> _U32(k)) | (hi << _U32(32 - k)), hi >> _U32(k)


def _pick(lanes, index):
    """``lanes[index]`` elementwise, for a uint32 array ``index`` of lane numbers."""
    out = lanes[0]
    for n in range(1, len(lanes)):
        out = jnp.where(index == _U32(n), lanes[n], out)
    return out


def _group_size(per_block: int, lengths) -> int:
    """Largest power of two <= per_block dividing every length in ``lengths``."""
    g = per_block
    while g > 1 and any(n % g for n in lengths):
        g //= 2
    return g


def _call_words(call):
    """(lo, hi) of the call index: a Python int, or a uint32[2] array (traced)."""
    if isinstance(call, (int, np.integer)):
        call = int(call) & ((1 << 64) - 1)
        return call & _M32, call >> 32
    return call[0], call[1]


def words(key: Array, call: Any, shape: Sequence[int], fmt: str, *,
          full_shape: Sequence[int] | None = None, offset: Sequence[int] | None = None,
          spec: Any = None, shard_len: int | None = None) -> tuple:
    """The stream's words of a block of a tensor: uint32 arrays of ``shape``.

    One array per word an element uses (``k = _spec.words_per_element(fmt)``:
    1 for the 32-bit float formats, 2 for float64 and the 8-32-bit integers, 4
    for the 64-bit ones): array ``t`` holds word ``k i + t`` of element ``i``. ``key`` is the
    ``uint32[2]`` Philox key, ``call`` a Python int or a ``uint32[2]`` array
    ``(lo, hi)``; either may be traced.
    The block is ``shape`` at ``offset`` of ``full_shape`` (default: whole).
    ``shard_len``: the length of the last axis on one device, when known (the
    groups of elements sharing a Philox block then stay on one device);
    ``spec``: the PartitionSpec of the output on a mesh with Explicit axes.
    """
    full_shape = tuple(shape) if full_shape is None else tuple(full_shape)
    offset = (0,) * len(full_shape) if offset is None else tuple(offset)
    if not shape:  # a scalar: a 1-element vector, reshaped back
        return tuple(w.reshape(()) for w in words(key, call, (1,), fmt))
    per = _spec.words_per_element(fmt)
    per_block = 4 // per  # elements per Philox block
    group = _group_size(per_block, (shape[-1], full_shape[-1], offset[-1], shard_len or 0))
    grid = tuple(shape[:-1]) + (shape[-1] // group,)
    strides = [math.prod(full_shape[d + 1:]) for d in range(len(full_shape))]
    wide = math.prod(full_shape) * per >= 1 << 32  # word indices need 64 bits
    start = _group_starts(grid, strides, offset, group, wide, spec)
    b_lo, b_hi = _shift_right64(start, per_block.bit_length() - 1)
    lanes = [jnp.broadcast_to(w, grid)
             for w in philox4x32((b_lo, b_hi) + _call_words(call), (key[0], key[1]))]
    first = start[0] & _U32(per_block - 1)  # element slot of the group's start in its block
    out = []
    for part in range(per):  # e.g. float64: low words, then high words
        elems = []
        for r in range(group):
            if group == per_block:  # every group starts a block: lanes are fixed
                elems.append(lanes[r * per + part])
            else:
                slot = first + _U32(r)
                elems.append(_pick(lanes, slot * _U32(per) + _U32(part)))
        out.append(jnp.reshape(jnp.stack(elems, axis=-1), shape, out_sharding=spec))
    return tuple(out)


# --------------------------------------------------------------------------- #
# The transforms' operations, with every rounding guarded against contraction
# --------------------------------------------------------------------------- #


class JaxOps:
    """:class:`fanin.stream.transforms.Ops` in jnp: products can't fuse or regroup.

    ``spec`` is the output's PartitionSpec on meshes with Explicit axes (table
    lookups are sharded like the output)."""

    def __init__(self, bits: int, key: Array, spec: Any = None) -> None:
        self.bits, self.spec = bits, spec
        self.prec = _spec.P32 if bits == 32 else _spec.P64
        self._f = jnp.float32 if bits == 32 else jnp.float64
        self._u = jnp.uint32 if bits == 32 else jnp.uint64
        self._i = jnp.int32 if bits == 32 else jnp.int64
        # -0.0 from the key at run time: k (k + 1) is even for every k, a fact
        # beyond the compilers' known-bits analysis (LLVM folds simpler ones,
        # such as max(a, b) < min(a, b), and then contracts again).
        # (The barrier keeps a key known at compile time from being folded in.)
        k0 = lax.optimization_barrier(key)[0]
        self.nz = -((k0 * k0 + k0) & _U32(1)).astype(self._f)
        # +0.0 the compiler cannot see: XLA folds `0.0 + x` to `x`, wrong for x = -0.0
        # (IEEE gives +0.0), so a +0.0 constant (a mean of 0) must stay opaque.
        self.pz = -self.nz

    def c(self, x: float) -> Array:
        v = self.prec.float(x)
        if v == 0 and not np.signbit(v):
            return self.pz
        return jnp.asarray(v, self._f)

    def u(self, n: int) -> Array:
        return jnp.asarray(n, self._u)

    def as_float(self, u: Array) -> Array:
        return lax.bitcast_convert_type(u, self._f)

    def as_uint(self, f: Array) -> Array:
        return lax.bitcast_convert_type(f, self._u)

    def signed(self, u: Array) -> Array:
        return u.astype(self._i)

    def to_float(self, i: Array) -> Array:
        return i.astype(self._f)

    def where(self, cond: Array, a: Array, b: Array) -> Array:
        return jnp.where(cond, a, b)

    def minimum(self, a: Array, b: Array) -> Array:
        return jnp.minimum(a, b)

    def abs(self, a: Array) -> Array:
        return jnp.abs(a)

    def clip(self, i: Array, lo: int, hi: int) -> Array:
        return jnp.clip(i, lo, hi)

    def to_bool(self, u: Array) -> Array:
        return u.astype(bool)

    def mul(self, a: Array, b: Array) -> Array:
        return a * b + self.nz

    def rows(self, table: Array, idx: Array) -> list:
        table = np.asarray(table, self.prec.float)
        return [jnp.asarray(table[:, k]).at[idx].get(mode="clip", out_sharding=self.spec)
                for k in range(table.shape[1])]

    def work(self, ws: Sequence[Array]) -> Array:
        if self.bits == 32:
            return ws[0]
        lo, hi = (w.astype(jnp.uint64) for w in ws)
        return (hi << jnp.uint64(32)) | lo

    def cast(self, f: Array, fmt: str) -> Array:
        return f.astype(jnp.dtype(fmt))

    def scalar_like(self, x: Array, v: float) -> Array:
        return jnp.asarray(v, x.dtype)

    def uniform_int(self, ws: Sequence[Array], low: int, n: int, fmt: str) -> Array:
        return _uniform_int(ws, low, n, fmt)


def _mulhi_limbs(limbs, n: int):
    """floor(R * n / 2**(32 k)) as (lo, hi) uint32 words, for R = the k uint32 limbs
    (least significant first) and 0 < n <= 2**64: schoolbook columns with carries,
    each column a (lo, hi) pair (it sums at most 2k words, so it cannot overflow)."""
    k = len(limbs)
    zero = jnp.zeros_like(limbs[0])
    cols = [(zero, zero) for _ in range(k + 2)]
    for i, r in enumerate(limbs):
        for j, nj in enumerate((n & _M32, n >> 32)):
            if nj == 1 << 32:
                hi, lo = r, zero
            elif nj:
                hi, lo = _mulhilo(r, nj)
            else:
                continue
            cols[i + j] = _add64(cols[i + j], (lo, zero))
            cols[i + j + 1] = _add64(cols[i + j + 1], (hi, zero))
    carry, out = (zero, zero), []
    for col in cols:
        acc = _add64(col, carry)
        out.append(acc[0])
        carry = (acc[1], zero)
    return out[k], out[k + 1]


def _uniform_int(ws, low: int, n: int, fmt: str):
    """Integers ``low + floor(R * n / 2**(32 k))``, mod 2**64, in ``fmt``, as the reference."""
    low &= _spec.MASK64
    lo, hi = _add64(_mulhi_limbs(list(ws), n), (_U32(low & _M32), _U32(low >> 32)))
    out = jnp.dtype(fmt)
    if out.itemsize == 8:
        bits = (hi.astype(jnp.uint64) << jnp.uint64(32)) | lo.astype(jnp.uint64)
    else:
        unsigned = {1: jnp.uint8, 2: jnp.uint16, 4: jnp.uint32}[out.itemsize]
        bits = (lo & _U32((1 << (8 * out.itemsize)) - 1)).astype(unsigned)
    return lax.bitcast_convert_type(bits, out)  # the low bits, two's complement


def _store(vals, dist, fmt: str, o: JaxOps):
    """Round to the output format and clamp into the support, as the reference."""
    x = transforms.round_and_clamp(o, vals, fmt, clamp_bounds(dist, fmt))
    if fmt != "bfloat16":
        return x
    bits = (o.as_uint(x) >> _U32(16)).astype(jnp.uint16)  # exact: no conversion rounds
    return lax.bitcast_convert_type(bits, jnp.bfloat16)


def values(key: Array, call: Any, dist: Distribution, fmt: str, shape: Sequence[int], *,
           full_shape: Sequence[int] | None = None, offset: Sequence[int] | None = None,
           spec: Any = None, shard_len: int | None = None) -> Array:
    """Stream values of ``dist`` in ``fmt``: an array of ``shape``, traceable.

    ``key`` is the ``uint32[2]`` Philox key (see :func:`key_words`), ``call``
    the call index; the block is ``shape`` at ``offset`` of ``full_shape``
    (default: the whole tensor); ``spec`` and ``shard_len`` as in :func:`words`.
    Equal, bit for bit, to :func:`fanin.stream.fill` of the same plan. float64,
    int64 and uint64 need ``jax_enable_x64``.
    """
    check_format(dist, fmt)
    if jax.dtypes.canonicalize_dtype(fmt) != jnp.dtype(fmt):
        raise ValueError(f"{fmt} stream values need jax_enable_x64 "
                         "(jax.config.update('jax_enable_x64', True)).")
    shape = tuple(int(d) for d in shape)
    if math.prod(shape) == 0:
        return jnp.zeros(shape, fmt)
    key = jnp.asarray(key, _U32)
    ws = words(key, call, shape, fmt, full_shape=full_shape, offset=offset, spec=spec,
               shard_len=shard_len)
    o = JaxOps(64 if fmt == "float64" else 32, key, spec)
    vals = transforms.transform(o, ws, dist, fmt)
    return vals if dist.spec.is_integer else _store(vals, dist, fmt, o)
