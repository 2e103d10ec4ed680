"""PyTorch support: fanin's stream written in place into ``torch.Tensor`` s.

Every function follows ``torch.nn.init`` conventions (a trailing underscore, the
tensor first and returned, writes done under ``torch.no_grad()`` so they work on
``nn.Parameter`` s), and every fill is one PyTorch operator, ``fanin::fill``
(:mod:`fanin.torch.write`): fanin works inside ``torch.compile``, on meta and
fake tensors, and on DTensor shards. There are two families:

- **torch-named** (``import fanin.torch as init`` in place of ``torch.nn.init``;
  :mod:`fanin.torch.nn_init`): ``uniform_  normal_  trunc_normal_
  xavier_uniform_  xavier_normal_  kaiming_uniform_  kaiming_normal_
  orthogonal_  sparse_  eye_  dirac_  constant_  zeros_  ones_`` and
  :func:`calculate_gain`, with ``torch.nn.init``'s signatures, distributions,
  fan rule (``fan_in = size(1) * receptive field``) and errors, in the tensor's
  own layout. ``trunc_normal_`` takes absolute bounds ``[a, b]`` and is an
  inverse CDF (no rejection loop). ``xavier_normal_`` and ``kaiming_normal_``
  are untruncated, as in torch.
- **Keras-named** (:mod:`fanin.torch.keras_named`, generated from the registry):
  ``lecun_normal_  lecun_uniform_  glorot_normal_  glorot_uniform_  he_normal_
  he_uniform_  variance_scaling_  truncated_normal_  random_normal_
  random_uniform_  identity_`` and :func:`init_`, and ``orthogonal_(...,
  layout="torch")``: Keras semantics on the Keras twin of the tensor (below).
  ``variance_scaling_(distribution="normal")`` is Keras's truncated normal
  (timm's is untruncated: ``"untruncated_normal"``).

plus :func:`init_module_` (per-layer rules for a whole ``nn.Module``, never
leaving a parameter silently; :mod:`fanin.torch.modules`) and
:func:`fill_with_torch_ops` (the stream computed by torch ops on any device).

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
The permutation is written as a block transpose of tiles computed in the Keras
order, so it costs about what the Keras layout costs.

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

Devices. CPU tensors (float16, bfloat16, float32, float64, integers for integer
initializers; any strides) are filled in place through a NumPy view of their
memory by fanin's compiled kernel (else the NumPy reference). CUDA tensors are
filled by the Triton kernel when installed, else computed by the CPU kernel into
pinned host memory and copied asynchronously in chunks of a few MiB; other
devices take the same chunks. Meta tensors are validated and left alone (no call
index and no generator step taken). Inference tensors outside
``torch.inference_mode()`` refuse writes with torch's own ``RuntimeError``.
Zero-element tensors: ``kaiming_*`` and the Keras-named random functions warn
``"Initializing zero-element tensors is a no-op"`` (as torch's ``kaiming_*`` do)
and take no seed.

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

from fanin.torch import keras_named, nn_init
from fanin.torch.dtensor import local_block
from fanin.torch.keras_named import init_
from fanin.torch.modules import init_module_, parameter_seed
from fanin.torch.nn_init import (calculate_gain, constant_, dirac_, eye_, kaiming_normal_,
                                 kaiming_uniform_, normal_, ones_, orthogonal_, sparse_,
                                 trunc_normal_, uniform_, xavier_normal_, xavier_uniform_,
                                 zeros_)
from fanin.torch.write import fill_with_torch_ops, keras_shape, resolve_seed

#: The Keras-named family, generated from fanin's registry (see keras_named).
_KERAS_FAMILY = [name for name in keras_named.__all__ if name != "reseeded"]
globals().update({name: getattr(keras_named, name) for name in _KERAS_FAMILY})

__all__ = [
    # torch-named family
    "uniform_", "normal_", "trunc_normal_", "xavier_uniform_", "xavier_normal_",
    "kaiming_uniform_", "kaiming_normal_", "orthogonal_", "sparse_", "eye_", "dirac_",
    "constant_", "zeros_", "ones_", "calculate_gain",
    # Keras-named family (generated)
    *_KERAS_FAMILY,
    # modules, seeds, helpers
    "init_module_", "parameter_seed", "resolve_seed", "keras_shape",
    "fill_with_torch_ops", "local_block",
]
