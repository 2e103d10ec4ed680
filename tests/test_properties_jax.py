"""fanin.jax on hostile input: sizes XLA cannot hold, signed zeros, negative scales.

Shapes are checked with ``jax.eval_shape``, which traces without compiling: a shape
that reached XLA's compiler would abort the interpreter, so a missing check shows
as a returned shape here, never as a crash of the test process.
"""

import math
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

jax = pytest.importorskip("jax")
import jax.numpy as jnp  # noqa: E402

import fanin  # noqa: E402
import fanin.jax as fj  # noqa: E402

KEY = jax.random.key(0)

# Every public fanin.jax initializer, as init(key, shape, dtype) with in_axis -1 /
# out_axis 0 so that 1-D shapes have fans.
INITS = {
    "lecun_normal": fj.lecun_normal(in_axis=-1, out_axis=0),
    "glorot_uniform": fj.glorot_uniform(in_axis=-1, out_axis=0),
    "variance_scaling": fj.variance_scaling(1.0, "fan_avg", "normal", in_axis=-1, out_axis=0),
    "normal": fj.normal(),
    "truncated_normal": fj.truncated_normal(),
    "uniform": fj.uniform(),
    "orthogonal": fj.orthogonal(),
    "zeros": fj.zeros,
    "ones": fj.ones,
    "constant": fj.constant(2.0),
    "from_initializer": fj.from_initializer(fanin.RandomNormal(seed=1)),
    "from_initializer_constant": fj.from_initializer(fanin.Constant(3.0)),
}


@st.composite
def _huge_shapes(draw):
    """Shapes of 2 or 3 dims whose float32 working arrays exceed 2**62 bytes."""
    rank = draw(st.integers(2, 3))
    dims = [draw(st.integers(1, 2**40)) for _ in range(rank - 1)]
    rest = math.prod(dims)
    need = (1 << 60) // rest + 1  # elements * 4 bytes > 2**62
    dims.append(draw(st.integers(need, max(need, (1 << 64) // rest))))
    return tuple(draw(st.permutations(dims)))


@settings(max_examples=60, deadline=None, derandomize=True)
@given(name=st.sampled_from(sorted(INITS)), shape=_huge_shapes())
def test_shapes_xla_cannot_hold_are_refused_before_tracing(name, shape):
    if name == "orthogonal" and len(shape) < 2:
        return
    with pytest.raises(ValueError, match="2\\*\\*62"):
        jax.eval_shape(lambda: INITS[name](KEY, shape, jnp.float32))


@settings(max_examples=30, deadline=None, derandomize=True)
@given(name=st.sampled_from(["lecun_normal", "normal", "uniform", "zeros", "constant",
                             "from_initializer"]),
       exponent=st.integers(40, 60))
def test_shapes_within_the_limits_are_traced(name, exponent):
    """Up to 2**62 bytes of float32 (2**60 elements) is left to JAX, which reports
    an allocation failure as a Python exception when it runs."""
    shape = (2 ** (exponent // 2), 2 ** (exponent - exponent // 2))
    got = jax.eval_shape(lambda: INITS[name](KEY, shape, jnp.float32))
    assert got.shape == shape and got.dtype == jnp.float32


@pytest.mark.slow
def test_the_reported_shapes_raise_in_the_same_process():
    """The examples that aborted the interpreter inside XLA: now a ValueError (in a
    child, so that a regression fails this test instead of killing pytest)."""
    code = """
import jax, fanin, fanin.jax as fj
cases = [lambda: fj.lecun_normal()(jax.random.key(0), (2**40, 2**40)),
         lambda: fj.normal()(jax.random.key(0), (2**33, 2**33)),
         lambda: fj.uniform()(jax.random.key(0), (2**31, 2**31)),
         lambda: fj.truncated_normal()(jax.random.key(0), (2**30, 2**31)),
         lambda: fj.zeros(None, (2**62,)),
         lambda: fj.constant(1.0)(None, (2**61,)),
         lambda: fj.from_initializer(fanin.RandomNormal())(jax.random.key(0), (2**61,))]
for case in cases:
    try:
        case()
    except ValueError as err:
        assert "2**62" in str(err), err
    else:
        raise AssertionError("accepted")
print("refused")
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, env=dict(os.environ, JAX_PLATFORMS="cpu"))
    assert proc.returncode == 0 and "refused" in proc.stdout, proc.stderr[-2000:]


# --------------------------------------------------------------------------- #
# Negative scales and signed zeros: as jax.nn.initializers
# --------------------------------------------------------------------------- #


@pytest.mark.slow  # one XLA compile per example
@settings(max_examples=8, deadline=None, derandomize=True)
@given(magnitude=st.floats(1e-30, 1e30), negative=st.booleans())
def test_uniform_takes_any_scale_as_jax_does(magnitude, negative):
    """jax.nn.initializers.uniform(s) is u * s, u in [0, 1): values between 0 and s."""
    scale = -magnitude if negative else magnitude
    values = np.asarray(fj.uniform(scale)(KEY, (64,), jnp.float32), np.float64)
    s = float(np.float32(scale))
    assert np.all((values >= min(0.0, s)) & (values <= max(0.0, s)))
    theirs = np.asarray(jax.nn.initializers.uniform(scale)(KEY, (64,), jnp.float32))
    assert np.all(np.sign(theirs[theirs != 0]) == np.sign(scale))
    assert np.all(np.sign(values[values != 0]) == np.sign(scale))


def test_uniform_negative_scale_example():
    values = np.asarray(fj.uniform(-1.0)(KEY, (1000,), jnp.float32))
    assert values.min() >= -1.0 and values.max() <= 0.0
    # mean -1/2, std of the mean 1/sqrt(12 * 1000) = 0.009: 5 sigma
    assert abs(values.mean() + 0.5) < 0.05


@pytest.mark.parametrize("first, second", [(0.0, -0.0), (-0.0, 0.0)])
def test_constant_signed_zeros_are_not_mixed_up(first, second):
    """Compiled constants are cached by value: -0.0 and 0.0 must not share an entry."""
    a = np.asarray(fj.constant(first)(KEY, (3,), jnp.float32))
    b = np.asarray(fj.constant(second)(KEY, (3,), jnp.float32))
    assert np.all(np.signbit(a) == (math.copysign(1, first) < 0))
    assert np.all(np.signbit(b) == (math.copysign(1, second) < 0))



@pytest.mark.slow  # one XLA compile per case
@pytest.mark.parametrize("lo, hi, dtype", [(-128, 127, "int8"), (0, 255, "uint8"),
                                           (-2**31, 2**31, "int32")])
def test_integer_ranges_touching_the_dtype_limits(lo, hi, dtype):
    init = fj.from_initializer(fanin.RandomUniform(lo, hi))
    values = np.asarray(init(KEY, (64,), dtype))
    assert values.tobytes() == fanin.RandomUniform(lo, hi, seed=0)((64,), dtype).tobytes()


@settings(max_examples=20, deadline=None, derandomize=True)
@given(name=st.sampled_from(["normal", "truncated_normal", "uniform", "orthogonal",
                             "variance_scaling"]),
       bad=st.sampled_from([math.nan, math.inf, -math.inf, 10**400, -10**400]))
def test_non_finite_parameters_are_a_value_error(name, bad):
    make = {"normal": lambda: fj.normal(bad), "truncated_normal": lambda: fj.truncated_normal(bad),
            "uniform": lambda: fj.uniform(bad), "orthogonal": lambda: fj.orthogonal(bad),
            "variance_scaling": lambda: fj.variance_scaling(bad, "fan_in", "normal")}[name]
    with pytest.raises(ValueError, match="finite"):
        make()
