"""Keras 3 integration: fanin initializers in Keras layers, saved and loaded models.

Any fanin initializer works as a Keras 3 ``kernel_initializer`` /
``bias_initializer`` on every backend (JAX, PyTorch, TensorFlow, NumPy): Keras
calls ``initializer(shape, dtype=...)`` once per weight and converts the NumPy
array fanin returns (float16/bfloat16 included) into a backend tensor.

This module defines, for every fanin class, a Keras-side class of the same name
(``fanin.keras.LecunNormal``): a subclass of both the fanin class and Keras's
``keras.initializers.Initializer`` (``keras.initializers.VarianceScaling`` for
the variance-scaling family, so ``EinsumDense`` and ``MultiHeadAttention`` give
it the fans they give Keras's own ``"lecun_normal"``). Once Keras is imported,
``fanin.LecunNormal(...)`` creates this Keras-side class (still an instance of
``fanin.LecunNormal``, with the same values and config); see
:mod:`fanin._frameworks`.

Importing this module registers fanin's classes and the Keras-side ones with
Keras's serialization registry as ``"fanin>LecunNormal"``, ..., so a model saves
to ``.keras`` with fanin's configs (seeds included) and loads back, without
``custom_objects`` and with ``safe_mode`` on, as fanin initializers starting
at call 0 (``clone_model`` reproduces the weights). It is imported
automatically in either import order: by ``import fanin`` when Keras is already
imported, and as soon as ``import keras`` completes in a process that imported
fanin first. (A process that loads a model without importing fanin at all gets
Keras's own classes of the same names and configs: Keras cannot know of fanin.)

``seed=`` also takes a ``keras.random.SeedGenerator`` (or its serialized config),
as Keras's own random initializers do: the values are fanin's stream of the
generator's seed at the call index of the generator's counter, so every call
(and every initializer sharing the generator) gets new values, and
``get_config`` holds the serialized generator.

Under a ``keras.distribution`` layout (JAX backend) Keras passes ``layout=``:
fanin takes one draw for the variable and each device gets its block of the
unsharded tensor (``fanin.jax.keras_values`` when available, else computed
block by block on the host with ``jax.make_array_from_callback``).

:func:`to_keras` / :func:`from_keras` convert between fanin and Keras
initializers (objects, classes, names and config dicts).

>>> import keras, fanin
>>> initializer = fanin.LecunNormal()
>>> layer = keras.layers.Dense(3, kernel_initializer=initializer)
>>> isinstance(initializer, keras.initializers.VarianceScaling)
True
>>> keras.saving.serialize_keras_object(fanin.LecunNormal(seed=1))["registered_name"]
'fanin>LecunNormal'
"""

from __future__ import annotations

import copy
import inspect
import operator
from typing import Any

try:
    import keras
except ImportError as err:  # pragma: no cover - exercised only without keras
    raise ImportError("fanin.keras needs Keras 3: pip install keras (and a backend: "
                      "jax, torch or tensorflow).") from err

from fanin import _frameworks
from fanin import initializers as _init
from fanin import registry as _registry
from fanin import serialization as _ser

# fanin's classes by name.
_CORE_CLASSES = _registry.CLASSES

#: The Keras serialization package fanin's classes are registered under.
PACKAGE = "fanin"

_KerasInitializer = keras.initializers.Initializer

# Packages whose initializer objects and configs from_keras reads by class name.
_KERAS_MODULES = ("keras", "tf_keras", "tensorflow", "fanin")


class Initializer(_init.Initializer, _KerasInitializer):
    """Base of the Keras-side fanin classes: a fanin and a Keras ``Initializer``.

    Subclass it (and register the subclass with
    ``keras.saving.register_keras_serializable``) for custom initializers that
    Keras layers and fanin both accept.

    >>> import numpy as np
    >>> class Twos(Initializer):
    ...     def __call__(self, shape, dtype=None, **kwargs):
    ...         return np.full(shape, 2.0, np.float32)
    >>> isinstance(Twos(), keras.initializers.Initializer), Twos()((2,)).tolist()
    (True, [2.0, 2.0])
    """


class _VarianceScalingBase(Initializer, keras.initializers.VarianceScaling):
    """Keras's ``VarianceScaling`` API, which ``EinsumDense`` looks for."""


class _LayoutCall:
    """``__call__`` with Keras 3's ``layout`` keyword (a JAX ``NamedSharding``)."""

    def __call__(self, shape, dtype=None, layout=None, **kwargs):
        if layout is None:
            return super().__call__(shape, dtype, **kwargs)
        if kwargs:
            raise ValueError(f"`layout` cannot be combined with {sorted(kwargs)}.")
        return _layout_values(self.draw(shape, dtype), layout)


class _GeneratorCounter:
    """Call indices from a ``keras.random.SeedGenerator``: its state is (seed, counter),
    and each ``next()`` returns it and advances the counter, as Keras's own
    generator-seeded initializers and random ops do."""

    def __init__(self, generator):
        self.generator = generator

    def __iter__(self):
        return self

    def __next__(self) -> int:
        return int(keras.ops.convert_to_numpy(self.generator.next())[1])


def _generator_seed(generator) -> int:
    """The seed a SeedGenerator was made with (drawn by Keras when it was None)."""
    seed = generator.get_config().get("seed")
    if seed is None:
        seed = int(keras.ops.convert_to_numpy(generator.state.value)[0])
    return operator.index(seed)


class _SeedGeneratorSeed:
    """``seed=`` also takes a ``keras.random.SeedGenerator`` (or its serialized
    config), as Keras 3's random initializers do: values from fanin's stream of the
    generator's seed, the call index from its counter (so each call, and each
    initializer sharing the generator, gets new values); ``get_config`` holds the
    serialized generator, as Keras writes it."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "_fanin_class" in cls.__dict__:  # the fanin class's arguments, for from_config
            cls.__signature__ = inspect.signature(cls._fanin_class)

    def __init__(self, *args, **kwargs):
        params = inspect.signature(self._fanin_class).parameters
        if "seed" not in params:
            super().__init__(*args, **kwargs)
            return
        bound = inspect.signature(self._fanin_class).bind(*args, **kwargs)
        seed = bound.arguments.get("seed")
        if isinstance(seed, dict) and seed.get("class_name") == "SeedGenerator":
            seed = keras.saving.deserialize_keras_object(seed)
        if not isinstance(seed, keras.random.SeedGenerator):
            super().__init__(*args, **kwargs)
            return
        bound.arguments["seed"] = _generator_seed(seed)
        super().__init__(*bound.args, **bound.kwargs)
        self._seed_generator = seed
        self._use_counter(_GeneratorCounter(seed))

    def get_config(self):
        config = super().get_config()
        generator = self.__dict__.get("_seed_generator")
        if generator is not None:
            config["seed"] = keras.saving.serialize_keras_object(generator)
        return config

    def __getstate__(self):
        # a copy or pickle continues as fanin's integer seed, from call 0
        state = super().__getstate__()
        state.pop("_seed_generator", None)
        return state


class _KerasSide(_SeedGeneratorSeed, _LayoutCall):
    """What every Keras-side class adds to its fanin class."""


def _layout_values(draw, layout):
    """The values of one draw, sharded by ``layout`` (JAX backend)."""
    if keras.backend.backend() != "jax":
        return draw.array()
    import jax
    # Keras calls initializers inside jax.set_mesh(mesh) with a layout on the
    # abstract mesh, which cannot place arrays: the same spec on the real mesh.
    mesh = jax.sharding.get_mesh()
    sharding = jax.sharding.NamedSharding(mesh, layout.spec)
    import fanin.jax  # each device computes its own shard, in jnp ops
    with jax.set_mesh(mesh):  # the real mesh's axis types, not Keras's explicit ones
        return fanin.jax.keras_values(draw, sharding)


#: Keras-side class for each fanin class name.
CLASSES = _frameworks.make_classes(__name__, _CORE_CLASSES, _KerasSide, Initializer,
                                   _VarianceScalingBase)
globals().update(CLASSES)

#: fanin class -> its Keras-side class (exact types; subclasses are the user's),
#: read by fanin.Initializer.__new__ through fanin._frameworks.
KERAS_SIDE = _frameworks.keras_side(CLASSES, _CORE_CLASSES)

_frameworks.register(keras.saving.register_keras_serializable, PACKAGE, CLASSES, _CORE_CLASSES,
                     _init.Initializer)


def to_keras(initializer: Any) -> Any:
    """A Keras initializer equivalent to a fanin initializer (or name, or config).

    Instances of fanin's classes become the Keras-side class of the same name,
    with the same configuration and the same seed (also the drawn seed of an
    unseeded one), starting at call 0 like ``copy.copy``. Keras initializers
    (including fanin's Keras-side ones) are returned unchanged, and so are
    subclasses of fanin's classes defined by users (Keras accepts any callable;
    register them with ``keras.saving.register_keras_serializable`` to save
    them). Strings and config dicts are read with ``fanin.get``.

    >>> import fanin
    >>> k = to_keras(fanin.LecunNormal(seed=7))
    >>> isinstance(k, keras.initializers.Initializer), k
    (True, LecunNormal(seed=7))
    >>> to_keras("he_uniform")
    HeUniform(seed=None)
    """
    if isinstance(initializer, _KerasInitializer):
        return initializer
    if isinstance(initializer, (str, dict)) or (
            isinstance(initializer, type) and issubclass(initializer, _init.Initializer)):
        initializer = _ser.get(initializer)
    if not isinstance(initializer, _init.Initializer):
        raise TypeError(f"to_keras expects a fanin initializer, name or config, got "
                        f"{initializer!r}.")
    wrapper = KERAS_SIDE.get(type(initializer))
    if wrapper is None:
        return initializer
    new = wrapper.__new__(wrapper)
    new.__dict__.update(copy.copy(initializer).__dict__)  # same seed, call 0, own lock
    return new


def _seed_value(seed):
    """A Keras seed (int, None, or a serialized ``SeedGenerator``) as an int or None."""
    if isinstance(seed, dict) and seed.get("class_name") == "SeedGenerator":
        inner = seed.get("config")
        if not isinstance(inner, dict):  # a malformed SeedGenerator config
            raise TypeError(f"Cannot convert Keras seed {seed!r} to a fanin seed: its "
                            "'config' must be a dict holding 'seed'.")
        seed = inner.get("seed")
    if seed is None:
        return None
    try:
        if isinstance(seed, bool):
            raise TypeError
        return operator.index(seed)
    except TypeError:
        raise TypeError(f"Cannot convert Keras seed {seed!r} to a fanin seed: expected "
                        "an integer, None or a keras.random.SeedGenerator.") from None


def _clean_config(name, config):
    """Keras's inner config, made acceptable to fanin's constructors."""
    config = dict(config or {})
    if "seed" in config:
        config["seed"] = _seed_value(config["seed"])
    # Keras 3 writes input_axes=None / output_axes=None; fanin needs both or neither.
    if config.get("input_axes") is None and config.get("output_axes") is None:
        config.pop("input_axes", None)
        config.pop("output_axes", None)
    return config


def _check_module(module, what):
    if module is not None and str(module).split(".", 1)[0] not in _KERAS_MODULES:
        raise ValueError(f"Unknown initializer {what}: from module {module!r}, which is "
                         "not Keras's or fanin's. from_keras converts only Keras's "
                         "built-in initializers.")


def from_keras(initializer: Any) -> _init.Initializer | None:
    """The fanin initializer equivalent to a Keras initializer object, class or config.

    Reads the Keras class name and config (Keras 3 or tf.keras, either config
    format, or a string name) with ``fanin.deserialize``: same parameters, same
    seed (a ``keras.random.SeedGenerator`` gives its seed). The values are
    fanin's stream, not Keras's random numbers. fanin initializers are returned
    unchanged. Raises ``ValueError`` for initializers fanin does not have
    (``STFT``, custom classes) and ``TypeError`` for seeds that are not integers.

    >>> from_keras(keras.initializers.LecunNormal(seed=3))
    LecunNormal(seed=3)
    >>> from_keras({"module": "keras.initializers", "class_name": "HeNormal",
    ...             "config": {"seed": 1}, "registered_name": None})
    HeNormal(seed=1)
    >>> from_keras(keras.initializers.STFT())
    Traceback (most recent call last):
    ...
    ValueError: Unknown initializer: 'STFT'. Please ensure you are using a `fanin.Initializer` name or pass the object in `custom_objects`.
    """
    if isinstance(initializer, _init.Initializer):
        return initializer
    if isinstance(initializer, str):
        return _ser.get(initializer)
    if isinstance(initializer, dict):
        config = dict(initializer)
        name = config.get("class_name")
        _check_module(config.get("module"), repr(name))
        registered = config.get("registered_name")
        if registered not in (None, name, f"{PACKAGE}>{name}"):
            raise ValueError(f"Unknown initializer: registered name {registered!r} is "
                             "not a Keras or fanin initializer.")
        config.pop("registered_name", None)
        if isinstance(config.get("config"), dict):
            config["config"] = _clean_config(name, config["config"])
        return _ser.deserialize(config)
    if isinstance(initializer, type):
        _check_module(initializer.__module__, repr(initializer.__name__))
        return _ser.deserialize({"class_name": initializer.__name__, "config": {}})
    if not hasattr(initializer, "get_config"):
        raise TypeError(f"from_keras expects a Keras initializer, class, name or config, "
                        f"got {initializer!r}.")
    cls = type(initializer)
    _check_module(cls.__module__, repr(cls.__name__))
    config = _clean_config(cls.__name__, initializer.get_config())
    if cls.__name__ in ("Identity", "IdentityInitializer") and "gain" not in config \
            and hasattr(initializer, "gain"):  # Keras 3 Identity.get_config drops gain
        config["gain"] = initializer.gain
    return _ser.deserialize({"class_name": cls.__name__, "config": config})


__all__ = ["PACKAGE", "CLASSES", "to_keras", "from_keras", *CLASSES]
