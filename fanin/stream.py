"""The fanin random stream (version 1): position-stable, counter-based random numbers.

Every random initializer in fanin draws from one function::

    value(seed, call, element index, distribution, format)

An element's value depends on nothing else: not on threads, chunks, partitions or
devices. ``docs/stream.md`` specifies the algorithm precisely; this module is its
reference implementation in NumPy, and the compiled kernel (``fanin._kernel``),
when it is built, computes the same bits faster.

Layers, as in ``numpy.random``:

1. :func:`philox4x32` -- the Philox4x32-10 bijection (Random123), the bit source.
2. The word stream -- word ``w`` of (seed, call) is lane ``w % 4`` of
   ``philox4x32(counter=(b_lo, b_hi, call_lo, call_hi), key=(seed_lo, seed_hi))``
   with ``b = w // 4``. 32-bit formats use word ``i`` for element ``i``; float64 uses
   words ``2i`` (low half) and ``2i + 1`` (high half).
3. Transforms -- bits to uniform, normal or truncated normal values using only
   IEEE 754 operations whose results are exact or correctly rounded
   (+ - * / sqrt and bit manipulation), so every implementation agrees to the bit.

Example:

>>> import numpy as np
>>> from fanin import stream
>>> out = np.empty(4, np.float32)
>>> stream.fill(out, stream.plan(7, 0, stream.truncated_normal(0.0, 1.0), "float32", (4,)))
>>> bool(np.all(np.abs(out) < 2.0))
True
"""

from __future__ import annotations

import functools
import math
import os
import warnings
from dataclasses import dataclass

import numpy as np

from fanin._state import Restore

__all__ = [
    "STREAM_VERSION",
    "FORMATS",
    "Distribution",
    "uniform",
    "normal",
    "truncated_normal",
    "philox4x32",
    "seed_to_key",
    "clamp_bounds",
    "words",
    "Plan",
    "plan",
    "fill",
    "fill_rows",
    "fill_reference_rows",
    "fill_kernel_rows",
    "set_backend",
    "get_backend",
    "using_kernel",
    "kernel_available",
]

STREAM_VERSION = 1

#: Output formats. float16 and bfloat16 are computed in float32 and rounded.
FORMATS = ("float16", "bfloat16", "float32", "float64")

#: Element indices are below 2**62, so float64's word indices (2i + 1) fit 64 bits.
MAX_INDEX = 1 << 62

_MASK32 = 0xFFFFFFFF
_MASK64 = 0xFFFFFFFFFFFFFFFF

# Philox4x32-10 constants (Salmon et al., "Parallel random numbers: as easy as
# 1, 2, 3", SC 2011; the Random123 library).
PHILOX_M0 = 0xD2511F53
PHILOX_M1 = 0xCD9E8D57
PHILOX_W0 = 0x9E3779B9
PHILOX_W1 = 0xBB67AE85
PHILOX_ROUNDS = 10

# erf(sqrt(2)) = P(|Z| < 2) for a standard normal Z: the truncated normal draws
# erfinv's argument uniformly from (-ERF_SQRT2, ERF_SQRT2).
ERF_SQRT2 = 0.9544997361036415855994347256669331250564475525
SQRT2 = 1.4142135623730950488016887242096980785696718753
LN2 = 0.6931471805599453094172321214581765680755001343

# log(m) = s * P(s*s) with s = (m - 1) / (m + 1): P's coefficients are 2 / (2k + 1),
# the series of 2 atanh(s). |s| <= 0.1716 for m in [sqrt(1/2), sqrt(2)), so six
# terms reach float32 precision and twelve reach float64 precision. Listed from the
# highest degree down, for Horner's rule, like every polynomial here.
_LOG_COEFFS32 = tuple(2.0 / (2 * k + 1) for k in reversed(range(6)))
_LOG_COEFFS64 = tuple(2.0 / (2 * k + 1) for k in reversed(range(12)))

# erfinv(x) = x * p(w) with w = -log((1 - x)(1 + x)): M. Giles, "Approximating the
# erfinv function", GPU Computing Gems Jade Edition, 2011. Coefficients from the
# highest degree down, for Horner's rule.
_GILES32_CENTRAL = (  # w < 5, after w -= 2.5
    2.81022636e-08, 3.43273939e-07, -3.5233877e-06, -4.39150654e-06,
    0.00021858087, -0.00125372503, -0.00417768164, 0.246640727, 1.50140941,
)
_GILES32_TAIL = (  # w >= 5, after w = sqrt(w) - 3
    -0.000200214257, 0.000100950558, 0.00134934322, -0.00367342844,
    0.00573950773, -0.0076224613, 0.00943887047, 1.00167406, 2.83297682,
)
_GILES64_CENTRAL = (  # w < 6.25, after w -= 3.125
    -3.6444120640178196996e-21, -1.685059138182016589e-19,
    1.2858480715256400167e-18, 1.115787767802518096e-17,
    -1.333171662854620906e-16, 2.0972767875968561637e-17,
    6.6376381343583238325e-15, -4.0545662729752068639e-14,
    -8.1519341976054721522e-14, 2.6335093153082322977e-12,
    -1.2975133253453532498e-11, -5.4154120542946279317e-11,
    1.051212273321532285e-09, -4.1126339803469836976e-09,
    -2.9070369957882005086e-08, 4.2347877827932403518e-07,
    -1.3654692000834678645e-06, -1.3882523362786468719e-05,
    0.0001867342080340571352, -0.00074070253416626697512,
    -0.0060336708714301490533, 0.24015818242558961693,
    1.6536545626831027356,
)
_GILES64_MIDDLE = (  # 6.25 <= w < 16, after w = sqrt(w) - 3.25
    2.2137376921775787049e-09, 9.0756561938885390979e-08,
    -2.7517406297064545428e-07, 1.8239629214389227755e-08,
    1.5027403968909827627e-06, -4.013867526981545969e-06,
    2.9234449089955446044e-06, 1.2475304481671778723e-05,
    -4.7318229009055733981e-05, 6.8284851459573175448e-05,
    2.4031110387097893999e-05, -0.0003550375203628474796,
    0.00095328937973738049703, -0.0016882755560235047313,
    0.0024914420961078508066, -0.0037512085075692412107,
    0.005370914553590063617, 1.0052589676941592334,
    3.0838856104922207635,
)
_GILES64_TAIL = (  # w >= 16, after w = sqrt(w) - 5
    -2.7109920616438573243e-11, -2.5556418169965252055e-10,
    1.5076572693500548083e-09, -3.7894654401267369937e-09,
    7.6157012080783393804e-09, -1.4960026627149240478e-08,
    2.9147953450901080826e-08, -6.7711997758452339498e-08,
    2.2900482228026654717e-07, -9.9298272942317002539e-07,
    4.5260625972231537039e-06, -1.9681778105531670567e-05,
    7.5995277030017761139e-05, -0.00021503011930044477347,
    -0.00013871931833623122026, 1.0103004648645343977,
    4.8499064014085844221,
)

# Elements handled per NumPy step: bounds the reference's temporary memory
# (about 40 bytes per element) whatever the size of the output.
_CHUNK = 1 << 16

_KIND_CODES = {"uniform": 0, "normal": 1, "truncated_normal": 2}


# --------------------------------------------------------------------------- #
# Distributions
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class Distribution:
    """What the stream's bits are turned into.

    ``value = loc + scale * x`` where ``x`` is uniform on [0, 1) (``"uniform"``),
    standard normal (``"normal"``) or standard normal truncated to [-2, 2]
    (``"truncated_normal"``). ``low`` / ``high`` are the support's bounds: after
    rounding to the output format, values are kept inside them (``low`` inclusive
    and ``high`` exclusive for uniform; both exclusive for the truncated normal).

    >>> truncated_normal(0.0, 0.5)
    Distribution(kind='truncated_normal', loc=0.0, scale=0.5, low=-1.0, high=1.0)
    """

    kind: str
    loc: float
    scale: float
    low: float
    high: float


def uniform(minval: float, maxval: float) -> Distribution:
    """Uniform on ``[minval, maxval)``.

    >>> uniform(-1.0, 1.0).scale
    2.0
    """
    if not float(minval) <= float(maxval):
        raise ValueError(f"uniform needs minval <= maxval, got [{minval}, {maxval}).")
    return Distribution("uniform", float(minval), float(maxval) - float(minval),
                        float(minval), float(maxval))


def normal(mean: float, stddev: float) -> Distribution:
    """Normal with the given mean and standard deviation.

    >>> normal(0.0, 1.0).kind
    'normal'
    """
    return Distribution("normal", float(mean), float(stddev), -math.inf, math.inf)


def truncated_normal(mean: float, stddev: float) -> Distribution:
    """Normal with the given mean and pre-truncation stddev, cut at two stddevs.

    >>> truncated_normal(1.0, 0.5).high
    2.0
    """
    mean, stddev = float(mean), float(stddev)
    return Distribution("truncated_normal", mean, stddev,
                        mean - 2.0 * stddev, mean + 2.0 * stddev)


# --------------------------------------------------------------------------- #
# Layer 1: Philox4x32-10
# --------------------------------------------------------------------------- #


def seed_to_key(seed: int) -> int:
    """Map any integer seed to the 64-bit Philox key: ``seed mod 2**64``.

    Negative seeds wrap as two's complement; seeds at or above 2**64 keep their
    low 64 bits.

    >>> seed_to_key(-1) == 2**64 - 1
    True
    """
    return int(seed) & _MASK64


def philox4x32(counter, key):
    """Philox4x32-10: four 32-bit counter words and two key words to four words.

    ``counter`` is a sequence of four integers or equal-shaped integer arrays;
    ``key`` two integers. Returns four ``uint64`` arrays holding 32-bit values.

    >>> [hex(int(w)) for w in philox4x32((0, 0, 0, 0), (0, 0))]
    ['0x6627e8d5', '0xe169c58d', '0xbc57ac4c', '0x9b00dbd8']
    """
    c0, c1, c2, c3 = (np.asarray(c, dtype=np.uint64) for c in counter)
    k0, k1 = int(key[0]) & _MASK32, int(key[1]) & _MASK32
    m0, m1, mask = np.uint64(PHILOX_M0), np.uint64(PHILOX_M1), np.uint64(_MASK32)
    shift = np.uint64(32)
    for _ in range(PHILOX_ROUNDS):
        p0 = c0 * m0  # 32 x 32 -> 64 bits: exact in uint64
        p1 = c2 * m1
        c0, c1, c2, c3 = ((p1 >> shift) ^ c1 ^ np.uint64(k0), p1 & mask,
                          (p0 >> shift) ^ c3 ^ np.uint64(k1), p0 & mask)
        k0 = (k0 + PHILOX_W0) & _MASK32
        k1 = (k1 + PHILOX_W1) & _MASK32
    return c0, c1, c2, c3


def _words(key: int, call: int, starts: np.ndarray, count: int) -> np.ndarray:
    """Words ``starts[r] + t`` (t < count) of the word stream, shape (rows, count)."""
    call &= _MASK64
    first_block = starts >> np.uint64(2)
    lane = (starts & np.uint64(3)).astype(np.intp)
    nblocks = (count + 3) // 4 + 1  # enough for any starting lane
    blocks = first_block[:, None] + np.arange(nblocks, dtype=np.uint64)[None, :]
    c0 = blocks & np.uint64(_MASK32)
    c1 = blocks >> np.uint64(32)
    r = philox4x32((c0, c1, np.full_like(c0, call & _MASK32),
                    np.full_like(c0, call >> 32)),
                   (key & _MASK32, key >> 32))
    words = np.stack(r, axis=-1).reshape(len(starts), nblocks * 4)
    if not lane.any():
        return words[:, :count]
    take = lane[:, None] + np.arange(count, dtype=np.intp)[None, :]
    return np.take_along_axis(words, take, axis=1)


# --------------------------------------------------------------------------- #
# Layer 3: transforms (float32 arithmetic for the 32-bit formats)
# --------------------------------------------------------------------------- #


def _horner(coeffs, x, ftype):
    acc = np.full_like(x, ftype(coeffs[0]))
    for c in coeffs[1:]:
        acc = acc * x + ftype(c)
    return acc


def _log(y: np.ndarray, ftype) -> np.ndarray:
    """Natural log of positive normal floats from + - * / and bit manipulation."""
    if ftype is np.float32:
        utype, mant_bits, bias, sqrt2_bits, coeffs = np.uint32, 23, 127, 0x3FB504F3, _LOG_COEFFS32
    else:
        utype, mant_bits, bias, sqrt2_bits, coeffs = np.uint64, 52, 1023, 0x3FF6A09E667F3BCC, _LOG_COEFFS64
    bits = y.view(utype)
    one = utype(1) << utype(mant_bits)
    exponent = (bits >> utype(mant_bits)).astype(np.int64) - bias
    mbits = (bits & (one - utype(1))) | (utype(bias) << utype(mant_bits))  # m in [1, 2)
    big = mbits > utype(sqrt2_bits)  # m > sqrt(2): use m / 2, exponent + 1
    mbits = np.where(big, mbits - one, mbits)
    exponent += big
    m = mbits.view(ftype)
    f = m - ftype(1)  # exact (Sterbenz)
    s = f / (ftype(2) + f)
    return exponent.astype(ftype) * ftype(LN2) + s * _horner(coeffs, s * s, ftype)


def _erfinv(x: np.ndarray, ftype) -> np.ndarray:
    """Giles' erfinv: every branch evaluated, the right one selected per element."""
    w = -_log((ftype(1) - x) * (ftype(1) + x), ftype)
    if ftype is np.float32:
        p = _horner(_GILES32_CENTRAL, w - ftype(2.5), ftype)
        tail = w >= ftype(5)
        if tail.any():
            p[tail] = _horner(_GILES32_TAIL, np.sqrt(w[tail]) - ftype(3), ftype)
    else:
        p = _horner(_GILES64_CENTRAL, w - ftype(3.125), ftype)
        mid = w >= ftype(6.25)
        if mid.any():
            ws = np.sqrt(w[mid])
            far = ws >= ftype(4)  # sqrt(16)
            pm = _horner(_GILES64_MIDDLE, ws - ftype(3.25), ftype)
            if far.any():
                pm[far] = _horner(_GILES64_TAIL, ws[far] - ftype(5), ftype)
            p[mid] = pm
    return p * x


def _transform(words: np.ndarray, kind: str, fmt: str, loc: float, scale: float) -> np.ndarray:
    """Turn the stream's words into float32 (32-bit formats) or float64 values."""
    if fmt == "float64":
        ftype = np.float64
        lo, hi = words[..., 0::2], words[..., 1::2]
        j = ((hi << np.uint64(21)) | (lo >> np.uint64(11))).astype(np.int64)  # 53 bits
        nbits = 53
    else:
        ftype = np.float32
        j = (words >> np.uint64(8)).astype(np.int64)  # 24 bits
        nbits = 24
    ulp = ftype(2.0 ** -nbits)
    if kind == "uniform":
        u = j.astype(ftype) * ulp  # [0, 1), exact
        return ftype(loc) + u * ftype(scale)
    # v = (2j + 1 - 2**nbits) / 2**nbits: odd multiples of 2**-nbits in (-1, 1), exact.
    v = (2 * j + (1 - (1 << nbits))).astype(ftype) * ulp
    x = v * ftype(ERF_SQRT2) if kind == "truncated_normal" else v
    z = _erfinv(x, ftype) * ftype(SQRT2)
    return ftype(loc) + z * ftype(scale)


# --------------------------------------------------------------------------- #
# Rounding to the output format and keeping values inside the support
# --------------------------------------------------------------------------- #


def _bf16_bits(x32: np.ndarray) -> np.ndarray:
    """float32 -> bfloat16 bits, round to nearest even (no NaN can occur here)."""
    b = x32.view(np.uint32)
    return ((b + np.uint32(0x7FFF) + ((b >> np.uint32(16)) & np.uint32(1)))
            >> np.uint32(16)).astype(np.uint16)


def _bf16_value(bits: int) -> float:
    return float(np.array([bits << 16], np.uint32).view(np.float32)[0])


def _round_to(x: float, fmt: str) -> float:
    """x rounded to nearest in ``fmt`` (to float32 first for bfloat16)."""
    with np.errstate(over="ignore"):  # beyond the format's range: inf, as IEEE says
        if fmt == "bfloat16":
            return _bf16_value(int(_bf16_bits(np.array([x], np.float32))[0]))
        return float(np.dtype(fmt).type(x))


def _step(v: float, fmt: str, up: bool) -> float:
    """The next representable value of ``fmt`` after ``v`` (up or down)."""
    if fmt == "bfloat16":
        bits = int(np.array([v], np.float32).view(np.uint32)[0]) >> 16
        if v == 0.0:
            bits = 0x0001 if up else 0x8001
        elif (v > 0) == up:
            bits += 1
        else:
            bits -= 1
        return _bf16_value(bits)
    t = np.dtype(fmt).type
    return float(np.nextafter(t(v), t(np.inf if up else -np.inf)))


@functools.lru_cache(maxsize=256)
def clamp_bounds(dist: Distribution, fmt: str) -> tuple[float, float]:
    """The smallest and largest values ``fill`` may write for ``dist`` in ``fmt``.

    Uniform keeps [low, high); the truncated normal keeps (low, high) open.
    Values rounded outside are moved to these bounds, so nothing lands on a cut.

    >>> lo, hi = clamp_bounds(truncated_normal(0.0, 1.0), "float16")
    >>> hi < 2.0 and lo == -hi
    True
    """
    if dist.kind == "normal":
        return -math.inf, math.inf
    low = _round_to(dist.low, fmt)
    if low < dist.low or (dist.kind == "truncated_normal" and low == dist.low):
        low = _step(low, fmt, up=True)
    high = _round_to(dist.high, fmt)
    if high >= dist.high:
        high = _step(high, fmt, up=False)
    if high < low:
        if dist.scale != 0:
            raise ValueError(f"no {fmt} value lies inside the {dist.kind} support "
                             f"({dist.low!r}, {dist.high!r}): use a wider range or a "
                             "wider dtype.")
        high = low = _round_to(dist.loc, fmt)  # stddev 0 or minval == maxval, as Keras
    return low, high


def _store(values: np.ndarray, out_flat: np.ndarray, fmt: str, lo: float, hi: float) -> None:
    """Round float32/float64 values to ``fmt``, clamp into [lo, hi], write."""
    if fmt == "bfloat16":
        bits = _bf16_bits(values.astype(np.float32, copy=False))
        as32 = (bits.astype(np.uint32) << np.uint32(16)).view(np.float32)
        np.clip(as32, np.float32(lo), np.float32(hi), out=as32)
        out_flat[...] = (as32.view(np.uint32) >> np.uint32(16)).astype(np.uint16)
        return
    t = np.dtype(fmt).type
    with np.errstate(over="ignore"):
        rounded = values.astype(t, copy=False)
        np.clip(rounded, t(lo), t(hi), out=out_flat)


# --------------------------------------------------------------------------- #
# The reference and the kernel on validated rows
# --------------------------------------------------------------------------- #


def fill_reference_rows(flat, key, call, dist, fmt, starts, row_len):
    """The pure-NumPy reference on validated arguments.

    ``flat`` is a 1-D native C-contiguous array of ``fmt``'s storage dtype
    (``uint16`` for bfloat16); element ``t`` of row ``r`` (``flat`` viewed as
    ``(len(starts), row_len)``) gets the value of flat element index
    ``starts[r] + t``. :func:`fill` validates and calls this (or the kernel).
    """
    lo, hi = clamp_bounds(dist, fmt)
    per = 2 if fmt == "float64" else 1  # words per element
    rows = flat.reshape(len(starts), row_len)
    if row_len >= _CHUNK:
        for r, s in enumerate(starts):
            for t in range(0, row_len, _CHUNK):
                count = min(_CHUNK, row_len - t)
                w = _words(key, call, np.array([(int(s) + t) * per], np.uint64), count * per)
                _store(_transform(w[0], dist.kind, fmt, dist.loc, dist.scale),
                       rows[r, t:t + count], fmt, lo, hi)
        return
    group = max(1, _CHUNK // row_len)
    for g in range(0, len(starts), group):
        s = starts[g:g + group] * np.uint64(per)
        w = _words(key, call, s, row_len * per)
        _store(_transform(w, dist.kind, fmt, dist.loc, dist.scale),
               rows[g:g + group], fmt, lo, hi)


try:  # the compiled kernel, built by the package's own install
    from fanin import _kernel  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - exercised when the extension is missing
    _kernel = None
    if not os.environ.get("FANIN_NO_KERNEL_WARNING"):
        warnings.warn("fanin's compiled kernel is not built; using the NumPy reference "
                      "stream (same values, slower).", RuntimeWarning, stacklevel=2)


def fill_kernel_rows(flat, key, call, dist, fmt, starts, row_len):
    """:func:`fill_reference_rows` in the compiled kernel (same arguments, same bits)."""
    lo, hi = clamp_bounds(dist, fmt)
    _kernel.fill(flat, fmt, key, call, _KIND_CODES[dist.kind], dist.loc, dist.scale,
                 lo, hi, starts, row_len)


# --------------------------------------------------------------------------- #
# Plans and dispatch (core)
# --------------------------------------------------------------------------- #

def _normal_quantile_magnitude(p: float) -> float:
    """|z| with P(Z < -|z|) = p for a standard normal Z (bisection on math.erfc).

    Host-side only: it bounds values for overflow checks, it makes no stream bits.
    """
    lo, hi = 0.0, 40.0
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if 0.5 * math.erfc(mid / math.sqrt(2.0)) > p else (lo, mid)
    return hi


#: The largest |z| the normal transform can give, per format: the inverse CDF of
#: the most extreme word, the odd multiple 2**-N of section 4 (N = 24 or 53 bits),
#: plus 1% for the transform's own error. Overflow checks use it.
NORMAL_REACH = {fmt: 1.01 * _normal_quantile_magnitude(2.0 ** -(54 if fmt == "float64" else 25))
                for fmt in FORMATS}


#: Rows handed to a backend at once: bounds the row-start array (8 bytes a row)
#: whatever the block's shape, e.g. the N rows of one element of an (N, 1) block.
ROWS_PER_RUN = 1 << 16

_MASK = (1 << 64) - 1


def words(key: int, call: int, first: int, count: int) -> np.ndarray:
    """Words ``first .. first + count - 1`` of the word stream of (key, call), uint64.

    >>> [hex(int(w)) for w in words(0, 0, 0, 4)]
    ['0x6627e8d5', '0xe169c58d', '0xbc57ac4c', '0x9b00dbd8']
    """
    return _words(int(key) & _MASK, int(call) & _MASK, np.array([first], np.uint64), count)[0]


def _check_geometry(shape, offset, block):
    """Validate a block of a full shape (tuples of Python ints); refuse > 2**62 elements."""
    for name, dims in (("shape", shape), ("offset", offset), ("block", block)):
        if not all(type(d) is int and d >= 0 for d in dims):
            raise ValueError(f"plan {name} must hold non-negative ints, got {dims!r}.")
    if not len(shape) == len(offset) == len(block):
        raise ValueError(f"block [offset {offset}, shape {block}] must have the rank of "
                         f"shape {shape} ({len(shape)}).")
    if math.prod(shape) > MAX_INDEX:
        raise ValueError(f"shape {shape} has {math.prod(shape)} elements, more than "
                         "fanin's limit of 2**62.")
    if any(o + b > d for o, b, d in zip(offset, block, shape)):
        raise ValueError(f"block [offset {offset}, shape {block}] falls outside shape "
                         f"{shape}.")


@dataclass(frozen=True)
class Plan:
    """One block of one tensor's stream values, validated: what every backend computes.

    ``key`` and ``call`` are the 64-bit Philox key and call index, ``dist`` and
    ``fmt`` the distribution and output format, ``shape`` the full tensor's shape
    and ``offset`` / ``block`` the block's. Build it with :func:`plan`; fill with
    :func:`fill` (NumPy) or any backend that consumes :meth:`runs`.

    >>> p = plan(7, 0, normal(0.0, 1.0), "float32", (4, 5), offset=(1, 3), block=(2, 2))
    >>> [(start, s.tolist(), n) for start, s, n in p.runs()]
    [(0, [8, 13], 2)]
    """

    key: int
    call: int
    dist: Distribution
    fmt: str
    shape: tuple
    offset: tuple
    block: tuple

    @property
    def size(self) -> int:
        """Number of elements in the block."""
        return math.prod(self.block)

    @property
    def bounds(self) -> tuple[float, float]:
        """(lo, hi): the clamp bounds of :func:`clamp_bounds` for this plan."""
        return clamp_bounds(self.dist, self.fmt)

    def runs(self, rows_per_run: int = ROWS_PER_RUN):
        """Yield ``(out_start, starts, row_len)`` covering the block in C order.

        ``len(starts)`` rows of ``row_len`` consecutive flat indices of the full
        tensor, starting at ``starts[r]``; they are the block's elements
        ``out_start .. out_start + len(starts) * row_len - 1``. Trailing axes the
        block covers whole merge into one row; rows come at most
        ``rows_per_run`` at a time, so memory stays bounded for any shape.
        """
        shape, offset, block = self.shape, self.offset, self.block
        n = self.size
        if n == 0:
            return
        axis = len(shape) - 1  # the last axis the block does not cover whole
        while axis > 0 and block[axis] == shape[axis]:
            axis -= 1
        row_len = math.prod(block[axis:]) if shape else 1
        strides = [math.prod(shape[i + 1:]) for i in range(len(shape))]
        base = sum(o * s for o, s in zip(offset, strides))
        nrows = n // row_len
        for r0 in range(0, nrows, rows_per_run):
            rest = np.arange(r0, min(nrows, r0 + rows_per_run), dtype=np.uint64)
            starts = np.full(rest.size, base, np.uint64)
            for k in range(axis - 1, -1, -1):  # the row's index along axes < axis
                rest, i = np.divmod(rest, np.uint64(block[k]))
                starts += i * np.uint64(strides[k])
            yield r0 * row_len, starts, row_len


def plan(key: int, call: int, dist: Distribution, fmt: str, shape, offset=None,
         block=None) -> Plan:
    """A validated :class:`Plan`: the block ``[offset, offset + block)`` of ``shape``.

    Without ``offset`` / ``block``, the whole tensor. Raises ``ValueError`` for
    a format, geometry or distribution the stream cannot produce (for example
    a support that holds no value of ``fmt``), before any work is done.

    >>> plan(1, 0, uniform(0.0, 1.0), "float16", (3,)).block
    (3,)
    """
    if fmt not in FORMATS:
        raise ValueError(f"Unknown stream format {fmt!r}; expected one of {FORMATS}.")
    shape = tuple(shape)
    offset = (0,) * len(shape) if offset is None else tuple(offset)
    block = shape if block is None else tuple(block)
    _check_geometry(shape, offset, block)
    for name, value in (("key", key), ("call", call)):
        if type(value) is not int or not 0 <= value <= _MASK:
            raise ValueError(f"plan {name} must be an int in [0, 2**64), got {value!r}.")
    clamp_bounds(dist, fmt)  # raises when no value of the format lies in the support
    return Plan(key, call, dist, fmt, shape, offset, block)


def _storage_dtype(fmt: str) -> np.dtype:
    return np.dtype(np.uint16) if fmt == "bfloat16" else np.dtype(fmt)


def _check_out(out, fmt: str) -> np.ndarray:
    """``out`` as a flat array of ``fmt``'s storage dtype; clear errors otherwise.

    Accepted: exactly the format's dtype in native byte order (for bfloat16:
    ``ml_dtypes.bfloat16`` or ``uint16`` holding its bits). Nothing else is
    reinterpreted: an int32 array is not float32, float16 is not bfloat16.
    """
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a numpy.ndarray, got {type(out).__name__}.")
    dt = out.dtype
    ok = dt == np.dtype(fmt) if fmt != "bfloat16" else (
        dt.name == "bfloat16" or dt == np.dtype(np.uint16))
    if not dt.isnative and dt.newbyteorder("=") in (np.dtype(fmt), np.dtype(np.uint16)):
        raise TypeError(f"out has non-native byte order ({dt.str}); fill a native "
                        f"{fmt} array and assign it.")
    if not ok:
        raise TypeError(f"out has dtype {dt}, which does not hold {fmt} values "
                        + ("(bfloat16 fills ml_dtypes.bfloat16 or uint16 arrays)."
                           if fmt == "bfloat16" else f"(expected {fmt})."))
    if not out.flags.writeable:
        raise ValueError("out is read-only.")
    if not out.flags.c_contiguous:
        raise ValueError("out is not C-contiguous.")
    return out.reshape(-1).view(_storage_dtype(fmt))


def _check_rows(starts, row_len, n):
    if type(row_len) is not int or row_len < 0:
        raise ValueError(f"row_len must be a non-negative int, got {row_len!r}.")
    if starts.dtype != np.uint64 or starts.ndim != 1 or not starts.flags.c_contiguous:
        raise TypeError("starts must be a 1-D C-contiguous numpy.uint64 array.")
    if starts.size * row_len != n:
        raise ValueError(f"{starts.size} rows of {row_len} elements do not fill an array "
                         f"of {n} elements.")
    if starts.size and int(starts.max()) + row_len > MAX_INDEX:
        raise ValueError("element indices must stay below 2**62.")


def fill_rows(out, key, call, dist, fmt, starts, row_len) -> None:
    """Fill ``out`` with the stream values of explicit rows (see :func:`fill_reference_rows`).

    Validated, then run by the backend in use. Most callers want :func:`fill`.

    >>> a = np.empty(6, np.float64); b = np.empty(4, np.float64)
    >>> fill_rows(a, 1, 0, normal(0.0, 1.0), "float64", np.array([0], np.uint64), 6)
    >>> fill_rows(b, 1, 0, normal(0.0, 1.0), "float64", np.array([2], np.uint64), 4)
    >>> bool(np.array_equal(a[2:], b))
    True
    """
    flat = _check_out(out, fmt)
    _check_rows(starts, row_len, flat.size)
    plan(key, call, dist, fmt, ())  # validates key, call, format and support
    if flat.size:
        (fill_kernel_rows if using_kernel() else fill_reference_rows)(
            flat, key, call, dist, fmt, starts, row_len)


def fill(out, plan: Plan) -> None:
    """Fill the numpy array ``out`` (shape or size of ``plan.block``) with the plan's values.

    The compiled kernel if built and selected (see :func:`set_backend`), else
    the NumPy reference: the same bits either way.

    >>> out = np.empty((2, 3), np.float32)
    >>> fill(out, plan(0, 0, uniform(0.0, 1.0), "float32", (2, 3)))
    >>> bool(((out >= 0) & (out < 1)).all())
    True
    """
    flat = _check_out(out, plan.fmt)
    if flat.size != plan.size:
        raise ValueError(f"out has {flat.size} elements; the plan's block {plan.block} "
                         f"has {plan.size}.")
    rows = fill_kernel_rows if using_kernel() else fill_reference_rows
    for start, starts, row_len in plan.runs():
        rows(flat[start:start + starts.size * row_len], plan.key, plan.call, plan.dist,
             plan.fmt, starts, row_len)


_WHOLE = np.zeros(1, np.uint64)  # one row starting at element 0
_WHOLE.flags.writeable = False


def fill_whole(out, key, call, dist, fmt) -> None:
    """Fill a fresh C-contiguous array of ``fmt`` with elements 0.. of (key, call).

    The least-overhead path, for callers that created ``out`` themselves and
    hold a validated ``key``, ``call`` and ``dist`` (small tensors: biases).
    """
    flat = out.reshape(-1)
    if fmt == "bfloat16":
        flat = flat.view(np.uint16)
    if flat.size:
        (fill_kernel_rows if using_kernel() else fill_reference_rows)(
            flat, key, call, dist, fmt, _WHOLE, flat.size)


# --------------------------------------------------------------------------- #
# Which backend fills numpy arrays
# --------------------------------------------------------------------------- #

BACKENDS = ("kernel", "reference")

# The kernel when built, unless FANIN_REFERENCE=1 (read once, at import).
_backend = ("kernel" if _kernel is not None and os.environ.get("FANIN_REFERENCE", "") in ("", "0")
            else "reference")


def set_backend(name: str) -> Restore:
    """Fill numpy arrays with ``"kernel"`` (compiled) or ``"reference"`` (pure NumPy).

    Both give the same bits. Used as a context manager, the previous backend
    comes back at the end of the block.

    >>> with set_backend("reference"):
    ...     using_kernel()
    False
    """
    global _backend
    if name not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {name!r}.")
    if name == "kernel" and _kernel is None:
        raise RuntimeError("fanin's compiled kernel is not built.")
    previous, _backend = _backend, name

    def restore():
        global _backend
        _backend = previous
    return Restore(restore)


def get_backend() -> str:
    """The backend in use: ``"kernel"`` or ``"reference"``."""
    return _backend


def using_kernel() -> bool:
    """True when numpy arrays are filled by the compiled kernel."""
    return _backend == "kernel"


def kernel_available() -> bool:
    """True when the compiled kernel is built (whether or not it is in use)."""
    return _kernel is not None
