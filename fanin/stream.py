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
>>> stream.fill(out, seed=7, call=0, dist=stream.truncated_normal(0.0, 1.0))
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
    "fill",
    "fill_reference",
    "fill_whole",
    "kernel_available",
    "set_backend",
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
# Filling arrays
# --------------------------------------------------------------------------- #


_FORMAT_OF_DTYPE = {np.dtype(n): n for n in ("float16", "float32", "float64")}


def _format_of(out: np.ndarray, fmt: str | None) -> str:
    if fmt is not None:
        if fmt not in FORMATS:
            raise ValueError(f"Unknown stream format {fmt!r}; expected one of {FORMATS}.")
        return fmt
    name = _FORMAT_OF_DTYPE.get(out.dtype)
    if name is None and out.dtype.name == "bfloat16":  # ml_dtypes
        name = "bfloat16"
    if name is not None:
        return name
    raise TypeError(f"Cannot fill an array of dtype {out.dtype}: expected one of {FORMATS} "
                    "(or uint16 with fmt='bfloat16').")


def _check_out(out: np.ndarray, fmt: str) -> None:
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a numpy.ndarray, got {type(out).__name__}.")
    if not (out.flags.c_contiguous and out.flags.writeable):
        raise ValueError("out must be a writable C-contiguous array.")
    want = 8 if fmt == "float64" else 4 if fmt == "float32" else 2
    if out.dtype.itemsize != want:
        raise TypeError(f"out has dtype {out.dtype}, which cannot hold {fmt} values.")


_WHOLE = np.zeros(1, np.uint64)  # one row starting at element 0
_WHOLE.flags.writeable = False


def _rows(starts, row_len, n):
    if starts is None:
        return _WHOLE, n
    starts = np.ascontiguousarray(starts, dtype=np.uint64).reshape(-1)
    if starts.size * int(row_len) != n:
        raise ValueError(f"{starts.size} rows of {row_len} elements do not fill an "
                         f"array of {n} elements.")
    if starts.size and int(starts.max()) + int(row_len) > MAX_INDEX:
        raise ValueError("element indices must stay below 2**62 (stream v1's index range).")
    return starts, int(row_len)


def fill_reference(out, seed, call, dist, *, starts=None, row_len=None, fmt=None):
    """The pure-NumPy reference: fill ``out`` with stream values.

    Element ``t`` of row ``r`` of ``out`` (viewed as ``(len(starts), row_len)``)
    gets the value of flat element index ``starts[r] + t``. With ``starts=None``,
    ``out``'s flat element ``i`` gets index ``i``. ``fmt`` defaults to ``out``'s
    dtype; pass ``"bfloat16"`` to fill a ``uint16`` array with bfloat16 bits.

    >>> a = np.empty(6, np.float64); b = np.empty(4, np.float64)
    >>> fill_reference(a, 1, 0, normal(0.0, 1.0))
    >>> fill_reference(b, 1, 0, normal(0.0, 1.0), starts=[2], row_len=4)
    >>> bool(np.array_equal(a[2:], b))
    True
    """
    fmt = _format_of(out, fmt)
    _check_out(out, fmt)
    flat = out.reshape(-1)
    if fmt == "bfloat16":
        flat = flat.view(np.uint16)
    starts, row_len = _rows(starts, row_len, flat.size)
    if flat.size == 0:
        return
    key = seed_to_key(seed)
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
    else:
        group = max(1, _CHUNK // row_len)
        for g in range(0, len(starts), group):
            s = starts[g:g + group] * np.uint64(per)
            w = _words(key, call, s, row_len * per)
            _store(_transform(w, dist.kind, fmt, dist.loc, dist.scale),
                   rows[g:g + group], fmt, lo, hi)


# --------------------------------------------------------------------------- #
# Dispatch to the compiled kernel
# --------------------------------------------------------------------------- #

try:  # the compiled kernel, built by the package's own install
    from fanin import _kernel  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - exercised when the extension is missing
    _kernel = None
    if not os.environ.get("FANIN_NO_KERNEL_WARNING"):
        warnings.warn("fanin's compiled kernel is not built; using the NumPy reference "
                      "stream (same values, slower).", RuntimeWarning, stacklevel=2)


# Which implementation ``fill`` uses: the kernel when built, unless the environment
# variable FANIN_REFERENCE=1 (read once, at import) or ``set_backend`` says otherwise.
_use_kernel = _kernel is not None and os.environ.get("FANIN_REFERENCE", "") in ("", "0")


def set_backend(name: str) -> None:
    """Choose ``"kernel"`` (the compiled kernel) or ``"reference"`` (pure NumPy).

    Both give the same bits; the tests run both.

    >>> set_backend("reference"); kernel_available()
    False
    >>> set_backend("kernel" if _kernel is not None else "reference")
    """
    global _use_kernel
    if name not in ("kernel", "reference"):
        raise ValueError(f"backend must be 'kernel' or 'reference', got {name!r}.")
    if name == "kernel" and _kernel is None:
        raise RuntimeError("fanin's compiled kernel is not built.")
    _use_kernel = name == "kernel"


def kernel_available() -> bool:
    """True when ``fill`` uses the compiled kernel.

    >>> isinstance(kernel_available(), bool)
    True
    """
    return _use_kernel


def fill(out, seed, call, dist, *, starts=None, row_len=None, fmt=None):
    """Fill ``out`` in place with stream values: the kernel if built, else the reference.

    Same arguments and results, to the bit, as :func:`fill_reference`.

    >>> out = np.empty((2, 3), np.float32)
    >>> fill(out, seed=0, call=0, dist=uniform(0.0, 1.0))
    >>> bool(((out >= 0) & (out < 1)).all())
    True
    """
    if not _use_kernel:
        fill_reference(out, seed, call, dist, starts=starts, row_len=row_len, fmt=fmt)
        return
    fmt = _format_of(out, fmt)
    _check_out(out, fmt)
    starts_arr, row_len = _rows(starts, row_len, out.size)
    _fill_kernel(out, fmt, seed_to_key(seed), int(call) & _MASK64, dist, starts_arr, row_len)


def _fill_kernel(out, fmt, key, call, dist, starts, row_len):
    lo, hi = clamp_bounds(dist, fmt)
    _kernel.fill(out, fmt, key, call, _KIND_CODES[dist.kind], dist.loc, dist.scale,
                 lo, hi, starts, row_len)


def fill_whole(out, key, call, dist, fmt):
    """``fill`` of a whole, already-validated array, with the least overhead.

    For callers that created ``out`` themselves (fresh, C-contiguous, of
    ``fmt``) and hold a 64-bit ``key`` and ``call``.

    >>> a, b = np.empty(5, np.float32), np.empty(5, np.float32)
    >>> fill_whole(a, 3, 0, normal(0.0, 1.0), "float32"); fill(b, 3, 0, normal(0.0, 1.0))
    >>> bool((a == b).all())
    True
    """
    if _use_kernel:
        _fill_kernel(out, fmt, key, call, dist, _WHOLE, out.size)
    else:
        fill_reference(out, key, call, dist, fmt=fmt)
