"""fanin.torch: in-place initializers for torch tensors, and the torch-ops stream."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import math
import os
import re
import subprocess
import sys
import textwrap
import tracemalloc
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")

import fanin  # noqa: E402
import fanin.torch as ft  # noqa: E402
from fanin.stream import torch as ts  # noqa: E402
from fanin import stream  # noqa: E402
from _fills import fill_reference as sfill_reference  # noqa: E402

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
    # orthogonal_ is torch-named too: layout= selects the Keras semantics
    "orthogonal_": (ft.orthogonal_, {"gain": 1.5, "layout": "torch"},
                    lambda s: fanin.Orthogonal(1.5, s)),
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


@pytest.mark.parametrize("shape", [(370, 230), (256, 32, 3, 3), (70, 50, 2, 3, 4)])
def test_permuted_writes_in_bounded_blocks(shape, monkeypatch, backend):
    """Permuted tensors are written tile by tile (tiles of the Keras tensor, in its C
    order), through one temporary of at most TRANSPOSE_BYTES; values as in one piece."""
    monkeypatch.setattr(ft.write, "TRANSPOSE_BYTES", 4096)  # a few rows per tile
    w = torch.empty(shape)
    ft.lecun_normal_(w, seed=4)  # first-call costs (caches) are not temporaries
    tracemalloc.start()
    ft.lecun_normal_(w, seed=5)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert same(w, keras_twin(fanin.LecunNormal(seed=5), shape))
    # one 4 KiB tile and its working memory (the reference: ~100 bytes per element)
    # plus the call's small objects, not the tensor (> 280 KiB)
    assert peak < 128 * 1024 < w.numel() * 4 // 2, peak
    view = torch.empty(shape[0] * 2, *shape[1:])[::2]  # non-contiguous, keras layout
    ft.lecun_normal_(view, seed=5, layout="keras")
    assert same(view, fanin.LecunNormal(seed=5)(shape))


def test_torch_layout_is_a_block_transpose_of_long_rows():
    """A wide torch-layout weight is computed as whole rows of its Keras twin: one
    temporary tile (not the tensor), and the stream's rows are long."""
    w = torch.empty(2, 3 * 2**20)
    ft.lecun_normal_(w, seed=0)  # first-call costs (caches) are not temporaries
    tracemalloc.start()
    ft.lecun_normal_(w, seed=1)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < ft.write.TRANSPOSE_BYTES + (1 << 20) < w.numel() * 4, peak
    k = fanin.LecunNormal(seed=1).draw((3 * 2**20, 2))
    assert same(w[:, -1000:], k.block((3 * 2**20 - 1000, 0), (1000, 2)).T)
    assert same(w[:, :1000], k.block((0, 0), (1000, 2)).T)


@pytest.mark.parametrize("fmt", list(TORCH_DTYPES))
@pytest.mark.parametrize("shape", [(300, 200), (128, 64, 3, 3), (3, 70, 2, 2), (70, 3, 5)])
def test_both_transpose_orders_equal_the_keras_twin(shape, fmt, backend):
    """Long Keras rows take torch-ordered tiles (torch's transposing copy), short ones
    Keras-ordered tiles (a transposed NumPy view): the same values either way."""
    for limit in (4 << 20, 64 * 64 * 16):  # one tile, and many tiles
        w = torch.empty(shape, dtype=TORCH_DTYPES[fmt])
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(ft.write, "TRANSPOSE_BYTES", limit)
            ft.glorot_normal_(w, seed=9)
        assert same(w, keras_twin(fanin.GlorotNormal(seed=9), shape, fmt)), limit


def test_keras_layout_keyword_means_no_permutation():
    w = torch.empty(3, 3, 4, 8)
    ft.lecun_normal_(w, seed=2, layout="keras")
    assert same(w, fanin.LecunNormal(seed=2)((3, 3, 4, 8)))
    with pytest.raises(ValueError, match="layout"):
        ft.lecun_normal_(w, seed=2, layout="nchw")


@pytest.mark.parametrize("shape", [(), (1,), (17,), (0,), (0, 5), (5, 0, 3)])
def test_small_and_empty_tensors(shape):
    w = torch.empty(shape)
    if w.numel() == 0:
        with pytest.warns(UserWarning, match="zero-element"):
            ft.lecun_normal_(w, seed=3)
    else:
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
    """CPU tensors are filled in place: no torch temporary, permuted or not."""
    made = []
    real_empty = torch.empty
    monkeypatch.setattr(torch, "empty", lambda *a, **k: made.append(a) or real_empty(*a, **k))
    ft.lecun_normal_(real_empty(100), seed=0)
    ft.lecun_normal_(real_empty(10, 10), seed=0, layout="keras")
    ft.lecun_normal_(real_empty(10, 10, dtype=torch.bfloat16), seed=0, layout="keras")
    ft.lecun_normal_(real_empty(10, 10), seed=0)  # permuted: a NumPy tile, no torch copy
    assert made == []


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


def test_device_code_path_on_cpu():
    """The accelerator route (host chunks copied in with copy_) run on CPU tensors."""
    with ft.write.staged_on_cpu():
        a = state(ft.init_module_(Net(), seed=1))
        _device_path_layers()
    b = state(ft.init_module_(Net(), seed=1))
    for k in a:
        assert same(a[k], b[k]), k


def _device_path_layers():
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
    """Keras rules: glorot uniform kernels (permuted), uniform(-0.05, 0.05) embeddings."""
    torch.manual_seed(0)
    net = Net()
    with torch.no_grad():
        net.bn.weight.fill_(3.0)
        net.bn.running_mean.fill_(5.0)
        net.act.weight.fill_(0.7)
    ft.init_module_(net, seed=7)
    ps = ft.parameter_seed
    assert same(net.conv.weight, keras_twin(fanin.GlorotUniform(seed=ps(7, "conv.weight")), (8, 3, 3, 3)))
    assert same(net.up.weight, keras_twin(fanin.GlorotUniform(seed=ps(7, "up.weight")), (8, 2, 2, 2)))
    assert same(net.fc.weight, fanin.GlorotUniform(seed=ps(7, "fc.weight"))((16, 5)).T)
    assert same(net.emb.weight,  # Keras's Embedding layout: no permutation
                fanin.RandomUniform(-0.05, 0.05, seed=ps(7, "emb.weight"))((10, 16)))
    for bias in (net.conv.bias, net.up.bias, net.fc.bias, net.bn.bias, net.ln.bias):
        assert (bias == 0).all()
    assert (net.bn.weight == 1).all() and (net.ln.weight == 1).all()
    assert (net.bn.running_mean == 5).all()  # buffers untouched
    assert (net.act.weight == 0).all()  # Keras's PReLU alpha_initializer
    for p in net.parameters():
        assert p.is_leaf and p.requires_grad and p.grad is None


def test_init_module_legacy_kernel_bias_keywords():
    net = nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2))
    ft.init_module_(net, kernel=fanin.VarianceScaling(2.0, "fan_out", "uniform", seed=99),
                    bias=fanin.RandomNormal(0.0, 1.0), seed=1)
    k = fanin.VarianceScaling(2.0, "fan_out", "uniform", seed=ft.parameter_seed(1, "1.weight"))
    assert same(net[1].weight, k((3, 2)).T)
    assert same(net[0].bias, fanin.RandomNormal(0.0, 1.0, seed=ft.parameter_seed(1, "0.bias"))((3,)))
    before = net[0].bias.detach().clone()
    ft.init_module_(net, bias=None, seed=2)
    assert same(net[0].bias, before)
    rnn = ft.init_module_(nn.LSTM(5, 7), kernel="lecun_normal", seed=0)
    assert same(rnn.weight_hh_l0,  # kernel= reaches every rank >= 2 parameter
                fanin.LecunNormal(seed=ft.parameter_seed(0, "weight_hh_l0"))((7, 28)).T)


def test_init_module_seed_none_follows_seed_rules():
    fanin.set_random_seed(5)
    a = state(ft.init_module_(nn.Linear(3, 3), seed=None))
    fanin.set_random_seed(5)
    b = state(ft.init_module_(nn.Linear(3, 3), seed=None))
    assert same(a["weight"], b["weight"])
    g = state(ft.init_module_(nn.Linear(3, 3), seed=None, generator=torch.Generator().manual_seed(1)))
    want = ft.resolve_seed(generator=torch.Generator().manual_seed(1))
    assert same(g["weight"], state(ft.init_module_(nn.Linear(3, 3), seed=want))["weight"])


def test_init_module_tied_and_rnn_and_attention():
    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc = nn.Embedding(6, 4)
            self.dec = nn.Linear(4, 6, bias=False)
            self.dec.weight = self.enc.weight

    m = ft.init_module_(Tied(), seed=3)
    assert m.dec.weight is m.enc.weight
    # initialized once, by the Embedding's rule, under its name: the tie's owner
    assert same(m.enc.weight,
                fanin.RandomUniform(-0.05, 0.05, seed=ft.parameter_seed(3, "enc.weight"))((6, 4)))
    rnn = ft.init_module_(nn.LSTM(5, 7), seed=0)
    assert same(rnn.weight_ih_l0,
                fanin.GlorotUniform(seed=ft.parameter_seed(0, "weight_ih_l0"))((5, 28)).T)
    assert same(rnn.weight_hh_l0,
                fanin.Orthogonal(seed=ft.parameter_seed(0, "weight_hh_l0"))((7, 28)).T)
    assert (rnn.bias_hh_l0 == 0).all()
    forget = torch.zeros(28)
    forget[7:14] = 1
    assert torch.equal(rnn.bias_ih_l0.detach(), forget)
    mha = ft.init_module_(nn.MultiheadAttention(8, 2), seed=0)
    assert (mha.in_proj_bias == 0).all() and (mha.out_proj.bias == 0).all()
    # q, k and v: calls 0, 1, 2 of one GlorotUniform, each the Keras (E, E) kernel transposed
    glorot = fanin.GlorotUniform(seed=ft.parameter_seed(0, "in_proj_weight"))
    assert same(mha.in_proj_weight, np.concatenate([glorot((8, 8)).T for _ in range(3)]))


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_packed_qkv_blocks_are_the_whole_tensor_sliced(dtype):
    """Any block of the packed q/k/v draw (a DTensor shard's, say) is the whole one's slice,
    including blocks that straddle the q/k/v boundaries."""
    from fanin.torch.modules import TransposedBlocksDraw

    init = fanin.GlorotUniform(seed=4)
    parts = tuple(init.draw((5, 6), dtype) for _ in range(3))
    d = TransposedBlocksDraw((18, 5), dtype, parts=parts)
    whole = d.array()
    packed = np.ascontiguousarray(np.concatenate([p.array().T for p in parts]))
    assert np.array_equal(whole.view(np.uint8), packed.view(np.uint8))
    for offset, shape in (((0, 0), (18, 5)), ((4, 1), (9, 3)), ((11, 0), (7, 5)), ((17, 4), (1, 1))):
        block = d.block(offset, shape)
        want = whole[offset[0]:offset[0] + shape[0], offset[1]:offset[1] + shape[1]]
        assert np.array_equal(block.view(np.uint8), np.ascontiguousarray(want).view(np.uint8))


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
# The torch-named family: the stream's values in the tensor's own layout
# --------------------------------------------------------------------------- #


def scipy_stats():
    return pytest.importorskip("scipy.stats")


@contextlib.contextmanager
def warnings_as_errors():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def torch_fans(shape):
    """torch.nn.init's own fan rule, as the oracle."""
    return torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))


def _gain(name, param=None):
    return torch.nn.init.calculate_gain(name, param)


TORCH_FAMILY = {  # name -> (fill(tensor, seed), the stream distribution torch's formulas give)
    "uniform_": (lambda t, s: ft.uniform_(t, -1.5, 0.5, seed=s),
                 lambda shape: stream.uniform(-1.5, 0.5)),
    "normal_": (lambda t, s: ft.normal_(t, 0.3, 2.0, seed=s),
                lambda shape: stream.normal(0.3, 2.0)),
    "trunc_normal_": (lambda t, s: ft.trunc_normal_(t, 0.5, 0.25, 0.0, 1.0, seed=s),
                      lambda shape: stream.truncated_normal(0.5, 0.25)),  # exactly +-2 std
    "xavier_uniform_": (  # torch's formula: std = gain * sqrt(2 / (fi + fo)), bound = sqrt(3) std
        lambda t, s: ft.xavier_uniform_(t, gain=0.7, seed=s),
        lambda shape: stream.uniform(
            -(b := math.sqrt(3.0) * (0.7 * math.sqrt(2.0 / sum(torch_fans(shape))))), b)),
    "xavier_normal_": (
        lambda t, s: ft.xavier_normal_(t, gain=0.7, seed=s),
        lambda shape: stream.normal(0.0, 0.7 * math.sqrt(2.0 / sum(torch_fans(shape))))),
    "kaiming_uniform_": (
        lambda t, s: ft.kaiming_uniform_(t, a=0.1, mode="fan_out", seed=s),
        lambda shape: stream.uniform(
            -(b := math.sqrt(3.0) * (_gain("leaky_relu", 0.1) / math.sqrt(torch_fans(shape)[1]))), b)),
    "kaiming_normal_": (
        lambda t, s: ft.kaiming_normal_(t, nonlinearity="relu", seed=s),
        lambda shape: stream.normal(0.0, _gain("relu") / math.sqrt(torch_fans(shape)[0]))),
}
TORCH_SHAPES = [(7, 4), (6, 5, 3), (3, 2, 2, 2)]


@pytest.mark.parametrize("fmt", list(TORCH_DTYPES))
@pytest.mark.parametrize("name", list(TORCH_FAMILY))
def test_torch_family_values_are_the_stream_in_own_layout(name, fmt, backend):
    fill, dist = TORCH_FAMILY[name]
    for shape in TORCH_SHAPES:
        t = torch.empty(shape, dtype=TORCH_DTYPES[fmt])
        fill(t, 21)
        assert same(t, reference(dist(shape), fmt, shape, 21, 0)), shape


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(sorted(TORCH_FAMILY)), fmt=st.sampled_from(sorted(TORCH_DTYPES)),
       shape=st.lists(st.integers(1, 6), min_size=2, max_size=4).map(tuple),
       seed=st.integers(-2**63, 2**64 - 1))
def test_torch_family_is_the_stream_for_any_shape_and_seed(name, fmt, shape, seed):
    fill, dist = TORCH_FAMILY[name]
    t = fill(torch.empty(shape, dtype=TORCH_DTYPES[fmt]), seed)
    assert same(t, reference(dist(shape), fmt, shape, seed, 0))


@given(shape=st.lists(st.integers(0, 5), max_size=5).map(tuple))
def test_keras_shape_permutes_back(shape):
    kshape, axes = ft.keras_shape(shape)
    back = np.empty(kshape) if axes is None else np.empty(kshape).transpose(axes)
    assert back.shape == shape and sorted(kshape) == sorted(shape)


@pytest.mark.parametrize("name", list(TORCH_FAMILY))
def test_torch_family_device_path_and_views(name):
    fill, _ = TORCH_FAMILY[name]
    for fmt, dt in TORCH_DTYPES.items():
        want = fill(torch.empty(6, 5, 3, dtype=dt), 4).clone()
        base = torch.zeros(8, 10, 3, dtype=dt)
        view = base[1:7, ::2]  # (6, 5, 3), non-contiguous
        fill(view, 4)
        assert same(view, want) and (base[0] == 0).all() and (base[:, 1::2] == 0).all()
        with ft.write.staged_on_cpu():
            assert same(fill(torch.empty(6, 5, 3, dtype=dt), 4), want), fmt


def test_torch_family_scales_match_torch():
    """Same distributions as torch.nn.init: fanin's std within sampling error of torch's."""
    cases = [("xavier_uniform_", {"gain": 1.3}), ("xavier_normal_", {"gain": 0.5}),
             ("kaiming_uniform_", {"a": 0.3, "mode": "fan_out"}),
             ("kaiming_normal_", {"nonlinearity": "tanh"}), ("normal_", {"std": 0.2}),
             ("uniform_", {"a": -0.2, "b": 0.6})]
    gen = torch.Generator().manual_seed(0)
    for name, kwargs in cases:
        ours = getattr(ft, name)(torch.empty(64, 32, 3, 3), seed=1, **kwargs)
        theirs = getattr(torch.nn.init, name)(torch.empty(64, 32, 3, 3), generator=gen, **kwargs)
        # 18432 values each: two-sample KS p-values of a shared distribution are
        # uniform; a wrong scale or fan gives p < 1e-30 at this size.
        assert scipy_stats().ks_2samp(ours.flatten().numpy(), theirs.flatten().numpy()).pvalue > 1e-4, name


def test_orthogonal_two_d_agrees_with_keras_family_and_differs_for_conv():
    w = ft.orthogonal_(torch.empty(5, 9), gain=1.5, seed=3)
    assert same(w, ft.orthogonal_(torch.empty(5, 9), gain=1.5, seed=3, layout="torch"))
    assert same(w, fanin.Orthogonal(1.5, seed=3)((9, 5)).T)
    conv = ft.orthogonal_(torch.empty(4, 3, 2, 2, dtype=torch.float64), seed=3)
    assert same(conv, fanin.Orthogonal(seed=3)((12, 4), "float64").T.reshape(4, 3, 2, 2))
    keras = ft.orthogonal_(torch.empty(4, 3, 2, 2, dtype=torch.float64), seed=3, layout="torch")
    assert not same(conv, keras)
    for t in (conv, keras):  # both: orthonormal rows of the (out, in * k) view
        flat = t.reshape(4, -1)
        assert torch.allclose(flat @ flat.T, torch.eye(4, dtype=torch.float64), atol=1e-12)


def test_sparse_zeros_are_a_reproducible_random_subset():
    a = ft.sparse_(torch.empty(200, 30), 0.25, std=0.5, seed=4)
    assert torch.equal(a, ft.sparse_(torch.empty(200, 30), 0.25, std=0.5, seed=4))
    zeros = a == 0
    assert (zeros.sum(dim=0) == 50).all()
    dense = ft.normal_(torch.empty(200, 30), 0.0, 0.5, seed=4)  # the same call 0 values
    assert torch.equal(a[~zeros], dense[~zeros])
    # every row is zeroed with probability 1/4 in each of the 30 columns: row counts
    # are Binomial(30, 0.25) (mean 7.5, sd 2.37), so all 200 lie below 18 (4.4 sd;
    # chance of a miss ~1e-3 for a random subset, 0 for these fixed seeds) and
    # their spread is that of a binomial (sample variance within 30% of 5.625)
    per_row = zeros.sum(dim=1).float()
    assert int(per_row.max()) < 18 and abs(float(per_row.var()) / 5.625 - 1) < 0.3
    assert not torch.equal(zeros, ft.sparse_(torch.empty(200, 30), 0.25, seed=5) == 0)


def test_eye_dirac_constant_equal_torch():
    for shape in [(3, 5), (4, 4), (6, 2)]:
        assert torch.equal(ft.eye_(torch.empty(shape)), torch.nn.init.eye_(torch.empty(shape)))
    for dt in (torch.bool, torch.uint8, torch.int32, torch.float16, torch.bfloat16, torch.float64):
        assert torch.equal(ft.eye_(torch.empty(3, 5, dtype=dt)),
                           torch.nn.init.eye_(torch.empty(3, 5, dtype=dt))), dt
        assert torch.equal(ft.dirac_(torch.empty(6, 3, 3, 3, dtype=dt), 2),
                           torch.nn.init.dirac_(torch.empty(6, 3, 3, 3, dtype=dt), 2)), dt
    view = torch.full((8, 6), 7.0)[:, ::2]  # strided: zeroed by torch, then the diagonal
    assert torch.equal(ft.eye_(view), torch.eye(8, 3))
    perm = torch.full((6, 3, 3, 3), 7.0).permute(0, 1, 3, 2)
    assert torch.equal(ft.dirac_(perm, 3), torch.nn.init.dirac_(torch.zeros(6, 3, 3, 3), 3))
    want = ft.sparse_(torch.empty(50, 7), 0.3, seed=1)
    with ft.write.staged_on_cpu():  # the device route of every draw kind
        assert torch.equal(ft.dirac_(torch.empty(6, 3, 3, 3), 2),
                           torch.nn.init.dirac_(torch.empty(6, 3, 3, 3), 2))
        assert torch.equal(ft.sparse_(torch.empty(50, 7), 0.3, seed=1), want)
        assert torch.equal(ft.eye_(torch.empty(3, 4)), torch.eye(3, 4))
        assert torch.equal(ft.eye_(torch.empty(2, 3, dtype=torch.int32)), torch.eye(2, 3).int())
    for dt in (torch.float16, torch.bfloat16, torch.float32, torch.int32):
        assert torch.equal(ft.constant_(torch.empty(5, dtype=dt), 0.3),
                           torch.nn.init.constant_(torch.empty(5, dtype=dt), 0.3))
    assert (ft.constant_(torch.empty(3), value=2.5) == 2.5).all()  # Keras's keyword
    with pytest.raises(TypeError):
        ft.constant_(torch.empty(3), "a")


# --------------------------------------------------------------------------- #
# Seeds in torch's idiom
# --------------------------------------------------------------------------- #


UNSEEDED = {  # every random function, called without a seed
    **{n: (lambda t, f=f: f(t, None)) for n, (f, _) in TORCH_FAMILY.items()},
    "orthogonal_": lambda t: ft.orthogonal_(t),
    "orthogonal_keras": lambda t: ft.orthogonal_(t, layout="torch"),
    "sparse_": lambda t: ft.sparse_(t, 0.5),
    "lecun_normal_": lambda t: ft.lecun_normal_(t),
    "he_uniform_": lambda t: ft.he_uniform_(t),
    "random_normal_": lambda t: ft.random_normal_(t),
    "init_": lambda t: ft.init_(t, "glorot_uniform"),
}


@pytest.mark.parametrize("name", list(UNSEEDED))
def test_torch_manual_seed_makes_unseeded_calls_reproducible(name):
    fn = UNSEEDED[name]
    torch.manual_seed(0)
    a = [fn(torch.empty(6, 4)).clone() for _ in range(2)]
    torch.manual_seed(0)
    b = [fn(torch.empty(6, 4)).clone() for _ in range(2)]
    assert same(a[0], b[0]) and same(a[1], b[1])
    assert not same(a[0], a[1])  # each call takes a new seed
    torch.manual_seed(1)
    assert not same(fn(torch.empty(6, 4)), a[0])


def test_seed_rule_is_two_randint_words():
    g = torch.Generator().manual_seed(7)
    w = torch.randint(0, 2**32, (2,), dtype=torch.int64, generator=torch.Generator().manual_seed(7))
    assert ft.resolve_seed(generator=g) == int(w[0]) + (int(w[1]) << 32)
    t = ft.normal_(torch.empty(50), generator=torch.Generator().manual_seed(7))
    assert same(t, ft.normal_(torch.empty(50), seed=int(w[0]) + (int(w[1]) << 32)))


def test_explicit_seed_wins_and_leaves_the_generator_alone():
    g = torch.Generator().manual_seed(3)
    before = g.get_state()
    torch.manual_seed(3)
    default_before = torch.get_rng_state()
    a = ft.kaiming_normal_(torch.empty(5, 5), generator=g, seed=11)
    b = ft.he_normal_(torch.empty(5, 5), generator=g, seed=11)
    assert torch.equal(g.get_state(), before) and torch.equal(torch.get_rng_state(), default_before)
    assert same(a, ft.kaiming_normal_(torch.empty(5, 5), seed=11))
    assert same(b, ft.he_normal_(torch.empty(5, 5), seed=11))


def test_generator_beats_the_default_generator():
    torch.manual_seed(0)
    a = ft.xavier_uniform_(torch.empty(4, 4), generator=torch.Generator().manual_seed(9))
    torch.manual_seed(1)
    b = ft.xavier_uniform_(torch.empty(4, 4), generator=torch.Generator().manual_seed(9))
    assert same(a, b)
    with pytest.raises(TypeError, match="seed="):
        ft.normal_(torch.empty(3), 0.0, 1.0, 5)  # a seed where the generator goes


def test_fanin_set_random_seed_takes_precedence_over_torch_manual_seed():
    fanin.set_random_seed(4)
    torch.manual_seed(0)
    a = [ft.normal_(torch.empty(8)).clone(), ft.lecun_normal_(torch.empty(3, 3)).clone()]
    fanin.set_random_seed(4)
    torch.manual_seed(1)  # ignored: fanin's rule applies
    b = [ft.normal_(torch.empty(8)).clone(), ft.lecun_normal_(torch.empty(3, 3)).clone()]
    assert same(a[0], b[0]) and same(a[1], b[1])
    g = ft.normal_(torch.empty(8), generator=torch.Generator().manual_seed(2))
    assert same(g, ft.normal_(torch.empty(8), generator=torch.Generator().manual_seed(2)))
    assert not same(g, a[0])  # an explicit generator still beats fanin's global seed


SEED_CHILD = textwrap.dedent("""
    import hashlib, sys, torch
    import fanin.torch as ft
    torch.manual_seed(0)
    out = [ft.normal_(torch.empty(100)), ft.trunc_normal_(torch.empty(100)),
           ft.kaiming_uniform_(torch.empty(30, 20)), ft.orthogonal_(torch.empty(6, 4)),
           ft.lecun_normal_(torch.empty(8, 3, 3, 3)), ft.init_(torch.empty(4, 4), "he_normal")]
    m = ft.init_module_(torch.nn.LSTM(4, 5), seed=None)
    out += [p.detach() for p in m.parameters()]
    print(hashlib.sha256(b"".join(t.contiguous().numpy().tobytes() for t in out)).hexdigest())
""")


@pytest.mark.slow
def test_torch_manual_seed_reproduces_across_processes():
    env = dict(os.environ, FANIN_NO_KERNEL_WARNING="1")
    digests = [subprocess.run([sys.executable, "-c", SEED_CHILD], env=env, capture_output=True,
                              text=True, timeout=240, check=True).stdout.strip()
               for _ in range(2)]
    assert len(digests[0]) == 64 and digests[0] == digests[1]


# --------------------------------------------------------------------------- #
# Warnings and errors as torch gives them
# --------------------------------------------------------------------------- #


def torch_error(fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except Exception as e:  # noqa: BLE001 - the oracle's exception, whatever it is
        return type(e), str(e)
    raise AssertionError("torch raised nothing")


@pytest.mark.parametrize("name,args,kwargs", [
    ("uniform_", ((3,), 1.0, 0.0), {}),
    ("normal_", ((3,), 0.0, -1.0), {}),
    ("xavier_uniform_", ((3,),), {}),
    ("xavier_normal_", ((),), {}),
    ("kaiming_uniform_", ((3,),), {}),
    ("kaiming_normal_", ((3, 4),), {"mode": "fan_avg"}),
    ("kaiming_normal_", ((3, 4),), {"nonlinearity": "swish"}),
    ("kaiming_uniform_", ((3, 4),), {"a": True}),
    ("orthogonal_", ((3,),), {}),
    ("eye_", ((2, 2, 2),), {}),
    ("dirac_", ((2, 2),), {}),
    ("dirac_", ((3, 2, 2),), {"groups": 2}),
])
def test_errors_equal_torchs(name, args, kwargs):
    shape, rest = args[0], args[1:]
    want = torch_error(getattr(torch.nn.init, name), torch.empty(shape), *rest, **kwargs)
    with pytest.raises(want[0]) as got:
        getattr(ft, name)(torch.empty(shape), *rest, **kwargs)
    assert str(got.value) == want[1]


# Ranges at, inside and beyond each dtype's finite range, and non-finite ones.
_EDGES = [0.0, 0.5, 1.0, 1e4, 4e4, 65504.0, 1e5, 1e38, 1.7e38, 3e38, 1e300, math.inf, math.nan]
_BOUNDS = st.sampled_from(_EDGES + [-x for x in _EDGES]) | st.floats(-1e39, 1e39)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(fmt=st.sampled_from(sorted(TORCH_DTYPES)), a=_BOUNDS, b=_BOUNDS,
       fn=st.sampled_from(["uniform_", "xavier_uniform_", "kaiming_uniform_"]))
def test_ranges_too_wide_for_the_dtype_raise_what_torch_raises(fmt, a, b, fn):
    """Where torch refuses a range it cannot sample in the tensor's dtype, fanin raises
    torch's RuntimeError with torch's words; where torch samples, fanin's values lie
    in the range and are finite (no constant tensor, no values piled on the limit)."""
    dt = TORCH_DTYPES[fmt]
    args = {"uniform_": (a, b), "xavier_uniform_": (), "kaiming_uniform_": ()}[fn]
    kwargs = {"uniform_": {}, "xavier_uniform_": {"gain": abs(a) if math.isfinite(a) else a},
              "kaiming_uniform_": {"a": a if math.isfinite(a) else 0.0}}[fn]
    try:
        getattr(torch.nn.init, fn)(torch.empty(40, 30, dtype=dt), *args, **kwargs)
        want = None
    except (RuntimeError, OverflowError, ValueError) as e:
        want = e
    t = torch.empty(40, 30, dtype=dt)
    if want is not None:
        with pytest.raises(type(want)) as got:
            getattr(ft, fn)(t, *args, seed=0, **kwargs)
        # the same words up to the numbers torch prints (C++ formatting)
        assert str(got.value).split(",")[0] == str(want).split(",")[0]
        return
    try:
        getattr(ft, fn)(t, *args, seed=0, **kwargs)
    except ValueError:  # a range torch samples that the stream refuses, with a reason
        return
    v = t.double()
    assert torch.isfinite(v).all()
    if fn == "uniform_" and a < b:
        assert (v >= float(torch.tensor(a, dtype=dt))).all()


def test_example_ranges_raise_torchs_errors():
    for args, dt, words in [((-3e38, 3e38), torch.float32, "to-from <= std::numeric_limits<Float>"),
                            ((-math.inf, math.inf), torch.float32, "from is out of bounds for float"),
                            ((-1e5, 1e5), torch.float16, "from is out of bounds for c10::Half")]:
        with pytest.raises(RuntimeError, match=re.escape(words)):
            ft.uniform_(torch.empty(100, dtype=dt), *args, seed=0)
    with pytest.raises(RuntimeError, match="to-from"):
        ft.xavier_uniform_(torch.empty(100, 100), gain=1.5e39, seed=0)
    with pytest.raises(RuntimeError, match="beyond|range of c10::Half"):
        ft.trunc_normal_(torch.empty(100, dtype=torch.float16), std=1e5, a=-1e6, b=1e6, seed=0)
    with pytest.raises(ValueError, match="finite std > 0, got std=inf"):
        ft.trunc_normal_(torch.empty(3), std=math.inf)
    with pytest.raises(ValueError, match="finite mean"):
        ft.trunc_normal_(torch.empty(3), mean=math.nan)


def test_errors_take_no_seed():
    torch.manual_seed(0)
    state_before = torch.get_rng_state()
    for bad in (lambda: ft.uniform_(torch.empty(3), 1.0, 0.0),
                lambda: ft.kaiming_normal_(torch.empty(3)),
                lambda: ft.trunc_normal_(torch.empty(3), a=1.0, b=0.0),
                lambda: ft.trunc_normal_(torch.empty(3), std=0.0),
                lambda: ft.normal_(torch.empty(3, dtype=torch.int32)),
                lambda: ft.variance_scaling_(torch.empty(3, 2), mode="fan_sideways"),
                lambda: ft.random_uniform_(torch.empty(3), 1.0, 0.0),
                lambda: ft.lecun_normal_(torch.empty(3, dtype=torch.int32)),
                lambda: ft.orthogonal_(torch.empty(3, 2), gain="x")):
        with pytest.raises((RuntimeError, ValueError, TypeError)):
            bad()
    assert torch.equal(torch.get_rng_state(), state_before)


def test_zero_element_tensors_warn_as_torch_and_take_no_seed():
    torch.manual_seed(0)
    state_before = torch.get_rng_state()
    for fn in (ft.kaiming_uniform_, ft.kaiming_normal_, ft.lecun_normal_, ft.he_uniform_,
               ft.random_normal_):
        with pytest.warns(UserWarning, match="Initializing zero-element tensors is a no-op"):
            fn(torch.empty(0, 3))
    with warnings_as_errors():  # torch's uniform_/normal_/xavier_*/orthogonal_ do not warn
        for fn in (ft.uniform_, ft.normal_, ft.xavier_uniform_, ft.xavier_normal_,
                   ft.orthogonal_, ft.trunc_normal_):
            fn(torch.empty(0, 3))
    assert torch.equal(torch.get_rng_state(), state_before)


def test_meta_tensors_take_no_seed():
    torch.manual_seed(0)
    state_before = torch.get_rng_state()
    w = torch.empty(4, 3, device="meta")
    for fn in list(UNSEEDED.values()) + [ft.eye_, ft.zeros_, ft.ones_]:
        assert fn(w) is w and w.is_meta
    assert ft.dirac_(torch.empty(4, 3, 3, device="meta")).is_meta
    assert torch.equal(torch.get_rng_state(), state_before)
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        ft.xavier_uniform_(torch.empty(3, device="meta"))


WRITERS = {  # every path that writes values, each given a (6, 4) float32 tensor
    **UNSEEDED,
    "permuted keras family": lambda t: ft.glorot_uniform_(t, seed=0),
    "keras layout": lambda t: ft.glorot_uniform_(t, seed=0, layout="keras"),
    "zeros_": ft.zeros_, "ones_": ft.ones_, "constant_": lambda t: ft.constant_(t, 2.0),
    "eye_": ft.eye_, "identity_": ft.identity_,
    "dirac_": lambda t: ft.dirac_(t.view(6, 2, 2)),
}


@pytest.mark.parametrize("name", list(WRITERS))
def test_inference_tensors_refuse_writes_as_torch(name):
    with torch.inference_mode():
        t, oracle = torch.zeros(6, 4), torch.zeros(6, 4)
    want = torch_error(oracle.normal_)  # (torch writes oracle before it raises)
    with pytest.raises(want[0]) as got:
        WRITERS[name](t)
    assert str(got.value) == want[1]
    assert (t == 0).all()
    with torch.inference_mode():  # inside inference mode torch allows it, and so do we
        WRITERS[name](t)


def test_init_module_skips_lazy_parameters():
    m = ft.init_module_(nn.Sequential(nn.LazyLinear(3), nn.Linear(3, 2)), seed=0)
    assert isinstance(m[0].weight, nn.parameter.UninitializedParameter)
    assert same(m[1].weight, fanin.GlorotUniform(seed=ft.parameter_seed(0, "1.weight"))((3, 2)).T)


def test_init_module_refuses_inference_parameters():
    with torch.inference_mode():
        m = nn.Linear(4, 3)
    with pytest.raises(RuntimeError, match="Inplace update to inference tensor"):
        ft.init_module_(m)


def test_keras_shape_validates_dims():
    with pytest.raises(TypeError, match="integers"):
        ft.keras_shape((2.5, 3))
    with pytest.raises(ValueError, match="negative"):
        ft.keras_shape((2, -3))
    assert ft.keras_shape(torch.Size([4, 2, 3])) == ((3, 2, 4), (2, 1, 0))


def test_keras_named_functions_point_to_torch_named_ones():
    with pytest.raises(TypeError, match="kaiming_normal_"):
        ft.he_normal_(torch.empty(3, 4), nonlinearity="relu")
    with pytest.raises(TypeError, match="xavier_uniform_"):
        ft.glorot_uniform_(torch.empty(3, 4), gain=2.0)
    with pytest.raises(TypeError, match="trunc_normal_"):
        ft.truncated_normal_(torch.empty(3), a=-2, b=2)


# --------------------------------------------------------------------------- #
# trunc_normal_: KS against scipy.stats.truncnorm, no value on or outside a bound
# --------------------------------------------------------------------------- #

TRUNC_CASES = [  # (mean, std, a, b); the first two are mean +- 2 std (the Keras transform)
    (0.0, 1.0, -2.0, 2.0), (0.5, 0.25, 0.0, 1.0),
    (0.0, 1.0, -1.0, 3.0),      # asymmetric
    (0.0, 1.0, 2.0, 3.0),       # narrow, in the tail (torch's own narrow case)
    (0.0, 1.0, -0.1, 0.1),      # narrow, central
    (0.0, 1.0, 5.0, 8.0),       # far right tail
    (1.0, 2.0, -15.0, -11.0),   # far left tail: [-8, -6] std (stream v2 reaches 9 std)
    (0.0, 0.02, -2.0, 2.0),     # ViT's call: bounds at +-100 std
    (3.0, 2.0, 0.0, 100.0),     # one side far away
    (-1.0, 0.5, -1.0, 40.0),    # half-normal
]


def representable_inside(a, b, dt):
    """Values of dtype ``dt`` strictly inside (a, b), at most 3 of them (enough to decide)."""
    lo = torch.tensor(a, dtype=torch.float64).to(dt)
    if float(lo) <= a:
        lo = torch.nextafter(lo, torch.tensor(math.inf, dtype=dt))
    found = []
    while float(lo) < b and len(found) < 3:
        found.append(float(lo))
        lo = torch.nextafter(lo, torch.tensor(math.inf, dtype=dt))
    return found


@pytest.mark.parametrize("fmt", list(TORCH_DTYPES))
@pytest.mark.parametrize("case", TRUNC_CASES, ids=[str(c) for c in TRUNC_CASES])
def test_trunc_normal_ks_and_strict_bounds(case, fmt):
    mean, std, a, b = case
    dt = TORCH_DTYPES[fmt]
    if len(representable_inside(a, b, dt)) < 2:
        pytest.skip(f"{fmt} has fewer than 2 values inside ({a}, {b})")
    n = 20000
    t = ft.trunc_normal_(torch.empty(n, dtype=dt), mean, std, a, b, seed=3)
    v = t.double().numpy()
    assert np.isfinite(v).all() and (v > a).all() and (v < b).all()
    st = scipy_stats()
    dist = st.truncnorm((a - mean) / std, (b - mean) / std, loc=mean, scale=std)
    # KS statistic against the continuous CDF: at most the sampling error (1.95 /
    # sqrt(n) is the p = 0.001 critical value) plus the rounding of the dtype (the
    # largest probability mass of one rounding cell, which moves the empirical CDF
    # by at most that much at any point).
    cells = np.unique(v)
    spacing = np.diff(cells).max() if len(cells) > 1 else 0.0
    cell_mass = np.max(dist.cdf(cells + spacing / 2) - dist.cdf(cells - spacing / 2))
    d = st.kstest(v, dist.cdf).statistic
    assert d < 1.95 / math.sqrt(n) + cell_mass, (d, cell_mass)


def test_trunc_normal_bad_bounds():
    with pytest.raises(ValueError, match="a < b"):
        ft.trunc_normal_(torch.empty(3), a=1.0, b=1.0)
    with pytest.raises(ValueError, match="std > 0"):
        ft.trunc_normal_(torch.empty(3), std=-1.0)
    torch.manual_seed(0)
    state_before = torch.get_rng_state()
    with pytest.raises(ValueError, match="standard deviations"):  # the stream reaches 9 std
        ft.trunc_normal_(torch.empty(3), a=10.0, b=12.0)
    assert torch.equal(torch.get_rng_state(), state_before)
    # a support reaching past 9 std is clipped there: P(Z > 9 | Z > 5) is ~4e-13
    t = ft.trunc_normal_(torch.empty(1000, dtype=torch.float64), a=5.0, b=30.0, seed=0)
    assert (t > 5).all() and (t <= 9).all()


# --------------------------------------------------------------------------- #
# init_module_ rules
# --------------------------------------------------------------------------- #


class Zoo(nn.Module):
    """One of each layer the rules know, big enough for statistics."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(300, 200)
        self.conv = nn.Conv2d(32, 64, 3)
        self.lstm = nn.LSTM(40, 50)
        self.gru = nn.GRU(30, 20)
        self.emb = nn.Embedding(1000, 16, padding_idx=3)
        self.ln = nn.LayerNorm(16)
        self.bn = nn.BatchNorm1d(16)
        self.mha = nn.MultiheadAttention(64, 4, add_bias_kv=True)
        self.bil = nn.Bilinear(20, 30, 40)
        self.act = nn.PReLU(init=0.1)


def uniform_ok(t, bound):
    """Uniform on (-bound, bound): inside it, and KS p > 1e-4 (fixed seeds: deterministic)."""
    v = t.detach().double().flatten().numpy()
    return (np.abs(v) <= bound).all() and \
        scipy_stats().kstest(v, "uniform", args=(-bound, 2 * bound)).pvalue > 1e-4


def test_keras_rules_distributions():
    m = ft.init_module_(Zoo(), rules="keras", seed=0)
    glorot = lambda fan_in, fan_out: math.sqrt(6 / (fan_in + fan_out))  # noqa: E731
    assert uniform_ok(m.fc.weight, glorot(300, 200))
    assert uniform_ok(m.conv.weight, glorot(32 * 9, 64 * 9))
    assert uniform_ok(m.lstm.weight_ih_l0, glorot(40, 200))
    assert uniform_ok(m.gru.weight_ih_l0, glorot(30, 60))
    for rnn, hidden in ((m.lstm, 50), (m.gru, 20)):  # Keras recurrent_kernel (H, gates*H)
        w = rnn.weight_hh_l0.detach().double()
        assert torch.allclose(w.T @ w, torch.eye(hidden, dtype=torch.float64), atol=1e-5)
    forget = torch.zeros(200)
    forget[50:100] = 1
    assert torch.equal(m.lstm.bias_ih_l0.detach(), forget) and (m.lstm.bias_hh_l0 == 0).all()
    assert (m.gru.bias_ih_l0 == 0).all() and (m.gru.bias_hh_l0 == 0).all()
    emb = torch.cat([m.emb.weight[:3], m.emb.weight[4:]])
    assert uniform_ok(emb, 0.05) and (m.emb.weight[3] == 0).all()
    for q in m.mha.in_proj_weight.detach().split(64):  # q, k, v: each its own (E, E) kernel
        assert uniform_ok(q, glorot(64, 64))
        assert float(q.abs().max()) > 0.95 * glorot(64, 64)  # not the packed fans' smaller bound
    assert uniform_ok(m.mha.out_proj.weight, glorot(64, 64))
    for zero in (m.fc.bias, m.conv.bias, m.mha.in_proj_bias, m.mha.out_proj.bias,
                 m.mha.bias_k, m.ln.bias, m.bn.bias, m.bil.bias):
        assert (zero == 0).all()
    assert (m.ln.weight == 1).all() and (m.bn.weight == 1).all()
    assert uniform_ok(m.bil.weight, math.sqrt(6 / (30 * 20 + 30 * 40)))  # Keras fans of (40, 20, 30)
    assert (m.act.weight == 0).all()  # Keras's PReLU alpha_initializer: zeros


def test_torch_rules_match_torchs_own_reset_parameters():
    """Every parameter: the distribution of torch's reset_parameters (two-sample KS)."""
    ours = ft.init_module_(Zoo(), rules="torch", seed=0)
    torch.manual_seed(0)
    theirs = Zoo()  # torch's own initialization
    st = scipy_stats()
    for (name, p), q in zip(ours.named_parameters(), theirs.parameters()):
        p, q = p.detach().flatten().double().numpy(), q.detach().flatten().double().numpy()
        if np.unique(q).size <= 2:  # constants (ones, zeros, PReLU's init, padding row)
            assert np.array_equal(p, q), name
            continue
        assert st.ks_2samp(p, q).pvalue > 1e-4, name
    assert (ours.emb.weight[3] == 0).all()


def test_torch_rules_match_nn_transformer_reset():
    """nn.Transformer re-initializes every matrix with xavier_uniform_: so do the torch rules."""
    make = lambda: nn.Transformer(64, 4, 1, 1, 128, batch_first=True)  # noqa: E731
    ours = ft.init_module_(make(), rules="torch", seed=0)
    torch.manual_seed(0)
    theirs = make()
    for (name, p), q in zip(ours.named_parameters(), theirs.parameters()):
        if p.dim() > 1:
            bound = math.sqrt(6 / sum(torch_fans(tuple(p.shape))))
            assert uniform_ok(p, bound) and uniform_ok(q, bound), name


def test_rules_are_reproducible_and_order_free():
    for rules in ("keras", "torch"):
        a = state(ft.init_module_(Zoo(), rules=rules, seed=5))
        torch.manual_seed(1)  # torch's state does not matter with a seed
        b = state(ft.init_module_(Zoo(), rules=rules, seed=5))
        c = state(ft.init_module_(Zoo(), rules=rules, seed=6))
        for k in a:
            assert same(a[k], b[k]), k
        assert not same(a["fc.weight"], c["fc.weight"])
    a, b = ft.init_module_(Net(), rules="torch", seed=7), ft.init_module_(Net(reverse=True),
                                                                           rules="torch", seed=7)
    for k, v in state(a).items():
        assert same(v, state(b)[k]), k


def test_torch_rules_use_torch_named_functions_with_parameter_seeds():
    m = ft.init_module_(nn.Sequential(nn.Linear(6, 4), nn.Embedding(5, 3)), rules="torch", seed=2)
    ps = ft.parameter_seed
    assert same(m[0].weight, ft.kaiming_uniform_(torch.empty(4, 6), a=math.sqrt(5),
                                                  seed=ps(2, "0.weight")))
    assert same(m[0].bias, ft.uniform_(torch.empty(4), -1 / math.sqrt(6), 1 / math.sqrt(6),
                                       seed=ps(2, "0.bias")))
    assert same(m[1].weight, ft.normal_(torch.empty(5, 3), seed=ps(2, "1.weight")))


def test_user_mapping_rules():
    net = nn.Sequential()
    net.add_module("enc", nn.Linear(8, 6))
    net.add_module("dec", nn.Linear(6, 4))
    net.add_module("emb", nn.Embedding(7, 5))
    net.add_module("ln", nn.LayerNorm(4))
    ps = ft.parameter_seed
    before = net.dec.bias.detach().clone()
    ft.init_module_(net, rules={
        "dec.bias": None,                               # glob -> leave alone
        "enc.*": "he_uniform",                          # glob -> fanin identifier
        nn.Linear: ft.kaiming_normal_,                  # type -> function for its weights
        nn.Embedding: {"weight": fanin.RandomNormal(0.0, 1.0)},
        nn.LayerNorm: {"bias": fanin.Constant(0.5)},
    }, seed=3)
    assert same(net.enc.weight, fanin.HeUniform(seed=ps(3, "enc.weight"))((8, 6)).T)
    assert same(net.enc.bias, fanin.HeUniform(seed=ps(3, "enc.bias"))((6,)))  # a glob beats types
    assert same(net.dec.weight, ft.kaiming_normal_(torch.empty(4, 6), seed=ps(3, "dec.weight")))
    assert same(net.dec.bias, before)
    assert same(net.emb.weight, fanin.RandomNormal(0.0, 1.0, seed=ps(3, "emb.weight"))((7, 5)))
    assert (net.ln.bias == 0.5).all() and (net.ln.weight == 1).all()  # weight: base keras rule
    t = ft.init_module_(nn.Sequential(nn.Linear(3, 2)), rules={"*.bias": "ones"}, base="torch",
                        seed=1)
    assert (t[0].bias == 1).all()
    assert same(t[0].weight, ft.kaiming_uniform_(torch.empty(2, 3), a=math.sqrt(5),
                                                 seed=ps(1, "0.weight")))
    with pytest.raises(ValueError, match="Unknown rules"):
        ft.init_module_(net, rules="flax")
    with pytest.raises(ValueError, match="Unknown base"):
        ft.init_module_(net, rules={}, base="flax")
    with pytest.raises(TypeError, match="keys"):
        ft.init_module_(net, rules={3: "zeros"})
    with pytest.raises(TypeError, match="values"):
        ft.init_module_(net, rules={"*": 3})
    with pytest.raises(TypeError, match="rules"):
        ft.init_module_(net, rules=["keras"])


# --------------------------------------------------------------------------- #
# A real Keras twin (subprocess: Keras fixes its backend per process)
# --------------------------------------------------------------------------- #

KERAS_CHILD = textwrap.dedent("""
    import json, sys
    import numpy as np
    import keras, fanin
    seeds, out = json.loads(sys.argv[1]), sys.argv[2]
    dense = keras.layers.Dense(5, kernel_initializer=fanin.GlorotUniform(seed=seeds["fc.weight"]))
    dense.build((None, 7))
    conv = keras.layers.Conv2D(8, (3, 2),
                               kernel_initializer=fanin.GlorotUniform(seed=seeds["conv.weight"]))
    conv.build((None, 6, 6, 3))
    lstm = keras.layers.LSTM(
        6, kernel_initializer=fanin.GlorotUniform(seed=seeds["lstm.weight_ih_l0"]),
        recurrent_initializer=fanin.Orthogonal(seed=seeds["lstm.weight_hh_l0"]),
        unit_forget_bias=True)
    lstm.build((None, 3, 4))
    emb = keras.layers.Embedding(
        10, 16, embeddings_initializer=fanin.RandomUniform(-0.05, 0.05, seed=seeds["emb.weight"]))
    emb.build((None,))
    cell = lstm.cell
    arrays = {"dense": dense.kernel, "dense_bias": dense.bias, "conv": conv.kernel,
              "lstm_kernel": cell.kernel, "lstm_recurrent": cell.recurrent_kernel,
              "lstm_bias": cell.bias, "emb": emb.embeddings}
    np.savez(out, **{k: np.asarray(keras.ops.convert_to_numpy(v)) for k, v in arrays.items()})
""")


class KerasTwins(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(7, 5)
        self.conv = nn.Conv2d(3, 8, (3, 2))
        self.lstm = nn.LSTM(4, 6)
        self.emb = nn.Embedding(10, 16)


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("keras") is None, reason="keras not installed")
def test_keras_rules_equal_real_keras_twin_layers(tmp_path):
    backend = next((b for b in ("jax", "torch") if importlib.util.find_spec(b)), "numpy")
    net = ft.init_module_(KerasTwins(), rules="keras", seed=0)
    seeds = {name: ft.parameter_seed(0, name) for name, _ in net.named_parameters()}
    env = dict(os.environ, KERAS_BACKEND=backend, FANIN_NO_KERNEL_WARNING="1")
    out = tmp_path / "twins.npz"
    proc = subprocess.run([sys.executable, "-c", KERAS_CHILD, json.dumps(seeds), str(out)],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    k = np.load(out)
    assert same(net.fc.weight, k["dense"].T) and same(net.fc.bias, k["dense_bias"])
    assert same(net.conv.weight, k["conv"].transpose(3, 2, 0, 1))
    assert same(net.lstm.weight_ih_l0, k["lstm_kernel"].T)  # gates i, f, g/c, o in both
    assert same(net.lstm.weight_hh_l0, k["lstm_recurrent"].T)
    assert same(net.lstm.bias_ih_l0 + net.lstm.bias_hh_l0, k["lstm_bias"])
    assert same(net.emb.weight, k["emb"])


# --------------------------------------------------------------------------- #
# CUDA
# --------------------------------------------------------------------------- #


@pytest.mark.gpu
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
    for name, (fill, _) in TORCH_FAMILY.items():
        for shape in TORCH_SHAPES:
            g = fill(torch.empty(shape, dtype=dt, device="cuda"), 5)
            assert same(g, fill(torch.empty(shape, dtype=dt), 5)), (name, shape)
    m = ft.init_module_(Net().cuda(), seed=4)
    c = ft.init_module_(Net(), seed=4)
    for k, v in state(c).items():
        assert same(state(m)[k], v), k


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA not available")
def test_cuda_generator_and_rules():
    g = torch.Generator(device="cuda").manual_seed(3)
    seed = ft.resolve_seed(generator=torch.Generator(device="cuda").manual_seed(3))
    a = ft.kaiming_normal_(torch.empty(40, 30, device="cuda"), generator=g)
    assert same(a, ft.kaiming_normal_(torch.empty(40, 30), seed=seed))
    for rules in ("keras", "torch"):
        m = ft.init_module_(Zoo().cuda(), rules=rules, seed=4)
        c = ft.init_module_(Zoo(), rules=rules, seed=4)
        for k, v in state(c).items():  # (orthogonal matrices: QR on the host for both)
            assert same(state(m)[k], v), k


def test_sparse_zero_rows_are_a_stable_sorts_first():
    """Property: smallest_per_row marks exactly the columns a stable argsort puts first,
    ties included (few distinct keys force many ties), whether the row's k-th key
    comes from the keys in its window, the whole row, or both kinds of rows at once
    (125 window cases, 81 of them with rows partitioned whole)."""
    from fanin.torch.nn_init import smallest_per_row

    rng = np.random.default_rng(0)
    for trial in range(600):
        rows, cols = int(rng.integers(1, 30)), int(rng.integers(1, 30 if trial % 3 else 300))
        distinct = 1 + trial % 7
        keys = (rng.integers(0, distinct, (rows, cols)) / distinct if trial % 2
                else rng.random((rows, cols)) ** rng.choice([0.2, 1.0, 3.0], (rows, 1)))
        k = int(rng.integers(0, cols + 1)) if trial % 4 else int(rng.integers(0, 1 + cols // 10))
        want = np.zeros((rows, cols), bool)
        first = np.argsort(keys, axis=1, kind="stable")[:, :k]
        want[np.broadcast_to(np.arange(rows)[:, None], first.shape), first] = True
        assert (smallest_per_row(keys, k) == want).all(), (rows, cols, k)
