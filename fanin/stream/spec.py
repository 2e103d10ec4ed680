"""The stream's specification as data and exact host arithmetic (no array backend).

Everything every implementation of the stream must agree on lives here, in public
names: the version, the output formats, the index limit, Philox4x32-10's constants,
how many words an element takes, how a seed becomes a key, the working precisions'
bit layouts with their coefficient tables, and the general truncated normal's
host-side parameters computed in exact integer arithmetic (no libm).
``docs/stream.md`` is the normative text; this module is that text as code.

>>> words_per_element("float64"), P32.mant, P64.bias
(2, 23, 1023)
"""

from __future__ import annotations

import functools
import math
from fractions import Fraction

import numpy as np

from fanin.stream import _tables

__all__ = [
    "STREAM_VERSION", "FLOAT_FORMATS", "INT_FORMATS", "FORMATS", "MAX_INDEX", "MASK32",
    "MASK64", "PHILOX_M0", "PHILOX_M1", "PHILOX_W0", "PHILOX_W1", "PHILOX_ROUNDS",
    "TN_CLIP", "TN_MIN_CLIPPED_MASS", "TABLES_ID", "DYADIC_SUB_BITS", "DYADIC_EXP_MIN",
    "DYADIC_COUNT", "TN2_64_MAIN", "KIND_CODES", "Precision", "P32", "P64", "precision",
    "words_per_element", "seed_to_key", "tn2_coefficients", "truncated_general_params",
    "round_to", "next_value",
]

#: The stream's version. setup.py reads this line to build the kernel with the same
#: number (FK_STREAM_VERSION); the kernel is refused when the two differ.
STREAM_VERSION = 2

#: Output formats. float16 and bfloat16 are computed in float32 and rounded; the
#: integer formats take only the uniform integers.
FLOAT_FORMATS = ("float16", "bfloat16", "float32", "float64")
INT_FORMATS = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")
FORMATS = FLOAT_FORMATS + INT_FORMATS

#: Element indices are below 2**62, so word indices (at most 4i + 3) fit 64 bits.
MAX_INDEX = 1 << 62

MASK32 = 0xFFFFFFFF
MASK64 = 0xFFFFFFFFFFFFFFFF

# Philox4x32-10 constants (Salmon et al., "Parallel random numbers: as easy as
# 1, 2, 3", SC 2011; the Random123 library).
PHILOX_M0 = 0xD2511F53
PHILOX_M1 = 0xCD9E8D57
PHILOX_W0 = 0x9E3779B9
PHILOX_W1 = 0xBB67AE85
PHILOX_ROUNDS = 10

#: The general truncated normal's probabilities are computed for bounds clipped to
#: +-TN_CLIP standard deviations: the dyadic tables reach P(|Z| > z) = 2**-64, z = 9.1.
TN_CLIP = 9.0
#: A bound beyond TN_CLIP is accepted only if the clipped support keeps at least this
#: probability (the mass cut off, below 1.2e-19, is then below 2**-30 of it).
TN_MIN_CLIPPED_MASS = 2.0 ** -32

#: The coefficient tables' identity (a hash, generated with them) and layout.
TABLES_ID = _tables.TABLES_ID
DYADIC_SUB_BITS = _tables.DYADIC_SUB_BITS
DYADIC_EXP_MIN = _tables.DYADIC_EXP_MIN
DYADIC_COUNT = _tables.DYADIC_COUNT
TN2_64_MAIN = _tables.TN2_64_MAIN
#: The transforms' codes (the kernel's ``kind`` argument), generated with the tables
#: so that C and Python share one list.
KIND_CODES: dict[str, int] = dict(_tables.KIND_CODES)


class Precision:
    """A working precision (float32 for the 32-bit formats, float64): its bit layout
    and the coefficient tables rounded to it (the Keras table stays float64: the
    scale is folded in before rounding, see :func:`tn2_coefficients`)."""

    def __init__(self, bits: int):
        self.bits = bits
        self.float = np.float32 if bits == 32 else np.float64
        self.uint = np.uint32 if bits == 32 else np.uint64
        self.mant = 23 if bits == 32 else 52
        self.bias = 127 if bits == 32 else 1023
        #: the largest float below 1/2 (caps probabilities inside the dyadic tables)
        self.pred_half = self.uint(((self.bias - 1) << self.mant) - 1).view(self.float)
        suffix = str(bits)
        self.tail = np.array(getattr(_tables, "TAIL_" + suffix), self.float)
        self.center = np.array(getattr(_tables, "CENTER_" + suffix), self.float)
        self.tn2 = np.array(getattr(_tables, "TN2_" + suffix), np.float64)
        for table in (self.tail, self.center, self.tn2):
            table.flags.writeable = False


P32, P64 = Precision(32), Precision(64)


def precision(fmt: str) -> Precision:
    """The working precision of a floating format: P64 for float64, else P32."""
    return P64 if fmt == "float64" else P32


def words_per_element(fmt: str) -> int:
    """Stream words each element of ``fmt`` consumes.

    >>> [words_per_element(f) for f in ("float32", "float64", "int32", "uint64")]
    [1, 2, 2, 4]
    """
    if fmt in ("float16", "bfloat16", "float32"):
        return 1
    return 4 if fmt in ("int64", "uint64") else 2


def seed_to_key(seed: int) -> int:
    """Map any integer seed to the 64-bit Philox key: ``seed mod 2**64``.

    Negative seeds wrap as two's complement; seeds at or above 2**64 keep their
    low 64 bits.

    >>> seed_to_key(-1) == 2**64 - 1
    True
    """
    return int(seed) & MASK64


def tn2_coefficients(fmt: str, scale: float) -> np.ndarray:
    """The Keras truncated normal's table with the scale folded in: F(c * scale).

    >>> tn2_coefficients("float32", 1.0).shape
    (32, 7)
    """
    p = precision(fmt)
    return (p.tn2 * float(scale)).astype(p.float)


# --------------------------------------------------------------------------- #
# Host-side parameters in exact integer arithmetic (fixed point, _FP fraction bits)
# --------------------------------------------------------------------------- #

_FP = 320
_ONE = 1 << _FP


def _fx_atan_inv(n: int) -> int:
    """atan(1 / n) in fixed point (Taylor series; n >= 2)."""
    total, power, k, sign = 0, _ONE // n, 1, 1
    while power:
        total += sign * (power // k)
        power //= n * n
        k += 2
        sign = -sign
    return total


_FX_PI = 16 * _fx_atan_inv(5) - 4 * _fx_atan_inv(239)  # Machin's formula
_FX_SQRT_2PI = math.isqrt(2 * _FX_PI << _FP)


def _fx_exp(a: int) -> int:
    """exp(a) for fixed-point a >= 0: Taylor series of a / 2**m, squared m times."""
    m = max(0, a.bit_length() - _FP + 12)
    x = a >> m
    total = term = _ONE
    k = 1
    while term:
        term = term * x // (k << _FP)
        total += term
        k += 1
    for _ in range(m):
        total = total * total >> _FP
    return total


def _fx_center_cdf(z: float) -> int:
    """Phi(z) - 1/2 in fixed point: phi(z) * sum z**(2n+1) / (1*3*...*(2n+1))."""
    if z < 0:
        return -_fx_center_cdf(-z)
    zf = round(Fraction(z) * _ONE)
    z2 = zf * zf >> _FP
    total, term, k = 0, zf, 1
    while term:
        total += term
        k += 2
        term = term * z2 // (k << _FP)
    density = (_ONE << _FP) // _fx_exp(z2 // 2) * _ONE // _FX_SQRT_2PI  # phi(z)
    return total * density >> _FP


def _to_float(num: int, den: int = _ONE) -> float:
    return num / den  # Python's int / int is correctly rounded


@functools.lru_cache(maxsize=256)
def truncated_general_params(lower: float, upper: float) -> tuple[float, ...]:
    """The general truncated normal's parameters as doubles, from exact arithmetic.

    Returns (A, B, C2a, M2, U1, U2): with Fa = Phi(a), Fb = Phi(b) for the bounds
    clipped to +-TN_CLIP, A = 2 Fa, B = 2 (1 - Fb), C2a = 2 Fa - 1, M2 = 2 (Fb - Fa),
    and the region thresholds U1 = (1/4 - Fa) / (Fb - Fa), U2 = (3/4 - Fa) / (Fb - Fa)
    (-1 when a region is empty below, 2 when it covers everything).

    >>> A, B, C2a, M2, U1, U2 = truncated_general_params(-1.0, 1.0)
    >>> A == B and abs(A + M2 + B - 2.0) < 1e-15  # symmetric; the three parts sum to 1
    True
    """
    a, b = max(lower, -TN_CLIP), min(upper, TN_CLIP)
    if not a < b:
        raise ValueError(f"truncated_normal support [{lower}, {upper}] lies beyond "
                         f"{TN_CLIP} standard deviations: not supported.")
    half = _ONE >> 1
    fa, fb = half + _fx_center_cdf(a), half + _fx_center_cdf(b)
    mass = fb - fa
    if (a, b) != (lower, upper) and mass < TN_MIN_CLIPPED_MASS * _ONE:
        raise ValueError(f"truncated_normal support [{lower}, {upper}] has probability "
                         f"below 2**-32 within {TN_CLIP} standard deviations: too far "
                         "in a tail to sample accurately.")

    def threshold(q: int) -> float:  # u below which Phi(z) < q
        num = q - fa
        return -1.0 if num <= 0 else 2.0 if num >= mass else _to_float(num, mass)

    return (_to_float(2 * fa), _to_float(2 * (_ONE - fb)), _to_float(2 * fa - _ONE),
            _to_float(2 * mass), threshold(_ONE >> 2), threshold(3 * _ONE >> 2))


# --------------------------------------------------------------------------- #
# Host-side rounding to an output format (for the clamp bounds)
# --------------------------------------------------------------------------- #


def _bf16_value(bits: int) -> float:
    return float(np.array([bits << 16], np.uint32).view(np.float32)[0])


def round_to(x: float, fmt: str) -> float:
    """x rounded to nearest in ``fmt`` (to float32 first for bfloat16; ties to even).

    >>> round_to(1.0 + 2.0 ** -9, "bfloat16")
    1.0
    """
    with np.errstate(over="ignore"):  # beyond the format's range: inf, as IEEE says
        if fmt == "bfloat16":
            b = int(np.array([x], np.float32).view(np.uint32)[0])
            return _bf16_value(((b + 0x7FFF + ((b >> 16) & 1)) & MASK32) >> 16)
        return float(np.dtype(fmt).type(x))


def next_value(v: float, fmt: str, up: bool) -> float:
    """The next representable value of ``fmt`` after ``v`` (up or down).

    >>> next_value(1.0, "bfloat16", up=True)
    1.0078125
    """
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
