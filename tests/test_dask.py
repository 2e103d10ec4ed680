"""fanin.dask: chunk-by-chunk arrays equal to the in-memory tensor, on every scheduler."""

import numpy as np
import pytest

da = pytest.importorskip("dask.array")

import dask  # noqa: E402
from dask.callbacks import Callback  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import fanin  # noqa: E402
import fanin.dask as fd  # noqa: E402

SHAPE = (37, 23)
# >= 5 chunkings of SHAPE: dask's choice, one chunk, a uniform size, one per dim,
# irregular sizes, single rows, and single elements.
CHUNKINGS = ["auto", -1, 8, (10, 7), ((1, 30, 6), (20, 3)), (1, -1), (1, 1)]


def _bits(a):
    """The bytes of an array: a bit-for-bit comparison (-0.0 != 0.0, NaNs equal)."""
    a = np.ascontiguousarray(a)
    return a.dtype.name, a.shape, a.view(np.uint8).tobytes()


def _threaded(x):
    return x.compute(scheduler="threads")


@pytest.mark.parametrize("chunks", CHUNKINGS, ids=str)
def test_any_chunking_equals_the_tensor(chunks):
    x = fd.lecun_normal(SHAPE, chunks=chunks, seed=0)
    assert _bits(_threaded(x)) == _bits(fanin.LecunNormal(seed=0)(SHAPE))


def _sizes(total):
    """A partition of ``total`` into chunk sizes (dask needs >= 1 chunk, sizes >= 0)."""
    if total == 0:
        return st.just((0,))
    return st.lists(st.integers(1, total), max_size=6).map(
        lambda cuts: tuple(np.diff([0] + sorted(set(cuts) - {total}) + [total]).tolist()))


@st.composite
def _cases(draw):
    shape = tuple(draw(st.lists(st.integers(0, 30), min_size=0, max_size=3)))
    chunks = tuple(draw(_sizes(n)) for n in shape)
    name = draw(st.sampled_from(["LecunNormal", "GlorotUniform", "RandomNormal",
                                 "TruncatedNormal", "VarianceScaling", "HeUniform"]))
    dtype = draw(st.sampled_from(["float16", "bfloat16", "float32", "float64"]))
    seed = draw(st.integers(0, 2**64 - 1))
    return shape, chunks, name, dtype, seed


@settings(max_examples=60, deadline=None)
@given(_cases())
def test_property_chunks_never_change_values(case):
    shape, chunks, name, dtype, seed = case
    init = fanin.get({"class_name": name, "config": {"seed": seed}})
    x = fd.from_initializer(init, shape, chunks=chunks, dtype=dtype)
    assert x.chunks == chunks
    twin = fanin.get({"class_name": name, "config": {"seed": seed}})
    assert _bits(_threaded(x)) == _bits(twin(shape, dtype))


def test_compute_twice_gives_the_same_values():
    x = fd.he_normal((40, 30), chunks=(9, 11), seed=4)
    assert _bits(_threaded(x)) == _bits(_threaded(x))


def test_same_arguments_give_the_same_keys():
    a = fd.lecun_normal((40, 30), chunks=10, seed=1)
    b = fd.from_initializer(fanin.LecunNormal(seed=1), (40, 30), chunks=10)
    assert a.name == b.name and set(a.__dask_keys__()[0]) == set(b.__dask_keys__()[0])
    assert a.name.startswith("fanin-")
    assert fd.lecun_normal((40, 30), chunks=10, seed=2).name != a.name
    assert fd.lecun_normal((40, 30), chunks=15, seed=1).name != a.name
    assert fd.lecun_normal((40, 30), chunks=10, seed=1, dtype="float64").name != a.name


def test_one_instance_takes_one_call_per_array():
    init, twin = fanin.GlorotNormal(seed=3), fanin.GlorotNormal(seed=3)
    first, second = (fd.from_initializer(init, (12, 8), chunks=5) for _ in range(2))
    assert first.name != second.name
    assert _bits(_threaded(first)) == _bits(twin((12, 8)))    # call 0
    assert _bits(_threaded(second)) == _bits(twin((12, 8)))   # call 1
    assert _bits(init((12, 8))) == _bits(twin((12, 8)))       # call 2: the calls line up


class _CountTasks(Callback):
    """Counts the fanin chunk tasks a scheduler runs."""

    def __init__(self):
        super().__init__()
        self.keys = []

    def _pretask(self, key, dsk, state):
        if isinstance(key, tuple) and str(key[0]).startswith("fanin-"):
            self.keys.append(key)


def test_slicing_computes_only_the_needed_chunks():
    x = fd.lecun_uniform((100, 100), chunks=10, seed=5)
    part = x[15:25, 91:]
    with _CountTasks() as counter:
        values = part.compute(scheduler="sync", optimize_graph=False)
    assert sorted(counter.keys) == [(x.name, 1, 9), (x.name, 2, 9)]
    assert _bits(values) == _bits(fanin.LecunUniform(seed=5)((100, 100))[15:25, 91:])
    with _CountTasks() as counter:  # optimized: each chunk fused with its slice
        part.compute(scheduler="sync")
    assert len(counter.keys) == 2


def test_the_family_is_the_registry():
    names = {fanin.registry.snake_name(name) for name in fanin.registry.CLASSES}
    assert names <= set(fd.__all__) and all(callable(getattr(fd, n)) for n in names)
    assert set(fd.__all__) - names == {"from_initializer", "from_draw"}


@pytest.mark.parametrize("name, params", [
    ("lecun_normal", {}), ("he_uniform", {}), ("glorot_normal", {}),
    ("variance_scaling", {"scale": 2.0, "mode": "fan_out", "distribution": "uniform"}),
    ("random_normal", {"mean": 1.0, "stddev": 3.0}), ("random_uniform", {"minval": 2, "maxval": 5}),
    ("truncated_normal", {"stddev": 0.5}), ("orthogonal", {"gain": 2.0}),
])
def test_family_functions_equal_their_class(name, params):
    cls = fanin.get(name).__class__
    x = getattr(fd, name)((20, 12), chunks=(7, 5), seed=8, **params)
    assert _bits(_threaded(x)) == _bits(cls(seed=8, **params)((20, 12)))


@pytest.mark.parametrize("name, params", [("zeros", {}), ("ones", {}), ("constant", {"value": 3}),
                                          ("identity", {"gain": 0.5})])
def test_seedless_family_functions(name, params):
    cls = fanin.get(name).__class__
    x = getattr(fd, name)((9, 6), chunks=4, **params)
    assert _bits(_threaded(x)) == _bits(cls(**params)((9, 6)))
    with pytest.raises(TypeError, match="seed"):
        getattr(fd, name)((9, 6), seed=1)


def test_integer_dtypes():
    x = fd.constant((5, 4), chunks=2, value=7, dtype="int32")
    assert x.dtype == np.int32 and _bits(_threaded(x)) == _bits(np.full((5, 4), 7, np.int32))
    x = fd.random_uniform((7, 5), chunks=(3, 2), seed=5, dtype="int64", minval=-3, maxval=9)
    assert x.dtype == np.int64
    assert _bits(_threaded(x)) == _bits(fanin.RandomUniform(-3, 9, seed=5)((7, 5), "int64"))


def test_bad_input_is_refused_clearly():
    with pytest.raises(TypeError, match="Draw"):
        fd.from_draw("not a draw")
    with pytest.raises((TypeError, ValueError)):
        fd.from_initializer(object(), (3,))
    with pytest.raises(ValueError):
        fd.lecun_normal((4, -1), seed=0)      # the core's shape check, before any graph
    with pytest.raises(ValueError):
        fd.lecun_normal((10,), chunks=((3, 3),), seed=0)   # chunks that do not add up


def test_to_zarr_round_trip(tmp_path):
    zarr = pytest.importorskip("zarr")
    x = fd.lecun_normal((60, 50), chunks=(16, 20), seed=6)
    x.to_zarr(str(tmp_path / "w.zarr"), compute=True)
    back = zarr.open_array(str(tmp_path / "w.zarr"), mode="r")
    assert back.chunks == (16, 20)
    assert _bits(back[...]) == _bits(fanin.LecunNormal(seed=6)((60, 50)))


@pytest.mark.slow
def test_processes_scheduler():
    x = fd.he_uniform((50, 40), chunks=(13, 17), seed=2)
    assert _bits(x.compute(scheduler="processes", num_workers=2)) == \
        _bits(fanin.HeUniform(seed=2)((50, 40)))


# --------------------------------------------------------------------------- #
# dask.distributed: a real LocalCluster of 2 worker processes on 127.0.0.1
# --------------------------------------------------------------------------- #


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as cluster, \
            distributed.Client(cluster) as c:
        yield c


@pytest.mark.slow
def test_distributed_equals_the_tensor_for_every_chunking(client):
    expected = _bits(fanin.LecunNormal(seed=0)(SHAPE))
    arrays = [fd.lecun_normal(SHAPE, chunks=c, seed=0) for c in CHUNKINGS]
    results = client.compute(arrays, sync=True)
    assert all(_bits(r) == expected for r in results)
    assert _bits(client.compute(arrays[3], sync=True)) == expected   # and once more


@pytest.mark.slow
def test_distributed_keys_are_the_same_in_worker_processes(client):
    def name():
        import fanin.dask
        return fanin.dask.lecun_normal((40, 30), chunks=10, seed=1).name
    here = name()
    assert set(client.run(name).values()) == {here}


@pytest.mark.slow
def test_distributed_to_zarr(client, tmp_path):
    zarr = pytest.importorskip("zarr")
    x = fd.glorot_uniform((90, 70), chunks=(25, 30), seed=7, dtype="float64")
    x.to_zarr(str(tmp_path / "w.zarr"))  # the default scheduler is the client's
    back = zarr.open_array(str(tmp_path / "w.zarr"), mode="r")
    assert _bits(back[...]) == _bits(fanin.GlorotUniform(seed=7)((90, 70), "float64"))
