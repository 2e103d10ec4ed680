"""PyTorch support: fanin initializers applied in place to ``torch.Tensor`` s.

Functions follow ``torch.nn.init`` conventions (a trailing underscore, the tensor
first, the tensor returned, writes done under ``torch.no_grad()`` so they work
on ``nn.Parameter`` s) with the Keras names and semantics::

    lecun_normal_  lecun_uniform_  glorot_normal_  glorot_uniform_  he_normal_
    he_uniform_  variance_scaling_  truncated_normal_  random_normal_
    random_uniform_  orthogonal_  identity_  zeros_  ones_  constant_  init_

plus :func:`init_module_` for a whole ``nn.Module`` and :func:`fill_with_torch_ops`
(the on-device stream).

Layout. A torch weight is stored ``(out, in, *kernel)``; the Keras kernel of the
same layer is ``(*kernel, in, out)``. With ``layout="torch"`` (the default) a
tensor of shape ``(A, B, k1, .., kd)`` receives exactly the values the same
fanin initializer (same seed, same call index) gives for the Keras shape
``(k1, .., kd, B, A)``, permuted: ``W == keras_array.transpose(d+1, d, 0, .., d-1)``.
So fans are computed as Keras computes them for the twin layer (for ``nn.Linear``
``fan_in = in_features``; for convolutions ``fan_in = in/groups * prod(kernel)``),
and a PyTorch model and its Keras twin get identical weights. Transposed
convolutions (torch ``(in, out/groups, *k)``) map to Keras ``Conv*DTranspose``
kernels ``(*k, out, in)`` by the same rule: their fans are then the ones both Keras
and ``torch.nn.init`` use (fan_in from dim 1). Tensors of rank 0 and 1 (biases)
have one layout. ``layout="keras"`` means the tensor already is in Keras order:
no permutation.

Devices. A contiguous CPU tensor (float16, bfloat16, float32, float64) is filled
in place through a NumPy view of its memory, by fanin's compiled kernel when built
(else the NumPy reference), with no copy. When a permutation is needed, or the
tensor is not contiguous, it is written in blocks of its first dimension: each
block is a partition of the Keras-layout tensor, generated into a temporary of at
most 16 MiB and copied in (``Tensor.copy_``), so memory stays the output plus a
small constant. Meta tensors are left alone
(the call is validated but takes no call index). Tensors on other devices (CUDA,
...) are filled on the device by :func:`fill_with_torch_ops`, bit for bit the same
values. Non-random initializers (zeros, ones, constant, identity, orthogonal) are
computed with NumPy on the host and copied.

Seeds follow fanin's semantics: a function called with ``seed=None`` creates an
unseeded initializer, so after ``fanin.set_random_seed(g)`` the sequence of calls
is reproducible.

>>> import torch, fanin, fanin.torch
>>> lin = torch.nn.Linear(4, 3)
>>> _ = fanin.torch.lecun_normal_(lin.weight, seed=0)
>>> keras_kernel = fanin.LecunNormal(seed=0)((4, 3))   # Dense(3) on 4 inputs
>>> bool((lin.weight.detach().numpy() == keras_kernel.T).all())
True
"""

from __future__ import annotations

import hashlib
import math

import numpy as np
import torch

import fanin
from fanin import _dtypes, _seeds, stream
from fanin._torch_stream import fill_plan
from fanin.draws import TILE_BYTES, ConstantDraw, Draw, StreamDraw, tiles

__all__ = [
    "lecun_normal_", "lecun_uniform_", "glorot_normal_", "glorot_uniform_",
    "he_normal_", "he_uniform_", "variance_scaling_", "truncated_normal_",
    "random_normal_", "random_uniform_", "orthogonal_", "identity_", "zeros_",
    "ones_", "constant_", "init_", "init_module_", "parameter_seed",
    "keras_shape", "fill_with_torch_ops",
]

_LAYOUTS = ("torch", "keras")
_FLOAT_TORCH = {torch.float16: "float16", torch.bfloat16: "bfloat16",
                torch.float32: "float32", torch.float64: "float64"}


# --------------------------------------------------------------------------- #
# Layout
# --------------------------------------------------------------------------- #


def keras_shape(shape, layout: str = "torch"):
    """The Keras-layout shape of a torch tensor shape, and the permutation back.

    Returns ``(kshape, axes)``: ``torch_tensor == keras_tensor.permute(axes)``;
    ``axes`` is ``None`` when the layouts coincide (rank < 2 or ``layout="keras"``).

    >>> keras_shape((64, 32, 3, 3))
    ((3, 3, 32, 64), (3, 2, 0, 1))
    >>> keras_shape((8,))
    ((8,), None)
    """
    if layout not in _LAYOUTS:
        raise ValueError(f"Unknown layout {layout!r}; expected one of {_LAYOUTS}.")
    shape = tuple(int(d) for d in shape)
    if layout == "keras" or len(shape) < 2:
        return shape, None
    d = len(shape) - 2
    kshape = shape[2:] + (shape[1], shape[0])
    return kshape, (d + 1, d) + tuple(range(d))


# --------------------------------------------------------------------------- #
# Filling
# --------------------------------------------------------------------------- #


def _check_tensor(tensor, fn: str):
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"{fn}() expects a torch.Tensor, got {type(tensor).__name__}.")
    if tensor.layout != torch.strided:
        raise ValueError(f"{fn}() supports dense (strided) tensors only, got layout "
                         f"{tensor.layout}.")


def _numpy_view(t):
    """A NumPy array sharing ``t``'s memory (CPU, contiguous) and its stream format."""
    t = t.detach()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().view(np.uint16), "bfloat16"
    return t.numpy(), _FLOAT_TORCH[t.dtype]


def _bump_version(tensor):
    """Writes through NumPy bypass autograd's version counter: bump it by hand."""
    inc = getattr(torch.autograd.graph, "increment_version", None)
    if inc is not None:
        inc(tensor)


def fill_with_torch_ops(tensor, draw):
    """Fill ``tensor`` with a stream draw's values computed by torch ops on its device.

    ``draw`` is a :class:`fanin.StreamDraw` (from ``initializer.draw(shape, dtype)``);
    ``tensor`` must be contiguous with the draw's shape and dtype. Bit for bit the
    values of ``draw.array()``, on any device; temporary memory stays bounded.
    Returns ``tensor``.

    >>> import torch, fanin
    >>> d = fanin.LecunNormal(seed=0).draw((3, 4))
    >>> t = fill_with_torch_ops(torch.empty(3, 4), d)
    >>> bool((t.numpy() == fanin.LecunNormal(seed=0)((3, 4))).all())
    True
    """
    _check_tensor(tensor, "fill_with_torch_ops")
    if not isinstance(draw, StreamDraw):
        raise TypeError(f"draw must be a fanin.StreamDraw, got {type(draw).__name__}.")
    if tuple(tensor.shape) != tuple(draw.shape):
        raise ValueError(f"tensor shape {tuple(tensor.shape)} does not match the draw's "
                         f"shape {tuple(draw.shape)}.")
    if _FLOAT_TORCH.get(tensor.dtype) != draw.dtype:
        raise ValueError(f"tensor dtype {tensor.dtype} does not match the draw's dtype "
                         f"{draw.dtype}.")
    if tensor.device.type == "meta":
        return tensor
    with torch.no_grad():
        fill_plan(tensor, draw.plan())
    return tensor


#: How CPU tensors are filled: "numpy" (the compiled kernel / NumPy reference,
#: through a view of the tensor's memory) or "torch" (the torch-ops stream, as on
#: accelerators; tests use it to run the device code path on CPU).
_CPU_PATH = "numpy"


def _fill_block(t, draw: Draw, offset):
    """Fill the contiguous tensor ``t`` with the block of ``draw`` at ``offset``."""
    if t.device.type == "cpu" and _CPU_PATH == "numpy":
        draw.fill(_numpy_view(t)[0], offset)
        _bump_version(t)
    elif isinstance(draw, StreamDraw):
        fill_plan(t, draw.plan(offset, tuple(t.shape)))
    else:  # identity, orthogonal, custom draws: computed on the host
        t.copy_(_to_torch(draw.block(offset, tuple(t.shape))))


#: Largest temporary (bytes) used to permute values into a tensor.
_TEMP_BYTES = TILE_BYTES


def _write_draw(tensor, draw, axes):
    """Write a draw (Keras layout) into ``tensor`` (the draw permuted by ``axes``).

    A contiguous tensor in the draw's layout is filled in place. Otherwise the
    draw is cut into tiles of at most ``_TEMP_BYTES`` (along any axis, so a wide
    ``nn.Linear(2**26, 2)`` weight is no exception), each computed into a
    temporary and copied into its place, so memory stays the output plus a
    small constant.
    """
    with torch.no_grad():
        if isinstance(draw, ConstantDraw):  # exact in every dtype
            tensor.fill_(draw.value)
            return
        if axes is None and tensor.is_contiguous():
            _fill_block(tensor, draw, None)
            return
        axes = tuple(range(tensor.dim())) if axes is None else tuple(axes)
        limit = _TEMP_BYTES // tensor.element_size()
        # one buffer for every tile: fresh temporaries per tile fragment the heap
        buffer = torch.empty(min(limit, tensor.numel()), dtype=tensor.dtype,
                             device=tensor.device)
        for offset, shape in tiles(draw.shape, limit):
            tmp = buffer[:math.prod(shape)].view(shape)
            _fill_block(tmp, draw, offset)
            region = tuple(slice(offset[a], offset[a] + shape[a]) for a in axes)
            tensor[region].copy_(tmp.permute(axes))


def _to_torch(values):
    """A torch tensor sharing a numpy array's memory (bfloat16 included)."""
    if values.dtype.name == "bfloat16":
        return torch.from_numpy(values.view(np.uint16).view(np.int16)).view(torch.bfloat16)
    return torch.from_numpy(values)


def _apply(tensor, init, layout, fn):
    _check_tensor(tensor, fn)
    kshape, axes = keras_shape(tensor.shape, layout)
    if not isinstance(init, fanin.Initializer):  # a plain callable (shape, dtype) -> array
        if tensor.device.type != "meta":
            values = _to_torch(np.ascontiguousarray(init(kshape, _dtypes.dtype_name(tensor.dtype))))
            with torch.no_grad():
                tensor.copy_(values if axes is None else values.permute(axes))
        return tensor
    if tensor.device.type == "meta":  # nothing to fill: validate the dtype only
        _dtypes.checked_dtype(tensor.dtype, init.dtype_kind)
        return tensor
    _write_draw(tensor, init.draw(kshape, tensor.dtype), axes)
    return tensor


# --------------------------------------------------------------------------- #
# Public functions
# --------------------------------------------------------------------------- #


def init_(tensor, initializer, *, layout="torch"):
    """Fill ``tensor`` in place with any fanin initializer or identifier.

    ``initializer`` is an instance (its call index advances, as calling it
    would) or anything :func:`fanin.get` accepts (``"lecun_normal"``, a config
    dict, ...). Returns ``tensor``.

    >>> import torch, fanin
    >>> init = fanin.GlorotUniform(seed=1)
    >>> w1, w2 = torch.empty(3, 5), torch.empty(3, 5)
    >>> _ = init_(w1, init); _ = init_(w2, init)        # calls 0 and 1
    >>> ref = fanin.GlorotUniform(seed=1); _ = ref((5, 3))
    >>> bool((w2.numpy() == ref((5, 3)).T).all())
    True
    >>> bool((init_(torch.empty(2), "ones") == 1).all())
    True
    """
    init = fanin.get(initializer)
    if not callable(init):
        raise ValueError(f"Could not interpret initializer identifier: {initializer!r}.")
    return _apply(tensor, init, layout, "init_")


def variance_scaling_(tensor, scale=1.0, mode="fan_in", distribution="truncated_normal",
                      seed=None, *, layout="torch"):
    """Keras ``VarianceScaling`` in place: ``stddev = sqrt(scale / n)``.

    ``n`` is fan_in, fan_out or their mean (``mode``), from the Keras fans of the
    tensor's Keras-layout twin (see the module docstring). ``distribution`` is
    ``"truncated_normal"`` (cut at two pre-truncation stddevs, scaled so the
    result has stddev ``sqrt(scale / n)``), ``"untruncated_normal"`` or
    ``"uniform"`` (within ``[-sqrt(3 scale / n), sqrt(3 scale / n))``).

    >>> import torch
    >>> w = variance_scaling_(torch.empty(256, 128), scale=2.0, seed=0)
    >>> round(float(w.std()) * 128 ** 0.5 / 2 ** 0.5, 1)
    1.0
    """
    return _apply(tensor, fanin.VarianceScaling(scale, mode, distribution, seed),
                  layout, "variance_scaling_")


def _fixed(cls, fn):
    def f(tensor, seed=None, *, layout="torch"):
        return _apply(tensor, cls(seed=seed), layout, fn)
    f.__name__ = f.__qualname__ = fn
    return f


lecun_normal_ = _fixed(fanin.LecunNormal, "lecun_normal_")
lecun_normal_.__doc__ = """Lecun normal in place: truncated normal, stddev ``sqrt(1 / fan_in)``.

Same values as ``fanin.LecunNormal(seed)`` on the Keras-layout twin, permuted.

>>> import torch, fanin
>>> conv = torch.nn.Conv2d(3, 8, kernel_size=3)
>>> _ = lecun_normal_(conv.weight, seed=0)
>>> k = fanin.LecunNormal(seed=0)((3, 3, 3, 8))        # Keras Conv2D kernel
>>> bool((conv.weight.detach().numpy() == k.transpose(3, 2, 0, 1)).all())
True
"""

lecun_uniform_ = _fixed(fanin.LecunUniform, "lecun_uniform_")
lecun_uniform_.__doc__ = """Lecun uniform in place: within ``[-sqrt(3 / fan_in), sqrt(3 / fan_in))``.

>>> import torch
>>> w = lecun_uniform_(torch.empty(10, 12), seed=0)
>>> bool((w.abs() < (3 / 12) ** 0.5).all())
True
"""

glorot_normal_ = _fixed(fanin.GlorotNormal, "glorot_normal_")
glorot_normal_.__doc__ = """Glorot (Xavier) normal in place: truncated normal, stddev ``sqrt(2 / (fan_in + fan_out))``.

>>> import torch
>>> glorot_normal_(torch.empty(2, 3), seed=0).shape
torch.Size([2, 3])
"""

glorot_uniform_ = _fixed(fanin.GlorotUniform, "glorot_uniform_")
glorot_uniform_.__doc__ = """Glorot (Xavier) uniform in place: limit ``sqrt(6 / (fan_in + fan_out))``.

>>> import torch
>>> w = glorot_uniform_(torch.empty(20, 10), seed=0)
>>> bool((w.abs() < (6 / 30) ** 0.5).all())
True
"""

he_normal_ = _fixed(fanin.HeNormal, "he_normal_")
he_normal_.__doc__ = """He normal in place: truncated normal, stddev ``sqrt(2 / fan_in)``.

>>> import torch
>>> he_normal_(torch.empty(8, 4, 3, 3, dtype=torch.bfloat16), seed=0).dtype
torch.bfloat16
"""

he_uniform_ = _fixed(fanin.HeUniform, "he_uniform_")
he_uniform_.__doc__ = """He uniform in place: limit ``sqrt(6 / fan_in)``.

>>> import torch
>>> w = he_uniform_(torch.empty(16, 8), seed=0)
>>> bool((w.abs() < (6 / 8) ** 0.5).all())
True
"""


def truncated_normal_(tensor, mean=0.0, std=0.05, seed=None, *, layout="torch"):
    """Keras ``TruncatedNormal`` in place: normal values cut at ``mean ± 2 * std``.

    Unlike ``torch.nn.init.trunc_normal_``, whose ``a`` / ``b`` are absolute
    bounds (default -2 and 2 whatever ``std``), the bounds here are always two
    standard deviations around the mean, as in Keras; ``std`` is the
    pre-truncation standard deviation. Defaults are Keras's (``std=0.05``).

    >>> import torch
    >>> w = truncated_normal_(torch.empty(1000), mean=1.0, std=0.1, seed=0)
    >>> bool(((w > 0.8) & (w < 1.2)).all())
    True
    """
    return _apply(tensor, fanin.TruncatedNormal(mean, std, seed), layout,
                  "truncated_normal_")


def random_normal_(tensor, mean=0.0, std=0.05, seed=None, *, layout="torch"):
    """Keras ``RandomNormal`` in place (defaults are Keras's: ``std=0.05``).

    >>> import torch
    >>> w = random_normal_(torch.empty(10000), std=1.0, seed=0)
    >>> round(float(w.std()), 1)
    1.0
    """
    return _apply(tensor, fanin.RandomNormal(mean, std, seed), layout, "random_normal_")


def random_uniform_(tensor, minval=-0.05, maxval=0.05, seed=None, *, layout="torch"):
    """Keras ``RandomUniform`` in place: uniform on ``[minval, maxval)``.

    >>> import torch
    >>> w = random_uniform_(torch.empty(100), 0.0, 1.0, seed=0)
    >>> bool(((w >= 0) & (w < 1)).all())
    True
    """
    return _apply(tensor, fanin.RandomUniform(minval, maxval, seed), layout,
                  "random_uniform_")


def orthogonal_(tensor, gain=1.0, seed=None, *, layout="torch"):
    """Keras ``Orthogonal`` in place (rank >= 2), on the Keras-layout twin.

    The Keras twin ``(*k, in, out)`` is flattened to ``(prod(k) * in, out)``;
    permuted back to torch layout, ``W.reshape(out, -1)`` has orthonormal rows
    (or columns, when ``out > in * prod(k)``), as with ``torch.nn.init.orthogonal_``.

    >>> import torch
    >>> w = orthogonal_(torch.empty(3, 5, dtype=torch.float64), seed=0)
    >>> bool(torch.allclose(w @ w.T, torch.eye(3, dtype=torch.float64)))
    True
    """
    return _apply(tensor, fanin.Orthogonal(gain, seed), layout, "orthogonal_")


def identity_(tensor, gain=1.0, *, layout="torch"):
    """Keras ``Identity`` in place: ``gain`` times the identity matrix (2-D only).

    >>> import torch
    >>> identity_(torch.empty(2, 3)).tolist()
    [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
    """
    return _apply(tensor, fanin.Identity(gain), layout, "identity_")


def zeros_(tensor):
    """Fill ``tensor`` with zeros (any numeric dtype).

    >>> import torch
    >>> zeros_(torch.empty(2, dtype=torch.int32)).tolist()
    [0, 0]
    """
    return _apply(tensor, fanin.Zeros(), "torch", "zeros_")


def ones_(tensor):
    """Fill ``tensor`` with ones (any numeric dtype).

    >>> import torch
    >>> ones_(torch.empty(2)).tolist()
    [1.0, 1.0]
    """
    return _apply(tensor, fanin.Ones(), "torch", "ones_")


def constant_(tensor, value=0):
    """Fill ``tensor`` with ``value``, rounded as ``fanin.Constant(value)`` rounds it.

    >>> import torch
    >>> constant_(torch.empty(2), 0.5).tolist()
    [0.5, 0.5]
    """
    return _apply(tensor, fanin.Constant(value), "torch", "constant_")


# --------------------------------------------------------------------------- #
# Whole modules
# --------------------------------------------------------------------------- #


def parameter_seed(seed, name: str) -> int:
    """The seed of parameter ``name`` under :func:`init_module_` with ``seed``.

    ``int.from_bytes(blake2b(name.encode("utf-8"), digest_size=8,
    key=seed_to_key(seed).to_bytes(8, "little")).digest(), "little")``: a keyed
    hash of the qualified parameter name (``"encoder.0.weight"``), stable across
    processes, Python versions and machines (unlike ``hash()``).

    >>> parameter_seed(0, "fc.weight") == parameter_seed(0, "fc.weight")
    True
    >>> parameter_seed(0, "fc.weight") != parameter_seed(1, "fc.weight")
    True
    """
    seed = _seeds.check_seed(seed)
    if seed is None:
        raise TypeError("parameter_seed() needs an integer seed, got None.")
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}.")
    key = stream.seed_to_key(seed).to_bytes(8, "little")
    digest = hashlib.blake2b(name.encode("utf-8"), digest_size=8, key=key).digest()
    return int.from_bytes(digest, "little")


def _reseeded(init, seed):
    """A fresh copy of ``init`` (call 0) with ``seed``, if it takes one."""
    if not isinstance(init, fanin.Initializer):
        return init
    config = init.get_config()
    if "seed" not in config:
        return init
    return type(init).from_config({**config, "seed": seed})


def _norm_types():
    nn = torch.nn
    types = [nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm]
    if hasattr(nn, "RMSNorm"):
        types.append(nn.RMSNorm)
    return tuple(types)


def _role(module, local_name, param):
    """('kernel', layout) | ('bias', None) | ('ones'/'zeros', None) | None."""
    if isinstance(module, _norm_types()):
        return {"weight": ("ones", None), "bias": ("zeros", None)}.get(local_name)
    if isinstance(module, (torch.nn.Embedding, torch.nn.EmbeddingBag)) and local_name == "weight":
        return "kernel", "keras"  # (num_embeddings, dim) is Keras's Embedding layout
    if param.ndim >= 2:
        return "kernel", "torch"
    if local_name == "bias" or local_name.startswith("bias_") or local_name.endswith("_bias"):
        return "bias", None
    return None


def init_module_(module, kernel="lecun_normal", bias="zeros", seed=0):
    """Re-initialize every weight and bias of ``module`` in place, the Keras/Flax way.

    - Weights (parameters of rank >= 2: ``Linear``, ``ConvNd``, ``ConvTransposeNd``,
      grouped convolutions, RNN and attention projections, ...) get ``kernel`` in
      torch layout (the Keras twin's values, permuted; see the module docstring).
      ``Embedding`` weights ``(num, dim)`` are already in Keras's layout and are
      not permuted.
    - Biases (rank < 2 parameters named ``bias``, ``bias_*`` or ``*_bias``) get ``bias``.
    - Normalization layers (BatchNorm, InstanceNorm, LayerNorm, GroupNorm,
      RMSNorm) are reset to weight = ones and bias = zeros, as Keras initializes
      gamma and beta; their running statistics (buffers) are left alone.
    - Any other parameter (e.g. ``PReLU.weight``, a custom 1-D scale) is left alone.
      ``kernel=None`` / ``bias=None`` leave weights / biases alone.

    Parameter ``name`` (its qualified name, ``"layer1.0.conv1.weight"``) gets a
    fresh copy of the initializer seeded with :func:`parameter_seed` ``(seed,
    name)``, at call index 0, so the result does not depend on construction or
    iteration order, and a Keras twin built with ``initializer(seed=
    parameter_seed(seed, name))`` gets the same values. An initializer instance
    passed as ``kernel`` / ``bias`` is used for its configuration; its own seed
    is replaced. A parameter shared by several modules is initialized once,
    under its lexicographically smallest name. ``seed=None`` draws one seed the
    fanin way (reproducible after ``fanin.set_random_seed``). Meta parameters
    are skipped. Returns ``module``.

    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    >>> _ = init_module_(net, seed=0)
    >>> import fanin
    >>> k = fanin.LecunNormal(seed=parameter_seed(0, "2.weight"))((8, 2))
    >>> bool((net[2].weight.detach().numpy() == k.T).all()), float(net[2].bias.detach().abs().sum())
    (True, 0.0)
    """
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"init_module_() expects a torch.nn.Module, got "
                        f"{type(module).__name__}.")
    seed = _seeds.check_seed(seed)
    if seed is None:
        seed = _seeds.fresh_seed()
    kernel_init, bias_init = fanin.get(kernel), fanin.get(bias)
    found = {}  # id(param) -> [param, [(qualified name, owner, local name)]]
    for mod_name, mod in module.named_modules(remove_duplicate=False):
        for local, p in mod.named_parameters(recurse=False):
            qual = f"{mod_name}.{local}" if mod_name else local
            found.setdefault(id(p), [p, []])[1].append((qual, mod, local))
    for p, names in found.values():
        qual, mod, local = min(names, key=lambda t: t[0])
        role = _role(mod, local, p)
        if role is None:
            continue
        what, layout = role
        if (what == "bias" and bias_init is None) or (what == "kernel" and kernel_init is None):
            continue  # None: leave these parameters alone
        if what == "ones":
            init, layout = fanin.Ones(), "torch"
        elif what == "zeros":
            init, layout = fanin.Zeros(), "torch"
        elif what == "bias":
            init, layout = _reseeded(bias_init, parameter_seed(seed, qual)), "torch"
        else:
            init = _reseeded(kernel_init, parameter_seed(seed, qual))
        _apply(p, init, layout, "init_module_")
    return module
