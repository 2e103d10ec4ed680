"""Draws: one tensor's values, fillable anywhere, in any order, bit for bit."""

import inspect
import multiprocessing
import pickle
import random
import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fanin
from fanin import draws, stream

ml_dtypes = pytest.importorskip("ml_dtypes")

FLOATS = ["float16", "bfloat16", "float32", "float64"]


def every_initializer():
    """One instance of every registered class (seeded where it takes a seed)."""
    return [cls(seed=7) if "seed" in inspect.signature(cls).parameters else cls()
            for cls in fanin.registry.CLASSES.values()]


def bits(a):
    return a.view(np.uint8)


@pytest.mark.parametrize("init", every_initializer(), ids=repr)
def test_every_initializer_has_draws_whose_blocks_are_slices(init, backend):
    shape = (6, 5) if init.kind == "matrix" else (4, 3, 5)
    d = init.draw(shape, "float32")
    assert isinstance(d, fanin.Draw) and d.shape == shape and d.dtype == "float32"
    full = d.array()
    rng = np.random.default_rng(1)
    for _ in range(5):
        part = tuple(int(rng.integers(0, s + 1)) for s in shape)
        off = tuple(int(rng.integers(0, s - p + 1)) for s, p in zip(shape, part))
        want = full[tuple(slice(o, o + p) for o, p in zip(off, part))]
        assert np.array_equal(bits(d.block(off, part)), bits(np.ascontiguousarray(want)))
        out = np.empty(part, np.float32)
        assert d.fill(out, off) is out and np.array_equal(bits(out), bits(np.ascontiguousarray(want)))


def test_draws_are_immutable_hashable_and_cheap():
    d = fanin.LecunNormal(seed=0).draw((1 << 20, 1 << 20))  # 2**40 elements: nothing computed
    assert d.size == 1 << 40 and d.fans == (1 << 20, 1 << 20)
    with pytest.raises(AttributeError):
        d.call = 3
    assert hash(d) == hash(pickle.loads(pickle.dumps(d)))
    assert len(pickle.dumps(d)) < 600
    corner = d.block((2**20 - 2, 2**20 - 3), (2, 3))
    assert corner.shape == (2, 3)


def test_two_same_shape_draws_of_one_instance_differ():
    init = fanin.LecunNormal(seed=0)
    q, k = init.draw((8, 4)), init.draw((8, 4))
    assert (q.call, k.call) == (0, 1)
    assert not np.array_equal(q.block((4, 0), (4, 4)), k.block((4, 0), (4, 4)))


def _fill_in_child(args):
    draw, offset, shape = args
    return draw.block(offset, shape)


@pytest.mark.slow  # spawned processes
def test_a_draw_pickled_to_spawned_processes_fills_blocks_bit_identically():
    d = fanin.HeNormal(seed=11).draw((40, 30), "bfloat16")
    blocks = [((0, 0), (40, 30)), ((13, 7), (5, 11)), ((39, 29), (1, 1)), ((0, 5), (40, 1))]
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        got = pool.map(_fill_in_child, [(d, o, s) for o, s in blocks])
    full = d.array()
    for (o, s), g in zip(blocks, got):
        assert np.array_equal(bits(g), bits(np.ascontiguousarray(
            full[o[0]:o[0] + s[0], o[1]:o[1] + s[1]])))


def test_blocks_filled_from_64_threads_in_random_order_reassemble_the_tensor(backend):
    d = fanin.TruncatedNormal(0.0, 1.0, seed=3).draw((64, 100), "float16")
    tiles = [((r, c), (8, 25)) for r in range(0, 64, 8) for c in range(0, 100, 25)]
    random.Random(0).shuffle(tiles)
    out = np.full((64, 100), np.nan, np.float16)
    barrier = threading.Barrier(32)  # the tile workers start together

    def work(chunk):
        barrier.wait()
        for (r, c), (h, w) in chunk:
            out[r:r + h, c:c + w] = d.block((r, c), (h, w))
    threads = [threading.Thread(target=work, args=(tiles[i::32],)) for i in range(32)]
    threads += [threading.Thread(target=lambda: d.block((0, 0), (64, 100))) for _ in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert np.array_equal(bits(out), bits(d.array()))


@pytest.mark.parametrize("fmt", FLOATS)
def test_fill_converts_byte_order_and_strides_but_never_reinterprets(fmt, backend):
    d = fanin.LecunNormal(seed=0).draw((6, 4), fmt)
    want = d.array()
    dt = np.dtype(ml_dtypes.bfloat16) if fmt == "bfloat16" else np.dtype(fmt)
    if fmt != "bfloat16":
        swapped = np.zeros((6, 4), dt.newbyteorder(">" if dt.byteorder != ">" else "<"))
        d.fill(swapped)
        assert np.array_equal(swapped.astype(dt), want)
    strided = np.zeros((6, 8), dt)[:, ::2]
    d.fill(strided)
    assert np.array_equal(bits(np.ascontiguousarray(strided)), bits(want))
    if fmt == "bfloat16":
        raw = np.zeros((6, 4), np.uint16)
        d.fill(raw)
        assert np.array_equal(raw, want.view(np.uint16))
    wrong = {"float16": np.int16, "bfloat16": np.float16, "float32": np.int32,
             "float64": np.int64}[fmt]
    with pytest.raises(TypeError, match="dtype"):
        d.fill(np.zeros((6, 4), wrong))
    ro = np.zeros((6, 4), dt)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        d.fill(ro)
    with pytest.raises(TypeError, match="ndarray"):
        d.fill([[0.0] * 4] * 6)


@pytest.mark.parametrize("fmt", FLOATS + ["int32", "uint8"])
def test_whole_tensor_fill_equals_the_planned_fill(fmt, backend):
    """``fill`` of a whole native C-contiguous target takes one prepared call
    (``stream.whole_fill``); any other offset spelling or target takes the plan. Both
    give the block's bits, for every backend and format."""
    init = fanin.RandomUniform(0, 200, seed=3) if fmt in ("int32", "uint8") else fanin.RandomNormal(seed=3)
    d = init.draw((5, 7), fmt)
    want = d.block((0, 0), (5, 7))
    for offset in (None, (0, 0), [0, 0]):
        out = np.full((5, 7), 1, d.numpy_dtype)
        assert d.fill(out, offset) is out
        assert np.array_equal(bits(out), bits(want))
    if fmt == "bfloat16":
        raw = np.zeros((5, 7), np.uint16)
        assert np.array_equal(d.fill(raw), want.view(np.uint16))
    # prepared once per (distribution, format, backend): the backend in use does the work
    assert stream.whole_fill(d.distribution, fmt).backend == backend


def test_whole_tensor_fill_checks_key_and_call_and_changes_nothing_on_error():
    dist = stream.normal(0.0, 1.0)
    for key, call in ((-1, 0), (1 << 64, 0), (0, -1), (0, 1.0)):
        d = draws.StreamDraw((3,), "float32", key=key, call=call, distribution=dist)
        out = np.full(3, 7.0, np.float32)
        with pytest.raises(ValueError, match="key|call"):
            d.fill(out)
        assert (out == 7.0).all()
    d = draws.StreamDraw((2, 3), "float32", key=0, call=0, distribution=dist)
    for offset, error in (((0,), ValueError), ((0, 0, 0), ValueError), ((0.0, 0), TypeError),
                          ((False, 0), TypeError)):  # bad offsets: refused as by any fill
        with pytest.raises(error):
            d.fill(np.zeros((2, 3), np.float32), offset)
    bad = draws.StreamDraw((3,), "float16", key=0, call=0, distribution=stream.uniform(1e6, 2e6))
    with pytest.raises(ValueError, match="float16"):
        bad.fill(np.zeros(3, np.float16))


_OFFSET_PARTS = st.sampled_from([0, 1, -1, 0.0, False, None, np.int64(0), "0"])


@settings(max_examples=300, deadline=None, derandomize=True)
@given(offset=st.none() | st.tuples() | st.lists(_OFFSET_PARTS, max_size=3)
       | st.lists(_OFFSET_PARTS, max_size=3).map(tuple),
       target=st.sampled_from(["native", "uint16", "strided", "readonly", "shape"]))
def test_whole_tensor_path_accepts_exactly_what_the_general_fill_accepts(offset, target):
    """The prepared whole-tensor path of ``StreamDraw.fill`` is a shortcut only: for any
    offset spelling and target it gives the general :meth:`Draw.fill`'s bits or its
    exception type."""
    d = fanin.RandomNormal(seed=5).draw((2, 3), "bfloat16")
    def target_array():
        if target == "uint16":
            return np.zeros((2, 3), np.uint16)
        if target == "strided":
            return np.zeros((2, 6), d.numpy_dtype)[:, ::2]
        if target == "shape":
            return np.zeros((3, 2), d.numpy_dtype)
        out = np.zeros((2, 3), d.numpy_dtype)
        out.flags.writeable = target != "readonly"
        return out
    outcomes = []
    for fill in (d.fill, lambda out, o: draws.Draw.fill(d, out, o)):
        out = target_array()
        try:
            fill(out, offset)
            outcomes.append(bits(np.ascontiguousarray(out)).tobytes())
        except (TypeError, ValueError) as e:
            outcomes.append(type(e))
    assert outcomes[0] == outcomes[1]


def test_stream_fill_refuses_reinterpretation():
    p32 = stream.plan(0, 0, stream.normal(0.0, 1.0), "float32", (4,))
    with pytest.raises(TypeError, match="int32"):
        stream.fill(np.zeros(4, np.int32), p32)
    pb = stream.plan(0, 0, stream.normal(0.0, 1.0), "bfloat16", (4,))
    with pytest.raises(TypeError, match="float16"):
        stream.fill(np.zeros(4, np.float16), pb)
    with pytest.raises(TypeError, match="byte order"):
        stream.fill(np.zeros(4, ">f4"), p32)
    stream.fill(np.zeros(4, np.uint16), pb)  # bfloat16 bits in uint16: allowed


@pytest.mark.parametrize("init", [fanin.LecunNormal(seed=0), fanin.Ones(), fanin.Constant(2.5),
                                  fanin.Identity(), fanin.Orthogonal(seed=1)], ids=repr)
def test_initializer_fill_into_big_endian_gives_the_values(init):
    """Finding F3: '>f4' targets got byte-swapped garbage."""
    out = np.zeros((4, 4), ">f4")
    init.fill(out)
    fresh = type(init).from_config(init.get_config())  # call 0 again
    assert np.array_equal(out.astype(np.float32), fresh((4, 4)))


def test_tiles_cover_a_box_exactly_once_within_the_bound():
    rng = np.random.default_rng(0)
    for _ in range(50):
        shape = tuple(int(rng.integers(1, 7)) for _ in range(int(rng.integers(1, 5))))
        offset = tuple(int(rng.integers(0, 3)) for _ in shape)
        limit = int(rng.integers(1, 40))
        seen = np.zeros(tuple(o + s for o, s in zip(offset, shape)), int)
        for o, s in draws.tiles(shape, limit, offset):
            assert np.prod(s) <= limit
            seen[tuple(slice(a, a + n) for a, n in zip(o, s))] += 1
        assert (seen[tuple(slice(o, None) for o in offset)] == 1).all()
        assert seen.sum() == np.prod(shape)


def test_identity_blocks_need_no_full_size_temporary():
    d = fanin.Identity(gain=3.0).draw((50_000, 40_000), "float16")  # 3.7 GiB in full
    b = d.block((39_995, 39_996), (4, 4))
    rows, cols = np.arange(39_995, 39_999), np.arange(39_996, 40_000)
    want = np.where(rows[:, None] == cols[None, :], 3.0, 0.0).astype(np.float16)
    assert np.array_equal(b, want)


@pytest.mark.parametrize("small", [0, 1 << 30], ids=["columns", "copied"])
@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float64", "float16"])
def test_fill_permuted_is_the_block_transposed(dtype, backend, small, monkeypatch):
    """Property: for random shapes, blocks and permutations, fill_permuted writes
    exactly draw.block(...).transpose(axes); the torch layout (last axis first) goes
    through fill_columns, or for whole tensors up to SMALL_PERMUTED elements through
    a whole fill copied in; other permutations and strided targets through fill."""
    monkeypatch.setattr(draws, "SMALL_PERMUTED", small)
    rng = np.random.default_rng([len(dtype), len(backend)])
    inits = (fanin.LecunNormal(seed=3), fanin.RandomUniform(seed=4), fanin.Orthogonal(seed=5),
             fanin.Identity(), fanin.Constant(0.5))
    for trial in range(40):
        ndim = int(rng.integers(2, 5))
        shape = tuple(int(s) for s in rng.integers(0, 9, ndim) ** rng.integers(1, 3, ndim))
        init = inits[trial % len(inits)]
        if init.__class__.__name__ in ("Orthogonal", "Identity"):
            shape = shape[-2:]  # matrices
        d = init.draw(shape, dtype)
        offset = tuple(int(rng.integers(0, s + 1)) for s in shape)
        block = tuple(int(rng.integers(0, s - o + 1)) for s, o in zip(shape, offset))
        if trial % 3 == 0:  # the whole tensor, as a framework's own weight
            offset, block = (0,) * len(shape), shape
        n = len(shape)
        axes = (n - 1,) + tuple(rng.permutation(n - 1)) if trial % 4 else rng.permutation(n)
        want = d.block(offset, block).transpose(axes)
        out = np.full(want.shape, 7, d.numpy_dtype)
        if trial % 5 == 0:  # a strided target
            out = np.full((2 * want.shape[0],) + want.shape[1:], 7, d.numpy_dtype)[::2]
        assert d.fill_permuted(out, axes, offset) is out
        assert np.array_equal(out.view(np.uint8) if out.flags.c_contiguous else out,
                              np.ascontiguousarray(want).view(np.uint8)
                              if out.flags.c_contiguous else want), (shape, axes, offset)


def test_fill_permuted_rejects_bad_axes():
    d = fanin.LecunNormal(seed=0).draw((3, 4))
    for axes in ((0, 0), (0,), (0, 1, 2), (2, 0)):
        with pytest.raises(ValueError, match="permutation"):
            d.fill_permuted(np.empty((4, 3), np.float32), axes)
    with pytest.raises(TypeError, match="numpy"):
        d.fill_permuted([[0.0] * 3] * 4, (1, 0))
    with pytest.raises(TypeError, match="dtype"):
        d.fill_permuted(np.empty((4, 3), np.int32), (1, 0))


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float64", "float16"])
def test_fill_nonzeros_over_zeros_is_fill(dtype):
    """Property: zeros, then fill_nonzeros, give fill's bits for sparse draws (only
    their non-zero elements written) and for any other draw, on native, strided,
    byte-swapped and bfloat16-as-uint16 targets."""
    rng = np.random.default_rng(len(dtype))
    for trial in range(40):
        shape = tuple(int(s) for s in rng.integers(1, 12, 2))
        init = (fanin.Identity(gain=float(rng.uniform(-3, 3))), fanin.Constant(0.25),
                fanin.LecunNormal(seed=trial))[trial % 3]
        d = init.draw(shape, dtype)
        assert d.sparse == isinstance(init, fanin.Identity)
        offset = tuple(int(rng.integers(0, s)) for s in shape)
        block = tuple(int(rng.integers(1, s - o + 1)) for s, o in zip(shape, offset))
        want = d.block(offset, block)
        kind = trial % 4
        dt = (d.numpy_dtype.newbyteorder() if kind == 1 and dtype != "bfloat16" else
              np.uint16 if kind == 2 and dtype == "bfloat16" else d.numpy_dtype)
        out = np.zeros((2 * block[0], block[1]), dt)[::2] if kind == 3 else np.zeros(block, dt)
        assert d.fill_nonzeros(out, offset) is out
        values = out.view(d.numpy_dtype) if out.dtype == np.uint16 else out.astype(d.numpy_dtype)
        assert np.array_equal(np.ascontiguousarray(values).view(np.uint8),
                              want.view(np.uint8)), (init, kind)
