"""The ``torch.nn.init``-named family: torch's signatures, distributions, fans and errors.

Each function fills the tensor in its own layout with call 0 of the resolved
seed (``seed=``, else ``generator``, else fanin's or torch's global seed), through
the ``fanin::fill`` operator. Bad arguments raise what ``torch.nn.init`` raises,
before any seed is taken; ranges too wide for the tensor's dtype raise torch's
``RuntimeError`` where torch checks them (``uniform_``, ``xavier_uniform_``,
``kaiming_uniform_``) and a ``RuntimeError`` of the same kind for
``trunc_normal_``, whose values would otherwise pile up on the dtype's largest
value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import numpy as np
import torch

import fanin
from fanin import dtypes, stream
from fanin.draws import Draw, IdentityDraw, ConstantDraw, StreamDraw
from fanin.torch.write import (apply_initializer, check_generator, check_tensor, is_meta,
                               keras_shape, resolve_seed, stream_draw, warn_empty, write_draw)

__all__ = ["calculate_gain", "uniform_", "normal_", "trunc_normal_", "xavier_uniform_",
           "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "orthogonal_", "sparse_",
           "eye_", "dirac_", "zeros_", "ones_", "constant_", "SparseDraw", "DiracDraw",
           "torch_fans"]

#: torch.nn.init.calculate_gain's names whose gain is 1 (its table).
_LINEAR_FNS = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
               "conv_transpose2d", "conv_transpose3d", "sigmoid")

#: How torch's range errors name a dtype: its C++ type, and its scalar-type name.
_CPP_NAMES = {torch.float16: "c10::Half", torch.bfloat16: "c10::BFloat16",
              torch.float32: "float", torch.float64: "double"}
_SCALAR_NAMES = {torch.float16: "Half", torch.bfloat16: "BFloat16", torch.float32: "Float",
                 torch.float64: "Double"}

Generator = Optional[torch.Generator]


def calculate_gain(nonlinearity: str, param: Optional[float] = None) -> float:
    """The recommended gain for a nonlinearity: ``torch.nn.init.calculate_gain``'s table.

    1 for linear, convolutions and sigmoid; 5/3 for tanh; sqrt(2) for relu;
    ``sqrt(2 / (1 + slope**2))`` for leaky_relu (slope ``param``, default 0.01);
    3/4 for selu. Anything else raises ``ValueError``, as torch does.

    >>> calculate_gain("relu") == 2 ** 0.5, calculate_gain("conv2d")
    (True, 1)
    >>> round(calculate_gain("leaky_relu", 0.2), 4)
    1.3868
    """
    if nonlinearity in _LINEAR_FNS:
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, (int, float)) and not isinstance(param, bool):
            slope = param
        else:
            raise ValueError(f"negative_slope {param} not a valid number")
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"Unsupported nonlinearity {nonlinearity}")


def torch_fans(tensor: torch.Tensor) -> tuple[int, int]:
    """torch's ``_calculate_fan_in_and_fan_out``: ``size(1)`` / ``size(0)`` times the receptive field."""
    if tensor.dim() < 2:
        raise ValueError("Fan in and fan out can not be computed for tensor with fewer "
                         "than 2 dimensions")
    receptive = math.prod(tensor.shape[2:])
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def _torch_fan(tensor: torch.Tensor, mode: str) -> int:
    mode = mode.lower()
    valid_modes = ["fan_in", "fan_out"]
    if mode not in valid_modes:
        raise ValueError(f"Mode {mode} not supported, please use one of {valid_modes}")
    fan_in, fan_out = torch_fans(tensor)
    return fan_in if mode == "fan_in" else fan_out


def _uniform(a: float, b: float, dtype: torch.dtype) -> stream.Distribution:
    """uniform on [a, b), with torch's ``uniform_`` checks and messages, in their order."""
    a, b = float(a), float(b)
    name = _CPP_NAMES.get(dtype)
    if name is not None:
        top = float(torch.finfo(dtype).max)
        for arg, value in (("from", a), ("to", b)):
            if not -top <= value <= top:  # NaN and infinities included
                raise RuntimeError(f"{arg} is out of bounds for {name}")
    if a > b:
        raise RuntimeError(f"uniform_ expects to return a [from, to) range, but found "
                           f"from={a:g} > to={b:g}")
    if name is not None and not b - a <= float(torch.finfo(dtype).max):
        raise RuntimeError(f"uniform_ expects to-from <= std::numeric_limits<"
                           f"{_SCALAR_NAMES[dtype]}>::max(), "
                           f"but found to={b:g} and from={a:g} which result in to-from to "
                           f"exceed the limit")
    return stream.uniform(a, b)


def _normal(mean: float, std: float) -> stream.Distribution:
    """normal(mean, std), with torch's error for a negative std."""
    mean, std = float(mean), float(std)
    if not std >= 0.0:
        raise RuntimeError(f"normal expects std >= 0.0, but found std {std:g}")
    return stream.normal(mean, std)


def _fill_own(tensor: torch.Tensor, make_dist: Callable[[], stream.Distribution],
              seed: Optional[int], generator: Generator, fn: str) -> torch.Tensor:
    """Stream values in ``tensor``'s own layout: call 0 of the resolved seed.

    ``make_dist()`` builds (and so validates) the distribution; it runs before any
    seed is drawn, so errors never advance a generator.
    """
    check_tensor(tensor, fn)
    check_generator(generator)
    name = dtypes.float_dtype(tensor.dtype)
    dist = make_dist()
    stream.whole_fill(dist, name)  # the stream's own checks for this format (made once)
    if is_meta(tensor) or tensor.numel() == 0:
        return tensor
    draw = stream_draw(resolve_seed(seed, generator), tensor.shape, name, dist)
    write_draw(tensor, draw, None)
    return tensor


def uniform_(tensor: torch.Tensor, a: float = 0.0, b: float = 1.0, generator: Generator = None,
             *, seed: Optional[int] = None) -> torch.Tensor:
    """``torch.nn.init.uniform_``: values uniform on ``[a, b)``, reproducible.

    >>> import torch
    >>> w = uniform_(torch.empty(1000), -1.0, 1.0, seed=0)
    >>> bool(((w >= -1) & (w < 1)).all()), bool(torch.equal(w, uniform_(torch.empty(1000), -1.0, 1.0, seed=0)))
    (True, True)
    """
    return _fill_own(tensor, lambda: _uniform(a, b, tensor.dtype), seed, generator, "uniform_")


def normal_(tensor: torch.Tensor, mean: float = 0.0, std: float = 1.0, generator: Generator = None,
            *, seed: Optional[int] = None) -> torch.Tensor:
    """``torch.nn.init.normal_``: values from N(mean, std**2), reproducible.

    >>> import torch
    >>> w = normal_(torch.empty(10000), 1.0, 2.0, seed=0)
    >>> round(float(w.mean())), round(float(w.std()))
    (1, 2)
    """
    return _fill_own(tensor, lambda: _normal(mean, std), seed, generator, "normal_")


def _truncated(mean: float, std: float, a: float, b: float, dtype: torch.dtype) -> stream.Distribution:
    """trunc_normal_'s distribution: every argument checked, in the caller's terms."""
    m, s, lo, hi = float(mean), float(std), float(a), float(b)
    if not math.isfinite(m):
        raise ValueError(f"trunc_normal_ needs a finite mean, got mean={m}.")
    if not (math.isfinite(s) and s > 0):
        raise ValueError(f"trunc_normal_ needs a finite std > 0, got std={s}.")
    if not lo < hi:
        raise ValueError(f"trunc_normal_ needs a < b, got a={lo}, b={hi}.")
    name = _CPP_NAMES.get(dtype)
    if name is not None:  # the values lie within the bounds, and within TN_CLIP std
        first, last = max(lo, m - stream.TN_CLIP * s), min(hi, m + stream.TN_CLIP * s)
        top = float(torch.finfo(dtype).max)
        if not (-top <= first and last <= top):
            raise RuntimeError(f"trunc_normal_ expects its values within the range of {name} "
                               f"(+-{top:g}), but found values in [{first:g}, {last:g}] "
                               f"(mean={m:g}, std={s:g}, a={lo:g}, b={hi:g})")
    return stream.truncated_normal(m, s, (lo - m) / s, (hi - m) / s)


def trunc_normal_(tensor: torch.Tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0,
                  b: float = 2.0, generator: Generator = None, *,
                  seed: Optional[int] = None) -> torch.Tensor:
    """``torch.nn.init.trunc_normal_``: N(mean, std**2) restricted to ``[a, b]``.

    ``a`` and ``b`` are absolute bounds, as in torch (the Keras-named
    :func:`truncated_normal_` cuts at ``mean +- 2 std``). Values come from the
    inverse CDF between the bounds (``lower = (a - mean) / std``, ``upper = (b -
    mean) / std`` in units of ``std``): no rejection loop, so the result does not
    depend on how many draws were rejected, and no value lies on or outside a
    bound in any dtype. Bounds at exactly ``mean +- 2 std`` give the Keras-named
    :func:`truncated_normal_`'s values. The stream reaches 9 std: a support is
    clipped to +-9 std, and one with less than 2**-32 of probability within them
    raises ``ValueError`` (torch warns and samples it approximately). A mean or
    std that is not finite raises ``ValueError``; values beyond the dtype's range
    raise ``RuntimeError``.

    >>> import torch
    >>> w = trunc_normal_(torch.empty(1000), std=0.5, a=-1.0, b=1.0, seed=0)
    >>> bool((w.abs() < 1).all())
    True
    """
    return _fill_own(tensor, lambda: _truncated(mean, std, a, b, tensor.dtype), seed, generator,
                     "trunc_normal_")


def xavier_uniform_(tensor: torch.Tensor, gain: float = 1.0, generator: Generator = None, *,
                    seed: Optional[int] = None) -> torch.Tensor:
    """``torch.nn.init.xavier_uniform_``: uniform on ``[-bound, bound)``.

    ``bound = gain * sqrt(6 / (fan_in + fan_out))`` with torch's fans.

    >>> import torch
    >>> w = xavier_uniform_(torch.empty(20, 10), seed=0)
    >>> bool((w.abs() < (6 / 30) ** 0.5).all())
    True
    """
    def make() -> stream.Distribution:
        fan_in, fan_out = torch_fans(tensor)
        std = gain * math.sqrt(2.0 / float(fan_in + fan_out))  # torch's formula and rounding
        bound = math.sqrt(3.0) * std
        return _uniform(-bound, bound, tensor.dtype)
    check_tensor(tensor, "xavier_uniform_")
    return _fill_own(tensor, make, seed, generator, "xavier_uniform_")


def xavier_normal_(tensor: torch.Tensor, gain: float = 1.0, generator: Generator = None, *,
                   seed: Optional[int] = None) -> torch.Tensor:
    """``torch.nn.init.xavier_normal_``: untruncated N(0, std**2).

    ``std = gain * sqrt(2 / (fan_in + fan_out))`` with torch's fans.

    >>> import torch
    >>> w = xavier_normal_(torch.empty(300, 200), seed=0)
    >>> round(float(w.std()) / (2 / 500) ** 0.5, 1)
    1.0
    """
    def make() -> stream.Distribution:
        fan_in, fan_out = torch_fans(tensor)
        return _normal(0.0, gain * math.sqrt(2.0 / float(fan_in + fan_out)))
    check_tensor(tensor, "xavier_normal_")
    return _fill_own(tensor, make, seed, generator, "xavier_normal_")


def _kaiming_std(tensor: torch.Tensor, a: float, mode: str, nonlinearity: str) -> float:
    fan = _torch_fan(tensor, mode)  # before the gain, as torch (which error comes first)
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_uniform_(tensor: torch.Tensor, a: float = 0, mode: str = "fan_in",
                     nonlinearity: str = "leaky_relu", generator: Generator = None, *,
                     seed: Optional[int] = None) -> torch.Tensor:
    """``torch.nn.init.kaiming_uniform_``: uniform on ``[-bound, bound)``.

    ``bound = sqrt(3) * gain / sqrt(fan)``, ``gain = calculate_gain(nonlinearity,
    a)``, ``fan`` torch's fan_in or fan_out (``mode``). Warns and does nothing
    on a zero-element tensor, as torch.

    >>> import torch
    >>> w = kaiming_uniform_(torch.empty(16, 8), nonlinearity="relu", seed=0)
    >>> bool((w.abs() < (6 / 8) ** 0.5).all())
    True
    """
    check_tensor(tensor, "kaiming_uniform_")
    if warn_empty(tensor):
        return tensor

    def make() -> stream.Distribution:
        bound = math.sqrt(3.0) * _kaiming_std(tensor, a, mode, nonlinearity)
        return _uniform(-bound, bound, tensor.dtype)
    return _fill_own(tensor, make, seed, generator, "kaiming_uniform_")


def kaiming_normal_(tensor: torch.Tensor, a: float = 0, mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu", generator: Generator = None, *,
                    seed: Optional[int] = None) -> torch.Tensor:
    """``torch.nn.init.kaiming_normal_``: untruncated N(0, std**2), ``std = gain / sqrt(fan)``.

    >>> import torch
    >>> w = kaiming_normal_(torch.empty(400, 300), mode="fan_out", nonlinearity="relu", seed=0)
    >>> round(float(w.std()) / (2 / 400) ** 0.5, 1)
    1.0
    """
    check_tensor(tensor, "kaiming_normal_")
    if warn_empty(tensor):
        return tensor
    return _fill_own(tensor, lambda: _normal(0.0, _kaiming_std(tensor, a, mode, nonlinearity)),
                     seed, generator, "kaiming_normal_")


def orthogonal_(tensor: torch.Tensor, gain: float = 1, generator: Generator = None, *,
                seed: Optional[int] = None, layout: Optional[str] = None) -> torch.Tensor:
    """``torch.nn.init.orthogonal_``: a (semi-)orthogonal matrix times ``gain``.

    torch's semantics (``layout=None``): the tensor viewed as ``(size(0),
    numel / size(0))`` has orthonormal rows, or columns when it is taller than
    wide. The matrix is the Q factor of a QR decomposition (signs fixed by R's
    diagonal) of a float64 standard normal matrix from the stream, as fanin's
    ``Orthogonal``: precisely, it is ``fanin.Orthogonal(gain, seed)`` of the
    transposed 2-D shape, transposed.

    ``layout="torch"`` / ``"keras"`` give Keras's ``Orthogonal`` instead, on the
    tensor's Keras twin (the Keras-named family; see :mod:`fanin.torch`).

    >>> import torch
    >>> w = orthogonal_(torch.empty(3, 5, dtype=torch.float64), seed=0)
    >>> bool(torch.allclose(w @ w.T, torch.eye(3, dtype=torch.float64)))
    True
    """
    check_tensor(tensor, "orthogonal_")
    check_generator(generator)
    if layout is not None:
        # validates gain, shape and dtype before a seed is taken
        fanin.Orthogonal(gain, 0).draw(keras_shape(tensor.shape, layout)[0], tensor.dtype)
        if is_meta(tensor):
            return tensor
        return apply_initializer(tensor, fanin.Orthogonal(gain, resolve_seed(seed, generator)),
                                 layout, "orthogonal_")
    if tensor.dim() < 2:
        raise ValueError("Only tensors with 2 or more dimensions are supported")
    name = dtypes.float_dtype(tensor.dtype)
    fanin.Orthogonal(gain, 0)
    if tensor.numel() == 0 or is_meta(tensor):
        return tensor
    # Orthogonal of (*rest, rows) flattens to the (cols, rows) matrix: its transpose
    # is the tensor, i.e. the tensor is that draw with its last axis moved first.
    shape = tuple(tensor.shape)
    draw = fanin.Orthogonal(gain, resolve_seed(seed, generator)).draw(shape[1:] + shape[:1], name)
    write_draw(tensor, draw, (len(shape) - 1,) + tuple(range(len(shape) - 1)))
    return tensor


def sparse_(tensor: torch.Tensor, sparsity: float, std: float = 0.01, generator: Generator = None,
            *, seed: Optional[int] = None) -> torch.Tensor:
    """``torch.nn.init.sparse_``: N(0, std**2) with ``ceil(sparsity * rows)`` zeros per column.

    For a 2-D ``(rows, cols)`` tensor. The values are call 0 of the seed; which
    rows of a column are zero is decided by call 1: float64 uniform keys of the same
    shape, the ``ceil(sparsity * rows)`` smallest keys of each column (a uniformly
    random subset, as torch's ``randperm``, but reproducible).

    >>> import torch
    >>> w = sparse_(torch.empty(10, 4), sparsity=0.3, seed=0)
    >>> (w == 0).sum(dim=0).tolist()
    [3, 3, 3, 3]
    """
    check_tensor(tensor, "sparse_")
    check_generator(generator)
    if tensor.ndimension() != 2:
        raise ValueError("Only tensors with 2 dimensions are supported")
    name = dtypes.float_dtype(tensor.dtype)
    dist = _normal(0.0, std)
    if is_meta(tensor) or tensor.numel() == 0:
        return tensor
    values = stream_draw(resolve_seed(seed, generator), tensor.shape, name, dist)
    write_draw(tensor, SparseDraw(values.shape, name, values=values,
                                  zeros_per_column=math.ceil(sparsity * tensor.shape[0])), None)
    return tensor


@dataclass(frozen=True)
class SparseDraw(Draw):
    """``values`` with the rows of the ``zeros_per_column`` smallest keys of each column zero.

    The keys are call 1 of the values' key: float64 uniforms of the same shape. A
    block computes the keys of its whole columns.
    """

    values: StreamDraw = field(kw_only=True)
    zeros_per_column: int = field(kw_only=True)

    def _fill_block(self, out: np.ndarray, offset: tuple) -> None:
        self.values.fill(out, offset)
        (r0, c0), (nr, nc) = offset, out.shape
        keys = np.empty((nc, self.shape[0]))  # column c0 + j's keys in row j: contiguous
        StreamDraw(self.shape, "float64", key=self.values.key, call=1,
                   distribution=stream.uniform(0.0, 1.0)).fill_permuted(keys, (1, 0), (0, c0))
        zero = smallest_per_row(keys, self.zeros_per_column)[:, r0:r0 + nr].T
        bits = out.view(f"u{out.itemsize}")  # zeroed: +0.0's bits in any format
        np.multiply(bits, ~zero, out=bits)  # branch-free (copyto where= mispredicts at 0.5)


def smallest_per_row(keys: np.ndarray, k: int) -> np.ndarray:
    """Mask of each row's ``k`` smallest keys, ties to the lower column (what a stable
    sort's first ``k`` are): the k-th smallest key, every key below it, and as many
    of the keys equal to it as are still wanted."""
    if k <= 0:
        return np.zeros(keys.shape, bool)
    kth = kth_smallest_per_row(keys, k)[:, None]
    chosen = keys <= kth  # at least k a row; more where keys tie with the k-th
    if np.count_nonzero(chosen) == keys.shape[0] * k:  # exactly k in every row
        return chosen
    below = keys < kth
    at = keys == kth
    wanted = k - below.sum(axis=1, keepdims=True)
    return below | (at & (np.cumsum(at, axis=1) <= wanted))


def kth_smallest_per_row(keys: np.ndarray, k: int) -> np.ndarray:
    """Each row's ``k``-th smallest key (1 <= k <= row length n).

    For keys uniform on [0, 1), the k-th smallest of n lies within
    6 sqrt(q (1 - q) / n) + 6 / n of q = k / (n + 1) but for a 6-sigma event, so
    only each row's keys inside that window are partitioned (1024 x 1024: 4-5 ms
    against 9 ms for a partition of every key, at any k). The k-th key is the
    (k - below)-th of the window, ``below`` the row's keys under it; a row whose
    k-th key is outside its window (any keys, any distribution) is partitioned
    whole, so the result never depends on the keys being uniform."""
    rows, n = keys.shape
    q = k / (n + 1)
    half = 6 * math.sqrt(q * (1 - q) / n) + 6 / n
    if 2 * half > 0.5:  # the window would hold most keys: partition them all
        return np.partition(keys, k - 1, axis=1)[:, k - 1]
    lo, hi = q - half, q + half
    inside = (keys >= lo) & (keys < hi)
    counts = np.count_nonzero(inside, axis=1)
    rank = k - np.count_nonzero(keys < lo, axis=1)  # the k-th key's rank in the window
    ok = (rank >= 1) & (rank <= counts)
    # Each row: `pad` = top - rank copies of -inf, its window's keys, then +inf, so
    # that every row's answer is its top-th smallest (one partition for all rows).
    top = int(rank[ok].max()) if ok.any() else 1
    pad = np.where(ok, top - rank, 0)
    width = max(top, int((pad + counts).max()))
    packed = np.full((rows, width), np.inf)
    packed[np.arange(width) < pad[:, None]] = -np.inf
    at = np.repeat(np.arange(rows) * width + pad - (np.cumsum(counts) - counts), counts)
    packed.reshape(-1)[np.arange(at.size) + at] = keys[inside]
    kth = np.partition(packed, top - 1, axis=1)[:, top - 1]
    if not ok.all():
        kth[~ok] = np.partition(keys[~ok], k - 1, axis=1)[:, k - 1]
    return kth


def eye_(tensor: torch.Tensor) -> torch.Tensor:
    """``torch.nn.init.eye_``: the identity matrix (2-D tensors only, any dtype).

    >>> import torch
    >>> eye_(torch.empty(2, 3)).tolist()
    [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
    """
    check_tensor(tensor, "eye_")
    if tensor.dim() != 2:
        raise ValueError("Only tensors with 2 dimensions are supported")
    name = dtypes.dtype_name(tensor.dtype)
    if not is_meta(tensor):
        write_draw(tensor, IdentityDraw(tuple(tensor.shape), name, gain=1), None)
    return tensor


def dirac_(tensor: torch.Tensor, groups: int = 1) -> torch.Tensor:
    """``torch.nn.init.dirac_``: convolution weights that pass ``in`` channels through.

    For a ``(out, in, *k)`` tensor of rank 3, 4 or 5, in each of ``groups`` groups
    of ``out / groups`` output channels, output channel ``d`` has a 1 at input
    channel ``d`` and the kernel's centre, for ``d < min(out / groups, in)``;
    every other element is 0.

    >>> import torch
    >>> int(dirac_(torch.empty(4, 2, 3)).sum())
    2
    """
    check_tensor(tensor, "dirac_")
    if tensor.dim() not in (3, 4, 5):
        raise ValueError("Only tensors with 3, 4, or 5 dimensions are supported")
    if tensor.shape[0] % groups != 0:
        raise ValueError("dim 0 must be divisible by groups")
    name = dtypes.dtype_name(tensor.dtype)
    if not is_meta(tensor):
        write_draw(tensor, DiracDraw(tuple(tensor.shape), name, groups=groups), None)
    return tensor


@dataclass(frozen=True)
class DiracDraw(Draw):
    """``dirac_``'s ones (channel d of each group at input d, kernel centre), zeros elsewhere."""

    groups: int = field(kw_only=True)
    sparse = True

    def _nonzeros(self, offset: tuple, shape: tuple) -> tuple[tuple[np.ndarray, ...], object]:
        """The block's ones: their indices within it."""
        per_group = self.shape[0] // self.groups
        count = min(per_group, self.shape[1])
        channel = np.tile(np.arange(count), self.groups)
        out_channel = np.repeat(np.arange(self.groups), count) * per_group + channel
        ones = [out_channel, channel] + [np.full_like(channel, n // 2) for n in self.shape[2:]]
        inside = np.ones(channel.shape, bool)
        for index, start, n in zip(ones, offset, shape):
            inside &= (index >= start) & (index < start + n)
        return tuple(index[inside] - start for index, start in zip(ones, offset)), 1


def zeros_(tensor: torch.Tensor) -> torch.Tensor:
    """Fill ``tensor`` with zeros (any numeric dtype). Same in both families.

    >>> import torch
    >>> zeros_(torch.empty(2, dtype=torch.int32)).tolist()
    [0, 0]
    """
    return _constant(tensor, 0, "zeros_")


def ones_(tensor: torch.Tensor) -> torch.Tensor:
    """Fill ``tensor`` with ones (any numeric dtype). Same in both families.

    >>> import torch
    >>> ones_(torch.empty(2)).tolist()
    [1.0, 1.0]
    """
    return _constant(tensor, 1, "ones_")


def constant_(tensor: torch.Tensor, val: Any = 0, *, value: Any = None) -> torch.Tensor:
    """Fill ``tensor`` with ``val`` (``value=``, Keras's spelling, also works).

    Rounded to the tensor's dtype as ``Tensor.fill_`` rounds it (for float dtypes,
    the same value as ``fanin.Constant(val)``).

    >>> import torch
    >>> constant_(torch.empty(2), 0.5).tolist()
    [0.5, 0.5]
    """
    val = val if value is None else value
    fanin.Constant(val)  # a real scalar, or the TypeError Keras gives
    return _constant(tensor, val, "constant_")


def _constant(tensor: torch.Tensor, value: Any, fn: str) -> torch.Tensor:
    """Every element ``value``, rounded as ``Tensor.fill_`` rounds it."""
    check_tensor(tensor, fn)
    name = dtypes.numeric_dtype(tensor.dtype)
    if not is_meta(tensor):
        write_draw(tensor, ConstantDraw(tuple(tensor.shape), name, value=value), None)
    return tensor
