"""-0.0 and +0.0 parameters are different parameters: identity and caches by bits.

``-0.0 == 0.0`` in Python, so values keyed on parameters (the stream's cached
kernel arguments and clamp bounds, draws used as dictionary keys, JAX's compiled
functions) would serve one sign's results for the other.
"""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fanin
from fanin import stream

ZERO = st.sampled_from([0.0, -0.0])
FORMATS = st.sampled_from(["float16", "bfloat16", "float32", "float64"])


def _bits(a):
    a = np.ascontiguousarray(a)
    return a.dtype.name, a.shape, a.view(np.uint8).tobytes()


@st.composite
def _distributions(draw):
    """A distribution with some parameters zero, each zero of either sign."""
    kind = draw(st.sampled_from(["normal", "truncated_normal", "uniform"]))
    loc = draw(ZERO | st.floats(-4, 4))
    if kind == "normal":
        return stream.normal(loc, draw(ZERO | st.floats(0.25, 4)))
    if kind == "truncated_normal":
        return stream.truncated_normal(loc, draw(ZERO | st.floats(0.25, 4)))
    return stream.uniform(loc, loc + draw(ZERO | st.floats(0.25, 4)))


def _flip_zeros(dist):
    """The same distribution with every zero parameter of the other sign."""
    def flip(x):
        return -x if isinstance(x, float) and x == 0 else x
    return stream.Distribution(dist.kind, *(flip(getattr(dist, f)) for f in
                                            ("loc", "scale", "low", "high", "lower", "upper")))


@settings(max_examples=100, deadline=None, derandomize=True)
@given(dist=_distributions())
def test_distributions_compare_by_bits(dist):
    other = _flip_zeros(dist)
    fields = ("loc", "scale", "low", "high", "lower", "upper")
    same = all(math.copysign(1, getattr(dist, f)) == math.copysign(1, getattr(other, f))
               for f in fields)
    assert (dist == other) == same
    assert len({dist: 0, other: 1}) == (1 if same else 2)
    assert dist == _flip_zeros(other) and hash(dist) == hash(_flip_zeros(other))


@pytest.mark.skipif(not stream.kernel_available(), reason="needs the compiled kernel")
@settings(max_examples=60, deadline=None, derandomize=True)
@given(dist=_distributions(), fmt=FORMATS, seed=st.integers(0, 2**64 - 1))
def test_kernel_equals_reference_whatever_came_first(dist, fmt, seed):
    """The kernel's cached arguments of one sign never serve the other sign."""
    def values(d, backend):
        out = np.empty(8, np.uint16 if fmt == "bfloat16" else fmt)
        with stream.set_backend(backend):
            stream.fill(out, stream.plan(seed, 0, d, fmt, (8,)))
        return out
    other = _flip_zeros(dist)
    values(other, "kernel")  # fills the caches with the other sign first
    assert _bits(values(dist, "kernel")) == _bits(values(dist, "reference"))


@pytest.mark.skipif(not stream.kernel_available(), reason="needs the compiled kernel")
def test_reported_example():
    fanin.RandomNormal(-0.0, 0.0, seed=1)((8,))
    kernel = fanin.RandomNormal(0.0, 0.0, seed=1)((8,))
    with stream.set_backend("reference"):
        reference = fanin.RandomNormal(0.0, 0.0, seed=1)((8,))
    assert _bits(kernel) == _bits(reference)
    assert not np.signbit(kernel).any()


@settings(max_examples=60, deadline=None, derandomize=True)
@given(value=ZERO, gain=ZERO, shape=st.tuples(st.integers(1, 4), st.integers(1, 4)),
       dtype=FORMATS)
def test_draws_of_signed_zeros_differ_as_their_arrays_do(value, gain, shape, dtype):
    pairs = [(fanin.Constant(value).draw(shape, dtype), fanin.Constant(-value).draw(shape, dtype)),
             (fanin.Identity(gain).draw(shape, dtype), fanin.Identity(-gain).draw(shape, dtype))]
    for a, b in pairs:
        assert _bits(a.array()) != _bits(b.array())
    # a mean of -0.0 plus +0.0 is +0.0: these arrays may agree, the draws still differ
    pairs.append((fanin.RandomNormal(value, 0.0, seed=3).draw(shape, dtype),
                  fanin.RandomNormal(-value, 0.0, seed=3).draw(shape, dtype)))
    for a, b in pairs:
        assert a != b and len({a: 0, b: 1}) == 2
        assert a == type(a)(**{f: getattr(a, f) for f in a.__dataclass_fields__})


def test_equal_draws_stay_equal_across_pickles():
    import pickle
    for draw in (fanin.LecunNormal(seed=0).draw((4, 6)), fanin.Constant(-0.0).draw((2,)),
                 fanin.Orthogonal(gain=-0.0, seed=1).draw((3, 3))):
        again = pickle.loads(pickle.dumps(draw))
        assert again == draw and hash(again) == hash(draw)
        assert {draw: 1}[again] == 1
