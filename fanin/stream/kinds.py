"""Distributions: what the stream's bits are turned into, and everything per kind.

A :class:`Distribution` is a small frozen value (kind, loc, scale, support). Its
``spec`` is one of the kind classes below, which hold all knowledge about that kind:
its kernel code, the formats it writes, its clamp bounds and reach in a format, its
parameters for the kernel, its transform, and its exact moments, density and
distribution function (for the command line and the statistical tests). Adding a
distribution means adding a class here, its transform in
:mod:`fanin.stream.transforms`, its loop in the C kernel, and its tables.

>>> truncated_normal(0.0, 0.5)
Distribution(kind='truncated_normal', loc=0.0, scale=0.5, low=-1.0, high=1.0, lower=-2.0, upper=2.0)
>>> truncated_normal(0.0, 1.0).spec.code, truncated_normal(0.0, 1.0, -1.0, 1.0).spec.code
(2, 3)
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from fanin.stream import spec, transforms
from fanin.stream.identity import BitwiseEquality
from fanin.stream.ops import NUMPY

__all__ = ["Distribution", "uniform", "uniform_int", "normal", "truncated_normal",
           "KINDS", "KIND_CODES", "kind_code", "check_format", "clamp_bounds",
           "NORMAL_REACH", "FLOAT_MAX", "TN2_PARTIAL_SUM", "Kind", "Uniform", "UniformInt",
           "Normal", "KerasTruncatedNormal", "TruncatedNormal"]

_INF = math.inf


@dataclass(frozen=True, eq=False)  # == and hash on the parameters' bits: -0.0 != 0.0
class Distribution(BitwiseEquality):
    """What the stream's bits are turned into.

    ``value = loc + scale * x`` where ``x`` is uniform on [0, 1) (``"uniform"``),
    standard normal (``"normal"``) or standard normal truncated to
    ``[lower, upper]`` (``"truncated_normal"``; Keras' +-2 by default). For
    ``"uniform_int"``, integers uniform on ``[low, high)`` (``loc = low``,
    ``scale = high - low``, all Python ints). ``low`` / ``high`` are the
    support's bounds: after rounding to the output format, values are kept inside
    them (``low`` inclusive and ``high`` exclusive for uniform; both exclusive for
    the truncated normal).
    """

    kind: str
    loc: float
    scale: float
    low: float
    high: float
    lower: float = -_INF  # truncation bounds in units of scale (truncated_normal)
    upper: float = _INF

    @property
    def spec(self) -> "Kind":
        """The kind class that knows how to draw, bound and describe this distribution."""
        if self.kind == "truncated_normal" and (self.lower, self.upper) != (-2.0, 2.0):
            return _GENERAL
        return _BY_NAME[self.kind]


# --------------------------------------------------------------------------- #
# Exact standard-normal helpers (host side, for moments, densities, reach)
# --------------------------------------------------------------------------- #


def _phi(z):
    return np.exp(-0.5 * np.square(z)) / math.sqrt(2.0 * math.pi)


def _Phi(z):
    return 0.5 * (1.0 + np.vectorize(math.erf)(np.asarray(z, np.float64) / math.sqrt(2.0)))


class Kind:
    """One distribution kind. Subclasses set ``name``, ``code``, ``formula`` and the
    methods that differ; every method takes the Distribution it describes."""

    name = ""
    code = -1
    is_integer = False
    formula = ""

    def check_format(self, dist: Distribution, fmt: str) -> None:
        if fmt in spec.INT_FORMATS:
            raise ValueError(f"{dist.kind} values need a floating-point format, got {fmt!r}.")
        top = FLOAT_MAX[fmt]
        if not self.reach(dist, fmt) < top:  # also refuses NaN and infinite parameters
            raise ValueError(f"{dist.kind} values would overflow {fmt}: "
                             f"{self.overflow(dist, fmt)} reaches {fmt}'s largest value "
                             f"{top:.8g}. Use smaller parameters or a wider dtype.")

    def clamp_bounds(self, dist: Distribution, fmt: str) -> tuple[float, float]:
        return -_INF, _INF  # never clamped

    def reach(self, dist: Distribution, fmt: str) -> float:
        """The largest magnitude the working precision computes (overflow checks):
        every intermediate result of the transform as well as the values."""
        return max(abs(dist.low), abs(dist.high))

    def overflow(self, dist: Distribution, fmt: str) -> str:
        """What reaches the format's limit, in the constructor's parameter names."""
        return f"the support [{dist.low!r}, {dist.high!r}]"

    def host_params(self, dist: Distribution) -> tuple[float, ...]:
        """Parameters computed on the host beyond (loc, scale, bounds): none."""
        return ()

    def transform(self, o: transforms.Ops, r: Any, dist: Distribution) -> Any:
        raise NotImplementedError

    def moments(self, dist: Distribution) -> tuple[float, float]:
        raise NotImplementedError

    def pdf(self, dist: Distribution, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def cdf(self, dist: Distribution, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class Uniform(Kind):
    name = "uniform"
    code = spec.KIND_CODES[name]
    formula = "loc + scale * u, u uniform on [0, 1)"

    def clamp_bounds(self, dist: Distribution, fmt: str) -> tuple[float, float]:
        return _bounds_inside(dist, fmt, open_low=False)

    def reach(self, dist: Distribution, fmt: str) -> float:
        # loc + u * scale in the working precision: scale = maxval - minval must fit too
        return max(abs(dist.low), abs(dist.high), abs(dist.scale))

    def overflow(self, dist: Distribution, fmt: str) -> str:
        if max(abs(dist.low), abs(dist.high)) < FLOAT_MAX[fmt]:
            return f"the width maxval - minval = {dist.scale!r}"
        return f"minval={dist.low!r} or maxval={dist.high!r}"

    def transform(self, o: transforms.Ops, r: Any, dist: Distribution) -> Any:
        return transforms.uniform(o, r, dist.loc, dist.scale)

    def moments(self, dist: Distribution) -> tuple[float, float]:
        return dist.loc + dist.scale / 2.0, dist.scale / math.sqrt(12.0)

    def pdf(self, dist: Distribution, x: np.ndarray) -> np.ndarray:
        inside = (x >= dist.low) & (x <= dist.high)
        return np.where(inside, 1.0 / dist.scale, 0.0)

    def cdf(self, dist: Distribution, x: np.ndarray) -> np.ndarray:
        return np.clip((x - dist.low) / dist.scale, 0.0, 1.0)


class UniformInt(Kind):
    name, is_integer = "uniform_int", True
    code = spec.KIND_CODES[name]
    formula = "low + floor(R * n / 2**(32 k)), R the element's k words, n = high - low"

    def check_format(self, dist: Distribution, fmt: str) -> None:
        if fmt not in spec.INT_FORMATS:
            raise ValueError(f"uniform_int values need an integer format, got {fmt!r}.")
        info = np.iinfo(fmt)
        if dist.low < int(info.min) or dist.high - 1 > int(info.max):
            raise ValueError(f"uniform_int range [{dist.low}, {dist.high}) does not fit "
                             f"{fmt} ([{info.min}, {int(info.max) + 1})).")

    def reach(self, dist: Distribution, fmt: str) -> float:
        return max(abs(dist.low), abs(dist.high - 1))

    def moments(self, dist: Distribution) -> tuple[float, float]:
        n = dist.scale
        return dist.low + (n - 1) / 2.0, math.sqrt((n * n - 1) / 12.0)

    def pdf(self, dist: Distribution, x: np.ndarray) -> np.ndarray:  # the probability of each integer
        inside = (x >= dist.low) & (x < dist.high) & (np.floor(x) == x)
        return np.where(inside, 1.0 / dist.scale, 0.0)

    def cdf(self, dist: Distribution, x: np.ndarray) -> np.ndarray:
        return np.clip((np.floor(x) - dist.low + 1) / dist.scale, 0.0, 1.0)


class Normal(Kind):
    name = "normal"
    code = spec.KIND_CODES[name]
    formula = "loc + scale * z, z standard normal"

    def reach(self, dist: Distribution, fmt: str) -> float:
        return abs(dist.loc) + NORMAL_REACH[fmt] * abs(dist.scale)

    def overflow(self, dist: Distribution, fmt: str) -> str:
        return (f"|mean| + {NORMAL_REACH[fmt]:.4g} * stddev (mean={dist.loc!r}, "
                f"stddev={dist.scale!r}, {NORMAL_REACH[fmt]:.4g} the largest |z| drawn)")

    def transform(self, o: transforms.Ops, r: Any, dist: Distribution) -> Any:
        return transforms.normal(o, r, dist.loc, dist.scale)

    def moments(self, dist: Distribution) -> tuple[float, float]:
        return dist.loc, dist.scale

    def pdf(self, dist: Distribution, x: np.ndarray) -> np.ndarray:
        return _phi((x - dist.loc) / dist.scale) / dist.scale

    def cdf(self, dist: Distribution, x: np.ndarray) -> np.ndarray:
        return _Phi((x - dist.loc) / dist.scale)


class KerasTruncatedNormal(Kind):
    """Cut at +-2 standard deviations (Keras): a table of polynomials in the word."""

    name = "truncated_normal"
    code = spec.KIND_CODES[name]
    formula = ("loc + scale * z, z standard normal cut to its bounds (redrawn by "
               "inverse CDF, never rejected)")

    def clamp_bounds(self, dist: Distribution, fmt: str) -> tuple[float, float]:
        return _bounds_inside(dist, fmt, open_low=True)

    def reach(self, dist: Distribution, fmt: str) -> float:
        # Horner's partial sums of the table, scaled, are at most its largest row sum
        return max(abs(dist.low), abs(dist.high),
                   TN2_PARTIAL_SUM[spec.precision(fmt).bits] * abs(dist.scale))

    def overflow(self, dist: Distribution, fmt: str) -> str:
        return (f"mean + z * stddev for z in [{dist.lower!r}, {dist.upper!r}] (mean="
                f"{dist.loc!r}, stddev={dist.scale!r}; support [{dist.low!r}, {dist.high!r}])")

    def transform(self, o: transforms.Ops, r: Any, dist: Distribution) -> Any:
        return transforms.truncated_normal2(o, r, dist.loc, dist.scale)

    def _standard(self, dist: Distribution) -> tuple[float, float]:
        return (dist.low - dist.loc) / dist.scale, (dist.high - dist.loc) / dist.scale

    def moments(self, dist: Distribution) -> tuple[float, float]:
        a, b = self._standard(dist)
        pa, pb = float(_phi(a)), float(_phi(b))
        z = float(_Phi(b) - _Phi(a))
        m = (pa - pb) / z
        var = 1.0 + (a * pa - b * pb) / z - m * m
        return dist.loc + dist.scale * m, dist.scale * math.sqrt(var)

    def pdf(self, dist: Distribution, x: np.ndarray) -> np.ndarray:
        a, b = self._standard(dist)
        inside = (x >= dist.low) & (x <= dist.high)
        dens = _phi((x - dist.loc) / dist.scale) / dist.scale
        return np.where(inside, dens / (_Phi(b) - _Phi(a)), 0.0)

    def cdf(self, dist: Distribution, x: np.ndarray) -> np.ndarray:
        a, b = self._standard(dist)
        pa, pb = _Phi(a), _Phi(b)
        return np.clip((_Phi((x - dist.loc) / dist.scale) - pa) / (pb - pa), 0.0, 1.0)


class TruncatedNormal(KerasTruncatedNormal):
    """Any bounds [lower, upper]: the normal's tables with exact host probabilities."""

    code = spec.KIND_CODES["truncated_general"]

    def reach(self, dist: Distribution, fmt: str) -> float:
        # z * stddev before the mean is added, z up to the larger bound (a few ulps over)
        z = min(max(abs(dist.lower), abs(dist.upper)), spec.TN_CLIP + 0.5)
        return max(abs(dist.low), abs(dist.high), z * (1 + 2.0 ** -20) * abs(dist.scale))

    def host_params(self, dist: Distribution) -> tuple[float, ...]:
        return spec.truncated_general_params(dist.lower, dist.upper)

    def transform(self, o: transforms.Ops, r: Any, dist: Distribution) -> Any:
        return transforms.truncated_general(o, r, dist.loc, dist.scale, self.host_params(dist))


_BY_NAME = {k.name: k() for k in (Uniform, UniformInt, Normal, KerasTruncatedNormal)}
_GENERAL = TruncatedNormal()

#: Every kind by its kernel code (``_kernel.fill``'s ``kind``).
KINDS = {k.code: k for k in (Uniform, Normal, KerasTruncatedNormal, TruncatedNormal,
                             UniformInt)}
KIND_CODES = spec.KIND_CODES


def kind_code(dist: Distribution) -> int:
    """The transform a distribution uses (:data:`KIND_CODES`).

    >>> kind_code(truncated_normal(0.0, 1.0)), kind_code(truncated_normal(0.0, 1.0, -1.0, 1.0))
    (2, 3)
    """
    return dist.spec.code


# --------------------------------------------------------------------------- #
# Constructors
# --------------------------------------------------------------------------- #


def _finite(kind: str, name: str, value: Any) -> float:
    """``value`` as a finite float; ValueError naming the parameter otherwise."""
    try:
        x = float(value)
    except OverflowError:  # an int beyond the float range
        raise ValueError(f"{kind} needs a finite {name}, got an integer beyond the "
                         "float64 range.") from None
    if not math.isfinite(x):
        raise ValueError(f"{kind} needs a finite {name}, got {name}={x!r}.")
    return x


def uniform(minval: float, maxval: float) -> Distribution:
    """Uniform on ``[minval, maxval)``: finite bounds whose difference is finite too.

    >>> uniform(-1.0, 1.0).scale
    2.0
    """
    lo, hi = _finite("uniform", "minval", minval), _finite("uniform", "maxval", maxval)
    if not lo <= hi:
        raise ValueError(f"uniform needs minval <= maxval, got [{minval}, {maxval}).")
    if not math.isfinite(hi - lo):
        raise ValueError(f"uniform's width maxval - minval overflows float64, got "
                         f"[{lo!r}, {hi!r}).")
    return Distribution("uniform", lo, hi - lo, lo, hi)


def _as_int(x: Any, name: str) -> int:
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, (int, np.integer)):
        if isinstance(x, (float, np.floating)) and float(x).is_integer():
            return int(x)
        raise TypeError(f"uniform_int needs integer {name}, got {x!r}.")
    return int(x)


def uniform_int(minval: int, maxval: int) -> Distribution:
    """Integers uniform on ``[minval, maxval)`` (for the integer formats).

    Each value is ``minval + floor(R * n / 2**(32k))`` with ``n = maxval - minval``
    and ``R`` the element's ``k`` words (k = 2, or 4 for 64-bit formats): every
    outcome's probability is within a relative ``n / 2**(32k)`` (at most 2**-32)
    of ``1 / n``, exactly ``1 / n`` when ``n`` is a power of two.

    >>> uniform_int(-3, 5).scale
    8
    """
    lo, hi = _as_int(minval, "minval"), _as_int(maxval, "maxval")
    if not lo < hi:
        raise ValueError(f"uniform_int needs minval < maxval, got [{lo}, {hi}).")
    if hi - lo > 1 << 64:
        raise ValueError(f"uniform_int's range [{lo}, {hi}) holds more than 2**64 values.")
    return Distribution("uniform_int", lo, hi - lo, lo, hi)


def normal(mean: float, stddev: float) -> Distribution:
    """Normal with the given mean and standard deviation.

    >>> normal(0.0, 1.0).kind
    'normal'
    """
    return Distribution("normal", _finite("normal", "mean", mean),
                        _finite("normal", "stddev", stddev), -_INF, _INF)


def truncated_normal(mean: float, stddev: float, lower: float = -2.0,
                     upper: float = 2.0) -> Distribution:
    """Normal with the given mean and pre-truncation stddev, cut to ``[lower, upper]``
    standard deviations around the mean (Keras: +-2).

    >>> truncated_normal(1.0, 0.5).high
    2.0
    >>> truncated_normal(0.0, 1.0, 2.0, 3.0).low
    2.0
    """
    kind = "truncated_normal"
    mean, stddev = _finite(kind, "mean", mean), _finite(kind, "stddev", stddev)
    lower, upper = _finite(kind, "lower", lower), _finite(kind, "upper", upper)
    if not lower < upper:
        raise ValueError(f"truncated_normal needs bounds lower < upper, got "
                         f"[{lower}, {upper}].")
    if (lower, upper) != (-2.0, 2.0):
        spec.truncated_general_params(lower, upper)  # raises if too far in a tail
    ends = (mean + lower * stddev, mean + upper * stddev)
    if not all(math.isfinite(e) for e in ends):
        raise ValueError(f"truncated_normal's support mean + [lower, upper] * stddev "
                         f"overflows float64 (mean={mean!r}, stddev={stddev!r}, "
                         f"[{lower!r}, {upper!r}]).")
    return Distribution("truncated_normal", mean, stddev, min(ends), max(ends),
                        lower, upper)


# --------------------------------------------------------------------------- #
# Formats and bounds
# --------------------------------------------------------------------------- #


def check_format(dist: Distribution, fmt: str) -> None:
    """Raise ValueError unless ``dist`` can be written in ``fmt``.

    >>> check_format(uniform_int(0, 256), "uint8")
    """
    if fmt not in spec.FORMATS:
        raise ValueError(f"Unknown stream format {fmt!r}; expected one of {spec.FORMATS}.")
    dist.spec.check_format(dist, fmt)


def _bounds_inside(dist: Distribution, fmt: str, open_low: bool) -> tuple[float, float]:
    """The support's bounds rounded into ``fmt``: ``low`` kept (or open), ``high`` open."""
    low = spec.round_to(dist.low, fmt)
    if low < dist.low or (open_low and low == dist.low):
        low = spec.next_value(low, fmt, up=True)
    high = spec.round_to(dist.high, fmt)
    if high >= dist.high:
        high = spec.next_value(high, fmt, up=False)
    if high < low:
        if dist.scale != 0:
            raise ValueError(f"no {fmt} value lies inside the {dist.kind} support "
                             f"({dist.low!r}, {dist.high!r}): use a wider range or a "
                             "wider dtype.")
        high = low = spec.round_to(dist.loc, fmt)  # stddev 0 or minval == maxval, as Keras
    return low, high


@functools.lru_cache(maxsize=256)
def clamp_bounds(dist: Distribution, fmt: str) -> tuple[float, float]:
    """The smallest and largest values a fill may write for ``dist`` in ``fmt``.

    Uniform keeps [low, high); the truncated normal keeps (low, high) open.
    Values rounded outside are moved to these bounds, so nothing lands on a cut.
    Integers (uniform_int) and the normal are never clamped: (-inf, inf).

    >>> lo, hi = clamp_bounds(truncated_normal(0.0, 1.0), "float16")
    >>> hi < 2.0 and lo == -hi
    True
    """
    return dist.spec.clamp_bounds(dist, fmt)


def _normal_reach(fmt: str) -> float:
    """The largest |z| the normal transform gives in ``fmt``'s working precision.

    |z| is monotone in the word's tail probability, so the words with the fewest
    and most bits set under each sign and region bit reach it (for float64, every
    pairing of them).
    """
    edge = np.array([0, 1, 0x3FFFFFFF, 0x40000000, 0x40000001, 0x7FFFFFFF, 0x80000000,
                     0xBFFFFFFF, 0xC0000000, 0xC0000001, 0xFFFFFFFF], np.uint64)
    per = spec.words_per_element(fmt)
    grids = np.meshgrid(*[edge] * per, indexing="ij")
    ws = [g.reshape(-1) for g in grids]
    o = NUMPY[64 if fmt == "float64" else 32]
    z = transforms.normal(o, o.work(ws), 0.0, 1.0)
    return float(np.max(np.abs(z)))


#: The largest |z| of a standard normal draw, per floating format (overflow checks).
NORMAL_REACH = {fmt: _normal_reach(fmt) for fmt in spec.FLOAT_FORMATS}

#: The largest finite value of each floating format (bfloat16: (2 - 2**-7) * 2**127).
FLOAT_MAX = {"float16": 65504.0, "bfloat16": (2.0 - 2.0 ** -7) * 2.0 ** 127,
             "float32": float(np.finfo(np.float32).max),
             "float64": float(np.finfo(np.float64).max)}

#: The largest sum of |coefficients| of a row of the Keras truncated normal's table,
#: per working precision: a bound of every partial sum of its polynomials (tau < 1).
TN2_PARTIAL_SUM = {p.bits: float(np.abs(p.tn2).sum(axis=1).max()) for p in (spec.P32, spec.P64)}
