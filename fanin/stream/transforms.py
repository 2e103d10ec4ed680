"""Words to values: the stream's transforms, written once for every array library.

Each function takes ``o``, an :class:`Ops`: one working precision (float32 for the
32-bit formats, float64) of one array library. The NumPy reference
(:mod:`fanin.stream.ops`), torch (:mod:`fanin.stream.torch`) and jnp
(:mod:`fanin.stream.jax`) supply only those operations; the order of operations,
which fixes every rounding, is here and nowhere else (the C kernel is the one other
text, hand-written for speed and tested against this one bit for bit).

An element's words combine into its working integer ``r`` (``o.work``): the word
itself for 32-bit formats, ``H << 32 | L`` for float64 (``L`` the first word). Right
shifts are always masked, so backends holding words in signed integers (torch's
int64) give the same fields.
"""

from __future__ import annotations

from typing import Any, Protocol, Sequence

from fanin.stream import spec

__all__ = ["Ops", "unit", "horner", "dyadic", "half_unit", "top_bit", "normal",
           "truncated_general", "truncated_normal2", "uniform", "transform",
           "round_bfloat16", "clamp", "round_and_clamp"]

Array = Any


class Ops(Protocol):
    """The array operations of one working precision (``bits`` 32 or 64).

    ``u`` values are the working unsigned integers (or a signed type holding them);
    ``f`` values the working floats; ``i`` values signed integers (indices)."""

    bits: int
    prec: spec.Precision

    def c(self, x: float) -> Array: ...  # a float constant, rounded to the working type
    def u(self, n: int) -> Array: ...  # an unsigned constant
    def as_float(self, u: Array) -> Array: ...  # bit cast, u -> f
    def as_uint(self, f: Array) -> Array: ...  # bit cast, f -> u
    def signed(self, u: Array) -> Array: ...  # u (small values) -> i
    def to_float(self, i: Array) -> Array: ...  # i -> f, rounded to nearest
    def where(self, cond: Array, a: Array, b: Array) -> Array: ...
    def minimum(self, a: Array, b: Array) -> Array: ...
    def abs(self, a: Array) -> Array: ...
    def clip(self, i: Array, lo: int, hi: int) -> Array: ...
    def to_bool(self, u: Array) -> Array: ...
    def mul(self, a: Array, b: Array) -> Array: ...  # a * b, never fused or regrouped
    def rows(self, table: Array, idx: Array) -> list: ...  # columns of table[idx]
    def work(self, ws: Sequence[Array]) -> Array: ...  # an element's words -> r
    def cast(self, f: Array, fmt: str) -> Array: ...  # round to float16/32/64
    def scalar_like(self, x: Array, v: float) -> Array: ...  # v in x's dtype
    def uniform_int(self, ws: Sequence[Array], low: int, n: int, fmt: str) -> Array: ...


def unit(o: Ops, frac: Array) -> Array:
    """``1.frac - 1``: the top ``mant`` bits of a fraction as a float in [0, 1), exact."""
    p = o.prec
    return o.as_float(frac | o.u(p.bias << p.mant)) - o.c(1.0)


def horner(o: Ops, cols: list, x: Array) -> Array:
    """Each element's polynomial (coefficient columns, highest degree first) at x."""
    acc = cols[0]
    for coef in cols[1:]:
        acc = o.mul(acc, x) + coef
    return acc


def dyadic(o: Ops, table: Array, y: Array) -> Array:
    """A dyadic table's polynomial at y in (0, 1/2): the interval from y's exponent and
    top DYADIC_SUB_BITS fraction bits (clamped to the table), tau from the rest."""
    p, sub = o.prec, spec.DYADIC_SUB_BITS
    b = o.as_uint(y)  # y > 0: the sign bit is clear
    base = (p.bias + spec.DYADIC_EXP_MIN) << sub
    idx = o.clip(o.signed(b >> o.u(p.mant - sub)) - base, 0, spec.DYADIC_COUNT - 1)
    frac = (b << o.u(sub)) & o.u((1 << p.mant) - 1)
    return horner(o, o.rows(table, idx), unit(o, frac))


def half_unit(o: Ops, r: Array) -> Array:
    """t = F(2c + 1) * 2**-bits in (0, 1/2) from the low bits-2 bits c of r
    (conversion rounded to nearest, then capped below 1/2)."""
    c = o.signed(r & o.u((1 << (o.bits - 2)) - 1))
    t = o.mul(o.to_float(2 * c + 1), o.c(2.0 ** -o.bits))
    return o.minimum(t, o.c(float(o.prec.pred_half)))


def top_bit(o: Ops, r: Array, bit: int) -> Array:
    """Bit ``bits - 1 - bit`` of r (counted from the top), as booleans."""
    return o.to_bool((r >> o.u(o.bits - 1 - bit)) & o.u(1))


def normal(o: Ops, r: Array, loc: float, scale: float) -> Array:
    """Sign = top bit, region = next bit (0: P(|Z| < |z|) = t, 1: P(|Z| > |z|) = t)."""
    t = half_unit(o, r)
    z = o.where(top_bit(o, r, 1), dyadic(o, o.prec.tail, t),
                o.mul(t, dyadic(o, o.prec.center, t)))
    z = o.where(top_bit(o, r, 0), -z, z)
    return o.c(loc) + o.mul(z, o.c(scale))


def truncated_general(o: Ops, r: Array, loc: float, scale: float,
                      params: Sequence[float]) -> Array:
    """Inverse CDF on [a, b] in three regions, each in the coordinate that keeps
    its precision: lower tail Phi(z) < 1/4, center, upper tail 1 - Phi(z) < 1/4."""
    A, B, C2a, M2, U1, U2 = (o.c(x) for x in params)
    pred_half = o.c(float(o.prec.pred_half))
    t = half_unit(o, r)
    right = top_bit(o, r, 0)  # t measured from the upper end of [0, 1]
    one = o.c(1.0)
    u = o.where(right, one - t, t)
    v = o.where(right, t, one - t)
    z_low = -dyadic(o, o.prec.tail, o.minimum(A + o.mul(u, M2), pred_half))
    c = C2a + o.mul(u, M2)
    z_mid = o.mul(c, dyadic(o, o.prec.center, o.minimum(o.abs(c), pred_half)))
    z_high = dyadic(o, o.prec.tail, o.minimum(B + o.mul(v, M2), pred_half))
    z = o.where(u < U1, z_low, o.where(u < U2, z_mid, z_high))
    return o.c(loc) + o.mul(z, o.c(scale))


def truncated_normal2(o: Ops, r: Array, loc: float, scale: float) -> Array:
    """The Keras +-2 truncated normal: a table of polynomials, the scale folded in.

    float32: sign bit 31, interval bits 0-4, tau = bits 5-22. float64: sign bit 63,
    interval bits 0-3 (15: sub-interval bits 4-7), tau = bits 8-59."""
    coeffs = spec.tn2_coefficients("float64" if o.bits == 64 else "float32", scale)
    if o.bits == 32:
        idx = o.signed(r & o.u(31))
        tau = unit(o, ((r >> o.u(5)) & o.u(0x3FFFF)) << o.u(5))
    else:
        last = spec.TN2_64_MAIN - 1
        i = o.signed(r & o.u(15))
        k = o.signed((r >> o.u(4)) & o.u(15))
        idx = o.where(i < last, i, last + k)
        tau = unit(o, (r >> o.u(8)) & o.u((1 << 52) - 1))
    z = horner(o, o.rows(coeffs, idx), tau)
    z = o.where(top_bit(o, r, 0), -z, z)
    return o.c(loc) + z


def uniform(o: Ops, r: Array, loc: float, scale: float) -> Array:
    """The top mant + 1 bits of r as a fraction in [0, 1) (exact), then loc + u * scale."""
    nbits = o.prec.mant + 1
    j = o.signed((r >> o.u(o.bits - nbits)) & o.u((1 << nbits) - 1))
    u = o.mul(o.to_float(j), o.c(2.0 ** -nbits))
    return o.c(loc) + o.mul(u, o.c(scale))


def transform(o: Ops, ws: Sequence[Array], dist: Any, fmt: str) -> Array:
    """An element's words (``ws[t]``: word t of each element) to values: working-precision
    floats for the floating formats, the integer format's values for uniform_int."""
    kind = dist.spec
    if kind.is_integer:
        return o.uniform_int(ws, dist.low, dist.scale, fmt)
    return kind.transform(o, o.work(ws), dist)


def round_bfloat16(o: Ops, x32: Array) -> Array:
    """float32 -> the nearest bfloat16 (ties to even), held in float32 (low bits zero);
    no NaN can occur here."""
    b = o.as_uint(x32)
    return o.as_float(((b + o.u(0x7FFF) + ((b >> o.u(16)) & o.u(1))) >> o.u(16)) << o.u(16))


def clamp(o: Ops, x: Array, lo: float, hi: float) -> Array:
    """Replace values strictly beyond a bound by it; anything else (a -0 on a +-0
    bound included) is kept as is."""
    x = o.where(x < o.scalar_like(x, lo), o.scalar_like(x, lo), x)
    return o.where(x > o.scalar_like(x, hi), o.scalar_like(x, hi), x)


def round_and_clamp(o: Ops, values: Array, fmt: str, bounds: tuple[float, float]) -> Array:
    """Working-precision values rounded to ``fmt`` and kept inside ``bounds`` (the
    format's clamp bounds; (-inf, inf) skips the clamp). bfloat16 comes back as
    float32 holding bfloat16 values; the backend packs the top 16 bits."""
    x = round_bfloat16(o, values) if fmt == "bfloat16" else o.cast(values, fmt)
    lo, hi = bounds
    if (lo, hi) == (-float("inf"), float("inf")):
        return x
    return clamp(o, x, lo, hi)
