"""fanin.stream.kinds: each kind's exact moments, density and distribution function
against SciPy's independent implementations, and the kind table's consistency."""

import math

import numpy as np
import pytest
from scipy import stats

from fanin import stream
from fanin.stream import kinds, spec


def _scipy(dist):
    """SciPy's frozen distribution for a fanin Distribution."""
    if dist.kind == "uniform":
        return stats.uniform(dist.loc, dist.scale)
    if dist.kind == "normal":
        return stats.norm(dist.loc, dist.scale)
    if dist.kind == "uniform_int":
        return stats.randint(dist.low, dist.high)
    return stats.truncnorm(dist.lower, dist.upper, dist.loc, dist.scale)


CASES = [stream.uniform(-1.0, 3.0), stream.normal(0.5, 2.0), stream.truncated_normal(0.0, 1.0),
         stream.truncated_normal(1.0, 0.5, -0.3, 2.5), stream.truncated_normal(0.0, 2.0, 2.0, 3.0),
         stream.uniform_int(-3, 5), stream.uniform_int(0, 1000)]


@pytest.mark.parametrize("dist", CASES, ids=lambda d: f"{d.kind}[{d.low},{d.high}]")
def test_moments_density_and_cdf_match_scipy(dist):
    ref = _scipy(dist)
    mean, std = dist.spec.moments(dist)
    assert math.isclose(mean, ref.mean(), rel_tol=1e-12, abs_tol=1e-12)
    assert math.isclose(std, ref.std(), rel_tol=1e-12)
    lo, hi = (dist.low, dist.high - 1) if dist.spec.is_integer else (dist.low, dist.high)
    width = max(hi - lo, 1.0) if math.isfinite(lo) else 8 * dist.scale
    center = dist.loc if not math.isfinite(lo) else (lo + hi) / 2
    x = np.linspace(center - width, center + width, 101)
    if dist.spec.is_integer:
        x = np.round(x)
        assert np.allclose(dist.spec.pdf(dist, x), ref.pmf(x), rtol=1e-12, atol=1e-15)
    else:
        assert np.allclose(dist.spec.pdf(dist, x), ref.pdf(x), rtol=1e-9, atol=1e-15)
    assert np.allclose(dist.spec.cdf(dist, x), ref.cdf(x), rtol=1e-9, atol=1e-12)


def test_every_kind_code_has_one_class_and_the_generated_table_agrees():
    assert sorted(kinds.KINDS) == sorted(spec.KIND_CODES.values())
    for name, code in spec.KIND_CODES.items():
        assert kinds.KINDS[code].code == code
    general = stream.truncated_normal(0.0, 1.0, -1.0, 1.0)
    assert general.spec.code == spec.KIND_CODES["truncated_general"]
    assert stream.truncated_normal(0.0, 1.0).spec.code == spec.KIND_CODES["truncated_normal"]


@pytest.mark.parametrize("fmt", spec.FLOAT_FORMATS)
def test_normal_reach_bounds_every_value_the_transform_gives(fmt):
    """The reach is the largest |z|: no standard normal value exceeds it (2**16 words
    at the extremes of the tail and everywhere in between)."""
    rng = np.random.default_rng(3)
    per = spec.words_per_element(fmt)
    edge = np.concatenate([np.arange(64), 0x40000000 + np.arange(64), 0xC0000000 + np.arange(64),
                           rng.integers(0, 2**32, 4096)]).astype(np.uint64)
    w = np.repeat(edge, per)
    z = stream.numpy.values(w, stream.normal(0.0, 1.0), fmt)
    reach = kinds.NORMAL_REACH[fmt]
    assert np.abs(z).max() <= reach
    assert reach > (9.0 if fmt == "float64" else 6.0)  # the tables reach P = 2**-64 / 2**-32
