"""The stream's parameters: nothing silent. Every distribution is either refused with
a ValueError naming what is wrong, or filled with finite values inside its support,
the same bits on every backend."""

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import fanin
from fanin import stream

FORMATS = st.sampled_from(["float16", "bfloat16", "float32", "float64"])
NOT_FINITE = st.sampled_from([math.nan, math.inf, -math.inf, 10**400, -10**400])
FLOAT_MAX = {"float16": 65504.0, "bfloat16": 3.3895313892515355e38,
             "float32": 3.4028234663852886e38, "float64": 1.7976931348623157e308}


def _magnitudes():
    """Finite floats from 1e-30 to the top of float64, either sign, zeros included."""
    return st.one_of(
        st.just(0.0),
        st.builds(lambda sign, e, m: sign * m * 10.0 ** e, st.sampled_from([1.0, -1.0]),
                  st.integers(-30, 307), st.floats(1.0, 1.79)))


@st.composite
def _distributions(draw):
    kind = draw(st.sampled_from(["normal", "truncated_normal", "truncated_general",
                                 "uniform"]))
    a, b = draw(_magnitudes()), abs(draw(_magnitudes()))
    try:
        if kind == "normal":
            return stream.normal(a, b)
        if kind == "truncated_normal":
            return stream.truncated_normal(a, b)
        if kind == "truncated_general":
            lower = draw(st.floats(-8.0, 7.0))
            return stream.truncated_normal(a, b, lower, lower + draw(st.floats(0.5, 6.0)))
        return stream.uniform(a, a + b)
    except ValueError:
        assume(False)  # parameters the constructors refuse: covered below


def _fill(dist, fmt, backend, n=64, seed=11):
    out = np.empty(n, np.uint16 if fmt == "bfloat16" else fmt)
    with stream.set_backend(backend):
        stream.fill(out, stream.plan(seed, 0, dist, fmt, (n,)))
    if fmt == "bfloat16":
        return (out.astype(np.uint32) << np.uint32(16)).view(np.float32).astype(np.float64)
    return out.astype(np.float64)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(dist=_distributions(), fmt=FORMATS)
def test_accepted_means_finite_values_inside_the_support(dist, fmt):
    try:
        stream.plan(1, 0, dist, fmt, (64,))
    except ValueError as err:
        assert "overflow" in str(err) or "no " in str(err), err
        return
    values = _fill(dist, fmt, "reference")
    assert np.isfinite(values).all(), (dist, fmt, values)
    if dist.kind != "normal" and dist.scale != 0:  # a zero scale gives loc, rounded
        assert (values >= dist.low).all() and (values <= dist.high).all(), (dist, fmt)
    if stream.kernel_available():
        assert _fill(dist, fmt, "kernel").tobytes() == values.tobytes()


@settings(max_examples=200, deadline=None, derandomize=True)
@given(dist=_distributions(), fmt=FORMATS)
def test_values_well_inside_the_format_are_accepted(dist, fmt):
    """The refusal is not a blanket one: a support and a spread within a quarter of
    the format's largest value always work."""
    top = FLOAT_MAX[fmt] / 4
    spread = 7.0 * abs(dist.scale)  # beyond every |z| the transforms give, and 2.0009
    assume(max(abs(dist.loc) + spread, abs(dist.low), abs(dist.high)) < top
           if dist.kind == "normal" else max(abs(dist.low), abs(dist.high), spread) < top)
    try:
        stream.plan(1, 0, dist, fmt, (4,))
    except ValueError as err:
        assert str(err).startswith("no "), err  # a support too narrow for the format


@settings(max_examples=150, deadline=None, derandomize=True)
@given(kind=st.sampled_from(["normal", "truncated_normal", "uniform"]), data=st.data(),
       bad=NOT_FINITE)
def test_non_finite_parameters_are_refused_by_name(kind, data, bad):
    names = {"normal": ["mean", "stddev"], "truncated_normal": ["mean", "stddev", "lower",
                                                                 "upper"],
             "uniform": ["minval", "maxval"]}[kind]
    name = data.draw(st.sampled_from(names))
    args = {"mean": 0.0, "stddev": 1.0, "lower": -2.0, "upper": 2.0, "minval": -1.0,
            "maxval": 1.0}
    args[name] = bad
    call = getattr(stream, kind)
    with pytest.raises(ValueError, match=name):
        call(**{k: v for k, v in args.items() if k in names})


@settings(max_examples=100, deadline=None, derandomize=True)
@given(dist=_distributions(), fmt=FORMATS, shape=st.tuples(st.integers(1, 5)))
def test_every_path_refuses_what_plan_refuses(dist, fmt, shape):
    """Initializers' draws, StreamDraw and fill_rows pass through the same check."""
    try:
        stream.plan(1, 0, dist, fmt, shape)
        refused = None
    except ValueError as err:
        refused = str(err)
    draw = fanin.StreamDraw(shape, fmt, key=1, call=0, distribution=dist)
    rows = (np.empty(shape[0], np.uint16 if fmt == "bfloat16" else fmt), 1, 0, dist, fmt,
            np.zeros(1, np.uint64), shape[0])
    for path in (draw.array, lambda: draw.plan(), lambda: stream.fill_rows(*rows)):
        if refused is None:
            path()
        else:
            with pytest.raises(ValueError) as info:
                path()
            assert str(info.value) == refused


@settings(max_examples=100, deadline=None, derandomize=True)
@given(mean=_magnitudes(), stddev=_magnitudes(), fmt=FORMATS)
def test_initializers_agree_with_the_stream(mean, stddev, fmt):
    stddev = abs(stddev)
    for init, dist in ((fanin.RandomNormal(mean, stddev, seed=0), stream.normal),
                       (fanin.TruncatedNormal(mean, stddev, seed=0), stream.truncated_normal)):
        try:
            stream.plan(1, 0, dist(mean, stddev), fmt, (8,))
        except ValueError:
            with pytest.raises(ValueError, match="overflow|no "):
                init((8,), fmt)
            continue
        assert np.isfinite(init((8,), fmt).astype(np.float64)).all()


# --------------------------------------------------------------------------- #
# The reported examples
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("make, name", [
    (lambda: stream.truncated_normal(0.0, math.nan, -1.0, 1.0), "stddev"),
    (lambda: stream.truncated_normal(0.0, math.inf, -1.0, 1.0), "stddev"),
    (lambda: stream.normal(0.0, math.inf), "stddev"),
    (lambda: stream.uniform(-math.inf, math.inf), "minval"),
    (lambda: stream.truncated_normal(1e308, 1e308, -1.0, 1.0), "mean"),
])
def test_reported_constructor_examples(make, name):
    with pytest.raises(ValueError, match=name):
        make()


@pytest.mark.parametrize("dist, fmt, words", [
    (stream.truncated_normal(6e4, 1e4, -1.0, 1.0), "float16", "mean"),
    (stream.uniform(-2e38, 2e38), "float32", "width maxval - minval"),
    (stream.uniform(-1e5, 1e5), "float16", "minval"),
    (stream.normal(0.0, 1e38), "float32", "stddev"),
])
def test_reported_plan_examples(dist, fmt, words):
    with pytest.raises(ValueError, match=f"overflow {fmt}") as info:
        stream.plan(0, 0, dist, fmt, (8,))
    assert words in str(info.value) and "largest value" in str(info.value)


@st.composite
def _blocks(draw):
    """A shape of 1-5 axes, a block of it, a permutation of the leading axes, a run size."""
    shape = tuple(draw(st.lists(st.integers(1, 7), min_size=1, max_size=5)))
    block = tuple(draw(st.integers(1, s)) for s in shape)
    offset = tuple(draw(st.integers(0, s - b)) for s, b in zip(shape, block))
    order = draw(st.permutations(range(len(shape) - 1)))
    return shape, offset, block, tuple(order), draw(st.sampled_from([1, 2, 3, 5, 8, 64, 1 << 16]))


@settings(max_examples=400, deadline=None, derandomize=True)
@given(case=_blocks())
def test_runs_and_column_runs_name_every_row_once_in_order(case):
    """The row starts (built from outer sums of each axis' steps) against the flat index
    of each element computed directly; runs come in order, none empty or over size;
    continuing_start names the first row exactly when each row continues the last."""
    shape, offset, block, order, per_run = case
    p = stream.plan(3, 0, stream.normal(0.0, 1.0), "float32", shape, offset, block)
    index = np.ravel_multi_index(np.indices(block) + np.reshape(offset, (-1,) + (1,) * len(shape)),
                                 shape)  # flat index of each block element
    heads = index[..., 0].transpose(order).ravel()  # first index of each row, in `order`

    def joined(runs):
        firsts, parts = zip(*runs)
        sizes = [s.size for s in parts]
        assert all(0 < n <= per_run for n in sizes)
        assert list(firsts) == [sum(sizes[:i]) for i in range(len(sizes))]
        return np.concatenate(parts)

    assert (joined(p.column_runs(order, per_run)) == heads).all()
    continuing = bool((np.diff(heads) == block[-1]).all())
    assert p.continuing_start(order) == (int(heads[0]) if continuing else None)
    rows = [(first, starts) for first, starts, _ in p.runs(per_run)]
    row_len = next(iter(p.runs()))[2]
    assert (joined((f // row_len, s) for f, s in rows) == index.ravel()[::row_len]).all()
