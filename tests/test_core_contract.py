"""The core contract under fuzzing: partitions, validation, configs and global settings.

Each test names the class of bug it guards (the findings it came from are examples).
Hypothesis generates the cases; seeds are derandomized for reproducible CI runs.
"""

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fanin
from fanin import stream

ml_dtypes = pytest.importorskip("ml_dtypes")

SETTINGS = settings(max_examples=60, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])
FLOATS = ["float16", "bfloat16", "float32", "float64"]


@st.composite
def shapes_and_blocks(draw, max_rank=4, max_dim=9):
    shape = tuple(draw(st.lists(st.integers(0, max_dim), min_size=0, max_size=max_rank)))
    block = tuple(draw(st.integers(0, d)) for d in shape)
    offset = tuple(draw(st.integers(0, d - b)) for d, b in zip(shape, block))
    return shape, offset, block


# --------------------------------------------------------------------------- partitions

@SETTINGS
@given(sob=shapes_and_blocks(), fmt=st.sampled_from(FLOATS), seed=st.integers(-2**70, 2**70))
def test_a_partition_is_the_slice_of_the_full_tensor(sob, fmt, seed):
    shape, offset, block = sob
    full = fanin.HeUniform(seed=seed)(shape, fmt)
    part = fanin.HeUniform(seed=seed)(shape, fmt, partition_shape=block,
                                      partition_offset=offset)
    want = full[tuple(slice(o, o + b) for o, b in zip(offset, block))]
    assert part.shape == block
    assert part.tobytes() == np.ascontiguousarray(want).tobytes()


def test_overlapping_and_repeated_partitions_share_one_tensor():
    """Finding A: overlapping blocks closed the group early (sizes added up, union did not)."""
    i = fanin.RandomUniform(seed=1)
    k = dict(partition_shape=(2, 2))
    a = i((4, 2), partition_offset=(0, 0), **k)
    b = i((4, 2), partition_offset=(1, 0), **k)  # overlaps a: 3 of 4 rows covered
    assert np.array_equal(b, i((4, 2), partition_offset=(1, 0), **k))  # same offset, same block
    assert np.array_equal(a[1], b[0])  # overlapping rows are the same elements
    last = i((4, 2), partition_offset=(2, 0), **k)  # now rows 0-3 are covered: group closes
    full = fanin.RandomUniform(seed=1)((4, 2))
    assert np.array_equal(np.concatenate([a, last]), full)
    nxt = i((4, 2), partition_offset=(0, 0), **k)  # next tensor: call 1
    ref = fanin.RandomUniform(seed=1)
    ref((4, 2))
    assert np.array_equal(nxt, ref((4, 2))[:2])


@SETTINGS
@given(rows=st.integers(1, 6), cols=st.integers(1, 6), data=st.data())
def test_a_full_tiling_in_any_order_reassembles_the_unsharded_tensor_and_lines_up(rows, cols, data):
    shape = (rows * 2, cols * 3)
    tiles = [((r * 2, c * 3), (2, 3)) for r in range(rows) for c in range(cols)]
    order = data.draw(st.permutations(tiles))
    init, ref = fanin.LecunNormal(seed=5), fanin.LecunNormal(seed=5)
    out = np.empty(shape, np.float32)
    for off, part in order:
        out[off[0]:off[0] + 2, off[1]:off[1] + 3] = init(shape, partition_shape=part,
                                                          partition_offset=off)
    assert np.array_equal(out, ref(shape))
    assert np.array_equal(init((3,)), ref((3,)))  # the call after lines up


def test_same_shape_variables_sharded_need_a_draw_each():
    """Finding S3 (documented rule): one rank's shards of q and k from one instance via
    the partition keywords alias; with one draw per variable they do not."""
    init = fanin.LecunNormal(seed=0)
    q = init((4, 2), partition_shape=(2, 2), partition_offset=(2, 0))
    k = init((4, 2), partition_shape=(2, 2), partition_offset=(2, 0))
    assert np.array_equal(q, k)  # the Keras surface cannot tell two variables apart
    dq, dk = init.draw((4, 2)), init.draw((4, 2))
    assert not np.array_equal(dq.block((2, 0), (2, 2)), dk.block((2, 0), (2, 2)))


@pytest.mark.parametrize("shape,part,offset", [
    ((2**33, 2**32), (1, 4), (1, 0)),           # 2**65 elements: used to wrap mod 2**64
    ((2**70, 2), (1, 1), (5, 0)),
    ((2, 2**70), (1, 1), (1, 0)),               # used to raise OverflowError
    ((2**31, 2**31, 2), (1, 1, 1), (0, 0, 0)),  # 2**63 elements
])
def test_tensors_over_2_62_elements_are_refused_also_when_partitioned(shape, part, offset):
    """Finding F1."""
    with pytest.raises(ValueError, match="2\\*\\*62"):
        fanin.LecunNormal(seed=0)(shape, partition_shape=part, partition_offset=offset)
    with pytest.raises(ValueError, match="2\\*\\*62"):
        fanin.LecunNormal(seed=0).draw(shape)


def test_partitions_near_the_top_of_the_index_range_are_exact(backend):
    shape = (2**31, 2**31)  # 2**62 elements: the largest tensor
    d = fanin.LecunNormal(seed=3).draw(shape)
    off = (2**31 - 2, 2**31 - 5)
    got = d.block(off, (2, 5))
    # independent of Plan.runs: the two rows' flat starts, computed with Python ints
    starts = np.array([off[0] * 2**31 + off[1], (off[0] + 1) * 2**31 + off[1]], np.uint64)
    want = np.empty(10, np.float32)
    stream.fill_rows(want, d.key, d.call, d.distribution, "float32", starts, 5)
    assert np.array_equal(got.reshape(-1), want)


@pytest.mark.parametrize("shape", [(10**400,), (0, 10**400), (3, 10**30, 10**30)])
@pytest.mark.parametrize("cls", [fanin.GlorotUniform, fanin.LecunNormal, fanin.Zeros,
                                 fanin.RandomNormal, fanin.Orthogonal])
def test_giant_dims_get_the_size_error_before_any_arithmetic(shape, cls):
    """Finding F10: fans were computed (OverflowError) before the size check. An
    empty shape with a dimension no array can have is refused the same way."""
    init = cls(seed=0) if cls is not fanin.Zeros else cls()
    with pytest.raises(ValueError, match="2\\*\\*62"):
        init(shape)
    assert init((0, 2**40)).size == 0


# --------------------------------------------------------------------------- overflow

@pytest.mark.parametrize("make,dtype", [
    (lambda: fanin.RandomUniform(-2e38, 2e38, seed=0), "float32"),
    (lambda: fanin.RandomUniform(-3e38, 3e38, seed=0), "bfloat16"),
    (lambda: fanin.RandomUniform(-1e308, 1e308, seed=0), "float64"),
    (lambda: fanin.Constant(1e300), "float16"),
    (lambda: fanin.Constant(1e10), "int32"),
    (lambda: fanin.Constant(-1), "uint8"),
    (lambda: fanin.Constant(2.5), "int64"),
    (lambda: fanin.Identity(gain=1e5), "float16"),
    (lambda: fanin.Orthogonal(gain=1e300, seed=0), "float32"),
    (lambda: fanin.RandomNormal(0.0, 1e300, seed=0), "float32"),
])
def test_values_that_overflow_the_dtype_are_refused(make, dtype):
    """Findings F2 and F7: a constant tensor, infinities, NaN or wrapped integers."""
    with pytest.raises(ValueError, match="overflow|fit"):
        make()((2, 2), dtype)


def test_wide_uniform_ranges_that_fit_are_uniform():
    v = fanin.RandomUniform(-2e38, 2e38, seed=0)((4096,), "float64")
    assert v.min() < -1e38 and v.max() > 1e38 and np.isfinite(v).all()
    # mean within 5 standard errors of 0: std of the mean = (4e38 / sqrt 12) / sqrt(4096)
    assert abs(v.mean()) < 5 * 4e38 / math.sqrt(12) / 64


# --------------------------------------------------------------------------- dtypes and params

@pytest.mark.parametrize("dtype", [["float32"], "01", "0{", "f4,", "2147483648f4", "(2,)f4",
                                   "U3", "O", "M8", "V8", {"a": 1}, 3.5, object()])
@pytest.mark.parametrize("init", [fanin.LecunNormal(seed=0), fanin.Zeros(), fanin.Identity()],
                         ids=repr)
def test_every_unusable_dtype_is_a_type_error_naming_it(dtype, init):
    """Finding F13: unhashable, syntax and structured dtypes leaked other errors."""
    with pytest.raises(TypeError, match="Unknown dtype"):
        init((2, 2), dtype)


@pytest.mark.parametrize("value", [np.array(0.5), np.longdouble(0.5), np.float16(0.5),
                                   np.int64(1)])
def test_configs_are_plain_json_whatever_the_parameter_type(value):
    """Finding F5 (and peers C: framework scalar tensors)."""
    for init in (fanin.RandomNormal(mean=value, stddev=value, seed=0),
                 fanin.RandomUniform(minval=value, maxval=2 * value, seed=0),
                 fanin.VarianceScaling(scale=value), fanin.Constant(value),
                 fanin.Identity(gain=value), fanin.Orthogonal(gain=value)):
        config = init.get_config()
        assert json.loads(json.dumps(config)) == config
        assert all(type(v) in (int, float, str, type(None), list) for v in config.values())


def test_scalar_tensors_of_frameworks_are_parameters():
    torch = pytest.importorskip("torch")
    jnp = pytest.importorskip("jax.numpy")
    for scalar in (torch.tensor(0.25), jnp.array(0.25, jnp.float32)):
        init = fanin.RandomNormal(0.0, scalar, seed=0)
        assert init.get_config()["stddev"] == 0.25
    with pytest.raises(TypeError, match="scalar"):
        fanin.RandomNormal(0.0, torch.ones(2))
    with pytest.raises(TypeError, match="real"):
        fanin.RandomNormal(0.0, torch.tensor(True))


def test_config_typos_name_the_class_and_the_accepted_keys():
    """Finding N14: the private base class leaked into the message."""
    with pytest.raises(TypeError, match=r"LecunNormal config has unknown keys \['sed'\]"):
        fanin.get({"class_name": "LecunNormal", "config": {"sed": 3}})


def test_identifiers_that_are_not_initializers():
    """Findings F8 and F9."""
    with pytest.raises(ValueError, match="Unknown initializer: 'Initializer'"):
        fanin.get("Initializer")
    with pytest.raises(ValueError, match="Could not interpret"):
        fanin.get('{"a":' * 5000)
    with pytest.raises(ValueError, match="Did you mean 'lecun_normal'"):
        fanin.get("lecun_normall")
    with pytest.raises(ValueError, match="torch.nn.init name: the Keras equivalent is 'he_normal'"):
        fanin.get("kaiming_normal")  # a torch name


@SETTINGS
@given(config=st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                               max_size=3), max_leaves=10),
    name=st.sampled_from(["LecunNormal", "os.system", "RandomUniform", "Constant", "x"]),
    module=st.sampled_from(["keras.initializers", "os", "subprocess", "fanin", None]))
def test_deserializing_never_imports_and_raises_only_type_or_value_errors(config, name, module):
    before = set(sys.modules)
    cfg = {"class_name": name, "config": config, "module": module, "registered_name": name}
    original = json.dumps(cfg, sort_keys=True)
    try:
        fanin.deserialize(cfg)
    except (TypeError, ValueError):
        pass
    assert set(sys.modules) == before
    assert json.dumps(cfg, sort_keys=True) == original  # not mutated


# --------------------------------------------------------------------------- settings

def test_setters_are_context_managers_that_restore():
    with fanin.set_floatx("float64"):
        assert fanin.LecunNormal(seed=0)((2,)).dtype == np.float64
    assert fanin.floatx() == "float32"
    with fanin.set_random_seed(3):
        a = fanin.LecunNormal()((4,))
    with fanin.set_random_seed(3):
        b = fanin.LecunNormal()((4,))
    assert np.array_equal(a, b)
    with stream.set_backend("reference"):
        assert not stream.using_kernel() and stream.get_backend() == "reference"
    assert stream.kernel_available() == (stream.kernel.KERNEL is not None)
    n = fanin.get_num_threads()
    with fanin.set_num_threads(1):
        assert fanin.get_num_threads() == 1
    assert fanin.get_num_threads() == n


def test_unseeded_initializers_follow_pythons_random_like_keras():
    import random
    random.seed(12)
    a = fanin.LecunNormal()((5,))
    random.seed(12)
    b = fanin.LecunNormal()((5,))
    assert np.array_equal(a, b)
    assert not np.array_equal(fanin.LecunNormal()((5,)), fanin.LecunNormal()((5,)))


@pytest.mark.slow  # a child interpreter per value
@pytest.mark.parametrize("value", ["99999999999999999999", "-3", "lots", " 2 ", "0x10", ""])
def test_garbage_thread_counts_in_the_environment_never_break_import(value):
    """Finding F6."""
    env = {**os.environ, "FANIN_NUM_THREADS": value}
    r = subprocess.run([sys.executable, "-c", "import fanin; print(fanin.get_num_threads())"],
                       env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert 1 <= int(r.stdout) <= 1024


def test_every_backend_refuses_indices_past_2_62():
    """Finding R9: the torch-ops backend accepted rows the others refuse."""
    torch = pytest.importorskip("torch")
    from fanin.stream import torch as torch_stream
    d = stream.normal(0.0, 1.0)
    starts = np.array([2**62], np.uint64)
    with pytest.raises(ValueError, match="2\\*\\*62"):
        stream.fill_rows(np.empty(4, np.float32), 0, 0, d, "float32", starts, 4)
    with pytest.raises(ValueError, match="2\\*\\*62"):
        torch_stream.fill_stream(torch.empty(4), 0, 0, d, starts=starts, row_len=4)


def test_the_small_call_cache_never_bypasses_validation():
    """A repeated (1,) call is served from the per-instance cache; (True,) compares and
    hashes equal to (1,) but is not a shape, and must still be refused."""
    init = fanin.LecunNormal(seed=0)
    first, second = init((1,)), init((1,))  # the second one comes from the cache
    assert not np.array_equal(first, second)
    call_0 = fanin.LecunNormal(seed=0).draw((1,))
    call_1 = fanin.StreamDraw((1,), "float32", key=call_0.key, call=1,
                              distribution=call_0.distribution)
    assert np.array_equal(first, call_0.array()) and np.array_equal(second, call_1.array())
    with pytest.raises(TypeError, match="integers"):
        init((True,))
