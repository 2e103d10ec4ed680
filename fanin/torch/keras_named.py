"""The Keras-named family, generated from :mod:`fanin.registry`: Keras semantics on the Keras twin.

For every registered initializer class ``C`` whose snake-case name is not one of
``torch.nn.init``'s (``zeros_``, ``ones_``, ``constant_``, ``orthogonal_`` are
shared with the torch-named family), ``c_(tensor, *C's parameters, seed=None, *,
layout="torch", generator=None)`` writes ``C(..., seed=seed)``'s values for the
tensor's Keras-layout twin, permuted into the tensor (see :mod:`fanin.torch`).
Parameters keep Keras's names, except ``stddev``, which is spelled ``std`` as
torch spells it. ``input_axes``/``output_axes`` are not taken: ``layout``
decides the axes. A ``torch.nn.init`` keyword (``gain=``, ``a=``, ...) raises a
``TypeError`` naming the torch-named function that takes it.

>>> import torch, fanin
>>> conv = torch.nn.Conv2d(3, 8, kernel_size=3)
>>> _ = lecun_normal_(conv.weight, seed=0)
>>> k = fanin.LecunNormal(seed=0)((3, 3, 3, 8))        # Keras Conv2D kernel
>>> bool((conv.weight.detach().numpy() == k.transpose(3, 2, 0, 1)).all())
True
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Optional

import torch

import fanin
from fanin import registry
from fanin.torch.write import (apply_initializer, check_generator, check_tensor, is_meta,
                               keras_shape, resolve_seed, warn_empty)

__all__ = ["init_", "reseeded"]

#: Keras-named function -> its torch-named counterpart (named in TypeErrors when a
#: torch.nn.init keyword reaches a Keras-named function).
_TORCH_TWIN = {
    "glorot_uniform_": "xavier_uniform_", "glorot_normal_": "xavier_normal_",
    "he_uniform_": "kaiming_uniform_", "he_normal_": "kaiming_normal_",
    "lecun_uniform_": "kaiming_uniform_", "lecun_normal_": "kaiming_normal_",
    "truncated_normal_": "trunc_normal_", "random_normal_": "normal_",
    "random_uniform_": "uniform_", "variance_scaling_": "kaiming_normal_",
    "identity_": "eye_",
}
#: Names torch.nn.init already gives a meaning (defined by the torch-named family).
_SHARED = ("zeros_", "ones_", "constant_", "orthogonal_")
#: Keras parameter names -> torch's spelling.
_SPELLING = {"stddev": "std"}
#: Parameters the layout replaces.
_DROPPED = ("seed", "input_axes", "output_axes")
#: What a torch user needs to know about a name that means something else elsewhere.
_NOTES = {
    "variance_scaling_": (
        "``distribution=\"normal\"`` is Keras's: the *truncated* normal (cut at two "
        "pre-truncation standard deviations, rescaled to the same std), as "
        "``\"truncated_normal\"``. timm's ``variance_scaling_(..., \"normal\")`` is "
        "untruncated: for its values pass ``distribution=\"untruncated_normal\"``."),
    "truncated_normal_": (
        "The bounds are always ``mean +- 2 std`` (Keras); for ``torch.nn.init``'s "
        "absolute bounds ``[a, b]`` use ``trunc_normal_``."),
}


def _reject_keywords(fn: str, unexpected: dict) -> None:
    if unexpected:
        twin = _TORCH_TWIN.get(fn)
        hint = f" For torch.nn.init's arguments use fanin.torch.{twin}." if twin else ""
        raise TypeError(f"{fn}() got unexpected keyword arguments {sorted(unexpected)}: "
                        f"it is Keras-named and takes Keras's arguments.{hint}")


def reseeded(init: Any, seed: int) -> Any:
    """A fresh copy of ``init`` (call 0) with ``seed``, if it takes one."""
    if not isinstance(init, fanin.Initializer):
        return init
    config = init.get_config()
    if "seed" not in config:
        return init
    return type(init).from_config({**config, "seed": seed})


def _keras_random(tensor: torch.Tensor, make: Callable[[Optional[int]], Any],
                  seed: Optional[int], generator: Optional[torch.Generator], layout: str,
                  fn: str) -> torch.Tensor:
    """A Keras-named random fill: validate, warn on empty, resolve the seed, write."""
    check_tensor(tensor, fn)
    check_generator(generator)
    keras_shape(tensor.shape, layout)
    if warn_empty(tensor, depth=2):
        return tensor
    if seed is None or is_meta(tensor):
        # validate the parameters, the shape and the dtype before a generator's seed
        # is taken (a draw of a fresh instance is a few numbers); an explicit seed
        # takes nothing, and the write's own draw validates before anything is written
        make(0).draw(keras_shape(tensor.shape, layout)[0], tensor.dtype)
    if is_meta(tensor):
        return tensor
    return apply_initializer(tensor, make(resolve_seed(seed, generator)), layout, fn)


def _parameters(cls: type) -> list[inspect.Parameter]:
    """The class's own parameters, as the generated function takes them (before ``seed``)."""
    own = [p for name, p in inspect.signature(cls).parameters.items() if name not in _DROPPED]
    return [p.replace(name=_SPELLING.get(p.name, p.name),
                      kind=inspect.Parameter.POSITIONAL_OR_KEYWORD) for p in own]


def _signature(cls: type, takes_seed: bool) -> inspect.Signature:
    P = inspect.Parameter
    params = [P("tensor", P.POSITIONAL_OR_KEYWORD, annotation="torch.Tensor"), *_parameters(cls)]
    if takes_seed:
        params.append(P("seed", P.POSITIONAL_OR_KEYWORD, default=None, annotation="int | None"))
    params.append(P("layout", P.KEYWORD_ONLY, default="torch", annotation="str"))
    if takes_seed:
        params.append(P("generator", P.KEYWORD_ONLY, default=None,
                        annotation="torch.Generator | None"))
    return inspect.Signature(params, return_annotation="torch.Tensor")


def _family_function(cls: type) -> Callable[..., torch.Tensor]:
    name = registry.snake_name(cls.__name__) + "_"
    takes_seed = "seed" in inspect.signature(cls).parameters
    signature = _signature(cls, takes_seed)
    keras_names = {_SPELLING.get(n, n): n for n in inspect.signature(cls).parameters}

    def fill(*args: Any, **kwargs: Any) -> torch.Tensor:
        _reject_keywords(name, {k: v for k, v in kwargs.items()
                                if k not in signature.parameters})
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        values = dict(bound.arguments)
        tensor, layout = values.pop("tensor"), values.pop("layout")
        if not takes_seed:
            return apply_initializer(tensor, cls(**{keras_names[k]: v for k, v in values.items()}),
                                     layout, name)
        seed, generator = values.pop("seed"), values.pop("generator")
        params = {keras_names[k]: v for k, v in values.items()}
        return _keras_random(tensor, lambda s: cls(**params, seed=s), seed, generator, layout,
                             name)

    fill.__name__ = fill.__qualname__ = name
    setattr(fill, "__signature__", signature)
    doc = (cls.__doc__ or "").strip().splitlines()
    note = f"\n\n{_NOTES[name]}" if name in _NOTES else ""
    fill.__doc__ = (f"Keras ``{cls.__name__}`` in place: ``fanin.{cls.__name__}(...)``'s values "
                    f"for the tensor's Keras-layout twin, permuted into it (``layout=\"keras\"``: "
                    f"no permutation).\n\n{doc[0] if doc else ''}{note}")
    fill.__module__ = __name__
    return fill


def init_(tensor: torch.Tensor, initializer: Any, *, layout: str = "torch",
          generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Fill ``tensor`` in place with any fanin initializer or identifier.

    ``initializer`` is an instance (its own seed and call index are used, and
    the call index advances, as calling it would) or anything :func:`fanin.get`
    accepts (``"lecun_normal"``, a config dict, ...); an identifier without a
    seed gets one by :func:`~fanin.torch.resolve_seed` (``generator``, else
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
    check_generator(generator)
    init = fanin.get(initializer)
    if not callable(init):
        raise ValueError(f"Could not interpret initializer identifier: {initializer!r}.")
    if init is not initializer and init.get_config().get("seed", 0) is None:
        check_tensor(tensor, "init_")
        if not is_meta(tensor) and tensor.numel() > 0:
            init = reseeded(init, resolve_seed(None, generator))
    return apply_initializer(tensor, init, layout, "init_")


for _cls in registry.CLASSES.values():
    if registry.snake_name(_cls.__name__) + "_" not in _SHARED:
        _fn = _family_function(_cls)
        globals()[_fn.__name__] = _fn
        __all__.append(_fn.__name__)
del _cls, _fn
