"""fanin.torch: in-place initializers for torch tensors, and the torch-ops stream."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import fanin  # noqa: E402
import fanin.torch as ft  # noqa: E402
from fanin import _torch_stream as ts  # noqa: E402
from fanin import stream  # noqa: E402
from _fills import fill as sfill, fill_reference as sfill_reference  # noqa: E402

nn = torch.nn

TORCH_DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16,
                "float32": torch.float32, "float64": torch.float64}


def bits(x):
    """Raw bits of a torch tensor or NumPy array (bfloat16 included), as a NumPy array."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().contiguous()
        if x.dtype == torch.bfloat16:
            return x.view(torch.int16).numpy().view(np.uint16)
        x = x.numpy()
    x = np.ascontiguousarray(x)
    return x.view({2: np.uint16, 4: np.uint32, 8: np.uint64}[x.dtype.itemsize])


def same(a, b):
    a, b = bits(a), bits(b)
    return a.shape == b.shape and np.array_equal(a, b)


def reference(dist, fmt, shape, seed, call, starts=None, row_len=None):
    out = np.empty(shape, np.uint16 if fmt == "bfloat16" else fmt)
    sfill_reference(out, seed, call, dist, starts=starts, row_len=row_len, fmt=fmt)
    return out


# --------------------------------------------------------------------------- #
# The torch-ops stream against the NumPy reference
# --------------------------------------------------------------------------- #


def test_philox_known_answers():
    def run(counter, key):
        c = [torch.tensor([v], dtype=torch.int64) for v in counter]
        return [int(w) for w in ts.philox4x32(c, key)]

    assert run((0, 0, 0, 0), (0, 0)) == [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]
    m = 0xFFFFFFFF
    assert run((m, m, m, m), (m, m)) == [0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD]
    assert run((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0)) \
        == [0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1]


def test_philox_matches_numpy_on_random_counters():
    rng = np.random.default_rng(0)
    c = rng.integers(0, 2**32, (4, 5000), dtype=np.uint64)
    key = (int(rng.integers(0, 2**32)), int(rng.integers(0, 2**32)))
    want = stream.philox4x32(tuple(c), key)
    got = ts.philox4x32(tuple(torch.from_numpy(x.astype(np.int64)) for x in c), key)
    for w, g in zip(want, got):
        assert np.array_equal(w.astype(np.int64), g.numpy())


DISTS = {
    "uniform": stream.uniform(-0.3, 0.7),
    "uniform_empty": stream.uniform(0.25, 0.25),
    "normal": stream.normal(0.5, 2.0),
    "normal_tiny": stream.normal(0.0, 1e-30),   # float16 / bfloat16 subnormals and zeros
    "truncated_normal": stream.truncated_normal(0.0, 1.0),
    "truncated_normal_narrow": stream.truncated_normal(1.0, 1e-4),
    "lecun": fanin.LecunNormal(seed=0).draw((3, 3, 64, 128)).distribution,
}


@pytest.mark.parametrize("fmt", list(TORCH_DTYPES))
@pytest.mark.parametrize("dist", list(DISTS))
def test_stream_bitwise_equal_to_reference(fmt, dist):
    rng = np.random.default_rng(abs(hash((fmt, dist))) % 2**32)
    d = DISTS[dist]
    for _ in range(3):
        n = int(rng.integers(1, 5000))
        seed = int(rng.integers(0, 2**64, dtype=np.uint64))
        call = int(rng.integers(0, 2**64, dtype=np.uint64))
        want = reference(d, fmt, (n,), seed, call)
        got = torch.empty(n, dtype=TORCH_DTYPES[fmt])
        ts.fill_stream(got, seed, call, d, chunk=int(rng.integers(1, 2000)))
        assert same(got, want), (fmt, dist, n, seed, call)


@pytest.mark.parametrize("fmt", list(TORCH_DTYPES))
@pytest.mark.parametrize("kind", ["uniform", "normal", "truncated_normal"])
def test_stream_partitions_bitwise(fmt, kind):
    """Rows with arbitrary (unaligned) starts, short and long rows, small chunks."""
    rng = np.random.default_rng(1)
    d = {"uniform": stream.uniform(-1, 1), "normal": stream.normal(0, 1),
         "truncated_normal": stream.truncated_normal(0, 1)}[kind]
    for rows, row_len, chunk in [(7, 3, 5), (3, 1000, 64), (50, 13, 100), (1, 9, 4)]:
        starts = rng.integers(0, 2**40, rows, dtype=np.uint64)
        want = reference(d, fmt, (rows, row_len), 5, 9, starts, row_len)
        got = torch.empty(rows, row_len, dtype=TORCH_DTYPES[fmt])
        ts.fill_stream(got, 5, 9, d, starts=starts, row_len=row_len, chunk=chunk)
        assert same(got, want), (rows, row_len, chunk)


def test_stream_huge_indices_and_block_carry():
    """Element indices near 2**62 and a block counter crossing 2**32 (c1 carry)."""
    d = stream.normal(0, 1)
    for fmt in ("float32", "float64"):
        per = 2 if fmt == "float64" else 1
        starts = np.array([2**62 - 40, (2**34 - 5) // per, 2**32 * 4 - 3], np.uint64)
        want = reference(d, fmt, (3, 16), 1, 2, starts, 16)
        got = torch.empty(3, 16, dtype=TORCH_DTYPES[fmt])
        ts.fill_stream(got, 1, 2, d, starts=starts, row_len=16)
        assert same(got, want)


@pytest.mark.parametrize("ftype", [np.float32, np.float64])
def test_sqrt_correctly_rounded(ftype):
    rng = np.random.default_rng(2)
    a = np.exp(rng.uniform(-40, 40, 200_000)).astype(ftype)
    k = ts._Consts(torch.float32 if ftype is np.float32 else torch.float64, "cpu")
    assert same(ts._sqrt(torch.from_numpy(a), k), np.sqrt(a))


@pytest.mark.parametrize("ftype", [np.float32, np.float64])
def test_erfinv_all_branches(ftype):
    """Every Giles branch, including the float64 far tail (|x| very close to 1)."""
    rng = np.random.default_rng(3)
    nb = 24 if ftype is np.float32 else 53
    j = np.concatenate([rng.integers(0, 2**nb, 100_000, dtype=np.int64),
                        np.arange(2000), 2**nb - 1 - np.arange(2000)])
    v = (2 * j + (1 - (1 << nb))).astype(ftype) * ftype(2.0 ** -nb)
    k = ts._Consts(torch.float32 if ftype is np.float32 else torch.float64, "cpu")
    assert same(ts._erfinv(torch.from_numpy(v), k, True), stream._erfinv(v, ftype))


def test_fill_with_torch_ops_matches_draw_fill(backend):
    rng = np.random.default_rng(4)
    inits = [fanin.LecunNormal(seed=3), fanin.HeUniform(seed=4), fanin.RandomNormal(0, 1, 5),
             fanin.TruncatedNormal(0.0, 2.0, seed=6)]
    for init in inits:
        for fmt in TORCH_DTYPES:
            shape = (6, 10, 7)
            # whole tensor
            d = init.draw(shape, fmt)
            want = d.fill(np.empty(shape, np.uint16 if fmt == "bfloat16" else fmt))
            got = ft.fill_with_torch_ops(torch.empty(shape, dtype=TORCH_DTYPES[fmt]), d)
            assert same(got, want)
            # a partition
            part = (int(rng.integers(1, 7)), int(rng.integers(1, 11)), 3)
            off = tuple(int(rng.integers(0, s - p + 1)) for s, p in zip(shape, part))
            want = d.block(off, part)
            got = ts.fill_plan(torch.empty(part, dtype=TORCH_DTYPES[fmt]), d.plan(off, part))
            assert same(got, want)


def test_fill_with_torch_ops_bad_input():
    d = fanin.LecunNormal(seed=0).draw((2, 3))
    with pytest.raises(ValueError, match="shape"):
        ft.fill_with_torch_ops(torch.empty(3, 2), d)
    with pytest.raises(ValueError, match="dtype"):
        ft.fill_with_torch_ops(torch.empty(2, 3, dtype=torch.float64), d)
    with pytest.raises(TypeError):
        ft.fill_with_torch_ops(torch.empty(2, 3), "not a draw")
    with pytest.raises(ValueError, match="contiguous"):
        ts.fill_stream(torch.empty(3, 2).t(), 0, 0, d.distribution)


# --------------------------------------------------------------------------- #
# Layout: torch weights equal the Keras-layout arrays, permuted
# --------------------------------------------------------------------------- #

FUNCS = {  # name -> (function, kwargs, fanin initializer factory)
    "lecun_normal_": (ft.lecun_normal_, {}, lambda s: fanin.LecunNormal(seed=s)),
    "lecun_uniform_": (ft.lecun_uniform_, {}, lambda s: fanin.LecunUniform(seed=s)),
    "glorot_normal_": (ft.glorot_normal_, {}, lambda s: fanin.GlorotNormal(seed=s)),
    "glorot_uniform_": (ft.glorot_uniform_, {}, lambda s: fanin.GlorotUniform(seed=s)),
    "he_normal_": (ft.he_normal_, {}, lambda s: fanin.HeNormal(seed=s)),
    "he_uniform_": (ft.he_uniform_, {}, lambda s: fanin.HeUniform(seed=s)),
    "variance_scaling_": (ft.variance_scaling_,
                          {"scale": 0.3, "mode": "fan_avg", "distribution": "untruncated_normal"},
                          lambda s: fanin.VarianceScaling(0.3, "fan_avg", "untruncated_normal", s)),
    "truncated_normal_": (ft.truncated_normal_, {"mean": 0.1, "std": 0.2},
                          lambda s: fanin.TruncatedNormal(0.1, 0.2, s)),
    "random_normal_": (ft.random_normal_, {"mean": -1.0, "std": 3.0},
                       lambda s: fanin.RandomNormal(-1.0, 3.0, s)),
    "random_uniform_": (ft.random_uniform_, {"minval": -2.0, "maxval": 0.5},
                        lambda s: fanin.RandomUniform(-2.0, 0.5, s)),
    "orthogonal_": (ft.orthogonal_, {"gain": 1.5}, lambda s: fanin.Orthogonal(1.5, s)),
}


def keras_twin(init, torch_shape, dtype="float32"):
    kshape, axes = ft.keras_shape(torch_shape)
    values = init(kshape, dtype)
    if dtype == "bfloat16":
        values = values.view(np.uint16)
    return values if axes is None else np.ascontiguousarray(values.transpose(axes))


LAYERS = {
    "linear": lambda: nn.Linear(7, 5),
    "conv1d": lambda: nn.Conv1d(3, 4, 5),
    "conv2d": lambda: nn.Conv2d(3, 8, (3, 2)),
    "conv3d": lambda: nn.Conv3d(2, 4, (2, 3, 2)),
    "conv2d_grouped": lambda: nn.Conv2d(6, 9, 3, groups=3),
    "conv_transpose2d": lambda: nn.ConvTranspose2d(4, 6, 3),
    "conv_transpose1d_grouped": lambda: nn.ConvTranspose1d(4, 6, 3, groups=2),
}


@pytest.mark.parametrize("layer", list(LAYERS))
@pytest.mark.parametrize("name", list(FUNCS))
def test_layer_weights_equal_keras_layout_permuted(layer, name, backend):
    fn, kwargs, make = FUNCS[name]
    w = LAYERS[layer]().weight
    fn(w, seed=11, **kwargs)
    assert same(w, keras_twin(make(11), tuple(w.shape)))


def test_permutation_axes_explicit():
    """W[o, i, a, b] == K[a, b, i, o] for a Conv2d weight."""
    w = torch.empty(4, 3, 2, 5)
    ft.he_normal_(w, seed=1)
    k = fanin.HeNormal(seed=1)((2, 5, 3, 4))
    for o, i, a, b in [(0, 0, 0, 0), (3, 2, 1, 4), (1, 2, 0, 3)]:
        assert w[o, i, a, b].item() == k[a, b, i, o]
    # the fans are torch's: fan_in = in * prod(kernel)
    assert fanin.HeNormal().fans((2, 5, 3, 4)) == (30, 40)


@pytest.mark.parametrize("shape", [(37, 23), (16, 8, 3, 3), (7, 5, 2, 3, 4)])
def test_permuted_writes_in_bounded_blocks(shape, monkeypatch, backend):
    """Permuted tensors are written block by block (partitions of the Keras tensor),
    with a temporary of at most _TEMP_BYTES; values are the same as in one piece."""
    monkeypatch.setattr(ft, "_TEMP_BYTES", 64 * 4)  # a few rows per block
    sizes = []
    real_empty = torch.empty

    def spy_empty(*args, **kwargs):
        out = real_empty(*args, **kwargs)
        sizes.append(out.numel())
        return out
    monkeypatch.setattr(torch, "empty", spy_empty)
    w = real_empty(shape)
    ft.lecun_normal_(w, seed=5)
    monkeypatch.setattr(torch, "empty", real_empty)
    assert same(w, keras_twin(fanin.LecunNormal(seed=5), shape))
    per_row = w.numel() // shape[0]
    assert sizes and max(sizes) <= max(64, per_row) < w.numel()
    view = real_empty(shape[0] * 2, *shape[1:])[::2]  # non-contiguous, keras layout
    ft.lecun_normal_(view, seed=5, layout="keras")
    assert same(view, fanin.LecunNormal(seed=5)(shape))


def test_keras_layout_keyword_means_no_permutation():
    w = torch.empty(3, 3, 4, 8)
    ft.lecun_normal_(w, seed=2, layout="keras")
    assert same(w, fanin.LecunNormal(seed=2)((3, 3, 4, 8)))
    with pytest.raises(ValueError, match="layout"):
        ft.lecun_normal_(w, seed=2, layout="nchw")


@pytest.mark.parametrize("shape", [(), (1,), (17,), (0,), (0, 5), (5, 0, 3)])
def test_small_and_empty_tensors(shape):
    w = torch.empty(shape)
    ft.lecun_normal_(w, seed=3)
    assert same(w, keras_twin(fanin.LecunNormal(seed=3), shape))


@pytest.mark.parametrize("fmt", list(TORCH_DTYPES))
def test_dtypes_cpu_in_place(fmt, backend):
    w = torch.empty(16, 12, 3, dtype=TORCH_DTYPES[fmt])
    ptr = w.data_ptr()
    ft.glorot_uniform_(w, seed=4)
    assert w.data_ptr() == ptr and w.dtype == TORCH_DTYPES[fmt]
    assert same(w, keras_twin(fanin.GlorotUniform(seed=4), (16, 12, 3), fmt))
    b = torch.empty(33, dtype=TORCH_DTYPES[fmt])  # rank 1: no permutation
    ft.random_normal_(b, seed=4)
    assert same(b, fanin.RandomNormal(seed=4)((33,), fmt))


def test_cpu_path_shares_memory_without_permutation(monkeypatch):
    """Rank-1 and keras-layout contiguous tensors are filled in place, no temporary."""
    made = []
    real_empty = torch.empty
    monkeypatch.setattr(torch, "empty", lambda *a, **k: made.append(a) or real_empty(*a, **k))
    ft.lecun_normal_(real_empty(100), seed=0)
    ft.lecun_normal_(real_empty(10, 10), seed=0, layout="keras")
    ft.lecun_normal_(real_empty(10, 10, dtype=torch.bfloat16), seed=0, layout="keras")
    assert made == []
    ft.lecun_normal_(real_empty(10, 10), seed=0)  # permuted: one temporary
    assert len(made) == 1


@pytest.mark.parametrize("fmt", list(TORCH_DTYPES))
def test_cpu_path_equals_torch_ops_path(fmt):
    for name, (fn, kwargs, make) in FUNCS.items():
        if name == "orthogonal_":
            continue
        w = torch.empty(6, 5, 3, dtype=TORCH_DTYPES[fmt])
        fn(w, seed=8, **kwargs)
        d = make(8).draw((3, 5, 6), fmt)
        t = ft.fill_with_torch_ops(torch.empty(3, 5, 6, dtype=TORCH_DTYPES[fmt]), d)
        assert same(w, t.permute(2, 1, 0)), name


def test_non_contiguous_views():
    base = torch.zeros(10, 12)
    view = base[2:7, ::2]  # (5, 6), non-contiguous
    ft.lecun_uniform_(view, seed=5)
    assert same(view, keras_twin(fanin.LecunUniform(seed=5), (5, 6)))
    assert (base[:2] == 0).all() and (base[2:7, 1::2] == 0).all() and (base[7:] == 0).all()
    t = torch.empty(8, 4).t()  # transposed view, shape (4, 8)
    ft.he_normal_(t, seed=6)
    assert same(t, keras_twin(fanin.HeNormal(seed=6), (4, 8)))
    b = torch.zeros(20)[::2]  # strided rank 1
    ft.random_uniform_(b, seed=7)
    assert same(b, fanin.RandomUniform(seed=7)((10,)))


def test_parameters_stay_leaf_and_grad_free():
    lin = nn.Linear(6, 4)
    w, b = lin.weight, lin.bias
    v = w._version
    out = ft.lecun_normal_(w, seed=0)
    ft.random_normal_(b, seed=0)
    assert out is w
    for p in (w, b):
        assert p.is_leaf and p.requires_grad and p.grad is None and p.grad_fn is None
    assert w._version > v  # autograd sees the in-place write
    with torch.no_grad():  # also fine inside the user's no_grad
        ft.glorot_uniform_(lin.weight, seed=1)
    lin(torch.ones(2, 6)).sum().backward()
    assert lin.weight.grad is not None


def test_meta_tensors_are_left_alone():
    w = torch.empty(4, 3, device="meta")
    assert ft.lecun_normal_(w, seed=0) is w and w.is_meta
    assert ft.zeros_(w) is w and ft.orthogonal_(w) is w
    init = fanin.LecunNormal(seed=0)
    ft.init_(w, init)  # takes no call index
    assert init.draw((2,)).call == 0
    with pytest.raises(ValueError, match="int64"):
        ft.lecun_normal_(torch.empty(3, dtype=torch.int64, device="meta"))
    with torch.device("meta"):
        m = nn.Linear(3, 2)
    ft.init_module_(m)
    assert m.weight.is_meta


def test_seed_none_follows_fanin_seed_semantics():
    fanin.set_random_seed(123)
    a = [ft.lecun_normal_(torch.empty(4, 4)).clone() for _ in range(2)]
    fanin.set_random_seed(123)
    b = [ft.lecun_normal_(torch.empty(4, 4)).clone() for _ in range(2)]
    assert same(a[0], b[0]) and same(a[1], b[1]) and not same(a[0], a[1])
    fanin.set_random_seed(123)
    ref = fanin.LecunNormal()  # the first unseeded initializer after the reset
    assert same(a[0], ref((4, 4)).T)


def test_seeded_functions_are_pure():
    a = ft.he_uniform_(torch.empty(5, 5), seed=9).clone()
    b = ft.he_uniform_(torch.empty(5, 5), seed=9)
    assert same(a, b)


def test_init_with_instances_and_identifiers():
    init = fanin.GlorotNormal(seed=3)
    w1, w2 = torch.empty(4, 6), torch.empty(4, 6)
    ft.init_(w1, init)
    ft.init_(w2, init)
    ref = fanin.GlorotNormal(seed=3)
    assert same(w1, ref((6, 4)).T) and same(w2, ref((6, 4)).T)
    ft.init_(w1, {"class_name": "RandomUniform", "config": {"minval": 0, "maxval": 1, "seed": 1}})
    assert same(w1, fanin.RandomUniform(0, 1, seed=1)((6, 4)).T)
    assert (ft.init_(torch.empty(3), "ones") == 1).all()
    assert (ft.init_(torch.empty(2, 2), "identity") == torch.eye(2)).all()
    custom = lambda shape, dtype=None: np.full(shape, 7.0, dtype)  # noqa: E731
    assert (ft.init_(torch.empty(2, 3), custom) == 7).all()
    with pytest.raises(ValueError):
        ft.init_(torch.empty(2), None)
    with pytest.raises(ValueError):
        ft.init_(torch.empty(2), "no_such_initializer")


def test_constant_identity_zeros_ones():
    assert ft.zeros_(torch.ones(2, 3, dtype=torch.int32)).tolist() == [[0] * 3] * 2
    assert ft.ones_(torch.zeros(3, dtype=torch.bfloat16)).tolist() == [1.0] * 3
    c = ft.constant_(torch.empty(4, dtype=torch.bfloat16), 0.1)
    assert same(c, fanin.Constant(0.1)((4,), "bfloat16"))
    c = ft.constant_(torch.empty(2, 2, dtype=torch.float16), 1 / 3)
    assert same(c, fanin.Constant(1 / 3)((2, 2), "float16"))
    i = ft.identity_(torch.empty(3, 5), gain=2.0)
    assert same(i, 2 * np.eye(3, 5, dtype=np.float32))
    with pytest.raises(ValueError):
        ft.identity_(torch.empty(2, 2, 2))


def test_orthogonal_rows_orthonormal_in_torch_layout():
    w = ft.orthogonal_(torch.empty(8, 3, 2, 2, dtype=torch.float64), seed=1)
    flat = w.reshape(8, -1)
    assert torch.allclose(flat @ flat.T, torch.eye(8, dtype=torch.float64), atol=1e-12)
    w = ft.orthogonal_(torch.empty(20, 4, dtype=torch.float64), gain=2.0, seed=1)
    assert torch.allclose(w.T @ w, 4 * torch.eye(4, dtype=torch.float64), atol=1e-12)


def test_bad_input():
    with pytest.raises(TypeError, match="torch.Tensor"):
        ft.lecun_normal_(np.zeros((2, 2)))
    with pytest.raises(TypeError, match="torch.Tensor"):
        ft.zeros_([1.0, 2.0])
    for dt in (torch.int32, torch.int64, torch.uint8, torch.bool, torch.complex64):
        with pytest.raises(ValueError, match=str(dt).replace("torch.", "")):
            ft.lecun_normal_(torch.zeros(2, 2, dtype=dt))
    with pytest.raises(ValueError, match="int16"):
        ft.orthogonal_(torch.zeros(2, 2, dtype=torch.int16))
    with pytest.raises(TypeError):
        ft.lecun_normal_(torch.empty(2, 2), sed=1)
    with pytest.raises(TypeError):
        ft.truncated_normal_(torch.empty(2), a=-2, b=2)
    with pytest.raises(TypeError):
        ft.lecun_normal_(torch.empty(2), seed="1")
    with pytest.raises(ValueError):
        ft.variance_scaling_(torch.empty(2), mode="fan_sideways")
    with pytest.raises(ValueError):
        ft.random_uniform_(torch.empty(2), 1.0, 0.0)
    with pytest.raises(ValueError, match="strided"):
        ft.lecun_normal_(torch.eye(3).to_sparse())
    with pytest.raises(TypeError):
        ft.init_module_(torch.empty(3))


def test_device_code_path_on_cpu(monkeypatch):
    """The accelerator path (torch ops, temporaries, copy_) run on CPU tensors."""
    monkeypatch.setattr(ft, "_CPU_PATH", "torch")
    for fmt, dt in TORCH_DTYPES.items():
        for layer in LAYERS.values():
            w = layer().weight.to(dt)
            w = nn.Parameter(w)
            ft.he_uniform_(w, seed=2)
            assert w.is_leaf and w.grad is None and w.requires_grad
            assert same(w, keras_twin(fanin.HeUniform(seed=2), tuple(w.shape), fmt))
        view = torch.zeros(10, 12, dtype=dt)[2:7, ::2]
        ft.random_normal_(view, seed=3)
        assert same(view, keras_twin(fanin.RandomNormal(seed=3), (5, 6), fmt))
    a = state(ft.init_module_(Net(), seed=1))
    monkeypatch.setattr(ft, "_CPU_PATH", "numpy")
    b = state(ft.init_module_(Net(), seed=1))
    for k in a:
        assert same(a[k], b[k]), k


# --------------------------------------------------------------------------- #
# Whole modules
# --------------------------------------------------------------------------- #


class Net(nn.Module):
    def __init__(self, reverse=False):
        super().__init__()
        makers = [("conv", lambda: nn.Conv2d(3, 8, 3)), ("bn", lambda: nn.BatchNorm2d(8)),
                  ("up", lambda: nn.ConvTranspose2d(8, 4, 2, groups=2)),
                  ("fc", lambda: nn.Linear(16, 5)), ("emb", lambda: nn.Embedding(10, 16)),
                  ("ln", lambda: nn.LayerNorm(5)), ("act", lambda: nn.PReLU())]
        for name, make in (reversed(makers) if reverse else makers):
            setattr(self, name, make())


def state(m):
    return {k: v.detach().clone() for k, v in m.state_dict().items()}


def test_init_module_independent_of_construction_order():
    a, b = ft.init_module_(Net(), seed=7), ft.init_module_(Net(reverse=True), seed=7)
    assert list(dict(a.named_parameters())) != list(dict(b.named_parameters()))
    sa, sb = state(a), state(b)
    assert sa.keys() == sb.keys()
    for k in sa:
        assert same(sa[k], sb[k]), k
    c = ft.init_module_(Net(), seed=8)
    assert not same(sa["conv.weight"], state(c)["conv.weight"])


def test_init_module_values():
    torch.manual_seed(0)
    net = Net()
    with torch.no_grad():
        net.bn.weight.fill_(3.0)
        net.bn.running_mean.fill_(5.0)
        net.act.weight.fill_(0.7)
    ft.init_module_(net, seed=7)
    ps = ft.parameter_seed
    assert same(net.conv.weight, keras_twin(fanin.LecunNormal(seed=ps(7, "conv.weight")), (8, 3, 3, 3)))
    assert same(net.up.weight, keras_twin(fanin.LecunNormal(seed=ps(7, "up.weight")), (8, 2, 2, 2)))
    assert same(net.fc.weight, fanin.LecunNormal(seed=ps(7, "fc.weight"))((16, 5)).T)
    assert same(net.emb.weight, fanin.LecunNormal(seed=ps(7, "emb.weight"))((10, 16)))  # no permute
    for bias in (net.conv.bias, net.up.bias, net.fc.bias, net.bn.bias, net.ln.bias):
        assert (bias == 0).all()
    assert (net.bn.weight == 1).all() and (net.ln.weight == 1).all()
    assert (net.bn.running_mean == 5).all()  # buffers untouched
    assert (net.act.weight == 0.7).all()  # other parameters untouched
    for p in net.parameters():
        assert p.is_leaf and p.requires_grad and p.grad is None


def test_init_module_options():
    net = nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2))
    ft.init_module_(net, kernel=fanin.VarianceScaling(2.0, "fan_out", "uniform", seed=99),
                    bias=fanin.RandomNormal(0.0, 1.0), seed=1)
    k = fanin.VarianceScaling(2.0, "fan_out", "uniform", seed=ft.parameter_seed(1, "1.weight"))
    assert same(net[1].weight, k((3, 2)).T)
    assert same(net[0].bias, fanin.RandomNormal(0.0, 1.0, seed=ft.parameter_seed(1, "0.bias"))((3,)))
    before = net[0].bias.detach().clone()
    ft.init_module_(net, bias=None, seed=2)
    assert same(net[0].bias, before)
    fanin.set_random_seed(5)
    a = state(ft.init_module_(nn.Linear(3, 3), seed=None))
    fanin.set_random_seed(5)
    b = state(ft.init_module_(nn.Linear(3, 3), seed=None))
    assert same(a["weight"], b["weight"])


def test_init_module_tied_and_rnn_and_attention():
    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc = nn.Embedding(6, 4)
            self.dec = nn.Linear(4, 6, bias=False)
            self.dec.weight = self.enc.weight

    m = ft.init_module_(Tied(), seed=3)
    assert m.dec.weight is m.enc.weight
    assert same(m.enc.weight, fanin.LecunNormal(seed=ft.parameter_seed(3, "dec.weight"))((4, 6)).T)
    rnn = ft.init_module_(nn.LSTM(5, 7), seed=0)
    assert same(rnn.weight_ih_l0,
                fanin.LecunNormal(seed=ft.parameter_seed(0, "weight_ih_l0"))((5, 28)).T)
    assert (rnn.bias_hh_l0 == 0).all()
    mha = ft.init_module_(nn.MultiheadAttention(8, 2), seed=0)
    assert (mha.in_proj_bias == 0).all() and (mha.out_proj.bias == 0).all()


def test_parameter_seed_is_stable():
    # golden values: changing the derivation would silently change every model
    assert ft.parameter_seed(0, "fc.weight") == ft.parameter_seed(2**64, "fc.weight")
    assert ft.parameter_seed(-1, "a") == ft.parameter_seed(2**64 - 1, "a")
    import hashlib
    want = int.from_bytes(hashlib.blake2b(b"conv1.weight", digest_size=8,
                                          key=(42).to_bytes(8, "little")).digest(), "little")
    assert ft.parameter_seed(42, "conv1.weight") == want
    with pytest.raises(TypeError):
        ft.parameter_seed(None, "a")


# --------------------------------------------------------------------------- #
# A real Keras twin (subprocess: Keras fixes its backend per process)
# --------------------------------------------------------------------------- #

KERAS_CHILD = textwrap.dedent("""
    import json, sys
    import numpy as np
    import keras, fanin
    seeds = json.loads(sys.argv[1])
    dense = keras.layers.Dense(5, kernel_initializer=fanin.LecunNormal(seed=seeds["fc"]))
    dense.build((None, 7))
    conv = keras.layers.Conv2D(8, (3, 2), kernel_initializer=fanin.HeUniform(seed=seeds["conv"]))
    conv.build((None, 6, 6, 3))
    np.save(sys.argv[2], np.asarray(keras.ops.convert_to_numpy(dense.kernel)))
    np.save(sys.argv[3], np.asarray(keras.ops.convert_to_numpy(conv.kernel)))
""")


@pytest.mark.skipif(importlib.util.find_spec("keras") is None, reason="keras not installed")
def test_real_keras_twin(tmp_path):
    backend = next((b for b in ("jax", "numpy") if b == "numpy" or importlib.util.find_spec(b)),
                   "numpy")
    seeds = {"fc": ft.parameter_seed(0, "fc.weight"), "conv": 77}
    env = dict(os.environ, KERAS_BACKEND=backend, FANIN_NO_KERNEL_WARNING="1")
    dense_f, conv_f = tmp_path / "dense.npy", tmp_path / "conv.npy"
    proc = subprocess.run([sys.executable, "-c", KERAS_CHILD, json.dumps(seeds), str(dense_f),
                           str(conv_f)], env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    net = nn.Sequential()
    net.add_module("fc", nn.Linear(7, 5))
    ft.init_module_(net, seed=0)
    assert same(net.fc.weight, np.load(dense_f).T)
    conv = nn.Conv2d(3, 8, (3, 2))
    ft.he_uniform_(conv.weight, seed=77)
    assert same(conv.weight, np.load(conv_f).transpose(3, 2, 0, 1))


# --------------------------------------------------------------------------- #
# CUDA
# --------------------------------------------------------------------------- #


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA not available")
@pytest.mark.parametrize("fmt", list(TORCH_DTYPES))
def test_cuda_bitwise_equal_to_cpu(fmt):
    dt = TORCH_DTYPES[fmt]
    for name, (fn, kwargs, _) in FUNCS.items():
        for shape in [(64, 32, 3, 3), (1000,), (300, 257)]:
            if name == "orthogonal_" and len(shape) < 2:
                continue
            g = fn(torch.empty(shape, dtype=dt, device="cuda"), seed=5, **kwargs)
            c = fn(torch.empty(shape, dtype=dt), seed=5, **kwargs)
            if name == "orthogonal_":
                assert torch.allclose(g.cpu().double(), c.double(), atol=1e-2)
            else:
                assert same(g, c), (name, shape)
    for kind, d in DISTS.items():
        want = reference(d, fmt, (3000,), 99, 7)
        got = ts.fill_stream(torch.empty(3000, dtype=dt, device="cuda"), 99, 7, d)
        assert same(got, want), kind
    m = ft.init_module_(Net().cuda(), seed=4)
    c = ft.init_module_(Net(), seed=4)
    for k, v in state(c).items():
        assert same(state(m)[k], v), k
