"""Initializer parameters at the edges: integer ranges touching the dtype's limits
work, integers beyond the float range are a ValueError naming the parameter."""

import inspect

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fanin

INT_DTYPES = ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"]


@st.composite
def _int_ranges(draw):
    """A dtype and integers lo < hi with [lo, hi) inside it; the edges often."""
    dtype = draw(st.sampled_from(INT_DTYPES))
    info = np.iinfo(dtype)
    low, top = int(info.min), int(info.max) + 1  # top: the largest exclusive bound
    lo = draw(st.sampled_from([low, low + 1, top - 2, top - 1]) | st.integers(low, top - 1))
    hi = draw(st.sampled_from([top, lo + 1]) | st.integers(lo + 1, top))
    return dtype, lo, hi


@settings(max_examples=150, deadline=None, derandomize=True)
@given(case=_int_ranges(), seed=st.integers(0, 2**64 - 1))
def test_integer_ranges_inside_the_dtype_work(case, seed):
    dtype, lo, hi = case
    values = fanin.RandomUniform(lo, hi, seed=seed)((64,), dtype)
    assert values.dtype == np.dtype(dtype)
    assert all(lo <= int(v) < hi for v in values)


@settings(max_examples=100, deadline=None, derandomize=True)
@given(dtype=st.sampled_from(INT_DTYPES), below=st.integers(1, 2**70),
       above=st.integers(1, 2**70), side=st.sampled_from(["low", "high", "both"]))
def test_integer_ranges_beyond_the_dtype_are_refused(dtype, below, above, side):
    info = np.iinfo(dtype)
    lo = int(info.min) - below if side in ("low", "both") else int(info.min)
    hi = int(info.max) + 1 + above if side in ("high", "both") else int(info.max) + 1
    init = fanin.RandomUniform(lo, hi, seed=0)
    with pytest.raises(ValueError, match=f"does not fit {dtype}"):
        init((4,), dtype)
    assert init.draw((4,), "float64").call == 0  # the refused call took no call index


@pytest.mark.parametrize("lo, hi, dtype", [
    (-128, 127, "int8"), (-128, 128, "int8"), (0, 255, "uint8"), (0, 256, "uint8"),
    (0, 2**31 - 1, "int32"), (-2**31, 2**31, "int32"), (-2**63, 2**63, "int64"),
    (0, 2**64, "uint64"), (2**64 - 1, 2**64, "uint64")])
def test_reported_integer_edges(lo, hi, dtype):
    values = fanin.RandomUniform(lo, hi, seed=0)((1000,), dtype)
    assert values.min() >= lo and int(values.max()) <= hi - 1
    if hi - lo == 256:  # 1000 draws of 256 values: both ends show up (P(miss) < 0.03)
        assert int(values.min()) <= lo + 8 and int(values.max()) >= hi - 9


def test_integer_edges_through_dask():
    fd = pytest.importorskip("fanin.dask")
    x = fd.random_uniform((9, 7), chunks=4, seed=2, dtype="int8", minval=-128, maxval=128)
    assert (x.compute(scheduler="sync")
            == fanin.RandomUniform(-128, 128, seed=2)((9, 7), "int8")).all()


# --------------------------------------------------------------------------- #
# Integers beyond the float range
# --------------------------------------------------------------------------- #

# Each class, its numeric parameters, and the keyword arguments it needs otherwise.
NUMERIC_PARAMS = {
    "RandomNormal": ["mean", "stddev"], "TruncatedNormal": ["mean", "stddev"],
    "RandomUniform": ["minval", "maxval"], "VarianceScaling": ["scale"],
    "Constant": ["value"], "Identity": ["gain"], "Orthogonal": ["gain"],
}

HUGE = st.builds(lambda sign, extra: sign * (2**1024 + extra), st.sampled_from([1, -1]),
                 st.integers(0, 2**2000))


def test_every_numeric_parameter_is_covered():
    """The table above lists every class whose constructor takes a number."""
    numeric = {name for name, cls in fanin.registry.CLASSES.items()
               if set(inspect.signature(cls).parameters) - {
                   "seed", "mode", "distribution", "input_axes", "output_axes", "args",
                   "kwargs"}}
    assert numeric == set(NUMERIC_PARAMS)


@settings(max_examples=100, deadline=None, derandomize=True)
@given(name=st.sampled_from(sorted(NUMERIC_PARAMS)), data=st.data(), value=HUGE)
def test_integers_beyond_float_range_name_the_parameter(name, data, value):
    param = data.draw(st.sampled_from(NUMERIC_PARAMS[name]))
    kwargs = {param: value}
    if name == "RandomUniform":  # the other bound valid, so that only `param` is at fault
        kwargs["maxval" if param == "minval" else "minval"] = 0
    with pytest.raises(ValueError, match=f"`{param}`"):
        fanin.registry.CLASSES[name](**kwargs)


@pytest.mark.parametrize("make", [lambda: fanin.RandomNormal(mean=10**400),
                                  lambda: fanin.Constant(10**400)],
                         ids=["RandomNormal", "Constant"])
def test_reported_overflow_examples(make):
    with pytest.raises(ValueError, match="float64 range"):
        make()


@settings(max_examples=300, deadline=None, derandomize=True)
@given(dtype=st.sampled_from(["float16", "bfloat16", "float32"]),
       ulps=st.floats(-4.0, 4.0), sign=st.sampled_from([1.0, -1.0]))
def test_float_parameters_fit_exactly_when_they_do_not_round_to_infinity(dtype, ulps, sign):
    """``dtypes.fit`` accepts a float value exactly when the dtype rounds it to a finite
    value: around the largest finite value (a fast range check inside it, NumPy's
    rounding just beyond) the answer is NumPy's own."""
    from fanin import dtypes

    ml_dtypes = pytest.importorskip("ml_dtypes")
    dt = np.dtype(ml_dtypes.bfloat16) if dtype == "bfloat16" else np.dtype(dtype)
    top = float(ml_dtypes.finfo(dt).max)
    spacing = top - float(np.nextafter(np.asarray(top, dt), np.asarray(0, dt)))
    value = sign * (top + ulps * spacing)  # from 4 below to 4 beyond the largest
    with np.errstate(over="ignore"):
        finite = bool(np.isfinite(np.asarray(value).astype(dt)))
    if finite:
        assert dtypes.fit(value, dtype, "gain") == value
    else:
        with pytest.raises(ValueError, match=f"gain .* does not fit dtype {dtype}"):
            dtypes.fit(value, dtype, "gain")
