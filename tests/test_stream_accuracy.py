"""Stream v2 accuracy against exact references, and its distributions against SciPy.

``python tests/test_stream_accuracy.py`` prints the figures quoted in docs/stream.md.
Errors are in units in the last place (ulp) of the working format at the exact value.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special, stats

from fanin import stream
from fanin.stream import spec, transforms
from fanin.stream.ops import NUMPY
from _fills import fill as sfill  # noqa: E402

SQRT2 = np.sqrt(2.0)


def _ulps(got, exact, ftype):
    """|got - exact| in ulps of ftype at exact (exact in float64 or better)."""
    spacing = np.spacing(np.abs(exact).astype(ftype)).astype(np.float64)
    return np.abs(got.astype(np.float64) - exact) / spacing


def tn2_float32_exhaustive():
    """Every float32 magnitude of the Keras truncated normal (2**23: 32 intervals x
    2**18 values of tau), against sqrt(2) erfinv(q erf(sqrt 2)) in float64."""
    i = np.arange(32, dtype=np.uint32)[:, None]
    t = np.arange(1 << 18, dtype=np.uint32)[None, :]
    words = (i | (t << np.uint32(5))).reshape(-1)
    got = transforms.truncated_normal2(NUMPY[32], words, 0.0, 1.0)
    q = (i.astype(np.float64) + t.astype(np.float64) / 2.0**18).reshape(-1) / 32
    exact = SQRT2 * special.erfinv(q * special.erf(SQRT2))
    return got, exact, q


def dyadic_float32_sampled(which, per_exponent=1 << 15):
    """The normal's tail / center tables at 2**15 points of every exponent they use."""
    o = NUMPY[32]
    e = np.arange(-32, -1)[:, None]
    m = np.linspace(0.0, 1.0, per_exponent, endpoint=False)[None, :]
    y = np.ldexp(1.0 + m, e).astype(np.float32).reshape(-1)
    if which == "tail":
        got = transforms.dyadic(o, o.prec.tail, y)
        exact = SQRT2 * special.erfcinv(y.astype(np.float64))
    else:
        got = y * transforms.dyadic(o, o.prec.center, y)
        exact = SQRT2 * special.erfinv(y.astype(np.float64))
    return got, exact


@pytest.mark.slow
def test_tn2_float32_exhaustive_accuracy():
    got, exact, q = tn2_float32_exhaustive()
    err = _ulps(got, exact, np.float32)
    assert err.max() < 2.0 and err.mean() < 0.5, (err.max(), err.mean())
    assert (np.diff(got) >= 0).all()  # monotone in q over all 2**23 magnitudes
    assert got.max() < 2.0 and got[0] == 0.0


@pytest.mark.parametrize("which", ["tail", "center"])
def test_normal_tables_float32_accuracy(which):
    got, exact = dyadic_float32_sampled(which, per_exponent=1 << 11)
    err = _ulps(got, exact, np.float32)
    assert err.max() < 2.5, err.max()  # center: v * R(v) adds the product's rounding


def _float64_ulps(got, fn, x):
    """|got - fn(x)| in float64 ulps, fn evaluated by mpmath in 40 digits and kept as
    a double-double (hi + lo), so the reference's own rounding does not count."""
    mp = pytest.importorskip("mpmath")
    mp.mp.dps = 40
    exact = [fn(mp, v if isinstance(v, mp.mpf) else mp.mpf(float(v))) for v in x]
    hi = np.array([float(e) for e in exact])
    lo = np.array([float(e - mp.mpf(h)) for e, h in zip(exact, hi)])
    return np.abs((got - hi) - lo) / np.spacing(np.abs(hi))


@pytest.mark.slow
def test_float64_tables_accuracy():
    """Float64 tables against mpmath at random points (2000 per table)."""
    rng = np.random.default_rng(8)
    o = NUMPY[64]
    y = np.ldexp(1.0 + rng.random(2000), rng.integers(-64, -1, 2000))
    tail = _float64_ulps(transforms.dyadic(o, o.prec.tail, y), lambda mp, v: mp.sqrt(2) * mp.erfinv(1 - v), y)
    center = _float64_ulps(y * transforms.dyadic(o, o.prec.center, y), lambda mp, v: mp.sqrt(2) * mp.erfinv(v), y)
    assert tail.max() < 2.0 and center.max() < 2.5, (tail.max(), center.max())
    r = rng.integers(0, 2**63, 2000, dtype=np.uint64) & np.uint64(~(1 << 63) & (2**64 - 1))
    got = transforms.truncated_normal2(o, r, 0.0, 1.0)
    i = (r & np.uint64(15)).astype(np.int64)
    k = ((r >> np.uint64(4)) & np.uint64(15)).astype(np.int64)
    tau = ((r >> np.uint64(8)) & np.uint64(2**52 - 1)).astype(np.float64) / 2.0**52
    mp = pytest.importorskip("mpmath")
    q = [(a + mp.mpf(t)) / 16 if a < 15 else (15 + (b + mp.mpf(t)) / 16) / 16
         for a, b, t in zip(i.tolist(), k.tolist(), tau)]  # exact: q in double would round
    err = _float64_ulps(got, lambda mp, v: mp.sqrt(2) * mp.erfinv(v * mp.erf(mp.sqrt(2))), q)
    assert err.max() < 2.0, err.max()


# Statistical tests. Fixed seeds; the KS critical value at level 1e-4 is
# sqrt(-ln(1e-4 / 2) / (2 n)) (the asymptotic Kolmogorov distribution), so a correct
# transform fails once in 10**4 seeds; a wrong one (shifted by more than ~1/sqrt(n)
# in probability) fails.
N_KS = 200_000
KS_CRIT = np.sqrt(-np.log(1e-4 / 2) / (2 * N_KS))
SUPPORTS = [(-2.0, 2.0), (2.0, 3.0), (-6.0, -5.5), (-0.1, 0.1), (-0.3, 2.5), (-1.0, 8.0),
            (0.5, 0.5001), (-9.0, 9.0), (4.0, 9.0)]


@pytest.mark.parametrize("fmt", ["float32", "float64"])
@pytest.mark.parametrize("lower,upper", SUPPORTS)
def test_truncated_normal_ks_against_scipy(backend, fmt, lower, upper):
    d = stream.truncated_normal(0.0, 1.0, lower, upper)
    out = np.empty(N_KS, fmt)
    sfill(out, 31, 0, d)
    assert (out > lower).all() and (out < upper).all()
    res = stats.kstest(out.astype(np.float64), stats.truncnorm(lower, upper).cdf)
    # the float32 values' own rounding moves the empirical CDF by at most one ulp
    # of the support's width in probability, negligible beside KS_CRIT.
    assert res.statistic < KS_CRIT, res


def test_normal_ks_against_scipy(backend):
    out = np.empty(N_KS, np.float32)
    sfill(out, 32, 0, stream.normal(0.0, 1.0))
    assert stats.kstest(out.astype(np.float64), stats.norm.cdf).statistic < KS_CRIT


@pytest.mark.parametrize("fmt,lo,hi", [("int8", -3, 7), ("uint8", 0, 256), ("int32", -1000, 1000),
                                       ("uint64", 5, 5 + 97), ("int64", -2**62, -2**62 + 13)])
def test_uniform_int_chi_square(backend, fmt, lo, hi):
    """Counts per value against n / k: the chi-square statistic with k - 1 degrees of
    freedom stays below its 1 - 1e-4 quantile for a correct generator."""
    n = 400_000
    out = np.empty(n, fmt)
    sfill(out, 33, 1, stream.uniform_int(lo, hi))
    k = hi - lo
    counts = np.bincount((out.astype(object) - lo).astype(np.int64), minlength=k)
    assert counts.size == k
    chi2 = ((counts - n / k) ** 2 / (n / k)).sum()
    assert chi2 < stats.chi2.ppf(1 - 1e-4, k - 1), chi2


def main():
    got, exact, _ = tn2_float32_exhaustive()
    err = _ulps(got, exact, np.float32)
    print(f"tn2 float32, all 2**23 magnitudes: max {err.max():.3f} ulp, mean {err.mean():.3f} "
          f"ulp, largest |value| {got.max():.8f}")
    for which in ("tail", "center"):
        g, e = dyadic_float32_sampled(which)
        err = _ulps(g, e, np.float32)
        print(f"normal float32 {which} table, 2**15 points x 31 exponents: "
              f"max {err.max():.3f} ulp, mean {err.mean():.3f} ulp")
    print("tables", spec.TABLES_ID)


if __name__ == "__main__":
    main()
