"""PyTorch support: fanin's stream written in place into ``torch.Tensor`` s.

Every function follows ``torch.nn.init`` conventions (a trailing underscore, the
tensor first and returned, writes done under ``torch.no_grad()`` so they work on
``nn.Parameter`` s). There are two families:

- **torch-named** (``import fanin.torch as init`` in place of ``torch.nn.init``):
  ``uniform_  normal_  trunc_normal_  xavier_uniform_  xavier_normal_
  kaiming_uniform_  kaiming_normal_  orthogonal_  sparse_  eye_  dirac_  constant_
  zeros_  ones_`` and :func:`calculate_gain`, with ``torch.nn.init``'s signatures,
  distributions, fan rule (``fan_in = size(1) * receptive field``) and errors, in
  the tensor's own layout. ``trunc_normal_`` takes absolute bounds ``[a, b]``
  and is an inverse CDF (no rejection loop). ``xavier_normal_`` and
  ``kaiming_normal_`` are untruncated, as in torch.
- **Keras-named**: ``lecun_normal_  lecun_uniform_  glorot_normal_
  glorot_uniform_  he_normal_  he_uniform_  variance_scaling_  truncated_normal_
  random_normal_  random_uniform_  identity_  init_``, and ``orthogonal_(...,
  layout="torch")``: Keras semantics on the Keras twin of the tensor (below).

plus :func:`init_module_` (per-layer rules for a whole ``nn.Module``) and
:func:`fill_with_torch_ops` (the on-device stream).

Names both families share: ``zeros_``, ``ones_`` and ``constant_`` mean the same
in both. ``orthogonal_`` has torch's semantics (rows ``size(0)``, the rest
flattened) unless given ``layout="torch"`` or ``layout="keras"``, which selects
Keras's ``Orthogonal`` on the Keras twin.

Layout (Keras family). A torch weight is stored ``(out, in, *kernel)``; the Keras
kernel of the same layer is ``(*kernel, in, out)``. With ``layout="torch"`` (the
default) a tensor of shape ``(A, B, k1, .., kd)`` receives exactly the values the
same fanin initializer (same seed, same call index) gives for the Keras shape
``(k1, .., kd, B, A)``, permuted: ``W == keras_array.transpose(d+1, d, 0, .., d-1)``.
So fans are computed as Keras computes them for the twin layer, and a PyTorch
model and its Keras twin get identical weights. Transposed convolutions (torch
``(in, out/groups, *k)``) map to Keras ``Conv*DTranspose`` kernels ``(*k, out,
in)`` by the same rule. Tensors of rank 0 and 1 have one layout.
``layout="keras"`` means the tensor already is in Keras order: no permutation.

Seeds. Every random function takes ``generator=`` and a keyword ``seed=``. The
64-bit seed of a call is, in order of precedence (:func:`resolve_seed`):

1. ``seed`` when given (the call is then a pure function of seed, shape, dtype
   and parameters: call index 0 of that seed);
2. else drawn from ``generator`` when given;
3. else, after ``fanin.set_random_seed(g)``, fanin's rule (the n-th unseeded
   initializer since ``set_random_seed`` draws from ``(g, n)``);
4. else drawn from torch's default CPU generator, so ``torch.manual_seed(s)``
   makes a script reproducible, across processes too.

"Drawn from a generator" means ``w = torch.randint(0, 2**32, (2,),
dtype=torch.int64, generator=g, device=g.device)`` and ``seed = w[0] + (w[1] <<
32)``: one step of the generator per call, as one small ``torch`` sampling call.

Devices. A contiguous CPU tensor (float16, bfloat16, float32, float64) is filled
in place through a NumPy view of its memory, by fanin's compiled kernel when built
(else the NumPy reference), with no copy. When a permutation is needed, or the
tensor is not contiguous, it is written in tiles (along any axis) through a
temporary of at most 16 MiB each. Tensors on other devices (CUDA, ...) are filled on the
device by :func:`fill_with_torch_ops`, bit for bit the same values. Meta tensors are
validated and left alone (no call index and no generator step taken). Inference
tensors outside ``torch.inference_mode()`` refuse writes with torch's own
``RuntimeError``. Zero-element tensors: ``kaiming_*`` and the Keras-named random
functions warn ``"Initializing zero-element tensors is a no-op"`` (as torch's
``kaiming_*`` do) and take no seed.

>>> import torch, fanin, fanin.torch
>>> lin = torch.nn.Linear(4, 3)
>>> _ = fanin.torch.lecun_normal_(lin.weight, seed=0)
>>> keras_kernel = fanin.LecunNormal(seed=0)((4, 3))   # Dense(3) on 4 inputs
>>> bool((lin.weight.detach().numpy() == keras_kernel.T).all())
True
>>> _ = torch.manual_seed(0); a = fanin.torch.kaiming_normal_(torch.empty(3, 4))
>>> _ = torch.manual_seed(0); b = fanin.torch.kaiming_normal_(torch.empty(3, 4))
>>> bool(torch.equal(a, b))
True
"""

from __future__ import annotations

import fnmatch
import hashlib
from dataclasses import dataclass, field
import math
import warnings

import numpy as np
import torch

import fanin
from fanin import dtypes, seeds, shapes, _torch_dtensor, stream
from fanin._torch_dtensor import local_block
from fanin.stream.torch import fill_plan
from fanin.draws import TILE_BYTES, ConstantDraw, Draw, IdentityDraw, StreamDraw, tiles

__all__ = [
    # torch-named family
    "uniform_", "normal_", "trunc_normal_", "xavier_uniform_", "xavier_normal_",
    "kaiming_uniform_", "kaiming_normal_", "orthogonal_", "sparse_", "eye_", "dirac_",
    "constant_", "zeros_", "ones_", "calculate_gain",
    # Keras-named family
    "lecun_normal_", "lecun_uniform_", "glorot_normal_", "glorot_uniform_",
    "he_normal_", "he_uniform_", "variance_scaling_", "truncated_normal_",
    "random_normal_", "random_uniform_", "identity_", "init_",
    # modules, seeds, helpers
    "init_module_", "parameter_seed", "resolve_seed", "keras_shape",
    "fill_with_torch_ops", "local_block",
]

_LAYOUTS = ("torch", "keras")
_FLOAT_TORCH = {torch.float16: "float16", torch.bfloat16: "bfloat16",
                torch.float32: "float32", torch.float64: "float64"}
_EMPTY_WARNING = "Initializing zero-element tensors is a no-op"
# torch's own message (c10, InferenceMode): fanin's NumPy path must refuse the same writes.
_INFERENCE_ERROR = ("Inplace update to inference tensor outside InferenceMode is not "
                    "allowed.You can make a clone to get a normal tensor before doing "
                    "inplace update.See https://github.com/pytorch/rfcs/pull/17 for more "
                    "details.")


# --------------------------------------------------------------------------- #
# Layout
# --------------------------------------------------------------------------- #


def keras_shape(shape, layout: str = "torch"):
    """The Keras-layout shape of a torch tensor shape, and the permutation back.

    Returns ``(kshape, axes)``: ``torch_tensor == keras_tensor.permute(axes)``;
    ``axes`` is ``None`` when the layouts coincide (rank < 2 or ``layout="keras"``).
    Dimensions must be non-negative integers (``TypeError`` / ``ValueError``).

    >>> keras_shape((64, 32, 3, 3))
    ((3, 3, 32, 64), (3, 2, 0, 1))
    >>> keras_shape((8,))
    ((8,), None)
    """
    if layout not in _LAYOUTS:
        raise ValueError(f"Unknown layout {layout!r}; expected one of {_LAYOUTS}.")
    shape = shapes.normalize_shape(shape)
    if layout == "keras" or len(shape) < 2:
        return shape, None
    d = len(shape) - 2
    kshape = shape[2:] + (shape[1], shape[0])
    return kshape, (d + 1, d) + tuple(range(d))


# --------------------------------------------------------------------------- #
# Checks shared by every function
# --------------------------------------------------------------------------- #


def _check_tensor(tensor, fn: str):
    """A dense tensor that torch itself would let us write in place."""
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"{fn}() expects a torch.Tensor, got {type(tensor).__name__}.")
    if tensor.layout != torch.strided:
        raise ValueError(f"{fn}() supports dense (strided) tensors only, got layout "
                         f"{tensor.layout}.")
    if tensor.is_inference() and not torch.is_inference_mode_enabled():
        raise RuntimeError(_INFERENCE_ERROR)


def _is_meta(tensor) -> bool:
    return tensor.device.type == "meta"


def _warn_empty(tensor, depth=1) -> bool:
    """Warn as torch's ``kaiming_*`` do; True when ``tensor`` has no elements.

    ``depth``: how many fanin.torch frames lie between the user and the caller.
    """
    if tensor.numel() == 0:
        warnings.warn(_EMPTY_WARNING, UserWarning, stacklevel=2 + depth)
        return True
    return False


# --------------------------------------------------------------------------- #
# Seeds
# --------------------------------------------------------------------------- #


def _check_generator(generator):
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got "
                        f"{type(generator).__name__}. (A seed goes in the keyword "
                        f"`seed=`.)")


def _fanin_seed_is_set() -> bool:
    """Whether ``fanin.set_random_seed`` is in effect."""
    return seeds.get_state()[0] is not None


def resolve_seed(seed=None, generator=None) -> int:
    """The seed a ``fanin.torch`` call uses (see the module docstring for the rule).

    ``seed`` wins; else one step of ``generator``; else fanin's seed after
    ``fanin.set_random_seed``; else one step of torch's default CPU generator.

    >>> import torch
    >>> resolve_seed(7)
    7
    >>> _ = torch.manual_seed(0); a = resolve_seed()
    >>> _ = torch.manual_seed(0); a == resolve_seed()
    True
    >>> resolve_seed(generator=torch.Generator().manual_seed(0)) == a
    True
    """
    _check_generator(generator)
    seed = seeds.check_seed(seed)
    if seed is not None:
        return seed
    if generator is None and _fanin_seed_is_set():
        return seeds.fresh_seed()
    device = generator.device if generator is not None else "cpu"
    words = torch.randint(0, 1 << 32, (2,), dtype=torch.int64, generator=generator,
                          device=device).tolist()
    return words[0] | (words[1] << 32)


def _stream_draw(seed: int, shape, name: str, dist) -> StreamDraw:
    """Call 0 of ``seed``: the whole tensor ``shape`` of ``dist`` values in ``name``."""
    return StreamDraw(tuple(shape), name, key=stream.seed_to_key(seed), call=0,
                      distribution=dist)


# --------------------------------------------------------------------------- #
# Filling
# --------------------------------------------------------------------------- #


def _numpy_view(t):
    """A NumPy array sharing ``t``'s memory (CPU, contiguous; any dtype NumPy has), and
    its stream format (None for non-float dtypes)."""
    t = t.detach()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().view(np.uint16), "bfloat16"
    return t.numpy(), _FLOAT_TORCH.get(t.dtype)


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
        if not t.is_inference():  # inference tensors have no version counter
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
    tensor is cut into tiles of at most ``_TEMP_BYTES`` (along any axis, so a wide
    ``nn.Linear(2**26, 2)`` weight is no exception); each tile's block of the draw
    is computed into a temporary and copied into its place, so memory stays the
    output plus a small constant. Tiles follow the tensor's C order (whole rows
    of the tensor), so each copy writes contiguous memory: 2-3x faster than
    tiles of the draw's order for transposed ``nn.Linear`` weights.
    """
    if _torch_dtensor.is_dtensor(tensor):
        return _torch_dtensor.write(tensor, draw, axes)
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
        tensor_axis = {a: j for j, a in enumerate(axes)}  # tensor axis j is draw axis axes[j]
        for t_offset, t_shape in tiles(tuple(tensor.shape), limit):
            offset = tuple(t_offset[tensor_axis[a]] for a in range(len(axes)))
            shape = tuple(t_shape[tensor_axis[a]] for a in range(len(axes)))
            tmp = buffer[:math.prod(shape)].view(shape)
            _fill_block(tmp, draw, offset)
            region = tuple(slice(o, o + n) for o, n in zip(t_offset, t_shape))
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
            values = _to_torch(np.ascontiguousarray(init(kshape, dtypes.dtype_name(tensor.dtype))))
            with torch.no_grad():
                tensor.copy_(values if axes is None else values.permute(axes))
        return tensor
    if tensor.device.type == "meta":  # nothing to fill: validate the dtype only
        dtypes.checked_dtype(tensor.dtype, init.dtype_kind)
        return tensor
    _write_draw(tensor, init.draw(kshape, tensor.dtype), axes)
    return tensor


# --------------------------------------------------------------------------- #
# Keras-named family
# --------------------------------------------------------------------------- #

#: Keras-named function -> its torch-named counterpart (named in TypeErrors when a
#: torch.nn.init keyword reaches a Keras-named function).
_TORCH_TWIN = {
    "glorot_uniform_": "xavier_uniform_", "glorot_normal_": "xavier_normal_",
    "he_uniform_": "kaiming_uniform_", "he_normal_": "kaiming_normal_",
    "lecun_uniform_": "kaiming_uniform_", "lecun_normal_": "kaiming_normal_",
    "truncated_normal_": "trunc_normal_", "random_normal_": "normal_",
    "random_uniform_": "uniform_", "variance_scaling_": "kaiming_normal_",
}


def _reject_keywords(fn: str, unexpected: dict):
    if unexpected:
        raise TypeError(f"{fn}() got unexpected keyword arguments {sorted(unexpected)}: "
                        f"it is Keras-named and takes Keras's arguments. For "
                        f"torch.nn.init's arguments use fanin.torch.{_TORCH_TWIN[fn]}.")


def _keras_random(tensor, make, seed, generator, layout, fn):
    """A Keras-named random fill: validate, warn on empty, resolve the seed, write."""
    _check_tensor(tensor, fn)
    _check_generator(generator)
    keras_shape(tensor.shape, layout)
    if _warn_empty(tensor, depth=2):
        return tensor
    # validate the parameters and the dtype before a seed is taken
    dtypes.checked_dtype(tensor.dtype, make(0).dtype_kind)
    if _is_meta(tensor):
        return tensor
    return _apply(tensor, make(resolve_seed(seed, generator)), layout, fn)


def init_(tensor, initializer, *, layout="torch", generator=None):
    """Fill ``tensor`` in place with any fanin initializer or identifier.

    ``initializer`` is an instance (its own seed and call index are used, and
    the call index advances, as calling it would) or anything :func:`fanin.get`
    accepts (``"lecun_normal"``, a config dict, ...); an identifier without a
    seed gets one by :func:`resolve_seed` (``generator``, else
    ``torch.manual_seed``). Returns ``tensor``.

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
    _check_generator(generator)
    init = fanin.get(initializer)
    if not callable(init):
        raise ValueError(f"Could not interpret initializer identifier: {initializer!r}.")
    if init is not initializer and init.get_config().get("seed", 0) is None:
        _check_tensor(tensor, "init_")
        if not _is_meta(tensor) and tensor.numel() > 0:
            init = _reseeded(init, resolve_seed(None, generator))
    return _apply(tensor, init, layout, "init_")


def variance_scaling_(tensor, scale=1.0, mode="fan_in", distribution="truncated_normal",
                      seed=None, *, layout="torch", generator=None, **unexpected):
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
    _reject_keywords("variance_scaling_", unexpected)
    return _keras_random(tensor, lambda s: fanin.VarianceScaling(scale, mode, distribution, s),
                         seed, generator, layout, "variance_scaling_")


def _fixed(cls, fn):
    def f(tensor, seed=None, *, layout="torch", generator=None, **unexpected):
        _reject_keywords(fn, unexpected)
        return _keras_random(tensor, lambda s: cls(seed=s), seed, generator, layout, fn)
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
glorot_normal_.__doc__ = """Glorot normal in place: truncated normal, stddev ``sqrt(2 / (fan_in + fan_out))``.

(``xavier_normal_`` is torch's untruncated one.)

>>> import torch
>>> glorot_normal_(torch.empty(2, 3), seed=0).shape
torch.Size([2, 3])
"""

glorot_uniform_ = _fixed(fanin.GlorotUniform, "glorot_uniform_")
glorot_uniform_.__doc__ = """Glorot uniform in place: limit ``sqrt(6 / (fan_in + fan_out))``.

>>> import torch
>>> w = glorot_uniform_(torch.empty(20, 10), seed=0)
>>> bool((w.abs() < (6 / 30) ** 0.5).all())
True
"""

he_normal_ = _fixed(fanin.HeNormal, "he_normal_")
he_normal_.__doc__ = """He normal in place: truncated normal, stddev ``sqrt(2 / fan_in)``.

(``kaiming_normal_`` is torch's untruncated one.)

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


def truncated_normal_(tensor, mean=0.0, std=0.05, seed=None, *, layout="torch",
                      generator=None, **unexpected):
    """Keras ``TruncatedNormal`` in place: normal values cut at ``mean ± 2 * std``.

    The bounds are always two standard deviations around the mean, as in Keras;
    ``std`` is the pre-truncation standard deviation; defaults are Keras's
    (``std=0.05``). For ``torch.nn.init``'s absolute bounds use :func:`trunc_normal_`.

    >>> import torch
    >>> w = truncated_normal_(torch.empty(1000), mean=1.0, std=0.1, seed=0)
    >>> bool(((w > 0.8) & (w < 1.2)).all())
    True
    """
    _reject_keywords("truncated_normal_", unexpected)
    return _keras_random(tensor, lambda s: fanin.TruncatedNormal(mean, std, s), seed,
                         generator, layout, "truncated_normal_")


def random_normal_(tensor, mean=0.0, std=0.05, seed=None, *, layout="torch",
                   generator=None, **unexpected):
    """Keras ``RandomNormal`` in place (defaults are Keras's: ``std=0.05``).

    >>> import torch
    >>> w = random_normal_(torch.empty(10000), std=1.0, seed=0)
    >>> round(float(w.std()), 1)
    1.0
    """
    _reject_keywords("random_normal_", unexpected)
    return _keras_random(tensor, lambda s: fanin.RandomNormal(mean, std, s), seed,
                         generator, layout, "random_normal_")


def random_uniform_(tensor, minval=-0.05, maxval=0.05, seed=None, *, layout="torch",
                    generator=None, **unexpected):
    """Keras ``RandomUniform`` in place: uniform on ``[minval, maxval)``.

    >>> import torch
    >>> w = random_uniform_(torch.empty(100), 0.0, 1.0, seed=0)
    >>> bool(((w >= 0) & (w < 1)).all())
    True
    """
    _reject_keywords("random_uniform_", unexpected)
    return _keras_random(tensor, lambda s: fanin.RandomUniform(minval, maxval, s), seed,
                         generator, layout, "random_uniform_")


def identity_(tensor, gain=1.0, *, layout="torch"):
    """Keras ``Identity`` in place: ``gain`` times the identity matrix (2-D only).

    >>> import torch
    >>> identity_(torch.empty(2, 3)).tolist()
    [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
    """
    return _apply(tensor, fanin.Identity(gain), layout, "identity_")


# --------------------------------------------------------------------------- #
# torch-named family: torch.nn.init's signatures, distributions, fans and errors
# --------------------------------------------------------------------------- #

#: torch.nn.init.calculate_gain's names whose gain is 1 (its table).
_LINEAR_FNS = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
               "conv_transpose2d", "conv_transpose3d", "sigmoid")


def calculate_gain(nonlinearity, param=None):
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


def _torch_fans(tensor):
    """torch's ``_calculate_fan_in_and_fan_out``: ``size(1)`` / ``size(0)`` times the receptive field."""
    if tensor.dim() < 2:
        raise ValueError("Fan in and fan out can not be computed for tensor with fewer "
                         "than 2 dimensions")
    receptive = math.prod(tensor.shape[2:])
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def _torch_fan(tensor, mode):
    mode = mode.lower()
    valid_modes = ["fan_in", "fan_out"]
    if mode not in valid_modes:
        raise ValueError(f"Mode {mode} not supported, please use one of {valid_modes}")
    fan_in, fan_out = _torch_fans(tensor)
    return fan_in if mode == "fan_in" else fan_out


def _uniform(a, b):
    """uniform on [a, b), with torch's error for a reversed range."""
    a, b = float(a), float(b)
    if a > b:
        raise RuntimeError(f"uniform_ expects to return a [from, to) range, but found "
                           f"from={a:g} > to={b:g}")
    return stream.uniform(a, b)


def _normal(mean, std):
    """normal(mean, std), with torch's error for a negative std."""
    mean, std = float(mean), float(std)
    if not std >= 0.0:
        raise RuntimeError(f"normal expects std >= 0.0, but found std {std:g}")
    return stream.normal(mean, std)


def _fill_own(tensor, make_dist, seed, generator, fn):
    """Stream values in ``tensor``'s own layout: call 0 of the resolved seed.

    ``make_dist()`` builds (and so validates) the distribution; it runs before any
    seed is drawn, so errors never advance a generator.
    """
    _check_tensor(tensor, fn)
    _check_generator(generator)
    name = dtypes.float_dtype(tensor.dtype)
    dist = make_dist()
    stream.clamp_bounds(dist, name)  # raises when no value of the dtype is in the support
    if _is_meta(tensor) or tensor.numel() == 0:
        return tensor
    draw = _stream_draw(resolve_seed(seed, generator), tensor.shape, name, dist)
    _write_draw(tensor, draw, None)
    return tensor


def uniform_(tensor, a=0.0, b=1.0, generator=None, *, seed=None):
    """``torch.nn.init.uniform_``: values uniform on ``[a, b)``, reproducible.

    >>> import torch
    >>> w = uniform_(torch.empty(1000), -1.0, 1.0, seed=0)
    >>> bool(((w >= -1) & (w < 1)).all()), bool(torch.equal(w, uniform_(torch.empty(1000), -1.0, 1.0, seed=0)))
    (True, True)
    """
    return _fill_own(tensor, lambda: _uniform(a, b), seed, generator, "uniform_")


def normal_(tensor, mean=0.0, std=1.0, generator=None, *, seed=None):
    """``torch.nn.init.normal_``: values from N(mean, std**2), reproducible.

    >>> import torch
    >>> w = normal_(torch.empty(10000), 1.0, 2.0, seed=0)
    >>> round(float(w.mean())), round(float(w.std()))
    (1, 2)
    """
    return _fill_own(tensor, lambda: _normal(mean, std), seed, generator, "normal_")


def trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0, generator=None, *, seed=None):
    """``torch.nn.init.trunc_normal_``: N(mean, std**2) restricted to ``[a, b]``.

    ``a`` and ``b`` are absolute bounds, as in torch (the Keras-named
    :func:`truncated_normal_` cuts at ``mean +- 2 std``). Values come from the
    inverse CDF between the bounds (``lower = (a - mean) / std``, ``upper = (b -
    mean) / std`` in units of ``std``): no rejection loop, so the result does not
    depend on how many draws were rejected, and no value lies on or outside a
    bound in any dtype. Bounds at exactly ``mean +- 2 std`` give the Keras-named
    :func:`truncated_normal_`'s values. The stream reaches 9 std: a support is
    clipped to +-9 std, and one with less than 2**-32 of probability within them
    raises ``ValueError`` (torch warns and samples it approximately).

    >>> import torch
    >>> w = trunc_normal_(torch.empty(1000), std=0.5, a=-1.0, b=1.0, seed=0)
    >>> bool((w.abs() < 1).all())
    True
    """
    def make():
        m, s, lo, hi = float(mean), float(std), float(a), float(b)
        if not s > 0:
            raise ValueError(f"trunc_normal_ needs std > 0, got std={s}.")
        if not lo < hi:
            raise ValueError(f"trunc_normal_ needs a < b, got a={lo}, b={hi}.")
        return stream.truncated_normal(m, s, (lo - m) / s, (hi - m) / s)
    return _fill_own(tensor, make, seed, generator, "trunc_normal_")


def xavier_uniform_(tensor, gain=1.0, generator=None, *, seed=None):
    """``torch.nn.init.xavier_uniform_``: uniform on ``[-bound, bound)``.

    ``bound = gain * sqrt(6 / (fan_in + fan_out))`` with torch's fans.

    >>> import torch
    >>> w = xavier_uniform_(torch.empty(20, 10), seed=0)
    >>> bool((w.abs() < (6 / 30) ** 0.5).all())
    True
    """
    def make():
        fan_in, fan_out = _torch_fans(tensor)
        std = gain * math.sqrt(2.0 / float(fan_in + fan_out))  # torch's formula and rounding
        bound = math.sqrt(3.0) * std
        return _uniform(-bound, bound)
    _check_tensor(tensor, "xavier_uniform_")
    return _fill_own(tensor, make, seed, generator, "xavier_uniform_")


def xavier_normal_(tensor, gain=1.0, generator=None, *, seed=None):
    """``torch.nn.init.xavier_normal_``: untruncated N(0, std**2).

    ``std = gain * sqrt(2 / (fan_in + fan_out))`` with torch's fans.

    >>> import torch
    >>> w = xavier_normal_(torch.empty(300, 200), seed=0)
    >>> round(float(w.std()) / (2 / 500) ** 0.5, 1)
    1.0
    """
    def make():
        fan_in, fan_out = _torch_fans(tensor)
        return _normal(0.0, gain * math.sqrt(2.0 / float(fan_in + fan_out)))
    _check_tensor(tensor, "xavier_normal_")
    return _fill_own(tensor, make, seed, generator, "xavier_normal_")


def _kaiming_std(tensor, a, mode, nonlinearity):
    fan = _torch_fan(tensor, mode)  # before the gain, as torch (which error comes first)
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_uniform_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None,
                     *, seed=None):
    """``torch.nn.init.kaiming_uniform_``: uniform on ``[-bound, bound)``.

    ``bound = sqrt(3) * gain / sqrt(fan)``, ``gain = calculate_gain(nonlinearity,
    a)``, ``fan`` torch's fan_in or fan_out (``mode``). Warns and does nothing
    on a zero-element tensor, as torch.

    >>> import torch
    >>> w = kaiming_uniform_(torch.empty(16, 8), nonlinearity="relu", seed=0)
    >>> bool((w.abs() < (6 / 8) ** 0.5).all())
    True
    """
    _check_tensor(tensor, "kaiming_uniform_")
    if _warn_empty(tensor):
        return tensor

    def make():
        bound = math.sqrt(3.0) * _kaiming_std(tensor, a, mode, nonlinearity)
        return _uniform(-bound, bound)
    return _fill_own(tensor, make, seed, generator, "kaiming_uniform_")


def kaiming_normal_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None,
                    *, seed=None):
    """``torch.nn.init.kaiming_normal_``: untruncated N(0, std**2), ``std = gain / sqrt(fan)``.

    >>> import torch
    >>> w = kaiming_normal_(torch.empty(400, 300), mode="fan_out", nonlinearity="relu", seed=0)
    >>> round(float(w.std()) / (2 / 400) ** 0.5, 1)
    1.0
    """
    _check_tensor(tensor, "kaiming_normal_")
    if _warn_empty(tensor):
        return tensor
    return _fill_own(tensor, lambda: _normal(0.0, _kaiming_std(tensor, a, mode, nonlinearity)),
                     seed, generator, "kaiming_normal_")


def orthogonal_(tensor, gain=1, generator=None, *, seed=None, layout=None):
    """``torch.nn.init.orthogonal_``: a (semi-)orthogonal matrix times ``gain``.

    torch's semantics (``layout=None``): the tensor viewed as ``(size(0),
    numel / size(0))`` has orthonormal rows, or columns when it is taller than
    wide. The matrix is the Q factor of a QR decomposition (signs fixed by R's
    diagonal) of a float64 standard normal matrix from the stream, as fanin's
    ``Orthogonal``: precisely, it is ``fanin.Orthogonal(gain, seed)`` of the
    transposed 2-D shape, transposed.

    ``layout="torch"`` / ``"keras"`` give Keras's ``Orthogonal`` instead, on the
    tensor's Keras twin (the Keras-named family; see the module docstring).

    >>> import torch
    >>> w = orthogonal_(torch.empty(3, 5, dtype=torch.float64), seed=0)
    >>> bool(torch.allclose(w @ w.T, torch.eye(3, dtype=torch.float64)))
    True
    """
    _check_tensor(tensor, "orthogonal_")
    _check_generator(generator)
    if layout is not None:
        keras_shape(tensor.shape, layout)
        fanin.Orthogonal(gain, 0)  # validates gain before a seed is taken
        if _is_meta(tensor):
            return tensor
        return _apply(tensor, fanin.Orthogonal(gain, resolve_seed(seed, generator)), layout,
                      "orthogonal_")
    if tensor.dim() < 2:
        raise ValueError("Only tensors with 2 or more dimensions are supported")
    name = dtypes.float_dtype(tensor.dtype)
    fanin.Orthogonal(gain, 0)
    if tensor.numel() == 0 or _is_meta(tensor):
        return tensor
    # Orthogonal of (*rest, rows) flattens to the (cols, rows) matrix: its transpose
    # is the tensor, i.e. the tensor is that draw with its last axis moved first.
    shape = tuple(tensor.shape)
    draw = fanin.Orthogonal(gain, resolve_seed(seed, generator)).draw(shape[1:] + shape[:1], name)
    _write_draw(tensor, draw, (len(shape) - 1,) + tuple(range(len(shape) - 1)))
    return tensor


def sparse_(tensor, sparsity, std=0.01, generator=None, *, seed=None):
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
    _check_tensor(tensor, "sparse_")
    _check_generator(generator)
    if tensor.ndimension() != 2:
        raise ValueError("Only tensors with 2 dimensions are supported")
    name = dtypes.float_dtype(tensor.dtype)
    dist = _normal(0.0, std)
    if _is_meta(tensor) or tensor.numel() == 0:
        return tensor
    values = _stream_draw(resolve_seed(seed, generator), tensor.shape, name, dist)
    _write_draw(tensor, SparseDraw(values.shape, name, values=values,
                                   zeros_per_column=math.ceil(sparsity * tensor.shape[0])),
                None)
    return tensor


@dataclass(frozen=True)
class SparseDraw(Draw):
    """``values`` with the rows of the ``zeros_per_column`` smallest keys of each column zero.

    The keys are call 1 of the values' key: float64 uniforms of the same shape. A
    block computes the keys of its whole columns.
    """

    values: StreamDraw = field(kw_only=True)
    zeros_per_column: int = field(kw_only=True)

    def _fill_block(self, out, offset):
        self.values.fill(out, offset)
        (r0, c0), (nr, nc) = offset, out.shape
        keys = StreamDraw(self.shape, "float64", key=self.values.key, call=1,
                          distribution=stream.uniform(0.0, 1.0)).block((0, c0), (self.shape[0], nc))
        rank = np.argsort(np.argsort(keys, axis=0, kind="stable"), axis=0, kind="stable")
        out[rank[r0:r0 + nr] < self.zeros_per_column] = 0


def eye_(tensor):
    """``torch.nn.init.eye_``: the identity matrix (2-D tensors only, any dtype).

    >>> import torch
    >>> eye_(torch.empty(2, 3)).tolist()
    [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
    """
    _check_tensor(tensor, "eye_")
    if tensor.dim() != 2:
        raise ValueError("Only tensors with 2 dimensions are supported")
    name = dtypes.dtype_name(tensor.dtype)
    if not _is_meta(tensor):
        _write_draw(tensor, IdentityDraw(tuple(tensor.shape), name, gain=1), None)
    return tensor


def dirac_(tensor, groups=1):
    """``torch.nn.init.dirac_``: convolution weights that pass ``in`` channels through.

    For a ``(out, in, *k)`` tensor of rank 3, 4 or 5, in each of ``groups`` groups
    of ``out / groups`` output channels, output channel ``d`` has a 1 at input
    channel ``d`` and the kernel's centre, for ``d < min(out / groups, in)``;
    every other element is 0.

    >>> import torch
    >>> int(dirac_(torch.empty(4, 2, 3)).sum())
    2
    """
    _check_tensor(tensor, "dirac_")
    if tensor.dim() not in (3, 4, 5):
        raise ValueError("Only tensors with 3, 4, or 5 dimensions are supported")
    if tensor.shape[0] % groups != 0:
        raise ValueError("dim 0 must be divisible by groups")
    name = dtypes.dtype_name(tensor.dtype)
    if not _is_meta(tensor):
        _write_draw(tensor, DiracDraw(tuple(tensor.shape), name, groups=groups), None)
    return tensor


@dataclass(frozen=True)
class DiracDraw(Draw):
    """``dirac_``'s ones (channel d of each group at input d, kernel centre), zeros elsewhere."""

    groups: int = field(kw_only=True)

    def _fill_block(self, out, offset):
        out.fill(0)
        per_group = self.shape[0] // self.groups
        count = min(per_group, self.shape[1])
        channel = np.tile(np.arange(count), self.groups)
        out_channel = np.repeat(np.arange(self.groups), count) * per_group + channel
        ones = [out_channel, channel] + [np.full_like(channel, n // 2) for n in self.shape[2:]]
        inside = np.ones(channel.shape, bool)
        for index, start, n in zip(ones, offset, out.shape):
            inside &= (index >= start) & (index < start + n)
        out[tuple(index[inside] - start for index, start in zip(ones, offset))] = 1


def zeros_(tensor):
    """Fill ``tensor`` with zeros (any numeric dtype). Same in both families.

    >>> import torch
    >>> zeros_(torch.empty(2, dtype=torch.int32)).tolist()
    [0, 0]
    """
    return _constant(tensor, 0, "zeros_")


def ones_(tensor):
    """Fill ``tensor`` with ones (any numeric dtype). Same in both families.

    >>> import torch
    >>> ones_(torch.empty(2)).tolist()
    [1.0, 1.0]
    """
    return _constant(tensor, 1, "ones_")


def constant_(tensor, val=0, *, value=None):
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


def _constant(tensor, value, fn):
    """Every element ``value``, rounded as ``Tensor.fill_`` rounds it."""
    _check_tensor(tensor, fn)
    name = dtypes.numeric_dtype(tensor.dtype)
    if not _is_meta(tensor):
        _write_draw(tensor, ConstantDraw(tuple(tensor.shape), name, value=value), None)
    return tensor


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
    seed = seeds.check_seed(seed)
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


def _is_bias_name(local: str) -> bool:
    return local == "bias" or local.startswith("bias_") or local.endswith("_bias")


# A writer fills one parameter given its seed: ``writer(param, seed)``. Rules map
# (module, local parameter name, parameter) to a writer, or None (left alone).


def _keras_writer(init, layout="torch"):
    """A fanin initializer (Keras semantics) as a writer, reseeded per parameter."""
    def write(p, seed):
        _apply(p, _reseeded(init, seed), layout, "init_module_")
    return write


def _torch_writer(fn, **kwargs):
    """A torch-named function as a writer."""
    def write(p, seed):
        fn(p, seed=seed, **kwargs)
    return write


def _zero_padding_row(module, write):
    """Embedding: after ``write``, row ``padding_idx`` is zeros (as torch's reset)."""
    def wrapped(p, seed):
        write(p, seed)
        if getattr(module, "padding_idx", None) is not None and not _is_meta(p):
            with torch.no_grad():
                p[module.padding_idx].fill_(0)
    return wrapped


def _lstm_bias_ih(hidden):
    """Keras's ``unit_forget_bias``: zeros, with ones on the forget gate (i, f, g, o)."""
    def write(p, seed):
        zeros_(p)
        if not _is_meta(p):
            with torch.no_grad():
                p[hidden:2 * hidden].fill_(1)
    return write


def _mha_in_proj(embed_dim):
    """Keras's q, k and v kernels, each glorot uniform on its own (E, E) block.

    The parameter's seed gives one ``GlorotUniform``; its calls 0, 1 and 2 are the
    q, k and v blocks (each the Keras kernel ``(E, E)``, transposed).
    """
    def write(p, seed):
        init = fanin.GlorotUniform(seed=seed)
        for i in range(3):
            _apply(p[i * embed_dim:(i + 1) * embed_dim], init, "torch", "init_module_")
    return write


def _keras_rule(module, local, p):
    """Each layer's Keras-twin defaults (the ``"keras"`` rules)."""
    nn = torch.nn
    if isinstance(module, _norm_types()):
        return {"weight": _keras_writer(fanin.Ones()),
                "bias": _keras_writer(fanin.Zeros())}.get(local)
    if isinstance(module, (nn.Embedding, nn.EmbeddingBag)) and local == "weight":
        # (num_embeddings, dim) already is Keras's layout: no permutation
        return _zero_padding_row(module, _keras_writer(fanin.RandomUniform(-0.05, 0.05),
                                                       "keras"))
    if isinstance(module, (nn.RNNBase, nn.RNNCellBase)):
        if local.startswith("weight_hh"):
            return _keras_writer(fanin.Orthogonal())
        if local.startswith("bias_ih") and isinstance(module, (nn.LSTM, nn.LSTMCell)):
            return _lstm_bias_ih(module.hidden_size)
    if isinstance(module, nn.MultiheadAttention) and local == "in_proj_weight":
        return _mha_in_proj(module.embed_dim)
    if _is_bias_name(local):  # any rank: MultiheadAttention's bias_k is (1, 1, E)
        return _keras_writer(fanin.Zeros())
    if p.ndim >= 2:
        return _keras_writer(fanin.GlorotUniform())
    return None


def _fan_in_bound(weight):
    """torch's Linear/Conv bias bound ``1 / sqrt(fan_in)`` (0 when fan_in is 0)."""
    fan_in, _ = _torch_fans(weight)
    return 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0


def _torch_rule(module, local, p):
    """PyTorch's own ``reset_parameters`` distributions (the ``"torch"`` rules)."""
    nn = torch.nn
    uniform = lambda bound: _torch_writer(uniform_, a=-bound, b=bound)  # noqa: E731
    if isinstance(module, _norm_types()):
        return {"weight": _torch_writer(_ignore_seed(ones_)),
                "bias": _torch_writer(_ignore_seed(zeros_))}.get(local)
    if isinstance(module, (nn.Linear, nn.modules.conv._ConvNd)):
        if local == "weight":
            return _torch_writer(kaiming_uniform_, a=math.sqrt(5))
        if local == "bias":
            return uniform(_fan_in_bound(module.weight))
    if isinstance(module, nn.Bilinear) and local in ("weight", "bias"):
        bound = 1.0 / math.sqrt(module.weight.shape[1])
        return uniform(bound)
    if isinstance(module, (nn.Embedding, nn.EmbeddingBag)) and local == "weight":
        return _zero_padding_row(module, _torch_writer(normal_))
    if isinstance(module, (nn.RNNBase, nn.RNNCellBase)):
        bound = 1.0 / math.sqrt(module.hidden_size) if module.hidden_size > 0 else 0.0
        return uniform(bound)
    if isinstance(module, nn.MultiheadAttention):
        if local in ("in_proj_weight", "q_proj_weight", "k_proj_weight", "v_proj_weight"):
            return _torch_writer(xavier_uniform_)
        if local == "in_proj_bias":
            return _torch_writer(_ignore_seed(zeros_))
        if local in ("bias_k", "bias_v"):
            return _torch_writer(xavier_normal_)
    if isinstance(module, nn.PReLU) and local == "weight":
        return _torch_writer(_ignore_seed(constant_), val=module.init)
    return None


def _ignore_seed(fn):
    def f(p, seed=None, **kwargs):
        return fn(p, **kwargs)
    return f


def _torch_overrides(module):
    """Parameters whose torch default a parent module sets (id -> writer).

    ``MultiheadAttention`` zeros ``out_proj.bias``; ``nn.Transformer`` gives every
    parameter of rank > 1 ``xavier_uniform_`` (its ``_reset_parameters``).
    """
    found = {}
    for mod in module.modules():
        if isinstance(mod, torch.nn.MultiheadAttention) and mod.out_proj.bias is not None:
            found[id(mod.out_proj.bias)] = _torch_writer(_ignore_seed(zeros_))
    for mod in module.modules():
        if isinstance(mod, torch.nn.Transformer):
            found.update({id(p): _torch_writer(xavier_uniform_)
                          for p in mod.parameters() if p.dim() > 1})
    return found


_RULES = {"keras": _keras_rule, "torch": _torch_rule}


def _user_value(value, module):
    """A mapping value as a writer: a fanin identifier/instance, a function, or None."""
    if value is None:
        return lambda p, seed: None  # leave alone
    if isinstance(value, (str, dict, fanin.Initializer)):
        init = fanin.get(value)
        layout = "keras" if isinstance(module, (torch.nn.Embedding, torch.nn.EmbeddingBag)) else "torch"
        return _keras_writer(init, layout)
    if callable(value):
        return lambda p, seed: value(p, seed=seed)
    raise TypeError(f"rules values must be a fanin initializer or identifier, a function "
                    f"f(tensor, seed=...) or None, got {type(value).__name__}.")


def _check_mapping(rules):
    for key in rules:
        if not (isinstance(key, str) or (isinstance(key, type)
                                         and issubclass(key, torch.nn.Module))):
            raise TypeError(f"rules keys must be parameter-name globs (str) or "
                            f"torch.nn.Module subclasses, got {key!r}.")


def _user_rule(rules, base, qual, module, local, p):
    """The first glob matching ``qual``, else the first module type ``module`` is, else ``base``."""
    for key, value in rules.items():
        if isinstance(key, str) and fnmatch.fnmatchcase(qual, key):
            return _user_value(value, module)
    for key, value in rules.items():
        if isinstance(key, type) and isinstance(module, key):
            if isinstance(value, dict) and not _looks_like_config(value):
                if local not in value:
                    break
                return _user_value(value[local], module)
            if p.ndim >= 2:  # a bare initializer for a module type: its weights
                return _user_value(value, module)
            break
    return base(module, local, p)


def _looks_like_config(value: dict) -> bool:
    """A fanin config dict (``{"class_name": ...}``) rather than {param name: value}."""
    return "class_name" in value


_UNSET = object()


def init_module_(module, rules="keras", seed=0, *, base="keras", generator=None,
                 kernel=_UNSET, bias=_UNSET):
    """Re-initialize the parameters of ``module`` in place, layer by layer.

    ``rules="keras"`` gives each torch layer what its Keras twin uses by default:

    - ``Linear``, ``ConvNd``, ``ConvTransposeNd`` (and any other parameter of rank
      >= 2): glorot uniform kernel in torch layout (the Keras twin's values,
      permuted; see the module docstring); biases zeros.
    - ``LSTM`` / ``GRU`` / ``RNN`` (and their cells): ``weight_ih*`` glorot uniform
      (Keras ``kernel``), ``weight_hh*`` orthogonal (Keras ``recurrent_kernel``),
      biases zeros; for ``LSTM`` Keras's unit forget bias is the ``+1`` on the
      forget gate of ``bias_ih*`` (torch adds ``bias_ih`` and ``bias_hh``; both
      gate orders are i, f, g, o). GRU gate blocks stay in torch's order (r, z, n).
    - ``Embedding``: uniform(-0.05, 0.05), no permutation (a ``padding_idx`` row
      is then zeroed, as torch's own reset does).
    - Norms (BatchNorm, InstanceNorm, LayerNorm, GroupNorm, RMSNorm): weight ones,
      bias zeros; running statistics (buffers) are left alone.
    - ``MultiheadAttention``: the packed ``in_proj_weight`` (3E, E) gets q, k and v
      each as its own (E, E) glorot uniform kernel (per-projection fans), calls
      0, 1, 2 of the parameter's seed; biases (``in_proj_bias``, ``bias_k``,
      ``bias_v``, ``out_proj.bias``) zeros; ``out_proj`` is a ``Linear``.
    - Any other parameter named ``bias``, ``bias_*`` or ``*_bias`` gets zeros; the
      rest of rank < 2 (e.g. ``PReLU.weight``) is left alone.

    ``rules="torch"`` gives PyTorch's own ``reset_parameters`` distributions, made
    reproducible (torch-named functions, torch layout): ``Linear`` / conv weights
    ``kaiming_uniform_(a=sqrt(5))`` and biases uniform(+-1/sqrt(fan_in));
    ``Bilinear`` uniform(+-1/sqrt(in1)); ``Embedding`` N(0, 1) (padding row 0);
    RNNs uniform(+-1/sqrt(hidden_size)); norms ones/zeros;
    ``MultiheadAttention`` ``xavier_uniform_`` projections, ``xavier_normal_``
    ``bias_k``/``bias_v``, zero in/out biases; ``PReLU`` its ``init``; inside an
    ``nn.Transformer`` every parameter of rank > 1 ``xavier_uniform_`` (as its own
    reset). Other parameters are left alone.

    ``rules`` may also be a mapping of overrides on top of ``base`` (``"keras"`` or
    ``"torch"``). Keys are parameter-name globs (``"encoder.*.weight"``, matched
    against qualified names with :func:`fnmatch.fnmatchcase`; the first match
    wins) or module types (``torch.nn.Linear``; the first type the module is an
    instance of wins; a glob beats a type). Values are a fanin initializer or
    identifier (Keras semantics, torch layout, Embedding in Keras layout), a
    function called as ``f(param, seed=...)`` (e.g. :func:`kaiming_normal_`), or
    None (leave alone). For a module type the value applies to its parameters of
    rank >= 2, or is a dict from local parameter names to values.

    Seeds: parameter ``name`` (its qualified name, ``"layer1.0.conv1.weight"``)
    is seeded with :func:`parameter_seed` ``(seed, name)``, at call index 0, so
    the result does not depend on construction or iteration order, and a Keras
    twin built with ``initializer(seed=parameter_seed(seed, name))`` gets the
    same values. ``seed=None`` resolves one seed by :func:`resolve_seed`
    (``generator``, else ``fanin.set_random_seed``, else ``torch.manual_seed``).
    A parameter shared by several modules is initialized once, under its
    lexicographically smallest name. Meta parameters, and the uninitialized
    parameters of lazy modules, are skipped.

    ``kernel=`` / ``bias=`` (the earlier interface) override every rank >= 2
    parameter / every bias outside norms with one initializer (None: leave
    them alone). Returns ``module``.

    >>> import torch, fanin
    >>> net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    >>> _ = init_module_(net, seed=0)
    >>> k = fanin.GlorotUniform(seed=parameter_seed(0, "2.weight"))((8, 2))
    >>> bool((net[2].weight.detach().numpy() == k.T).all()), float(net[2].bias.detach().abs().sum())
    (True, 0.0)
    """
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"init_module_() expects a torch.nn.Module, got "
                        f"{type(module).__name__}.")
    rule = _module_rule(module, rules, base, kernel, bias)
    seed = resolve_seed(seed, generator)
    found = {}  # id(param) -> [param, [(qualified name, owner, local name)]]
    for mod_name, mod in module.named_modules(remove_duplicate=False):
        for local, p in mod.named_parameters(recurse=False):
            qual = f"{mod_name}.{local}" if mod_name else local
            found.setdefault(id(p), [p, []])[1].append((qual, mod, local))
    for p, names in found.values():
        if isinstance(p, torch.nn.parameter.UninitializedParameter):
            continue  # a lazy module before its first forward: nothing to fill yet
        qual, mod, local = min(names, key=lambda t: t[0])
        write = rule(qual, mod, local, p)
        if write is not None and not _is_meta(p):
            write(p, parameter_seed(seed, qual))
    return module


def _module_rule(module, rules, base, kernel, bias):
    """``rule(qual, module, local, param) -> writer | None`` for ``init_module_``'s arguments."""
    if base not in _RULES:
        raise ValueError(f"Unknown base rules {base!r}; expected one of {sorted(_RULES)}.")
    if isinstance(rules, str):
        if rules not in _RULES:
            raise ValueError(f"Unknown rules {rules!r}; expected one of {sorted(_RULES)} "
                             f"or a mapping.")
        rules, base = {}, rules
    elif not isinstance(rules, dict):
        raise TypeError(f"rules must be 'keras', 'torch' or a dict, got "
                        f"{type(rules).__name__}.")
    _check_mapping(rules)
    base_rule = _RULES[base]
    if base == "torch":
        base_rule = _with_overrides(_torch_overrides(module), base_rule)
    base_rule = _legacy_rule(base_rule, kernel, bias)
    return lambda qual, mod, local, p: _user_rule(rules, base_rule, qual, mod, local, p)


def _with_overrides(overrides, rule):
    """``rule``, except for the parameters in ``overrides`` (id -> writer)."""
    return lambda module, local, p: overrides.get(id(p)) or rule(module, local, p)


def _legacy_rule(rule, kernel, bias):
    """``kernel=`` / ``bias=`` on top of ``rule``, outside norm layers."""
    if kernel is _UNSET and bias is _UNSET:
        return rule
    kernel_w = None if kernel is _UNSET else _user_value(kernel, None)
    bias_w = None if bias is _UNSET else _user_value(bias, None)

    def legacy(module, local, p):
        if not isinstance(module, _norm_types()):
            if kernel_w is not None and p.ndim >= 2:
                if isinstance(module, (torch.nn.Embedding, torch.nn.EmbeddingBag)):
                    return _user_value(kernel, module)
                return kernel_w
            if bias_w is not None and p.ndim < 2 and _is_bias_name(local):
                return bias_w
        return rule(module, local, p)
    return legacy
