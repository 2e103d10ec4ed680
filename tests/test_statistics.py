"""Statistical tests of the random initializers and of the stream under them.

Every test uses FIXED seeds, so the suite is deterministic: a test either always
passes or always fails for a given stream version. The tolerances are nevertheless
derived from sampling error, so that a *correct* implementation passes for all but
a negligible fraction of seeds, and a wrong one (wrong fan, missing truncation
correction, biased bits, correlated lanes, ...) fails by a wide margin:

* Moments and correlations are checked to ``Z = 5`` standard errors. For an
  asymptotically normal statistic, P(|N(0, 1)| > 5) = 5.7e-7, the false-failure
  probability of one check on a random seed. The file makes about a thousand
  such checks, so a random seed would fail one of them with probability < 1e-3.
* Goodness-of-fit tests (Kolmogorov-Smirnov, chi-square) assert ``p > P_MIN = 1e-3``.
  Because the seeds are fixed, each p-value is a fixed number, not a random one:
  the threshold only says "this seed's sample is not in the extreme 0.1 % tail".

Sample sizes: the main cases (LecunNormal in float32 and float64, and one
initializer of each distribution kind) use 2**20 ~ 10**6 values; the other
cases 2**18 values, with tolerances scaled accordingly. The pure-NumPy reference
makes ~25M values/s, so the whole file takes a few seconds of generation.

Run ``python tests/test_statistics.py`` to print the KS p-values of the main cases.
"""

from __future__ import annotations

import functools
import math
import os
import sys
from dataclasses import dataclass

import numpy as np
import pytest

os.environ.setdefault("FANIN_NO_KERNEL_WARNING", "1")
if __name__ == "__main__":  # pragma: no cover - run as a script from a checkout
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

pytestmark = pytest.mark.slow  # Keras children / large samples: the CI tier, not the dev loop

stats = pytest.importorskip("scipy.stats")

import fanin  # noqa: E402
from fanin import stream  # noqa: E402
from _fills import fill as sfill, fill_reference as sfill_reference  # noqa: E402

try:
    import ml_dtypes
    BF16 = np.dtype(ml_dtypes.bfloat16)
except ImportError:  # pragma: no cover - bfloat16 cases are skipped
    ml_dtypes = None
    BF16 = None

# --------------------------------------------------------------------------- #
# Tolerance constants
# --------------------------------------------------------------------------- #

Z = 5.0        # standard errors per check: two-sided normal tail 5.7e-7
P_MIN = 1e-3   # goodness-of-fit threshold; deterministic since the seeds are fixed

SEED = 20240607
N_MAIN = 1 << 20   # "10**6" main samples
N_CASE = 1 << 18   # every other (initializer, dtype) case

# The standard deviation of a standard normal truncated to [-2, 2], as the Keras
# reference page states it (the README quotes it); test_truncation_constant checks it
# against scipy, and the bounds below use it so they equal the contract's bounds
# to the last bit.
TN_STD = 0.87962566103423978

FLOATS = ["float16", "bfloat16", "float32", "float64"]
ROUNDED = ["float16", "bfloat16"]
EXACT = ["float32", "float64"]


def _dtype(fmt):
    if fmt == "bfloat16":
        if BF16 is None:
            pytest.skip("ml_dtypes is not installed: no bfloat16")
        return BF16
    return np.dtype(fmt)


def _params(fmts):
    return [pytest.param(f, marks=pytest.mark.skipif(BF16 is None, reason="no ml_dtypes"))
            if f == "bfloat16" else f for f in fmts]


# --------------------------------------------------------------------------- #
# The exact distribution each initializer must follow, derived independently
# from the Keras semantics (README, docs/stream.md), not from fanin's own code.
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class Spec:
    """kind; loc; scale (stddev, pre-truncation stddev, or width); exact support."""

    kind: str
    loc: float
    scale: float
    low: float
    high: float

    def centered(self):
        """The scipy distribution with its mean moved to 0 (for central moments)."""
        if self.kind == "truncated_normal":
            return stats.truncnorm(-2.0, 2.0, scale=self.scale)
        if self.kind == "normal":
            return stats.norm(scale=self.scale)
        return stats.uniform(loc=-self.scale / 2.0, scale=self.scale)

    @property
    def mean(self):
        return self.loc + (self.scale / 2.0 if self.kind == "uniform" else 0.0)

    def dist(self):
        """The exact scipy distribution of the values."""
        if self.kind == "truncated_normal":
            return stats.truncnorm(-2.0, 2.0, loc=self.loc, scale=self.scale)
        if self.kind == "normal":
            return stats.norm(loc=self.loc, scale=self.scale)
        return stats.uniform(loc=self.loc, scale=self.scale)


def normal_spec(mean, stddev):
    return Spec("normal", mean, stddev, -math.inf, math.inf)


def truncated_spec(mean, stddev):
    return Spec("truncated_normal", mean, stddev, mean - 2.0 * stddev, mean + 2.0 * stddev)


def uniform_spec(minval, maxval):
    return Spec("uniform", minval, maxval - minval, minval, maxval)


def fans(shape):
    """Keras fans: rank 0 -> (1, 1); (n,) -> (n, n); (a, b); (*k, in, out)."""
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


def vs_sigma(scale, mode, shape):
    """The standard deviation VarianceScaling promises: sqrt(scale / n)."""
    fan_in, fan_out = fans(shape)
    n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[mode]
    return math.sqrt(scale / max(1.0, n))


def vs_spec(scale, mode, distribution, shape):
    fan_in, fan_out = fans(shape)
    n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[mode]
    s = scale / max(1.0, n)
    if distribution == "truncated_normal":  # std AFTER truncation is sqrt(s)
        return truncated_spec(0.0, math.sqrt(s) / TN_STD)
    if distribution == "untruncated_normal":
        return normal_spec(0.0, math.sqrt(s))
    limit = math.sqrt(3.0 * s)  # uniform on [-limit, limit) has std sqrt(s)
    return uniform_spec(-limit, limit)


@dataclass(frozen=True)
class Case:
    make: object      # seed -> initializer
    spec: object      # shape -> Spec
    vs: tuple = None  # (scale, mode) for VarianceScaling and its subclasses


def _vs_case(cls, scale, mode, distribution, kwargs=None):
    kw = kwargs or {}
    return Case(lambda s: cls(seed=s, **kw),
                lambda shape: vs_spec(scale, mode, distribution, shape), (scale, mode))


CASES = {
    "RandomNormal": Case(lambda s: fanin.RandomNormal(mean=0.5, stddev=2.0, seed=s),
                         lambda shape: normal_spec(0.5, 2.0)),
    "RandomUniform": Case(lambda s: fanin.RandomUniform(minval=-0.3, maxval=0.7, seed=s),
                          lambda shape: uniform_spec(-0.3, 0.7)),
    "TruncatedNormal": Case(lambda s: fanin.TruncatedNormal(mean=0.25, stddev=1.5, seed=s),
                            lambda shape: truncated_spec(0.25, 1.5)),
    "LecunNormal": _vs_case(fanin.LecunNormal, 1.0, "fan_in", "truncated_normal"),
    "LecunUniform": _vs_case(fanin.LecunUniform, 1.0, "fan_in", "uniform"),
    "GlorotNormal": _vs_case(fanin.GlorotNormal, 1.0, "fan_avg", "truncated_normal"),
    "GlorotUniform": _vs_case(fanin.GlorotUniform, 1.0, "fan_avg", "uniform"),
    "HeNormal": _vs_case(fanin.HeNormal, 2.0, "fan_in", "truncated_normal"),
    "HeUniform": _vs_case(fanin.HeUniform, 2.0, "fan_in", "uniform"),
}
for _mode in ("fan_in", "fan_out", "fan_avg"):
    for _dist in ("truncated_normal", "untruncated_normal", "uniform"):
        CASES[f"VarianceScaling-{_mode}-{_dist}"] = _vs_case(
            fanin.VarianceScaling, 1.7, _mode, _dist,
            {"scale": 1.7, "mode": _mode, "distribution": _dist})
NAMES = list(CASES)
assert len(NAMES) == 18

# Shapes. Channels-last conv kernels whose three fans all differ, so that a wrong
# mode or a wrong receptive field shifts the std by far more than its error.
SHAPE_CASE = (2, 2, 512, 128)   # 2**18 values; fan_in 2048, fan_out 512, avg 1280
SHAPE_MAIN = (4, 256, 1024)     # 2**20 values; fan_in 1024, fan_out 4096
assert math.prod(SHAPE_CASE) == N_CASE and math.prod(SHAPE_MAIN) == N_MAIN


def draw(name, fmt, shape, seed=SEED, call=0):
    """Call ``call`` of a fresh initializer ``name`` seeded ``seed``, as float64."""
    init = CASES[name].make(seed)
    for _ in range(call):
        init.draw(shape, fmt)  # takes a call index without computing values
    out = init(shape, _dtype(fmt))
    assert out.shape == tuple(shape) and out.dtype == _dtype(fmt)
    return out


def f64(a):
    return np.asarray(a).astype(np.float64).ravel()


# --------------------------------------------------------------------------- #
# Representable values of each format and the exact law of a rounded sample
# --------------------------------------------------------------------------- #


@functools.lru_cache(maxsize=None)
def _all_values(fmt):
    """Every finite value of a 16-bit format, sorted, as float64."""
    bits = np.arange(1 << 16, dtype=np.uint32)
    if fmt == "bfloat16":  # bfloat16 bits are the top half of a float32's
        v = (bits << np.uint32(16)).view(np.float32)
    else:
        v = bits.astype(np.uint16).view(np.float16)
    v = np.unique(v[np.isfinite(v)].astype(np.float64))  # NaNs dropped before the cast
    v.setflags(write=False)
    return v


def representable(fmt, low=-math.inf, high=math.inf):
    """Sorted finite values of ``fmt`` in [low, high] (as float64; -0 merged into 0)."""
    if fmt in ROUNDED:
        v = _all_values(fmt)
        return v[np.searchsorted(v, low, "left"):np.searchsorted(v, high, "right")]
    # float32 / float64: only used on short positive ranges (coarse-grid cases)
    t, u = (np.float32, np.uint32) if fmt == "float32" else (np.float64, np.uint64)
    assert 0 < low < high
    a = np.array([low], t).view(u)[0]
    b = np.array([high], t).view(u)[0]
    v = f64(np.arange(a - 1, b + 2, dtype=u).view(t))
    return v[(v >= low) & (v <= high)]


def clamp_bounds(spec, fmt):
    """Smallest and largest value of ``fmt`` docs/stream.md allows:

    truncated normal strictly inside (low, high), uniform in [low, high).
    Computed from the enumerated representable values, independently of fanin.
    """
    if spec.kind == "normal":
        return -math.inf, math.inf
    if fmt in EXACT:  # nearest value, then one step inward if it is not allowed
        t = np.float32 if fmt == "float32" else np.float64
        lo, hi = t(spec.low), t(spec.high)
        if float(lo) < spec.low or (spec.kind == "truncated_normal" and float(lo) == spec.low):
            lo = np.nextafter(lo, t(np.inf))
        if float(hi) >= spec.high:
            hi = np.nextafter(hi, t(-np.inf))
        return float(lo), float(hi)
    v = representable(fmt, spec.low - abs(spec.low) * 0.01 - 1e-30,
                      spec.high + abs(spec.high) * 0.01 + 1e-30)
    ok = (v > spec.low) if spec.kind == "truncated_normal" else (v >= spec.low)
    ok &= v < spec.high
    if not ok.any():  # no allowed value: an empty support
        return math.inf, -math.inf
    return float(v[ok].min()), float(v[ok].max())


def rounded_law(spec, fmt):
    """(values, probabilities): the exact law of round-to-nearest(X) clamped to bounds.

    A value v of ``fmt`` receives the mass of X between the midpoints to its
    neighbours; the extreme allowed values also receive everything beyond (what
    rounds onto or past a cut is moved just inside). Ties (X exactly on a
    midpoint) have probability ~2**-13 (float16) / 2**-16 (bfloat16) of one cell's
    mass, since X is a float32: far below what the tests can see.
    """
    lo, hi = clamp_bounds(spec, fmt)
    v = representable(fmt, lo, hi)
    mids = (v[1:] + v[:-1]) / 2.0  # exact in float64 for these short formats
    cdf = spec.dist().cdf(np.concatenate(([-np.inf], mids, [np.inf])))
    return v, np.diff(cdf)


def chi_square_rounded(x, spec, fmt, nbins=1000):
    """Pearson chi-square of a rounded sample against its exact discrete law.

    Consecutive values are merged into ~``nbins`` bins of about equal expected
    count (>= n / nbins, hundreds here, so the chi-square approximation holds).
    Returns (p-value, bins). Also asserts every sample value is an allowed value.
    """
    v, p = rounded_law(spec, fmt)
    idx = np.searchsorted(v, x)
    assert idx.max() < len(v) and np.array_equal(v[idx], x), "value outside the law"
    counts = np.bincount(idx, minlength=len(v)).astype(np.float64)
    n = x.size
    target = n / nbins
    cum = np.cumsum(p) * n
    # bin edges where the cumulative expected count passes multiples of target
    cut = np.searchsorted(cum, np.arange(1, nbins) * target, side="left")
    edges = np.unique(np.concatenate(([0], cut + 1, [len(v)])))
    edges = edges[edges <= len(v)]
    exp = np.add.reduceat(p * n, edges[:-1])
    obs = np.add.reduceat(counts, edges[:-1])
    # merge a small last bin into its neighbour
    while len(exp) > 1 and exp[-1] < target / 2:
        exp[-2] += exp[-1]
        obs[-2] += obs[-1]
        exp, obs = exp[:-1], obs[:-1]
    while len(exp) > 1 and exp[0] < target / 2:
        exp[1] += exp[0]
        obs[1] += obs[0]
        exp, obs = exp[1:], obs[1:]
    assert exp.min() > 20
    chi2 = float(np.sum((obs - exp) ** 2 / exp))
    return float(stats.chi2.sf(chi2, len(exp) - 1)), len(exp)


def round_to(x32, fmt):
    """float32 values rounded to nearest (even) in ``fmt``, independently of fanin."""
    return x32.astype(_dtype(fmt))


# --------------------------------------------------------------------------- #
# The constant and the specs themselves
# --------------------------------------------------------------------------- #


def test_truncation_constant():
    # scipy computes the truncated std from erf/exp in float64: relative error ~1e-16.
    assert stats.truncnorm(-2, 2).std() == pytest.approx(TN_STD, rel=4e-16)
    assert fanin.initializers.TRUNCATED_STDDEV == TN_STD


@pytest.mark.parametrize("name", [n for n in NAMES if CASES[n].vs])
def test_specs_promise_sqrt_scale_over_fan(name):
    # The std of the exact law is sqrt(scale / fan) for every VarianceScaling,
    # i.e. LecunNormal's std is sqrt(1 / fan_in) AFTER truncation.
    scale, mode = CASES[name].vs
    for shape in (SHAPE_CASE, SHAPE_MAIN, (7,), (), (3, 5), (1, 1)):
        std = CASES[name].spec(shape).centered().std()
        assert std == pytest.approx(vs_sigma(scale, mode, shape), rel=1e-14)


# --------------------------------------------------------------------------- #
# Kolmogorov-Smirnov on float32 / float64
# --------------------------------------------------------------------------- #

# The float32 values are not continuous either: they come from 24-bit uniforms
# (53-bit for float64) and are rounded to float32. That moves the empirical CDF by
# at most ~2**-23, against the KS statistic's resolution 1/sqrt(n) ~ 1e-3, so the
# KS p-values are those of a continuous sample to many digits. (The float32 normal
# also cannot exceed |z| = 5.42, a tail of mass 6e-8: invisible at n = 10**6.)

MAIN_KS = [("LecunNormal", "float32"), ("LecunNormal", "float64"),
           ("RandomNormal", "float32"), ("RandomNormal", "float64"),
           ("RandomUniform", "float32"), ("RandomUniform", "float64"),
           ("TruncatedNormal", "float32"), ("TruncatedNormal", "float64")]


# Each main case has its own seed. With one seed they would all test the same
# uniforms: the transforms are monotone inverse CDFs, KS is invariant under
# monotone maps, so every kind would report the same D and p (float64 element i
# also reuses the bits of float32 element 2i + 1).
MAIN_SEEDS = {case: SEED + 100 + i for i, case in enumerate(MAIN_KS)}


def ks_main(name, fmt):
    x = f64(draw(name, fmt, SHAPE_MAIN, seed=MAIN_SEEDS[name, fmt]))
    return stats.kstest(x, CASES[name].spec(SHAPE_MAIN).dist().cdf)


@pytest.mark.parametrize("name,fmt", MAIN_KS)
def test_ks_main(name, fmt):
    res = ks_main(name, fmt)
    print(f"\nKS {name} {fmt} n={N_MAIN}: D={res.statistic:.3e} p={res.pvalue:.4f}")
    assert res.pvalue > P_MIN


@pytest.mark.parametrize("fmt", EXACT)
@pytest.mark.parametrize("name", NAMES)
def test_ks_every_case(name, fmt):
    x = f64(draw(name, fmt, SHAPE_CASE, seed=SEED + 1))
    assert stats.kstest(x, CASES[name].spec(SHAPE_CASE).dist().cdf).pvalue > P_MIN


# --------------------------------------------------------------------------- #
# float16 / bfloat16: rounded samples
# --------------------------------------------------------------------------- #
# KS against a continuous CDF is invalid for a sample on a coarse grid (its
# empirical CDF jumps by whole cells). Two valid checks instead:
#   1. the output equals round-to-nearest-even of the float32 output of the same
#      seed and call (the contract: computed in float32, then rounded), except that
#      values rounded onto or past a cut are moved to the nearest allowed value;
#      with the float32 KS tests above, this pins the rounded law exactly;
#   2. a chi-square test of the rounded sample against its exact discrete law
#      (rounded_law: the mass of X between midpoints), ~1000 equiprobable bins.


@pytest.mark.parametrize("fmt", _params(ROUNDED))
@pytest.mark.parametrize("name", NAMES)
def test_rounded_equals_rounded_float32(name, fmt):
    shape = SHAPE_CASE
    spec = CASES[name].spec(shape)
    got = draw(name, fmt, shape)
    x32 = draw(name, "float32", shape)
    want = f64(round_to(x32, fmt))
    lo, hi = clamp_bounds(spec, fmt)
    want = np.clip(want, lo, hi)
    assert np.array_equal(f64(got), want)


@pytest.mark.parametrize("fmt", _params(ROUNDED))
@pytest.mark.parametrize("name", NAMES)
def test_rounded_chi_square(name, fmt):
    x = f64(draw(name, fmt, SHAPE_CASE, seed=SEED + 2))
    p, bins = chi_square_rounded(x, CASES[name].spec(SHAPE_CASE), fmt)
    assert bins > 500
    assert p > P_MIN


@pytest.mark.parametrize("fmt", _params(ROUNDED))
def test_rounded_chi_square_main(fmt):
    x = f64(draw("LecunNormal", fmt, SHAPE_MAIN))
    p, bins = chi_square_rounded(x, CASES["LecunNormal"].spec(SHAPE_MAIN), fmt)
    print(f"\nchi2 LecunNormal {fmt} n={N_MAIN} bins={bins}: p={p:.4f}")
    assert p > P_MIN


# --------------------------------------------------------------------------- #
# Moments: mean, variance (hence std), skewness
# --------------------------------------------------------------------------- #
# Standard errors for n i.i.d. values with central moments mu2, mu4, mu6
# (symmetric laws, mu3 = 0), all taken from scipy's exact distribution:
#   mean:      sd(xbar) = sqrt(mu2 / n)
#   variance:  sd(s^2) ~= sqrt((mu4 - mu2^2) / n)         (fourth-moment formula;
#              mu4 is the truncated normal's own, kurtosis ~2.36 not 3)
#   skewness:  sd(g1) ~= sqrt((mu6 - 6 mu4 mu2 + 9 mu2^3) / (n mu2^3))   (delta
#              method; 6/n for the normal)
# Rounding to float16/bfloat16 adds ~ulp^2/12 to the variance (Sheppard): a
# relative 2**-16/12 at worst, under 1 % of one standard error at n = 2**18.


def check_moments(x, spec):
    n = x.size
    c = spec.centered()
    mu2, mu4, mu6 = c.var(), c.moment(4), c.moment(6)
    mean = x.mean()
    d = x - mean
    m2 = np.mean(d * d)
    m3 = np.mean(d * d * d)
    var = m2 * n / (n - 1)
    g1 = m3 / m2 ** 1.5
    se_mean = math.sqrt(mu2 / n)
    se_var = math.sqrt((mu4 - mu2 * mu2) / n)
    se_g1 = math.sqrt((mu6 - 6 * mu4 * mu2 + 9 * mu2 ** 3) / (n * mu2 ** 3))
    assert abs(mean - spec.mean) < Z * se_mean, (mean, spec.mean, se_mean)
    assert abs(var - mu2) < Z * se_var, (math.sqrt(var), math.sqrt(mu2), se_var)
    assert abs(g1) < Z * se_g1, (g1, se_g1)


@pytest.mark.parametrize("fmt", _params(FLOATS))
@pytest.mark.parametrize("name", NAMES)
def test_moments(name, fmt):
    x = f64(draw(name, fmt, SHAPE_CASE, seed=SEED + 3))
    spec = CASES[name].spec(SHAPE_CASE)
    if CASES[name].vs:  # the promised std, stated independently of the spec
        assert spec.centered().std() == pytest.approx(vs_sigma(*CASES[name].vs, SHAPE_CASE))
    check_moments(x, spec)


@pytest.mark.parametrize("fmt", EXACT)
def test_lecun_normal_std_main(fmt):
    # LecunNormal: std sqrt(1 / fan_in) after truncation, at n = 2**20 (SE of the
    # sample std ~ 0.05 % of sigma: far below the 13.7 % a missing 0.8796 would give).
    x = f64(draw("LecunNormal", fmt, SHAPE_MAIN))
    check_moments(x, CASES["LecunNormal"].spec(SHAPE_MAIN))
    fan_in = fans(SHAPE_MAIN)[0]
    n = x.size
    c = CASES["LecunNormal"].spec(SHAPE_MAIN).centered()
    # sd(s) ~= sd(s^2) / (2 sigma)  (delta method)
    se_std = math.sqrt((c.moment(4) - c.var() ** 2) / n) / (2 * c.std())
    assert abs(x.std(ddof=1) - math.sqrt(1.0 / fan_in)) < Z * se_std


# --------------------------------------------------------------------------- #
# Bounds
# --------------------------------------------------------------------------- #


def tiny_fan_shape(name, n=1 << 16):
    """A shape whose relevant fan is 1, so values are as large as they get."""
    vs = CASES[name].vs
    return (n, 1) if vs and vs[1] == "fan_out" else (1, n)


def check_support(x, spec, fmt):
    lo, hi = clamp_bounds(spec, fmt)
    if spec.kind == "truncated_normal":
        assert np.all((x > spec.low) & (x < spec.high))
    elif spec.kind == "uniform":
        assert np.all((x >= spec.low) & (x < spec.high))
    assert np.all((x >= lo) & (x <= hi))


@pytest.mark.parametrize("fmt", _params(FLOATS))
@pytest.mark.parametrize("name", NAMES)
def test_support_tiny_fans(name, fmt):
    # Every value, compared in float64 with the exact cuts -2 sigma_pre and
    # +2 sigma_pre (truncated; strict) or [-limit, limit) (uniform), after rounding.
    shape = tiny_fan_shape(name)
    x = f64(draw(name, fmt, shape))
    check_support(x, CASES[name].spec(shape), fmt)
    assert np.all(np.isfinite(x))


# Cases built to hit the clamp: fan 1 (large values) and 2**20 draws, in the short
# formats where a cut lies between two representable values and a sizeable mass
# rounds onto or past it (e.g. float16 near 2.27: ulp 2**-9, ~50 hits per 10**6).
# A coarse float32 grid (mean 1000, stddev 1e-3: ulp 6.1e-5 = 0.06 stddev) makes
# the clamp matter in float32 too. The count on each extreme allowed value must
# match the rounded law: Binomial(n, p), within 5 standard errors -- no mass piled
# onto the extreme values, and at least one hit, so that the clamp is exercised.
CLAMP_CASES = [
    ("LecunNormal", "float16", (1, 1 << 20)),
    ("LecunNormal", "bfloat16", (1, 1 << 20)),
    ("LecunUniform", "float16", (1, 1 << 20)),
    ("LecunUniform", "bfloat16", (1, 1 << 20)),
    ("HeNormal", "bfloat16", (1, 1 << 20)),
    ("HeUniform", "float16", (1, 1 << 20)),
    ("RandomUniform", "float16", (1 << 20,)),
    ("RandomUniform", "bfloat16", (1 << 20,)),
]


def _extreme_counts(x, spec, fmt):
    v, p = rounded_law(spec, fmt)
    n = x.size
    for value, prob in ((v[0], p[0]), (v[-1], p[-1])):
        hits = int(np.count_nonzero(x == value))
        se = math.sqrt(n * prob * (1 - prob))
        assert abs(hits - n * prob) < Z * se + 1, (value, hits, n * prob)
        assert hits > 0, "the clamp was never exercised"


@pytest.mark.parametrize("name,fmt,shape",
                         [pytest.param(*c, marks=pytest.mark.skipif(
                             c[1] == "bfloat16" and BF16 is None, reason="no ml_dtypes"))
                          for c in CLAMP_CASES])
def test_clamp_cases(name, fmt, shape):
    spec = CASES[name].spec(shape)
    x = f64(draw(name, fmt, shape, seed=SEED + 4))
    check_support(x, spec, fmt)
    _extreme_counts(x, spec, fmt)
    p, _ = chi_square_rounded(x, spec, fmt)
    assert p > P_MIN


@pytest.mark.parametrize("kind", ["truncated_normal", "uniform"])
def test_clamp_coarse_float32(kind):
    if kind == "truncated_normal":
        init, spec = fanin.TruncatedNormal(1000.0, 1e-3, seed=SEED), truncated_spec(1000.0, 1e-3)
    else:
        init, spec = (fanin.RandomUniform(1000.0, 1000.003, seed=SEED),
                      uniform_spec(1000.0, 1000.003))
    x = f64(init((1 << 18,), "float32"))
    check_support(x, spec, "float32")
    _extreme_counts(x, spec, "float32")
    # ~66 allowed float32 values in the support; 40 bins of ~6500 expected each
    p, bins = chi_square_rounded(x, spec, "float32", nbins=40)
    assert bins > 20 and p > P_MIN


@pytest.mark.parametrize("fmt", FLOATS)
def test_extreme_words_stay_inside(fmt):
    # The most extreme stream words (all bits set or clear under each sign and
    # region bit of the v2 transforms: the largest and smallest magnitudes, the
    # interval edges) through the transform and the rounding step, for many scales
    # and offsets: every value stays inside the support. This reaches the edges that
    # random sampling hits with probability about 2**-32.
    # (Uses stream internals: it exercises the reference transform.)
    if fmt == "bfloat16":
        _dtype(fmt)
    edge = np.array([0, 1, 0x1F, 0x20, 0x3FFFFFFF, 0x40000000, 0x7FFFFFE0, 0x7FFFFFFF,
                     0x80000000, 0x8000001F, 0xBFFFFFFF, 0xC0000000, 0xFFFFFFE0, 0xFFFFFFFF],
                    np.uint64)
    if fmt == "float64":  # every pairing of low and high words
        words = np.stack(np.meshgrid(edge, edge, indexing="ij"), axis=-1).reshape(-1)
    else:
        words = edge
    rng = np.random.default_rng(7)  # the scales only; the words are fixed
    scales = np.exp(rng.uniform(math.log(1e-4), math.log(1e3), 300))
    locs = np.concatenate([np.zeros(200), rng.uniform(-100, 100, 100)])
    out_t = {"float16": np.float16, "bfloat16": np.uint16, "float32": np.float32,
             "float64": np.float64}[fmt]
    tested = 0
    for s, loc in zip(scales, locs):
        for dist in (stream.truncated_normal(loc, s), stream.uniform(loc - s, loc + s)):
            spec = Spec(dist.kind, dist.loc, dist.scale, dist.low, dist.high)
            mine = clamp_bounds(spec, fmt)
            if mine[0] > mine[1]:
                # No value of fmt lies inside the support (its width is below one
                # ulp at loc): the contract cannot be met; see the report.
                continue
            tested += 1
            lo, hi = stream.clamp_bounds(dist, fmt)
            assert (lo, hi) == mine, (fmt, dist)
            vals = stream.numpy.values(words, dist, fmt)
            out = np.empty(vals.shape, out_t)
            stream.numpy.store(vals, out, fmt, (lo, hi))
            x = f64(out.view(BF16) if fmt == "bfloat16" else out)
            if dist.kind == "truncated_normal":
                assert np.all((x > dist.low) & (x < dist.high)), (fmt, s, loc, x)
            else:
                assert np.all((x >= dist.low) & (x < dist.high)), (fmt, s, loc, x)
    assert tested > 500


# --------------------------------------------------------------------------- #
# Independence
# --------------------------------------------------------------------------- #
# For independent values the sample correlation r of n pairs is asymptotically
# N(0, 1/n) whatever the marginal law (finite fourth moments), so |r| < 5/sqrt(n).
# Correlations of squares (centred) catch dependence in magnitude that a linear
# correlation misses.


def corr(a, b):
    a = a - a.mean()
    b = b - b.mean()
    return float(np.dot(a, b) / math.sqrt(np.dot(a, a) * np.dot(b, b)))


def assert_uncorrelated(a, b, what):
    a, b = f64(a), f64(b)
    tol = Z / math.sqrt(a.size)
    r1 = corr(a, b)
    r2 = corr((a - a.mean()) ** 2, (b - b.mean()) ** 2)
    assert abs(r1) < tol and abs(r2) < tol, (what, r1, r2, tol)


LAG_CASES = [("TruncatedNormal", "float32"), ("TruncatedNormal", "float64"),
             ("RandomNormal", "float32"), ("RandomNormal", "float64"),
             ("RandomUniform", "float32"), ("RandomUniform", "float64"),
             ("LecunNormal", "float16")]


@pytest.mark.parametrize("name,fmt", LAG_CASES)
def test_lag_correlation(name, fmt):
    # Lags 1..9: lag 4 (float32) and lag 2 (float64) pair values from the same
    # position of consecutive Philox blocks; lags 1-3 pair words of one block.
    x = f64(draw(name, fmt, SHAPE_MAIN, seed=SEED + 5))
    for lag in range(1, 10):
        assert_uncorrelated(x[:-lag], x[lag:], f"lag {lag}")
    # element-wise by Philox lane: lane k of block b against lane k of block b+1
    per_block = 2 if fmt == "float64" else 4
    blocks = x.reshape(-1, per_block)
    for lane in range(per_block):
        for other in range(per_block):
            assert_uncorrelated(blocks[:-1, lane], blocks[1:, other], f"lanes {lane},{other}")


@pytest.mark.parametrize("fmt", EXACT)
def test_calls_and_seeds_independent(fmt):
    shape = SHAPE_CASE
    init = CASES["LecunNormal"].make(SEED)
    c0, c1, c2 = init(shape, fmt), init(shape, fmt), init(shape, fmt)
    pairs = {
        "call 0 / call 1": (c0, c1),
        "call 1 / call 2": (c1, c2),
        "seed s / s+1": (c0, draw("LecunNormal", fmt, shape, seed=SEED + 1)),
        "seed s / s+2**32": (c0, draw("LecunNormal", fmt, shape, seed=SEED + 2 ** 32)),
        "seed s / -s": (c0, draw("LecunNormal", fmt, shape, seed=-SEED)),
        "seed 0 / 1": (draw("LecunNormal", fmt, shape, seed=0),
                       draw("LecunNormal", fmt, shape, seed=1)),
        "seed s call 1 / seed s+1 call 0": (c1, draw("LecunNormal", fmt, shape, seed=SEED + 1)),
    }
    for what, (a, b) in pairs.items():
        a, b = f64(a), f64(b)
        assert not np.array_equal(a, b), what
        assert_uncorrelated(a, b, what)
        assert_uncorrelated(a[1:], b[:-1], what + " shifted")
        assert_uncorrelated(a[4:], b[:-4], what + " shifted by a block")


def test_transposed_and_partitioned_pieces():
    n = 1024
    init = CASES["LecunNormal"].make(SEED)
    w = init((n, n), "float32")
    iu = np.triu_indices(n, 1)
    # w[i, j] against w[j, i]
    assert_uncorrelated(w[iu], w.T[iu], "transpose")
    # row and column halves, and a partitioned call of the same tensor
    assert_uncorrelated(w[: n // 2], w[n // 2:], "row halves")
    assert_uncorrelated(w[:, : n // 2], w[:, n // 2:], "column halves")
    again = CASES["LecunNormal"].make(SEED)
    top = again((n, n), "float32", partition_shape=(n // 2, n), partition_offset=(0, 0))
    bottom = again((n, n), "float32", partition_shape=(n // 2, n),
                   partition_offset=(n // 2, 0))
    assert np.array_equal(top, w[: n // 2]) and np.array_equal(bottom, w[n // 2:])
    assert_uncorrelated(top, bottom, "partitions")
    left = again((n, n), "float32", partition_shape=(n, n // 2), partition_offset=(0, 0))
    right = again((n, n), "float32", partition_shape=(n, n // 2),
                  partition_offset=(0, n // 2))
    assert_uncorrelated(left, right, "column partitions")
    # The same seed and call for the transposed shape reads the same flat stream
    # (values depend on (seed, call, flat index) only), so (n/2, 2n) vs (2n, n/2).T
    # pairs flat indices i*2n+j with j*n/2+i: distinct almost everywhere.
    a = CASES["LecunNormal"].make(SEED)((n // 2, 2 * n), "float32")
    b = CASES["LecunNormal"].make(SEED)((2 * n, n // 2), "float32")
    assert_uncorrelated(a, b.T, "tensor / transposed shape")
    assert_uncorrelated(a, CASES["LecunNormal"].make(SEED)((2 * n, n // 2), "float32")
                        .reshape(n // 2, 2 * n)[:, ::-1], "reversed")


# --------------------------------------------------------------------------- #
# Raw bits: chi-square uniformity of the word stream and of uniform(0, 1)
# --------------------------------------------------------------------------- #
# Pearson's chi-square with k bins of equal probability and n >> k values has
# k - 1 degrees of freedom; with 1024 bins and 2**20 words each bin expects 1024.

RAW_KEYS = [SEED, 0x123456789ABCDEF0, 0]


def raw_words(key, call, count=1 << 20):
    return stream.numpy.row_words(key, call, np.zeros(1, np.uint64), count)[0]


def chi2_uniform_p(codes, k):
    counts = np.bincount(codes.astype(np.intp), minlength=k)
    assert counts.size == k
    exp = codes.size / k
    return float(stats.chi2.sf(np.sum((counts - exp) ** 2) / exp, k - 1))


@pytest.mark.parametrize("key", RAW_KEYS)
def test_raw_word_uniformity(key):
    w = raw_words(key, 3)
    j = w >> np.uint64(8)  # the 24-bit uniform of a 32-bit format
    checks = {
        "top 10 bits": j >> np.uint64(14),
        "low 10 bits of the 24-bit uniform": j & np.uint64(1023),
        "middle bits 7..16": (j >> np.uint64(7)) & np.uint64(1023),
        "discarded low byte": w & np.uint64(255),
    }
    for lane in range(4):
        checks[f"lane {lane} top 10 bits"] = j[lane::4] >> np.uint64(14)
    # serial pairs: top 5 bits of word t and of word t+1 (same block) / t+4 (next
    # block, same lane) / t+5, in 1024 cells
    top5 = j >> np.uint64(19)
    for lag in (1, 2, 3, 4, 5):
        checks[f"pairs at lag {lag}"] = top5[:-lag] * np.uint64(32) + top5[lag:]
    for what, codes in checks.items():
        k = 256 if what == "discarded low byte" else 1024
        assert chi2_uniform_p(codes, k) > P_MIN, what
    # every one of the 32 bits is set with frequency 1/2 within 5 standard errors
    n = w.size
    for bit in range(32):
        ones = int(np.count_nonzero(w & np.uint64(1 << bit)))
        assert abs(ones - n / 2) < Z * math.sqrt(n / 4), bit


def _exact_bin_probs(nbits, nbins):
    """P(u in [k/nbins, (k+1)/nbins)) for u uniform on the grid i / 2**nbits."""
    edges = np.array([-(-(k * (1 << nbits)) // nbins) for k in range(nbins + 1)],
                     dtype=object)  # ceil(k 2**nbits / nbins), exact integers
    return np.array([(edges[k + 1] - edges[k]) / (1 << nbits) for k in range(nbins)],
                    dtype=np.float64)


@pytest.mark.parametrize("fmt", EXACT)
def test_uniform_fill_histogram(fmt):
    n = N_MAIN
    out = np.empty(n, fmt)
    sfill(out, SEED, 11, stream.uniform(0.0, 1.0))
    x = out.astype(np.float64)
    nbits = 24 if fmt == "float32" else 53
    # exactly the grid i / 2**nbits, in [0, 1)
    assert np.all((x >= 0) & (x < 1))
    assert np.array_equal(np.floor(x * 2.0 ** nbits), x * 2.0 ** nbits)
    # 1000 bins: the grid puts ceil(k 2**nbits / 1000) points below k/1000, so the
    # bin probabilities are computed exactly (they differ from 1/1000 by < 6e-8).
    probs = _exact_bin_probs(nbits, 1000)
    counts = np.bincount(np.minimum((x * 1000).astype(np.intp), 999), minlength=1000)
    exp = probs * n
    p = float(stats.chi2.sf(np.sum((counts - exp) ** 2 / exp), 999))
    assert p > P_MIN
    # the lowest 10 bits of the grid index
    low = (x * 2.0 ** nbits).astype(np.uint64) & np.uint64(1023)
    assert chi2_uniform_p(low, 1024) > P_MIN


# --------------------------------------------------------------------------- #
# Orthogonal
# --------------------------------------------------------------------------- #
# Tolerances. The QR runs in float64; Householder QR gives |Q^T Q - I| of order
# (rows) * eps64 in theory and ~sqrt(rows) eps64 in practice; we allow
# 20 * max(rows, cols) * eps64 (~1.3e-12 for 300), which also covers the gain
# product and the float64 Gram product. Casting to float32 perturbs each entry
# by a relative u = 2**-24 at most, so by Cauchy-Schwarz each Gram entry (computed
# in float64 from the float32 values) moves by at most (2u + u^2) * gain^2:
# tolerance 2.5 * 2**-24 * gain^2 plus the float64 term.

ORTHO_SHAPES = [(300, 100), (100, 300), (128, 128), (3, 3, 16, 32)]


@pytest.mark.parametrize("fmt", EXACT)
@pytest.mark.parametrize("shape", ORTHO_SHAPES, ids=str)
@pytest.mark.parametrize("gain", [1.0, 1.7])
def test_orthogonal_is_orthonormal(shape, fmt, gain):
    q = fanin.Orthogonal(gain=gain, seed=SEED)(shape, fmt)
    assert q.shape == shape and q.dtype == np.dtype(fmt)
    m = f64(q).reshape(-1, shape[-1])
    rows, cols = m.shape
    eps64 = np.finfo(np.float64).eps
    tol = 20 * max(rows, cols) * eps64 * gain ** 2
    if fmt == "float32":
        tol += 2.5 * 2.0 ** -24 * gain ** 2
    grams = []
    if rows >= cols:
        grams.append(m.T @ m)
    if rows <= cols:
        grams.append(m @ m.T)
    for g in grams:
        err = np.abs(g - gain ** 2 * np.eye(len(g))).max()
        assert err < tol, (err, tol)


@pytest.mark.parametrize("shape", ORTHO_SHAPES, ids=str)
def test_orthogonal_entries(shape):
    # Haar sanity for one matrix. For Haar-distributed orthonormal columns of
    # length m (m = max(rows, cols)), each entry has mean 0 and variance 1/m; the
    # mean of all rows*cols entries has variance 1/(m^2 min(rows, cols)) (column
    # sums are uncorrelated with variance 1), so its tolerance is 5 / (m sqrt(k)).
    # (The mean of squares is exactly 1/m for any orthonormal set: a check of the
    # normalisation, not of randomness.)
    q = f64(fanin.Orthogonal(seed=SEED)(shape, "float64"))
    rows, cols = math.prod(shape[:-1]), shape[-1]
    m, k = max(rows, cols), min(rows, cols)
    assert abs(q.mean()) < Z / (m * math.sqrt(k))
    assert np.mean(q * q) == pytest.approx(1.0 / m, rel=1e-12)
    assert q.var() == pytest.approx(1.0 / m, rel=Z * math.sqrt(2.0 / q.size) + 1e-3)


def test_orthogonal_haar_over_calls():
    # Across N independent calls of a 10x10 Orthogonal (the sign fix by diag(R)
    # is what makes Q Haar):
    #  * Q[0, 0]^2 ~ Beta(1/2, (d-1)/2) with a symmetric sign: KS on the entry
    #    signed, against the exact CDF 1/2 + sign(x)/2 * I_{x^2}(1/2, (d-1)/2);
    #  * tr(Q) has moments equal to N(0, 1)'s up to order d (Diaconis-Shahshahani),
    #    so E tr = 0, E tr^2 = 1, Var tr^2 = 2: tolerances 5/sqrt(N), 5 sqrt(2/N).
    d, calls = 10, 3000
    init = fanin.Orthogonal(seed=SEED)
    qs = np.stack([init((d, d), "float64") for _ in range(calls)])
    e = qs[:, 0, 0]
    beta = stats.beta(0.5, (d - 1) / 2.0)
    cdf = lambda x: 0.5 + np.sign(x) * 0.5 * beta.cdf(x * x)  # noqa: E731
    assert stats.kstest(e, cdf).pvalue > P_MIN
    # a diagonal entry is where a missing sign fix shows (R's diagonal sign)
    assert stats.kstest(qs[:, 3, 3], cdf).pvalue > P_MIN
    tr = np.trace(qs, axis1=1, axis2=2)
    assert abs(tr.mean()) < Z / math.sqrt(calls)
    assert abs(np.mean(tr ** 2) - 1.0) < Z * math.sqrt(2.0 / calls)


# --------------------------------------------------------------------------- #
# The p-value table for the closing note: python tests/test_statistics.py
# --------------------------------------------------------------------------- #


def main():  # pragma: no cover - a report, not a test
    print(f"fanin {fanin.__version__}, stream v{stream.STREAM_VERSION}, "
          f"kernel={'yes' if stream.kernel_available() else 'no (NumPy reference)'}")
    print(f"one-sample KS against the exact law, n = {N_MAIN}, shape {SHAPE_MAIN}")
    print(f"{'initializer':<18}{'dtype':<10}{'seed':>10}{'D':>12}{'p-value':>10}")
    for name, fmt in MAIN_KS:
        r = ks_main(name, fmt)
        print(f"{name:<18}{fmt:<10}{MAIN_SEEDS[name, fmt]:>10}{r.statistic:>12.3e}"
              f"{r.pvalue:>10.4f}")
    for fmt in ROUNDED:
        if fmt == "bfloat16" and BF16 is None:
            continue
        x = f64(draw("LecunNormal", fmt, SHAPE_MAIN))
        p, bins = chi_square_rounded(x, CASES["LecunNormal"].spec(SHAPE_MAIN), fmt)
        print(f"{'LecunNormal':<18}{fmt:<10}{SEED:>10}{'chi2/' + str(bins - 1) + 'df':>12}"
              f"{p:>10.4f}")


if __name__ == "__main__":  # pragma: no cover
    main()
