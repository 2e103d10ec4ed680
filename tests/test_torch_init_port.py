"""PyTorch's own test/nn/test_init.py assertions, held by fanin.torch's torch-named functions.

Each test states the torch test it ports. What differs from torch's file, and why:

- Sizes and parameters come from ``random.Random(123)`` (torch seeds ``random`` with
  123 too) and every fill takes an explicit ``seed=``, so each statistical test is
  deterministic: the KS p-values are fixed numbers, compared with torch's own
  threshold (``p > 1e-4``). A wrong distribution, scale or fan gives p-values many
  orders of magnitude below it at these sample sizes (thousands of elements).
- ``test_trunc_normal_generator`` checks its 5 values against the distribution they
  are drawn from (truncated to [-2, 2]); torch's file checks them against [0, 1].
- The deprecated non-underscore names (``init.normal``) are not part of fanin.torch.
"""

from __future__ import annotations

import math
import random
import string

import numpy as np
import pytest

torch = pytest.importorskip("torch")
stats = pytest.importorskip("scipy.stats")

import fanin.torch as init  # noqa: E402  (the drop-in for torch.nn.init)

F = torch.nn.functional
P_MIN = 1e-4  # torch's threshold


@pytest.fixture
def rng():
    return random.Random(123)


def random_tensor(rng, dims, size_min, size_max, dtype=torch.float32):
    return torch.zeros([rng.randint(size_min, size_max) for _ in range(dims)], dtype=dtype)


def ks_p(tensor, dist, args):
    return stats.kstest(tensor.double().reshape(-1).numpy(), dist, args=args).pvalue


def is_normal(tensor, mean, std):
    return ks_p(tensor, "norm", (mean, std)) > P_MIN


def is_uniform(tensor, a, b):
    return ks_p(tensor, "uniform", (a, b - a)) > P_MIN


def is_trunc_normal(tensor, mean, std, a, b):
    z = (tensor.double() - mean) / std
    return ks_p(z, "truncnorm", ((a - mean) / std, (b - mean) / std)) > P_MIN


def torch_fans(tensor):
    fan_in, fan_out = tensor.size(1), tensor.size(0)
    if tensor.dim() > 2:
        fan_in *= tensor[0, 0].numel()
        fan_out *= tensor[0, 0].numel()
    return fan_in, fan_out


# --------------------------------------------------------------------------- #
# calculate_gain (TestNNInit.test_calculate_gain_*)
# --------------------------------------------------------------------------- #


def test_calculate_gain_linear():
    for fn in ["linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
               "conv_transpose2d", "conv_transpose3d"]:
        assert init.calculate_gain(fn) == 1


def test_calculate_gain_nonlinear():
    assert init.calculate_gain("sigmoid") == 1
    assert init.calculate_gain("tanh") == 1.6666666666666667
    assert init.calculate_gain("relu") == 1.4142135623730951
    assert init.calculate_gain("leaky_relu") == 1.4141428569978354
    assert init.calculate_gain("selu") == 0.75


def test_calculate_gain_leaky_relu():
    want = {None: 1.4141428569978354, 0: 1.4142135623730951, 0.01: 1.4141428569978354,
            10: 0.14071950894605836}
    for param, gain in want.items():
        assert init.calculate_gain("leaky_relu", param) == gain


def test_calculate_gain_leaky_relu_only_accepts_numbers():
    for param in [True, [1], {"a": "b"}]:
        with pytest.raises(ValueError, match="not a valid number"):
            init.calculate_gain("leaky_relu", param)


def test_calculate_gain_only_accepts_valid_nonlinearities(rng):
    for n in [2, 5, 25]:
        name = "".join(rng.choice(string.ascii_lowercase) for _ in range(n))
        with pytest.raises(ValueError, match="Unsupported nonlinearity"):
            init.calculate_gain(name)


def test_calculate_gain_matches_torch():
    for fn, param in [("tanh", None), ("relu", None), ("leaky_relu", 0.2), ("selu", None),
                      ("leaky_relu", 3)]:
        assert init.calculate_gain(fn, param) == torch.nn.init.calculate_gain(fn, param)


# --------------------------------------------------------------------------- #
# uniform_, normal_, constant_, ones_, zeros_, eye_, dirac_
# --------------------------------------------------------------------------- #


def test_uniform(rng):
    for i, dims in enumerate([1, 2, 4]):
        t = random_tensor(rng, dims, 30, 50)
        a = rng.uniform(-3, 3)
        b = a + rng.uniform(1, 5)
        init.uniform_(t, a=a, b=b, seed=i)
        assert is_uniform(t, a, b)
        assert float(t.min()) >= a and float(t.max()) < b


def test_normal(rng):
    for i, dims in enumerate([1, 2, 4]):
        t = random_tensor(rng, dims, 30, 50)
        mean, std = rng.uniform(-3, 3), rng.uniform(1, 5)
        init.normal_(t, mean=mean, std=std, seed=i)
        assert is_normal(t, mean, std)


def test_trunc_normal_generator():
    gen = torch.Generator()
    gen.manual_seed(42)
    t = init.trunc_normal_(torch.empty(5), generator=gen)
    torch.manual_seed(42)
    ref = init.trunc_normal_(torch.empty(5))
    assert torch.equal(t, ref)
    assert is_trunc_normal(t, mean=0, std=1, a=-2, b=2)


def test_constant(rng):
    for dims in [1, 2, 4]:
        t = random_tensor(rng, dims, 1, 5)
        val = rng.uniform(1, 10)
        init.constant_(t, val)
        assert torch.equal(t, t.clone().fill_(val))


def test_ones_and_zeros(rng):
    for fn, val in [(init.ones_, 1), (init.zeros_, 0)]:
        for dims in [1, 2, 4]:
            t = random_tensor(rng, dims, 1, 5)
            t.fill_(7.0)
            fn(t)
            assert torch.equal(t, t.clone().fill_(val))


def test_eye(rng):
    t = random_tensor(rng, 2, 1, 5)
    init.eye_(t)
    for i in range(t.size(0)):
        for j in range(t.size(1)):
            assert t[i][j] == (1 if i == j else 0)


def test_eye_only_works_on_2d_inputs(rng):
    for dims in [1, 3]:
        with pytest.raises(ValueError, match="Only tensors with 2 dimensions are supported"):
            init.eye_(random_tensor(rng, dims, 1, 3))


def test_dirac_properties(rng):
    for dims in [3, 4, 5]:
        for groups in [1, 2, 3]:
            a, c, d, e = (rng.randint(1, 5) for _ in range(4))
            b = rng.randint(1, 5 * groups)
            t = torch.randn((a * groups, b, c, d, e)[:dims])
            init.dirac_(t, groups)
            min_d = min(t.size(0) // groups, t.size(1))
            assert torch.nonzero(t).size(0) == min_d * groups
            assert float(t.sum()) == min_d * groups


@pytest.mark.parametrize("groups", [1, 3])
def test_dirac_identity(groups):
    batch, in_c, out_c, size, kernel_size = 8, 3, 9, 5, 3
    eff_out_c = out_c // groups
    gen = torch.Generator().manual_seed(0)
    convs = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
    for nd, conv in convs.items():
        x = torch.randn(batch, in_c, *([size] * nd), generator=gen)
        w = torch.cat([torch.zeros(eff_out_c, in_c, *([kernel_size] * nd))] * groups)
        init.dirac_(w, groups)
        y = conv(x, w)
        inner = (slice(None), slice(None)) + (slice(1, -1),) * nd
        for g in range(groups):
            assert torch.equal(x[inner], y[:, eff_out_c * g:eff_out_c * g + in_c])
            assert torch.nonzero(y[:, eff_out_c * g + in_c:eff_out_c * (g + 1)]).numel() == 0


def test_dirac_only_works_on_3_4_5d_inputs(rng):
    for dims in [1, 2, 6]:
        with pytest.raises(ValueError, match="Only tensors with 3, 4, or 5 dimensions"):
            init.dirac_(random_tensor(rng, dims, 1, 3))
    with pytest.raises(ValueError, match="dim 0 must be divisible by groups"):
        init.dirac_(torch.empty(4, 2, 3), groups=3)


def test_dirac_equals_torch():
    for shape, groups in [((6, 4, 3), 2), ((9, 3, 3, 3), 3), ((4, 5, 2, 3, 4), 1)]:
        assert torch.equal(init.dirac_(torch.randn(shape), groups),
                           torch.nn.init.dirac_(torch.randn(shape), groups))


# --------------------------------------------------------------------------- #
# xavier_*, kaiming_*
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("fn", ["xavier_uniform_", "xavier_normal_", "kaiming_uniform_",
                                "kaiming_normal_"])
def test_errors_on_inputs_smaller_than_2d(fn, rng):
    for dims in [0, 1]:
        t = random_tensor(rng, dims, 1, 1)
        with pytest.raises(ValueError, match="fewer than 2 dimensions"):
            getattr(init, fn)(t)


@pytest.mark.parametrize("fn", ["kaiming_uniform_", "kaiming_normal_"])
def test_kaiming_warning_on_0element_tensor(fn):
    with pytest.warns(UserWarning, match="Initializing zero-element tensors is a no-op"):
        getattr(init, fn)(torch.empty(0, 1))


def test_xavier_uniform(rng):
    for use_gain in [True, False]:
        for dims in [2, 4]:
            t = random_tensor(rng, dims, 20, 25)
            gain = rng.uniform(0.1, 2) if use_gain else 1
            if use_gain:
                init.xavier_uniform_(t, gain=gain, seed=dims)
            else:
                init.xavier_uniform_(t, seed=dims)
            fan_in, fan_out = torch_fans(t)
            bound = gain * math.sqrt(2.0 / (fan_in + fan_out)) * math.sqrt(3)
            assert is_uniform(t, -bound, bound)


def test_xavier_normal(rng):
    for use_gain in [True, False]:
        for dims in [2, 4]:
            t = random_tensor(rng, dims, 20, 25)
            gain = rng.uniform(0.1, 2) if use_gain else 1
            if use_gain:
                init.xavier_normal_(t, gain=gain, seed=dims)
            else:
                init.xavier_normal_(t, seed=dims)
            fan_in, fan_out = torch_fans(t)
            assert is_normal(t, 0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


@pytest.mark.parametrize("kind", ["uniform", "normal"])
def test_kaiming(kind, rng):
    fn = getattr(init, f"kaiming_{kind}_")
    for use_a in [True, False]:
        for dims in [2, 4]:
            for mode in ["fan_in", "fan_out"]:
                t = random_tensor(rng, dims, 20, 25)
                a = rng.uniform(0.1, 2) if use_a else 0
                if use_a:
                    fn(t, a=a, mode=mode, seed=dims)
                else:
                    fn(t, mode=mode, seed=dims)
                fan_in, fan_out = torch_fans(t)
                n = fan_in if mode == "fan_in" else fan_out
                std = math.sqrt(2.0 / ((1 + a**2) * n))
                if kind == "uniform":
                    assert is_uniform(t, -std * math.sqrt(3), std * math.sqrt(3))
                else:
                    assert is_normal(t, 0, std)


def test_kaiming_mode_error():
    with pytest.raises(ValueError, match="Mode fan_avg not supported"):
        init.kaiming_normal_(torch.empty(3, 4), mode="fan_avg")


# --------------------------------------------------------------------------- #
# sparse_ (TestNNInit.test_sparse_*)
# --------------------------------------------------------------------------- #


def test_sparse_only_works_on_2d_inputs(rng):
    for dims in [1, 3]:
        with pytest.raises(ValueError, match="Only tensors with 2 dimensions are supported"):
            init.sparse_(random_tensor(rng, dims, 1, 3), rng.uniform(0.1, 0.9))


def test_sparse_default_std(rng):
    for use_random_std in [True, False]:
        t = random_tensor(rng, 2, 30, 35)
        rows = t.size(0)
        sparsity = rng.uniform(0.1, 0.2)
        std = 0.01
        if use_random_std:
            std = rng.uniform(0.01, 0.2)
            init.sparse_(t, sparsity=sparsity, std=std, seed=1)
        else:
            init.sparse_(t, sparsity=sparsity, seed=1)
        for col in range(t.size(1)):
            column = t[:, col]
            assert column[column == 0].nelement() >= math.ceil(sparsity * rows)
        assert is_normal(t[t != 0], 0, std)


# --------------------------------------------------------------------------- #
# orthogonal_ (TestNNInit.test_orthogonal)
# --------------------------------------------------------------------------- #


def test_orthogonal(rng):
    for use_gain in [True, False]:
        for size in [[3, 4], [4, 3], [20, 2, 3, 4], [2, 3, 4, 5]]:
            t = torch.zeros(size)
            gain = rng.uniform(0.1, 2) if use_gain else 1.0
            if use_gain:
                init.orthogonal_(t, gain=gain, seed=1)
            else:
                init.orthogonal_(t, seed=1)
            rows, cols = size[0], math.prod(size[1:])
            flat = t.view(rows, cols)
            if rows > cols:
                torch.testing.assert_close(flat.t() @ flat, torch.eye(cols) * gain**2,
                                           atol=1e-6, rtol=0)
            else:
                torch.testing.assert_close(flat @ flat.t(), torch.eye(rows) * gain**2,
                                           atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match="Only tensors with 2 or more dimensions"):
        init.orthogonal_(torch.empty(3))


# --------------------------------------------------------------------------- #
# trunc_normal_ (TestNNInitDeviceType)
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("dims", [1, 2, 4])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_trunc_normal_all_dtypes(dims, dtype, rng):
    t = random_tensor(rng, dims, 30, 50, dtype)
    mean, std = rng.uniform(-3, 3), rng.uniform(0.01, 1)
    a, b = rng.uniform(mean - 2 * std, mean), rng.uniform(mean, mean + 2 * std)
    init.trunc_normal_(t, mean=mean, std=std, a=a, b=b, seed=dims)
    lo, hi = torch.tensor(a, dtype=dtype).item(), torch.tensor(b, dtype=dtype).item()
    assert t.min().item() >= lo and t.max().item() <= hi
    assert is_trunc_normal(t, mean, std, a, b)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_trunc_normal_low_precision(dtype):
    t = init.trunc_normal_(torch.empty(10000, dtype=dtype), mean=0.0, std=1.0, a=-2.0, b=2.0,
                           seed=0)
    assert t.min().item() >= -2.0 and t.max().item() <= 2.0
    assert is_trunc_normal(t.float(), 0.0, 1.0, -2.0, 2.0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16])
def test_trunc_normal_narrow_interval(dtype):
    t = init.trunc_normal_(torch.empty(10000, dtype=dtype), mean=0.0, std=1.0, a=2.0, b=3.0,
                           seed=0)
    assert t.min().item() >= 2.0 and t.max().item() <= 3.0
    assert is_trunc_normal(t.float(), 0.0, 1.0, 2.0, 3.0)


@pytest.mark.parametrize("dtype,min_unique", [(torch.float32, 5000), (torch.float64, 5000),
                                              (torch.float16, 3000), (torch.bfloat16, 1000)])
def test_trunc_normal_unique_values(dtype, min_unique):
    t = init.trunc_normal_(torch.empty(10000, dtype=dtype), mean=0.0, std=1.0, a=-2.0, b=2.0,
                           seed=0)
    assert t.min().item() >= -2.0 and t.max().item() <= 2.0
    assert t.unique().numel() > min_unique
    assert not t.isinf().any() and not t.isnan().any()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16])
def test_trunc_normal_no_boundary_values_small_std(dtype):
    t = init.trunc_normal_(torch.empty(10000, dtype=dtype), mean=0.0, std=0.1, a=-2.0, b=2.0,
                           seed=0)
    assert (t == -2.0).sum().item() == 0 and (t == 2.0).sum().item() == 0
    assert np.isfinite(t.float().numpy()).all()
