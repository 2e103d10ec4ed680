"""fanin.dask graphs cost the chunk lists, not the chunk count; absurd counts are refused."""

import math
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

da = pytest.importorskip("dask.array")

import fanin  # noqa: E402
import fanin.dask as fd  # noqa: E402


def _bits(a):
    a = np.ascontiguousarray(a)
    return a.dtype.name, a.shape, a.view(np.uint8).tobytes()


def _spec_entry(dim):
    """One axis of a ``chunks`` argument, in each spelling dask accepts."""
    return st.one_of(st.integers(1, max(1, dim + 2)), st.just(-1), st.just(None),
                     st.just("auto"))


@st.composite
def _chunk_specs(draw, shape):
    form = draw(st.sampled_from(["int", "tuple", "auto", "bytes", "dict", "list"]))
    if form == "int":
        return draw(st.integers(1, 12))
    if form == "auto":
        return "auto"
    if form == "bytes":
        return draw(st.sampled_from(["1kiB", "4kiB", "1000 B"]))
    entries = [draw(_spec_entry(d)) for d in shape]
    if form == "dict":
        return {i: c for i, c in enumerate(entries) if draw(st.booleans())}
    return entries if form == "list" else tuple(entries)


@st.composite
def _cases(draw):
    shape = tuple(draw(st.lists(st.integers(0, 12), min_size=1, max_size=3)))
    return shape, draw(_chunk_specs(shape)), draw(st.sampled_from(["float32", "float64"]))


@settings(max_examples=20, deadline=None, derandomize=True)
@given(case=_cases())
def test_every_chunk_spelling_gives_dasks_chunks_and_the_tensor(case):
    shape, chunks, dtype = case
    try:
        expected = da.core.normalize_chunks(chunks, shape, dtype=np.dtype(dtype))
    except Exception as err:  # noqa: BLE001 - whatever dask raises, fanin.dask raises
        with pytest.raises(type(err)):
            fd.random_normal(shape, chunks=chunks, seed=3, dtype=dtype)
        return
    x = fd.random_normal(shape, chunks=chunks, seed=3, dtype=dtype)
    assert x.chunks == expected
    assert _bits(x.compute(scheduler="sync")) == _bits(fanin.RandomNormal(seed=3)(shape, dtype))


@st.composite
def _many_chunks(draw):
    """Shapes cut into 2**14 .. 2**18 chunks of a few elements."""
    rank = draw(st.integers(1, 3))
    cuts = sorted(draw(st.lists(st.integers(0, 18), min_size=rank - 1, max_size=rank - 1)))
    total = draw(st.integers(14, 18))
    edges = [0] + [min(c, total) for c in cuts] + [total]
    size = draw(st.integers(1, 3))
    return tuple(2 ** (b - a) * size for a, b in zip(edges, edges[1:])), size


@pytest.mark.slow
@settings(max_examples=6, deadline=None, derandomize=True)
@given(case=_many_chunks())
def test_building_the_graph_costs_the_chunk_lists_not_the_chunk_count(case):
    """Up to 262,144 chunks: the graph holds each axis' chunk boundaries (dask's
    own chunk tuples and fanin's: tens of bytes per chunk along each axis), never
    one record per chunk (over a kilobyte each: more than 250 MiB here)."""
    shape, size = case
    fd.lecun_uniform((4, 4), chunks=2, seed=0)  # imports and caches out of the count
    tracemalloc.start()
    try:
        x = fd.lecun_uniform(shape, chunks=size, seed=0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert math.prod(x.numblocks) >= 2**14
    assert peak < 4 * 2**20 + 256 * sum(x.numblocks), (shape, peak)
    block = tuple(n - 1 for n in x.numblocks)
    corner = x.blocks[block].compute(scheduler="sync")
    offset = tuple((n - 1) * size for n in x.numblocks)
    expected = fanin.LecunUniform(seed=0).draw(shape).block(offset, corner.shape)
    assert _bits(corner) == _bits(expected)


@st.composite
def _absurd(draw):
    """Shapes and chunks giving more than 2**30 chunks, within fanin's 2**62 elements."""
    rank = draw(st.integers(1, 3))
    chunks = tuple(draw(st.integers(1, 4)) for _ in range(rank))
    counts = [draw(st.integers(1, 2**31)) for _ in range(rank - 1)]
    rest = math.prod(counts)
    counts.append(draw(st.integers(2**30 // rest + 1, max(2**30 // rest + 1, 2**40 // rest))))
    shape = tuple(n * c for n, c in zip(counts, chunks))
    if math.prod(shape) > 2**62:
        shape = (shape[0],) + tuple(1 for _ in shape[1:])
        chunks = (1,) * rank
    return shape, draw(st.sampled_from([chunks, chunks[0], list(chunks)]))


@settings(max_examples=40, deadline=None, derandomize=True)
@given(case=_absurd())
def test_more_than_2_30_chunks_are_refused_before_any_graph(case):
    shape, chunks = case
    with pytest.raises(ValueError, match="2\\*\\*30"):
        fd.lecun_normal(shape, chunks=chunks, seed=0)


@pytest.mark.parametrize("shape, chunks", [((2**31, 2**31), "auto"), ((2**62,), "auto"),
                                           ((2**31, 2**31), (1, 1)), ((2**62,), "1 MiB")])
def test_reported_absurd_chunkings(shape, chunks):
    """``chunks="auto"`` on a legal 2**62-element shape ran out of memory."""
    with pytest.raises(ValueError, match="larger chunks"):
        fd.lecun_normal(shape, chunks=chunks, seed=0)


def test_a_million_chunks_build_lazily():
    """The reported case: 10**6 chunks took ~29 s and 1.4 GiB before any value."""
    tracemalloc.start()
    try:
        x = fd.lecun_normal((10**6, 10**6), chunks=(1000, 1000), seed=0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert x.numblocks == (1000, 1000) and peak < 8 * 2**20
    part = x[:3, 999_998:].compute(scheduler="sync")
    assert _bits(part) == _bits(fanin.LecunNormal(seed=0).draw((10**6, 10**6)).block(
        (0, 999_998), (3, 2)))
