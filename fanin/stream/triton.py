"""The stream as one fused Triton kernel: words, transform, rounding, clamp and store in
a single pass over the output, bit-identical to the NumPy reference.

Each program of the kernel computes ``BLOCK`` consecutive Philox4x32-10 blocks in each
of ``ROWS`` rows (one long row, or many short ones), spreads their words over the
elements they belong to (4, 2 or 1 elements per block for 1, 2 or 4 words per
element), runs the distribution's transform, rounds to the output format, clamps and
stores the bits, masking the words outside the rows. The
order of operations is :mod:`fanin.stream.transforms`' (this is a second text of it,
like the C kernel, tested against the reference bit for bit):

- floating-point contraction is off (``enable_fp_fusion=False`` at every launch), so
  ``a * b + c`` is two roundings, as the reference computes it;
- negation flips the sign bit (``0 - x`` would turn -0 into +0);
- the constants and tables come from :mod:`fanin.stream.spec`, rounded on the host to
  the working precision exactly as the reference rounds them, and reach the kernel as
  the bits of one ``int64`` parameter tensor (no scalar argument whose Triton type would
  depend on its value).

On CUDA devices the kernel is compiled; on a CPU it runs in Triton's interpreter when
``TRITON_INTERPRET=1`` was set before this module was imported (Triton decides when the
kernel is defined). Selecting the backend (``fanin.stream.set_backend("triton")`` or
``FANIN_BACKEND=triton``) fills numpy arrays through :func:`fill_rows`;
:func:`fill_tensor` fills torch tensors from a plan.

>>> available("meta")
False
"""

from __future__ import annotations

import contextlib
import functools
from typing import Iterator

import numpy as np
import torch
import triton
import triton.language as tl

from fanin.stream import spec
from fanin.stream.kinds import Distribution, check_format, clamp_bounds
from fanin.stream.plans import Plan
from fanin.stream.torch import check_tensor_out

__all__ = ["available", "fill_rows", "fill_tensor"]

# --------------------------------------------------------------------------- #
# The parameter tensor: one int64 array per fill, in this layout
# --------------------------------------------------------------------------- #

_ROUND_KEYS = 0  # k0 of rounds 0..9, then k1 of rounds 0..9
_CALL = 20  # call_lo, call_hi
_N = 22  # uniform_int's n: low 32 bits, high bits (n <= 2**64)
_LOW = 24  # uniform_int's low, two's complement
_FLOATS = 25  # working-precision bits of the names below, in this order
_FLOAT_NAMES = ("loc", "scale", "lo", "hi", "A", "B", "C2a", "M2", "U1", "U2", "pred_half")
_TN2 = _FLOATS + len(_FLOAT_NAMES)  # the Keras table (scale folded in), row-major
_STARTS = 512  # row starts (element indices) from here on
assert _TN2 + max(spec.P32.tn2.size, spec.P64.tn2.size) <= _STARTS

# The same numbers as constexprs for the kernel (Triton reads only constexpr globals).
_K_ROUNDS = tl.constexpr(spec.PHILOX_ROUNDS)
_K_ROUND_KEYS = tl.constexpr(_ROUND_KEYS)
_K_M0 = tl.constexpr(spec.PHILOX_M0)
_K_M1 = tl.constexpr(spec.PHILOX_M1)
_K_CALL = tl.constexpr(_CALL)
_K_N = tl.constexpr(_N)
_K_LOW = tl.constexpr(_LOW)
_K_FLOATS = tl.constexpr(_FLOATS)
_K_TN2 = tl.constexpr(_TN2)
_K_STARTS = tl.constexpr(_STARTS)
_K_SUB = tl.constexpr(spec.DYADIC_SUB_BITS)
_K_EXP_MIN = tl.constexpr(spec.DYADIC_EXP_MIN)
_K_COUNT = tl.constexpr(spec.DYADIC_COUNT)
_K_TN2_LAST = tl.constexpr(spec.TN2_64_MAIN - 1)
# Coefficients per polynomial: the dyadic tables and the Keras tables, per precision.
_K_NC32 = tl.constexpr(spec.P32.tail.shape[1])
_K_NC64 = tl.constexpr(spec.P64.tail.shape[1])
_K_TN2_NC32 = tl.constexpr(spec.P32.tn2.shape[1])
_K_TN2_NC64 = tl.constexpr(spec.P64.tn2.shape[1])
assert spec.P32.center.shape == spec.P32.tail.shape and spec.P64.center.shape == spec.P64.tail.shape
# Indices of the float parameters.
_K_LOC, _K_SCALE, _K_LO, _K_HI, _K_A, _K_B, _K_C2A, _K_M2, _K_U1, _K_U2, _K_PH = (
    tl.constexpr(i) for i in range(len(_FLOAT_NAMES)))
_K_UNIFORM = tl.constexpr(spec.KIND_CODES["uniform"])
_K_NORMAL = tl.constexpr(spec.KIND_CODES["normal"])
_K_TN2_KIND = tl.constexpr(spec.KIND_CODES["truncated_normal"])

# Output codes (constexpr FMT): how the working value becomes the stored bits.
_FMT_CODES = {"float32": 0, "float16": 1, "bfloat16": 2, "float64": 3}
_K_F32, _K_F16, _K_BF16, _K_F64 = (tl.constexpr(c) for c in range(4))
_K_INT = tl.constexpr(4)

# The stored bits' dtype, by the format's width (the kernel writes integers only).
_BITS_DTYPE = {1: torch.int8, 2: torch.int16, 4: torch.int32, 8: torch.int64}
# Bounds on one launch: elements per piece of a long row, programs per launch.
_PIECE = 1 << 28
_MAX_PROGRAMS = 1 << 30


# --------------------------------------------------------------------------- #
# The kernel
# --------------------------------------------------------------------------- #


@triton.jit
def _philox(b, p_ptr):
    """Philox4x32-10 of the blocks ``b`` (int64 < 2**62) of the parameters' call and key."""
    c0 = (b & 0xFFFFFFFF).to(tl.uint32)
    c1 = (b >> 32).to(tl.uint32)
    c2 = tl.full(c0.shape, 0, tl.uint32) + tl.load(p_ptr + _K_CALL).to(tl.uint32)
    c3 = tl.full(c0.shape, 0, tl.uint32) + tl.load(p_ptr + _K_CALL + 1).to(tl.uint32)
    m0 = tl.full(c0.shape, _K_M0, tl.uint32)
    m1 = tl.full(c0.shape, _K_M1, tl.uint32)
    for i in tl.static_range(_K_ROUNDS):
        k0 = tl.load(p_ptr + _K_ROUND_KEYS + i).to(tl.uint32)
        k1 = tl.load(p_ptr + _K_ROUND_KEYS + _K_ROUNDS + i).to(tl.uint32)
        hi0 = tl.umulhi(c0, m0)
        lo0 = c0 * m0
        hi1 = tl.umulhi(c2, m1)
        lo1 = c2 * m1
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
    return c0, c1, c2, c3


@triton.jit
def _interleave(a, b):
    """a0 b0 a1 b1 ... along the last axis of 2-D tensors (tl.interleave's result, from
    builtins only: the kernel uses no function Triton defines with @jit, so it runs in
    the interpreter whenever this module was imported with TRITON_INTERPRET=1)."""
    return tl.reshape(tl.join(a, b), (a.shape[0], 2 * a.shape[1]))


@triton.jit
def _param(p_ptr, i, BITS: tl.constexpr):
    """Float parameter ``i`` in the working precision (stored as its bits)."""
    v = tl.load(p_ptr + _K_FLOATS + i)
    if BITS == 32:
        return v.to(tl.int32).to(tl.float32, bitcast=True)
    else:
        return v.to(tl.float64, bitcast=True)


@triton.jit
def _unit(frac, BITS: tl.constexpr):
    """``1.frac - 1``: a fraction field as a float in [0, 1), exact."""
    if BITS == 32:
        return (frac | tl.full(frac.shape, 127 << 23, tl.uint32)).to(
            tl.float32, bitcast=True) - 1.0
    else:
        return (frac | tl.full(frac.shape, 1023 << 52, tl.uint64)).to(
            tl.float64, bitcast=True) - 1.0


@triton.jit
def _negate_if(x, cond, BITS: tl.constexpr):
    """``-x`` where cond, as a sign-bit flip (so -0 stays what the reference gives)."""
    if BITS == 32:
        sign = tl.where(cond, tl.full(x.shape, 1 << 31, tl.uint32), 0)
        return (x.to(tl.uint32, bitcast=True) ^ sign).to(tl.float32, bitcast=True)
    else:
        sign = tl.where(cond, tl.full(x.shape, 1 << 63, tl.uint64), 0)
        return (x.to(tl.uint64, bitcast=True) ^ sign).to(tl.float64, bitcast=True)


@triton.jit
def _top_bit(r, bit: tl.constexpr, BITS: tl.constexpr):
    """Bit ``BITS - 1 - bit`` of r (counted from the top), as booleans."""
    return ((r >> (BITS - 1 - bit)) & 1) != 0


@triton.jit
def _horner(ptr, idx, x, NC: tl.constexpr, BITS: tl.constexpr, AS_BITS: tl.constexpr):
    """Row ``idx`` of a table of NC coefficients (highest degree first) at x; AS_BITS:
    the table holds int64 bits (the parameter tensor) instead of floats."""
    acc = _coef(ptr, idx * NC, BITS, AS_BITS)
    for j in tl.static_range(1, NC):
        acc = acc * x + _coef(ptr, idx * NC + j, BITS, AS_BITS)
    return acc


@triton.jit
def _coef(ptr, off, BITS: tl.constexpr, AS_BITS: tl.constexpr):
    v = tl.load(ptr + off)
    if AS_BITS:
        if BITS == 32:
            v = v.to(tl.int32).to(tl.float32, bitcast=True)
        else:
            v = v.to(tl.float64, bitcast=True)
    return v


@triton.jit
def _dyadic(dy_ptr, center, y, BITS: tl.constexpr, NC: tl.constexpr):
    """A dyadic table's polynomial at y in (0, 1/2): the tail table, or the center one
    where ``center`` (the two are one array, tail rows first)."""
    MANT: tl.constexpr = 23 if BITS == 32 else 52
    BIAS: tl.constexpr = 127 if BITS == 32 else 1023
    if BITS == 32:
        b = y.to(tl.uint32, bitcast=True)
        frac = (b << _K_SUB) & ((1 << 23) - 1)
    else:
        b = y.to(tl.uint64, bitcast=True)
        frac = (b << _K_SUB) & tl.full(b.shape, (1 << 52) - 1, tl.uint64)
    idx = (b >> (MANT - _K_SUB)).to(tl.int32) - ((BIAS + _K_EXP_MIN) << _K_SUB)
    idx = tl.minimum(tl.maximum(idx, 0), _K_COUNT - 1) + tl.where(center, _K_COUNT, 0)
    return _horner(dy_ptr, idx, _unit(frac, BITS), NC, BITS, False)


@triton.jit
def _half_unit(r, ph, BITS: tl.constexpr):
    """t = F(2c + 1) * 2**-BITS from the low BITS - 2 bits c of r, capped below 1/2."""
    if BITS == 32:
        c = (r & ((1 << 30) - 1)).to(tl.int32)
        t = (2 * c + 1).to(tl.float32) * (2.0 ** -32)
    else:
        c = (r & tl.full(r.shape, (1 << 62) - 1, tl.uint64)).to(tl.int64)
        t = (2 * c + 1).to(tl.float64) * tl.full(r.shape, 2.0 ** -64, tl.float64)
    return tl.minimum(t, ph)


@triton.jit
def _normal(r, p_ptr, dy_ptr, BITS: tl.constexpr, NC: tl.constexpr):
    t = _half_unit(r, _param(p_ptr, _K_PH, BITS), BITS)
    tail = _top_bit(r, 1, BITS)
    p = _dyadic(dy_ptr, tail == 0, t, BITS, NC)
    z = _negate_if(tl.where(tail, p, t * p), _top_bit(r, 0, BITS), BITS)
    return _param(p_ptr, _K_LOC, BITS) + z * _param(p_ptr, _K_SCALE, BITS)


@triton.jit
def _truncated_general(r, p_ptr, dy_ptr, BITS: tl.constexpr, NC: tl.constexpr):
    """Inverse CDF on [a, b] in three regions: lower tail, center, upper tail. Each
    element evaluates the one dyadic polynomial its region needs."""
    ph = _param(p_ptr, _K_PH, BITS)
    m2 = _param(p_ptr, _K_M2, BITS)
    t = _half_unit(r, ph, BITS)
    right = _top_bit(r, 0, BITS)
    u = tl.where(right, 1.0 - t, t)
    v = tl.where(right, t, 1.0 - t)
    low = u < _param(p_ptr, _K_U1, BITS)
    mid = (u < _param(p_ptr, _K_U2, BITS)) & (low == 0)
    y_low = _param(p_ptr, _K_A, BITS) + u * m2
    c = _param(p_ptr, _K_C2A, BITS) + u * m2
    y_high = _param(p_ptr, _K_B, BITS) + v * m2
    y = tl.where(mid, tl.abs(c), tl.where(low, y_low, y_high))
    p = _dyadic(dy_ptr, mid, tl.minimum(y, ph), BITS, NC)
    z = tl.where(mid, c * p, _negate_if(p, low, BITS))
    return _param(p_ptr, _K_LOC, BITS) + z * _param(p_ptr, _K_SCALE, BITS)


@triton.jit
def _truncated_normal2(r, p_ptr, BITS: tl.constexpr, NC: tl.constexpr):
    """The Keras +-2 truncated normal: a polynomial per interval, the scale folded in."""
    if BITS == 32:
        idx = (r & 31).to(tl.int32)
        tau = _unit(((r >> 5) & 0x3FFFF) << 5, BITS)
    else:
        i = (r & 15).to(tl.int32)
        k = ((r >> 4) & 15).to(tl.int32)
        idx = tl.where(i < _K_TN2_LAST, i, _K_TN2_LAST + k)
        tau = _unit((r >> 8) & tl.full(r.shape, (1 << 52) - 1, tl.uint64), BITS)
    z = _horner(p_ptr + _K_TN2, idx, tau, NC, BITS, True)
    return _param(p_ptr, _K_LOC, BITS) + _negate_if(z, _top_bit(r, 0, BITS), BITS)


@triton.jit
def _uniform(r, p_ptr, BITS: tl.constexpr):
    """The top mant + 1 bits of r as a fraction in [0, 1), then loc + u * scale."""
    if BITS == 32:
        j = (r >> 8).to(tl.int32)
        u = j.to(tl.float32) * (2.0 ** -24)
    else:
        j = (r >> 11).to(tl.int64)
        u = j.to(tl.float64) * tl.full(r.shape, 2.0 ** -53, tl.float64)
    return _param(p_ptr, _K_LOC, BITS) + u * _param(p_ptr, _K_SCALE, BITS)


@triton.jit
def _split(x):
    """A uint64 of 32-bit products' sums as (low 32 bits, the rest)."""
    return x & 0xFFFFFFFF, x >> 32


@triton.jit
def _uniform_int(r0, r1, r2, r3, p_ptr, PER: tl.constexpr):
    """low + floor(R * n / 2**(32 PER)), R the element's PER words (limbs r0.. as
    uint64), mod 2**64: exact column sums of 32 x 32-bit products."""
    n0 = tl.load(p_ptr + _K_N).to(tl.uint64)
    n1 = tl.load(p_ptr + _K_N + 1).to(tl.uint64)
    l00, h00 = _split(r0 * n0)
    l01, h01 = _split(r0 * n1)
    l10, h10 = _split(r1 * n0)
    l11, h11 = _split(r1 * n1)
    carry = (h00 + l01 + l10) >> 32  # column 1 (column 0 has no carry)
    if PER == 2:
        acc2 = h01 + h10 + l11 + carry
        q = (acc2 & 0xFFFFFFFF) | ((h11 + (acc2 >> 32)) << 32)
    else:
        l20, h20 = _split(r2 * n0)
        l21, h21 = _split(r2 * n1)
        l30, h30 = _split(r3 * n0)
        l31, h31 = _split(r3 * n1)
        carry = (h01 + h10 + l11 + l20 + carry) >> 32  # column 2
        carry = (h11 + h20 + l21 + l30 + carry) >> 32  # column 3
        acc4 = h21 + h30 + l31 + carry
        q = (acc4 & 0xFFFFFFFF) | ((h31 + (acc4 >> 32)) << 32)
    return q + tl.load(p_ptr + _K_LOW).to(tl.uint64)


@triton.jit
def _float_bits(v, p_ptr, FMT: tl.constexpr, BITS: tl.constexpr):
    """Working-precision values rounded to the format, clamped, as the stored bits."""
    lo = _param(p_ptr, _K_LO, BITS)
    hi = _param(p_ptr, _K_HI, BITS)
    if FMT == _K_F16:
        x = v.to(tl.float16).to(tl.float32)  # round to nearest even, subnormals kept
    elif FMT == _K_BF16:
        b = v.to(tl.uint32, bitcast=True)
        x = (((b + 0x7FFF + ((b >> 16) & 1)) >> 16) << 16).to(tl.float32, bitcast=True)
    else:
        x = v
    x = tl.where(x < lo, lo, x)
    x = tl.where(x > hi, hi, x)
    if FMT == _K_F16:
        return x.to(tl.float16).to(tl.int16, bitcast=True)
    elif FMT == _K_BF16:
        return (x.to(tl.uint32, bitcast=True) >> 16).to(tl.int16)
    elif FMT == _K_F32:
        return x.to(tl.int32, bitcast=True)
    else:
        return x.to(tl.int64, bitcast=True)


@triton.jit
def _stored_bits(c0, c1, c2, c3, p_ptr, dy_ptr, KIND: tl.constexpr, FMT: tl.constexpr,
                 PER: tl.constexpr):
    """The four words of each Philox block to the stored bits of the elements they make
    (along the last axis: 4 // PER elements per block, in order)."""
    BITS: tl.constexpr = 64 if FMT == _K_F64 else 32
    NC: tl.constexpr = _K_NC64 if FMT == _K_F64 else _K_NC32
    if FMT == _K_INT:
        if PER == 2:
            v = _uniform_int(_interleave(c0, c2).to(tl.uint64),
                             _interleave(c1, c3).to(tl.uint64), 0, 0, p_ptr, PER)
        else:
            v = _uniform_int(c0.to(tl.uint64), c1.to(tl.uint64), c2.to(tl.uint64),
                             c3.to(tl.uint64), p_ptr, PER)
        return v.to(tl.int64, bitcast=True)
    else:
        if BITS == 32:
            r = _interleave(_interleave(c0, c2), _interleave(c1, c3))
        else:  # H << 32 | L, L the element's first word
            r = (_interleave(c1, c3).to(tl.uint64) << 32) | _interleave(c0, c2).to(
                tl.uint64)
        if KIND == _K_UNIFORM:
            v = _uniform(r, p_ptr, BITS)
        elif KIND == _K_NORMAL:
            v = _normal(r, p_ptr, dy_ptr, BITS, NC)
        elif KIND == _K_TN2_KIND:
            v = _truncated_normal2(r, p_ptr, BITS, _K_TN2_NC64 if BITS == 64 else _K_TN2_NC32)
        else:
            v = _truncated_general(r, p_ptr, dy_ptr, BITS, NC)
        return _float_bits(v, p_ptr, FMT, BITS)


@triton.jit(do_not_specialize=["nrows", "row_len", "chunks"])
def _fill_kernel(out_ptr, p_ptr, dy_ptr, nrows, row_len, chunks,
                 KIND: tl.constexpr, FMT: tl.constexpr, PER: tl.constexpr,
                 ROWS: tl.constexpr, BLOCK: tl.constexpr):
    """Program ``pid``: Philox blocks ``chunk * BLOCK ..`` (chunk = ``pid % chunks``) of
    each of ROWS rows (group ``pid // chunks``); the row starts follow the parameters."""
    EPB: tl.constexpr = 4 // PER  # elements per Philox block
    pid = tl.program_id(0).to(tl.int64)
    group = pid // chunks
    rows = group * ROWS + tl.arange(0, ROWS)[:, None]
    live = rows < nrows
    s = tl.load(p_ptr + _K_STARTS + rows, mask=live, other=0)  # first element indices
    b0 = s // EPB + (pid - group * chunks) * BLOCK  # each row's first block here
    c0, c1, c2, c3 = _philox(b0 + tl.arange(0, BLOCK)[None, :], p_ptr)
    k = b0 * EPB + tl.arange(0, BLOCK * EPB)[None, :] - s  # positions in the rows
    bits = _stored_bits(c0, c1, c2, c3, p_ptr, dy_ptr, KIND, FMT, PER)
    tl.store(out_ptr + rows * row_len + k, bits.to(out_ptr.dtype.element_ty),
             mask=live & (k >= 0) & (k < row_len))


@triton.jit
def _words_kernel(out_ptr, w_ptr, p_ptr, dy_ptr, KIND: tl.constexpr, FMT: tl.constexpr,
                  PER: tl.constexpr, BLOCK: tl.constexpr):
    """Test hook: the transform, rounding and clamp of given words (4 * BLOCK of them,
    as Philox blocks), not Philox output: edge words that random seeds never reach."""
    lane = tl.arange(0, BLOCK)[None, :] * 4
    c0 = tl.load(w_ptr + lane).to(tl.uint32)
    c1 = tl.load(w_ptr + lane + 1).to(tl.uint32)
    c2 = tl.load(w_ptr + lane + 2).to(tl.uint32)
    c3 = tl.load(w_ptr + lane + 3).to(tl.uint32)
    bits = _stored_bits(c0, c1, c2, c3, p_ptr, dy_ptr, KIND, FMT, PER)
    tl.store(out_ptr + tl.arange(0, BLOCK * (4 // PER))[None, :],
             bits.to(out_ptr.dtype.element_ty))


# --------------------------------------------------------------------------- #
# The host side
# --------------------------------------------------------------------------- #

#: True when the kernel runs in Triton's interpreter (TRITON_INTERPRET=1 at import).
_INTERPRETED = type(_fill_kernel).__name__ == "InterpretedFunction"
# Philox blocks per program (ROWS * BLOCK): more in the interpreter, where each
# program's every operation costs a Python call.
_BLOCKS = 1024 if _INTERPRETED else 256


def _round_keys(key: int) -> list[int]:
    """The key words of each of the ten rounds: k0 of every round, then k1."""
    k0, k1 = key & spec.MASK32, key >> 32
    first, second = [], []
    for _ in range(spec.PHILOX_ROUNDS):
        first.append(k0)
        second.append(k1)
        k0 = (k0 + spec.PHILOX_W0) & spec.MASK32
        k1 = (k1 + spec.PHILOX_W1) & spec.MASK32
    return first + second


def _params(key: int, call: int, dist: Distribution, fmt: str,
            starts: np.ndarray) -> np.ndarray:
    """The kernel's parameter array (layout above), the row starts appended."""
    p = np.zeros(_STARTS + starts.size, np.int64)
    p[_ROUND_KEYS:_CALL] = _round_keys(key)
    p[_CALL:_CALL + 2] = call & spec.MASK32, call >> 32
    p[_STARTS:] = starts.view(np.int64)  # element indices < 2**62
    kind = dist.spec
    if kind.is_integer:
        low, n = int(dist.low) & spec.MASK64, int(dist.scale)  # ints for uniform_int
        p[_N:_N + 2] = n & spec.MASK32, n >> 32
        p[_LOW] = low - (1 << 64) if low >> 63 else low
        return p
    prec = spec.precision(fmt)
    general = kind.host_params(dist) or (0.0,) * 6
    floats = [dist.loc, dist.scale, *clamp_bounds(dist, fmt), *general, prec.pred_half]
    with np.errstate(over="ignore"):  # as the reference rounds them: inf beyond range
        p[_FLOATS:_TN2] = _bits(np.array(floats, np.float64).astype(prec.float))
    if kind.code == spec.KIND_CODES["truncated_normal"]:
        table = _bits(spec.tn2_coefficients(fmt, dist.scale)).reshape(-1)
        p[_TN2:_TN2 + table.size] = table
    return p


def _bits(a: np.ndarray) -> np.ndarray:
    """Floats as their bits, zero-extended to int64."""
    return a.view(np.uint32 if a.dtype == np.float32 else np.int64).astype(np.int64)


@functools.lru_cache(maxsize=None)
def _dyadic_table(device: str, bits: int) -> torch.Tensor:
    """The tail then the center table of one precision, on one device."""
    prec = spec.P32 if bits == 32 else spec.P64
    return torch.from_numpy(np.concatenate([prec.tail, prec.center])).to(device)


def _layout(per: int, row_len: int) -> tuple[int, int, int]:
    """(ROWS, BLOCK, chunks): rows per program, Philox blocks per row and program, and
    programs per row, for rows of ``row_len`` >= 1 elements."""
    epb = 4 // per
    nblocks = (row_len + epb - 2) // epb + 1  # a row may start at any lane
    # three layouts per kind and format: every one is a compilation on a GPU
    block = next((b for b in (8, 64) if nblocks <= b < _BLOCKS), _BLOCKS)
    return _BLOCKS // block, block, triton.cdiv(nblocks, block)


def _pieces(starts: np.ndarray, row_len: int,
            per: int) -> Iterator[tuple[int, np.ndarray, int]]:
    """(out_offset, starts, row_len) pieces of explicit rows, each at most _PIECE
    elements (or one row's) and _MAX_PROGRAMS programs: one launch each."""
    if row_len > _PIECE:
        for r, s in enumerate(starts.tolist()):
            for t in range(0, row_len, _PIECE):
                yield r * row_len + t, np.array([s + t], np.uint64), min(_PIECE, row_len - t)
        return
    rows, _, chunks = _layout(per, row_len)
    group = max(1, min(_MAX_PROGRAMS // chunks * rows, _PIECE // row_len))
    for g in range(0, starts.size, group):
        yield g * row_len, starts[g:g + group], row_len


def _launch(out: torch.Tensor, key: int, call: int, dist: Distribution, fmt: str,
            starts: np.ndarray, row_len: int) -> None:
    """One launch: ``len(starts)`` rows of ``row_len`` elements into the flat tensor of
    bits ``out`` (on the device that computes)."""
    per = spec.words_per_element(fmt)
    rows, block, chunks = _layout(per, row_len)
    params = torch.from_numpy(_params(key, call, dist, fmt, starts)).to(out.device)
    table = _dyadic_table(str(out.device), 64 if fmt == "float64" else 32)
    grid = (triton.cdiv(starts.size, rows) * chunks,)
    _fill_kernel[grid](out, params, table, starts.size, row_len, chunks,
                       KIND=dist.spec.code, FMT=_FMT_CODES.get(fmt, 4), PER=per, ROWS=rows,
                       BLOCK=block, num_warps=4, enable_fp_fusion=False)


def _transform_words(words: np.ndarray, dist: Distribution, fmt: str) -> np.ndarray:
    """Test hook: the stored bits (unsigned) of the elements that the given 32-bit
    words (a power-of-two count, at least 4) make, as a fill would store them."""
    per = spec.words_per_element(fmt)
    itemsize = np.dtype(np.uint16 if fmt == "bfloat16" else fmt).itemsize
    out = torch.empty(words.size // per, dtype=_BITS_DTYPE[itemsize])
    params = torch.from_numpy(_params(0, 0, dist, fmt, np.zeros(0, np.uint64)))
    table = _dyadic_table("cpu", 64 if fmt == "float64" else 32)
    _words_kernel[(1,)](out, torch.from_numpy(words.astype(np.int64)), params, table,
                        KIND=dist.spec.code, FMT=_FMT_CODES.get(fmt, 4), PER=per,
                        BLOCK=words.size // 4, enable_fp_fusion=False)
    return out.numpy().view(f"u{itemsize}")


def _fill_bits(out: torch.Tensor, key: int, call: int, dist: Distribution, fmt: str,
               starts: np.ndarray, row_len: int) -> None:
    """Explicit rows into the flat tensor of bits ``out``, piece by piece."""
    per = spec.words_per_element(fmt)
    for off, piece, n in _pieces(starts, row_len, per):
        _launch(out[off:off + piece.size * n], key, call, dist, fmt, piece, n)


def available(device: str | torch.device | None = None) -> bool:
    """Whether the kernel can run on ``device`` here: CUDA devices when torch sees one,
    the CPU when Triton runs interpreted (``TRITON_INTERPRET=1`` before Triton's
    import). Without a device: whether numpy arrays can be filled (either)."""
    if device is None:
        return _INTERPRETED or torch.cuda.is_available()
    kind = torch.device(device).type
    if kind == "cuda":
        return torch.cuda.is_available()
    return kind == "cpu" and _INTERPRETED


def fill_rows(flat_out: np.ndarray, key: int, call: int, dist: Distribution, fmt: str,
              starts: np.ndarray, row_len: int) -> None:
    """:func:`fanin.stream.numpy.fill_reference_rows` (same arguments, validated by the
    caller, same bits) by the Triton kernel: on the CPU in the interpreter, else on the
    current CUDA device and copied back piece by piece."""
    if flat_out.size == 0:
        return
    host = torch.from_numpy(flat_out.view(np.dtype(f"i{flat_out.itemsize}")))
    if _INTERPRETED:
        _fill_bits(host, key, call, dist, fmt, starts, row_len)
        return
    if not torch.cuda.is_available():
        raise RuntimeError("fanin's triton backend needs a CUDA device, or "
                           "TRITON_INTERPRET=1 set before triton is imported.")
    per = spec.words_per_element(fmt)
    for off, piece, n in _pieces(starts, row_len, per):
        buf = torch.empty(piece.size * n, dtype=host.dtype, device="cuda")
        _launch(buf, key, call, dist, fmt, piece, n)
        host[off:off + buf.numel()].copy_(buf)


def fill_tensor(out: torch.Tensor, plan: Plan) -> torch.Tensor:
    """Fill the contiguous tensor ``out`` (the plan's format as its dtype, the block's
    size) with the plan's values, in one fused kernel per run of rows. ``out`` is on a
    CUDA device, or the CPU under ``TRITON_INTERPRET=1``. Returns ``out``.

    Raises TypeError for a non-tensor, ValueError for a dtype, size or layout that does
    not match the plan, RuntimeError for a device the kernel cannot run on.
    """
    if not isinstance(plan, Plan):
        raise TypeError(f"plan must be a fanin.stream.Plan, got {type(plan).__name__}.")
    check_tensor_out(out, plan)
    if out.dtype != getattr(torch, plan.fmt, None):
        raise ValueError(f"out has dtype {out.dtype}; the plan's format is {plan.fmt!r}.")
    if not available(out.device):
        raise RuntimeError(f"fanin's triton kernel cannot run on {out.device} here "
                           "(CUDA devices; the CPU only with TRITON_INTERPRET=1 set "
                           "before triton is imported).")
    check_format(plan.dist, plan.fmt)
    with torch.no_grad(), _on(out.device):
        flat = out.view(-1).view(_BITS_DTYPE[out.element_size()])
        for start, starts, row_len in plan.runs():
            _fill_bits(flat[start:start + starts.size * row_len], plan.key, plan.call,
                       plan.dist, plan.fmt, starts, row_len)
    return out


def _on(device: torch.device):
    """Launch on ``device`` (Triton launches on the current CUDA device)."""
    if device.type == "cuda":
        return torch.cuda.device(device)
    return contextlib.nullcontext()
