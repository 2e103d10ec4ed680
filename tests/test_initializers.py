"""The Keras 2.7 contract: classes, fans, configs, seeds, partitions, dtypes."""

import copy
import json
import math
import pickle
import subprocess
import sys
import threading

import numpy as np
import pytest

import fanin
from fanin import initializers as fi

RANDOM = [fanin.RandomNormal, fanin.RandomUniform, fanin.TruncatedNormal,
          fanin.VarianceScaling, fanin.LecunNormal, fanin.LecunUniform,
          fanin.GlorotNormal, fanin.GlorotUniform, fanin.HeNormal, fanin.HeUniform]
ALL = RANDOM + [fanin.Zeros, fanin.Ones, fanin.Constant, fanin.Identity, fanin.Orthogonal]
FLOATS = ["float16", "bfloat16", "float32", "float64"]


def test_public_api_names():
    """Everything __all__ names exists, once, and every initializer class is exported."""
    assert len(fanin.__all__) == len(set(fanin.__all__))
    missing = [name for name in fanin.__all__ if not hasattr(fanin, name)]
    assert not missing
    classes = set(fanin.registry.CLASSES)
    assert classes <= set(fanin.__all__)


@pytest.mark.parametrize("alias,cls", [
    ("lecun_normal", "LecunNormal"), ("lecun_uniform", "LecunUniform"),
    ("glorot_normal", "GlorotNormal"), ("glorot_uniform", "GlorotUniform"),
    ("he_normal", "HeNormal"), ("he_uniform", "HeUniform"),
    ("random_normal", "RandomNormal"), ("random_uniform", "RandomUniform"),
    ("truncated_normal", "TruncatedNormal"), ("variance_scaling", "VarianceScaling"),
    ("zeros", "Zeros"), ("ones", "Ones"), ("constant", "Constant"),
    ("identity", "Identity"), ("orthogonal", "Orthogonal")])
def test_snake_case_aliases_are_the_classes(alias, cls):
    assert getattr(fanin, alias) is getattr(fanin, cls)


@pytest.mark.parametrize("cls", ALL)
def test_every_class_returns_c_contiguous_numpy_of_shape(cls):
    out = cls()((4, 6))
    assert isinstance(out, np.ndarray) and out.shape == (4, 6)
    assert out.flags.c_contiguous and out.dtype == np.float32


def test_lecun_normal_is_variance_scaling(backend):
    a = fanin.LecunNormal(seed=11)((30, 20))
    b = fanin.VarianceScaling(1.0, "fan_in", "truncated_normal", seed=11)((30, 20))
    assert np.array_equal(a, b)


@pytest.mark.parametrize("cls,params", [
    (fanin.LecunNormal, (1.0, "fan_in", "truncated_normal")),
    (fanin.LecunUniform, (1.0, "fan_in", "uniform")),
    (fanin.GlorotNormal, (1.0, "fan_avg", "truncated_normal")),
    (fanin.GlorotUniform, (1.0, "fan_avg", "uniform")),
    (fanin.HeNormal, (2.0, "fan_in", "truncated_normal")),
    (fanin.HeUniform, (2.0, "fan_in", "uniform"))])
def test_fixed_scalings(cls, params):
    init = cls(seed=1)
    assert (init.scale, init.mode, init.distribution) == params
    assert np.array_equal(init((5, 7, 3)), fanin.VarianceScaling(*params, seed=1)((5, 7, 3)))


def test_lecun_normal_math():
    """Keras 2.7: std after truncation sqrt(1 / fan_in), cut at 2 pre-truncation std."""
    truncnorm = pytest.importorskip("scipy.stats").truncnorm
    d = fanin.LecunNormal(seed=0).draw((3, 3, 16, 32))  # fan_in = 3 * 3 * 16 = 144
    dist = d.distribution
    assert dist.kind == "truncated_normal" and dist.loc == 0
    assert dist.high == 2 * dist.scale and dist.low == -dist.high
    # scipy's truncated normal, independent of fanin's constant 0.8796...
    assert math.isclose(truncnorm.std(-2, 2, scale=dist.scale), 1 / 12, rel_tol=1e-12)


@pytest.mark.parametrize("shape,fans", [
    ((), (1, 1)), ((7,), (7, 7)), ((3, 5), (3, 5)), ((3, 3, 16, 32), (144, 288)),
    ((2, 4, 5, 6, 7), (2 * 4 * 5 * 6, 2 * 4 * 5 * 7)), ((0, 5), (0, 5))])
def test_fans(shape, fans):
    assert fanin.LecunNormal().fans(shape) == fans


def test_zero_fans_treated_as_one():
    d = fanin.LecunNormal(seed=0).draw((0, 5))
    assert d.distribution.scale == 1 / 0.87962566103423978
    assert fanin.LecunNormal(seed=0)((0, 5)).shape == (0, 5)


def test_input_output_axes_torch_layout():
    # Keras 3.15: fans are the products of the listed axes; shared axes count in both
    torch_layout = fanin.HeNormal(input_axes=[1, 2, 3], output_axes=[0, 2, 3])
    assert torch_layout.fans((64, 32, 3, 3)) == (32 * 9, 64 * 9)
    assert fanin.HeNormal(input_axes=[1], output_axes=[0]).fans((64, 32, 3, 3)) == (32, 64)
    # one of them alone is ignored: both are needed
    assert fanin.HeNormal(input_axes=[1]).fans((64, 32, 3, 3)) == fanin.HeNormal().fans((64, 32, 3, 3))
    attention = fanin.GlorotUniform(input_axes=[0], output_axes=[1, 2])
    assert attention.fans((512, 8, 64)) == (512, 512)
    with pytest.raises(ValueError, match="out of range"):
        fanin.LecunNormal(input_axes=[5], output_axes=[0])((3, 3))
    assert fanin.LecunNormal(input_axes=[0], output_axes=[0]).fans((3, 4)) == (3, 3)
    with pytest.raises(TypeError, match="input_axes"):
        fanin.LecunNormal(input_axes=["a"], output_axes=[0])


# --------------------------------------------------------------------------- configs

CONFIGS = [
    (fanin.LecunNormal(seed=3), {"seed": 3}),
    (fanin.HeUniform(), {"seed": None}),
    (fanin.VarianceScaling(2.0, "fan_out", "uniform", seed=1),
     {"scale": 2.0, "mode": "fan_out", "distribution": "uniform", "seed": 1}),
    (fanin.VarianceScaling(distribution="normal"),
     {"scale": 1.0, "mode": "fan_in", "distribution": "truncated_normal", "seed": None}),
    (fanin.RandomNormal(0.1, 0.2, seed=4), {"mean": 0.1, "stddev": 0.2, "seed": 4}),
    (fanin.RandomUniform(-1, 1), {"minval": -1, "maxval": 1, "seed": None}),
    (fanin.TruncatedNormal(), {"mean": 0.0, "stddev": 0.05, "seed": None}),
    (fanin.Constant(3), {"value": 3}),
    (fanin.Zeros(), {}), (fanin.Ones(), {}),
    (fanin.Identity(2.0), {"gain": 2.0}),
    (fanin.Orthogonal(0.5, seed=2), {"gain": 0.5, "seed": 2}),
    (fanin.LecunNormal(seed=1, input_axes=[1], output_axes=[0]),
     {"seed": 1, "input_axes": [1], "output_axes": [0]}),
]


@pytest.mark.parametrize("init,config", CONFIGS, ids=lambda x: repr(x)[:40])
def test_get_config_exact_and_json(init, config):
    assert init.get_config() == config
    assert json.loads(json.dumps(init.get_config())) == config


@pytest.mark.parametrize("init,config", CONFIGS, ids=lambda x: repr(x)[:40])
def test_from_config_round_trip_does_not_mutate(init, config):
    given = dict(config, dtype="float32")
    snapshot = copy.deepcopy(given)
    again = type(init).from_config(given)
    assert given == snapshot
    assert type(again) is type(init) and again.get_config() == config


def test_from_config_restarts_calls_and_copy_restarts(backend):
    a = fanin.LecunNormal(seed=5)
    first = a((8, 8))
    a((8, 8))
    assert np.array_equal(fanin.LecunNormal.from_config(a.get_config())((8, 8)), first)
    assert np.array_equal(copy.copy(a)((8, 8)), first)
    assert np.array_equal(copy.deepcopy(a)((8, 8)), first)


def test_copy_of_unseeded_keeps_its_stream():
    a = fanin.LecunNormal()
    first = a((4,))
    assert np.array_equal(copy.copy(a)((4,)), first)
    assert a.get_config() == {"seed": None}


@pytest.mark.parametrize("clone", [copy.copy, copy.deepcopy,
                                   lambda i: pickle.loads(pickle.dumps(i))])
@pytest.mark.parametrize("seed", [9, None])
def test_copy_and_pickle_restart_at_call_0_with_the_same_key(clone, seed):
    a = fanin.HeNormal(seed=seed)
    first = a((3,))
    a((3,))
    b = clone(a)
    assert np.array_equal(b((3,)), first)  # one rule for all three: call 0, same key
    assert not np.array_equal(b((3,)), first)


# --------------------------------------------------------------------------- seeds

@pytest.mark.parametrize("cls", RANDOM + [fanin.Orthogonal])
def test_seeded_sequence_repeats_across_instances(backend, cls):
    a, b = cls(seed=42), cls(seed=42)
    a1, a2 = a((6, 5)), a((6, 5))
    assert not np.array_equal(a1, a2), "a seeded initializer changes across calls"
    assert np.array_equal(a1, b((6, 5))) and np.array_equal(a2, b((6, 5)))


@pytest.mark.slow  # child interpreters
def test_same_seed_across_processes():
    code = ("import fanin, sys; i = fanin.LecunNormal(seed=123); i((2, 2)); "
            "sys.stdout.write(i((64, 32)).tobytes().hex())")
    runs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True).stdout for _ in range(2)}
    init = fanin.LecunNormal(seed=123)
    init((2, 2))
    assert runs == {init((64, 32)).tobytes().hex()}


@pytest.mark.slow  # child interpreters
def test_set_random_seed_makes_unseeded_reproducible():
    fanin.set_random_seed(7)
    a = [fanin.LecunNormal()((5,)), fanin.HeUniform()((5,))]
    fanin.set_random_seed(7)
    b = [fanin.LecunNormal()((5,)), fanin.HeUniform()((5,))]
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], fanin.LecunNormal()((5,)))
    code = ("import fanin, sys; fanin.set_random_seed(7); "
            "sys.stdout.write(fanin.LecunNormal()((5,)).tobytes().hex())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out == a[0].tobytes().hex()


@pytest.mark.slow  # child interpreters
def test_unseeded_use_os_entropy_in_fresh_processes():
    code = "import fanin, sys; sys.stdout.write(fanin.LecunNormal()((8,)).tobytes().hex())"
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True).stdout for _ in range(2)}
    assert len(outs) == 2


@pytest.mark.parametrize("seed,same_as", [(-1, 2**64 - 1), (2**64 + 3, 3),
                                          (np.int32(5), 5), (np.uint64(2**63), 2**63)])
def test_any_integer_seed_maps_mod_2_64(seed, same_as):
    assert np.array_equal(fanin.LecunNormal(seed=seed)((9,)),
                          fanin.LecunNormal(seed=same_as)((9,)))


@pytest.mark.parametrize("seed", [1.0, "1", True, [1], np.float64(2.0), object()])
def test_non_integer_seed_raises_type_error(seed):
    with pytest.raises(TypeError, match="seed"):
        fanin.LecunNormal(seed=seed)
    with pytest.raises(TypeError, match="seed"):
        fanin.RandomNormal(seed=seed)


def test_threads_get_distinct_call_indices():
    init = fanin.RandomNormal(seed=0)
    calls = []
    lock = threading.Lock()

    def work():
        for _ in range(200):
            c = init.draw((2,)).call
            with lock:
                calls.append(c)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(calls) == list(range(800))


def test_values_of_call_k_are_a_pure_function(backend):
    init = fanin.GlorotNormal(seed=3)
    init((10, 10), "float64")  # other shapes/dtypes in between do not matter
    init((2,))
    later = init((10, 10))
    same = fanin.GlorotNormal(seed=3).draw((10, 10))  # call 0 of a fresh instance
    draw_2 = fanin.StreamDraw((10, 10), "float32", key=same.key, call=2,
                              distribution=same.distribution)
    assert np.array_equal(later, draw_2.array())


# --------------------------------------------------------------------------- partitions

@pytest.mark.parametrize("dtype", FLOATS)
def test_partition_is_exact_slice(backend, dtype):
    pytest.importorskip("ml_dtypes") if dtype == "bfloat16" else None
    shape = (7, 11, 13)
    full = fanin.HeNormal(seed=1)(shape, dtype)
    rng = np.random.default_rng(0)
    for _ in range(10):
        part = tuple(int(rng.integers(1, d + 1)) for d in shape)
        off = tuple(int(rng.integers(0, d - p + 1)) for d, p in zip(shape, part))
        block = fanin.HeNormal(seed=1)(shape, dtype, partition_shape=part, partition_offset=off)
        want = full[tuple(slice(o, o + p) for o, p in zip(off, part))]
        assert np.array_equal(block.view(np.uint8), want.view(np.uint8))


def test_full_tiling_reassembles_and_advances_like_one_call(backend):
    shape = (6, 10)
    sharded, whole = fanin.LecunNormal(seed=4), fanin.LecunNormal(seed=4)
    out = np.empty(shape, np.float32)
    for r in (0, 3):
        for c in (0, 5):
            out[r:r + 3, c:c + 5] = sharded(shape, partition_shape=(3, 5),
                                            partition_offset=(r, c))
    assert np.array_equal(out, whole(shape))
    assert np.array_equal(sharded(shape), whole(shape))  # next call lines up too


def test_partition_same_offset_same_block_different_offsets_differ():
    init = fanin.LecunNormal(seed=4)
    a = init((4, 4), partition_shape=(2, 4), partition_offset=(0, 0))
    b = init((4, 4), partition_shape=(2, 4), partition_offset=(0, 0))
    c = init((4, 4), partition_shape=(2, 4), partition_offset=(2, 0))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_tiny_partition_of_huge_tensor_allocates_only_the_block(backend):
    import tracemalloc
    tracemalloc.start()  # NumPy reports its array allocations to tracemalloc
    v = fanin.LecunNormal(seed=0)((100000, 100000), partition_shape=(1, 1),
                                  partition_offset=(99999, 12345))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 1 << 20  # the full tensor would be 37 GiB; its speed is in benchmarks/
    assert v.shape == (1, 1) and abs(v[0, 0]) < 2 * math.sqrt(1e-5) / 0.8796
    # equals a row slice computed independently
    row = fanin.LecunNormal(seed=0)((100000, 100000), partition_shape=(1, 100000),
                                    partition_offset=(99999, 0))
    assert row[0, 12345] == v[0, 0]


@pytest.mark.parametrize("cls", [fanin.Zeros, fanin.Ones, fanin.Constant])
def test_constant_initializers_honour_partition_shape(cls):
    assert cls()((4, 4), partition_shape=(2, 3), partition_offset=(1, 1)).shape == (2, 3)


@pytest.mark.parametrize("cls", [fanin.Orthogonal, fanin.Identity])
def test_matrix_initializers_reject_partitions(cls):
    with pytest.raises(ValueError, match="doesn't support partition-related arguments"):
        cls()((4, 4), partition_shape=(2, 4), partition_offset=(0, 0))


@pytest.mark.parametrize("part,off,match", [
    ((2, 5), (3, 0), "outside"), ((2,), (0,), "rank"), ((2, 2), (0, 0, 0), "rank"),
    ((-1, 2), (0, 0), "negative"), ((2, 2.5), (0, 0), "integers")])
def test_bad_partitions(part, off, match):
    with pytest.raises((ValueError, TypeError), match=match):
        fanin.LecunNormal(seed=0)((4, 4), partition_shape=part, partition_offset=off)


def test_in_place_fill_matches_call(backend):
    out = np.empty((5, 8), np.float64)
    assert fanin.LecunNormal(seed=2).fill(out) is out
    assert np.array_equal(out, fanin.LecunNormal(seed=2)((5, 8), "float64"))
    block = np.empty((2, 8), np.float32)
    fanin.LecunNormal(seed=2).fill(block, shape=(5, 8), partition_offset=(3, 0))
    assert np.array_equal(block, fanin.LecunNormal(seed=2)((5, 8))[3:])
    bits = np.empty((5, 8), np.uint16)
    fanin.LecunNormal(seed=2).fill(bits, dtype="bfloat16")
    ml = pytest.importorskip("ml_dtypes")
    assert np.array_equal(bits, fanin.LecunNormal(seed=2)((5, 8), ml.bfloat16).view(np.uint16))


# --------------------------------------------------------------------------- dtypes

class FakeTorchDtype:
    """Stands in for torch.float16: recognised by module and str()."""
    __module__ = "torch"

    def __str__(self):
        return "torch.float16"


class FakeTFDType:
    as_numpy_dtype = np.float64
    name = "float64"


@pytest.mark.parametrize("dtype,name", [
    (None, "float32"), ("float16", "float16"), ("half", "float16"), (np.float64, "float64"),
    (np.dtype("float32"), "float32"), ("bfloat16", "bfloat16"),
    (FakeTorchDtype(), "float16"), (FakeTFDType(), "float64"), ("torch.float32", "float32")])
def test_dtype_spellings(dtype, name):
    if name == "bfloat16":
        pytest.importorskip("ml_dtypes")
    out = fanin.LecunNormal(seed=0)((3,), dtype)
    assert fanin.dtypes.dtype_name(out.dtype) == name


def test_real_framework_dtypes_when_installed():
    ml = pytest.importorskip("ml_dtypes")
    assert fanin.LecunNormal(seed=0)((3,), ml.bfloat16).dtype == ml.bfloat16
    try:
        import torch
    except ImportError:
        return
    assert fanin.LecunNormal(seed=0)((3,), torch.bfloat16).dtype == ml.bfloat16
    assert fanin.LecunNormal(seed=0)(torch.Size([2, 3]), torch.float64).shape == (2, 3)


@pytest.mark.parametrize("cls", RANDOM + [fanin.Identity, fanin.Orthogonal])
@pytest.mark.parametrize("dtype", ["int32", "uint8", "bool", "complex64"])
def test_random_initializers_reject_non_float(cls, dtype):
    if cls is fanin.RandomUniform:  # Keras 2.7: float or integer
        match = (f"Expected float or integer dtype, got {dtype}" if dtype in ("bool", "complex64")
                 else f"integer dtype {dtype} needs integer minval < maxval")
    else:
        match = f"Expected floating point type, got {dtype}"
    with pytest.raises(ValueError, match=match):
        cls()((3, 3), dtype)


@pytest.mark.parametrize("dtype", ["int8", "uint8", "int32", "int64", "uint64"])
def test_random_uniform_integers_like_keras_2_7(dtype, backend):
    init = fanin.RandomUniform(minval=-3 if dtype[0] == "i" else 2, maxval=7, seed=4)
    v = init((20000,), dtype)
    assert v.dtype == np.dtype(dtype)
    lo = -3 if dtype[0] == "i" else 2
    assert set(np.unique(v).tolist()) == set(range(lo, 7))  # every value, nothing else
    with pytest.raises(ValueError, match="does not fit"):
        fanin.RandomUniform(0, 300, seed=0)((2,), "int8")


def test_constant_initializers_accept_numeric_and_bool():
    assert fanin.Zeros()((2,), "int32").dtype == np.int32
    assert fanin.Ones()((2,), "bool").tolist() == [True, True]
    with pytest.raises(TypeError, match="Unknown dtype"):
        fanin.Zeros()((2,), "str")


@pytest.mark.parametrize("dtype", ["floaty", "float128x", object(), 3.5])
def test_unknown_dtype_raises_type_error(dtype):
    with pytest.raises(TypeError, match="Unknown dtype"):
        fanin.LecunNormal()((2,), dtype)


def test_floatx():
    assert fanin.floatx() == "float32"
    try:
        fanin.set_floatx("float64")
        assert fanin.LecunNormal()((2,)).dtype == np.float64
        with pytest.raises(ValueError, match="floatx"):
            fanin.set_floatx("int32")
    finally:
        fanin.set_floatx("float32")


# --------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("shape,exc,match", [
    ((-1, 3), ValueError, "negative"), ((2.0, 3), TypeError, "integers"),
    ("23", TypeError, "sequence"), (None, TypeError, "sequence"), (5, TypeError, "sequence"),
    ((None, 3), TypeError, "integers"), ((True, 2), TypeError, "integers")])
def test_bad_shapes(shape, exc, match):
    for init in (fanin.LecunNormal(), fanin.Zeros(), fanin.Orthogonal(), fanin.Identity()):
        with pytest.raises(exc, match=match):
            init(shape)


def test_absurd_sizes_refused_before_allocating():
    with pytest.raises(ValueError, match="2\\*\\*62"):
        fanin.LecunNormal()((2**40, 2**40))
    with pytest.raises(MemoryError, match="GiB"):
        fanin.LecunNormal()((2**20, 2**20, 2**10))
    with pytest.raises(MemoryError, match="GiB"):
        fanin.Zeros()((2**25, 2**25))
    with pytest.raises(MemoryError, match="GiB"):
        fanin.Orthogonal()((2**25, 2**25))


@pytest.mark.parametrize("scale", [0, -1.0, float("nan"), float("inf")])
def test_bad_scale(scale):
    with pytest.raises(ValueError, match="scale"):
        fanin.VarianceScaling(scale=scale)


@pytest.mark.parametrize("kwargs,match", [
    ({"mode": "fan_middle"}, "Invalid `mode` argument"),
    ({"mode": None}, "Invalid `mode` argument"),
    ({"distribution": "cauchy"}, "Invalid `distribution` argument"),
    ({"distribution": 3}, "Invalid `distribution` argument")])
def test_bad_mode_distribution(kwargs, match):
    with pytest.raises(ValueError, match=match):
        fanin.VarianceScaling(**kwargs)


def test_scale_must_be_a_number():
    with pytest.raises(TypeError, match="scale"):
        fanin.VarianceScaling(scale="2")


@pytest.mark.parametrize("cls,kwargs,exc", [
    (fanin.RandomNormal, {"stddev": -1.0}, ValueError),
    (fanin.RandomNormal, {"mean": float("nan")}, ValueError),
    (fanin.TruncatedNormal, {"stddev": "0.1"}, TypeError),
    (fanin.RandomUniform, {"minval": 1.0, "maxval": 0.0}, ValueError),
    (fanin.RandomUniform, {"maxval": float("inf")}, ValueError),
    (fanin.Constant, {"value": [1, 2]}, TypeError),
    (fanin.Constant, {"value": "a"}, TypeError),
    (fanin.Identity, {"gain": None}, TypeError),
    (fanin.Orthogonal, {"gain": float("nan")}, ValueError)])
def test_bad_parameters(cls, kwargs, exc):
    with pytest.raises(exc):
        cls(**kwargs)


def test_values_that_would_overflow_are_refused():
    with pytest.raises(ValueError, match="overflow float16"):
        fanin.RandomNormal(stddev=1e5)((3,), "float16")
    assert fanin.RandomNormal(stddev=1e5, seed=0)((3,), "float32").dtype == np.float32


@pytest.mark.parametrize("cls", ALL)
def test_unknown_kwargs_raise_type_error_listing_allowed(cls):
    with pytest.raises(TypeError, match="Unknown keyword arguments: \\['layout_x'\\].*partition_shape"):
        cls()((2, 2), layout_x=1)


@pytest.mark.parametrize("init,dtype", [
    (fanin.TruncatedNormal(mean=1.01, stddev=1e-4), "bfloat16"),
    (fanin.TruncatedNormal(mean=10000.1, stddev=1e-5), "float32"),
    (fanin.RandomUniform(1.01, 1.0101), "float16")])
def test_support_without_a_representable_value_is_refused(init, dtype):
    pytest.importorskip("ml_dtypes")
    with pytest.raises(ValueError, match=f"no {dtype} value lies inside"):
        init((4,), dtype)


def test_degenerate_supports_return_the_mean_as_keras_does():
    assert fanin.TruncatedNormal(mean=0.5, stddev=0.0)((3,)).tolist() == [0.5] * 3
    assert fanin.RandomUniform(2.0, 2.0)((2,), "float16").tolist() == [2.0, 2.0]


def test_errors_do_not_consume_call_indices():
    init = fanin.LecunNormal(seed=0)
    with pytest.raises(ValueError):
        init((2, 2), "int32")
    with pytest.raises(ValueError):
        init((2, 2), partition_shape=(3, 3), partition_offset=(0, 0))
    assert np.array_equal(init((2, 2)), fanin.LecunNormal(seed=0)((2, 2)))


def test_rank_rules_of_matrix_initializers():
    with pytest.raises(ValueError, match="at least two-dimensional"):
        fanin.Orthogonal()((3,))
    with pytest.raises(ValueError, match="2D matrices"):
        fanin.Identity()((3, 3, 3))
    assert fanin.Identity()((2, 3)).tolist() == [[1, 0, 0], [0, 1, 0]]


def test_orthogonal_shapes():
    for shape in [(30, 10), (10, 30), (3, 3, 4, 8), (5, 5)]:
        q = fanin.Orthogonal(gain=2.0, seed=0)(shape, "float64").reshape(-1, shape[-1])
        small = q.T @ q if q.shape[0] >= q.shape[1] else q @ q.T
        assert np.allclose(small, 4.0 * np.eye(small.shape[0]), atol=1e-12)
