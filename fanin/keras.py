"""Keras 3 integration: fanin initializers in Keras layers, saved and loaded models.

Any fanin initializer already works as a Keras 3 ``kernel_initializer`` /
``bias_initializer`` on the JAX, PyTorch and NumPy backends: Keras calls
``initializer(shape, dtype=...)`` once per weight and converts the NumPy array
fanin returns (float16/bfloat16 included) into a backend tensor. Importing this
module adds what Keras needs to *save and load* such models:

- It registers every fanin initializer class with Keras's serialization registry
  under the package ``"fanin"`` (``"fanin>LecunNormal"``, ...), both fanin's own
  classes and the Keras-side classes defined here, so a model built with
  ``fanin.LecunNormal(seed=1)`` saves to ``.keras`` with its config (seed
  included) and loads back, without ``custom_objects``, with a fanin initializer
  again (call 0 onwards: re-initializing reproduces the same stream).
- It defines, for every fanin class, a Keras-side class of the same name
  (``fanin.keras.LecunNormal``) that is both a ``fanin`` initializer and a
  ``keras.initializers.Initializer`` (for code that checks ``isinstance`` or
  calls ``clone()``); loaded models get these.
- :func:`to_keras` / :func:`from_keras` convert between fanin and Keras
  initializers (objects, classes, names and config dicts).

What is required, exactly:

- **Saving**: ``import fanin.keras`` before saving (it may come after building
  the model). Without it Keras writes fanin initializers with the bare
  registered name ``"LecunNormal"``, which loads as Keras's own initializer.
- **Loading**: ``import fanin.keras`` before ``keras.models.load_model`` (Keras
  only imports modules of its own packages, so nothing can register itself
  earlier); no ``custom_objects``, ``safe_mode`` may stay on. Without the import,
  Keras silently substitutes its own built-in initializer of the same class
  name and config (the file then also loads where fanin is not installed). The
  weights come from the file either way; only re-initialization (``clone()``,
  ``clone_model``) would use Keras's random numbers. Seeds that Keras's own
  initializers refuse (negative, or ``>= 2**32`` on the JAX and NumPy
  backends) make that fallback fail to load.

The class names are Keras's on purpose: fanin's own classes are named so, and
saved files stay readable by stock Keras.

Under a ``keras.distribution`` layout (JAX), Keras shards the values fanin
computes on the host; they equal the unsharded tensor.

With ``KERAS_BACKEND`` set to ``jax``, ``torch`` or ``numpy``:

>>> import keras, fanin, fanin.keras
>>> initializer = fanin.LecunNormal()
>>> layer = keras.layers.Dense(3, kernel_initializer=initializer)
>>> keras.saving.serialize_keras_object(fanin.LecunNormal(seed=1))["registered_name"]
'fanin>LecunNormal'
"""

from __future__ import annotations

import copy
import operator

try:
    import keras
except ImportError as err:  # pragma: no cover - exercised only without keras
    raise ImportError("fanin.keras needs Keras 3: pip install keras (and a backend: "
                      "jax, torch or tensorflow).") from err

from fanin import initializers as _init
from fanin import registry as _registry
from fanin import serialization as _ser

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


class Zeros(_init.Zeros, Initializer):
    """``fanin.Zeros`` as a Keras initializer.

    >>> keras.layers.Dense(2, bias_initializer=Zeros()).bias_initializer
    Zeros()
    """


class Ones(_init.Ones, Initializer):
    """``fanin.Ones`` as a Keras initializer.

    >>> Ones()((2,)).tolist()
    [1.0, 1.0]
    """


class Constant(_init.Constant, Initializer):
    """``fanin.Constant`` as a Keras initializer.

    >>> Constant(0.5)((2,)).tolist()
    [0.5, 0.5]
    """


class RandomNormal(_init.RandomNormal, Initializer):
    """``fanin.RandomNormal`` as a Keras initializer.

    >>> RandomNormal(stddev=1.0, seed=0)((2, 2)).shape
    (2, 2)
    """


class RandomUniform(_init.RandomUniform, Initializer):
    """``fanin.RandomUniform`` as a Keras initializer.

    >>> bool((abs(RandomUniform(seed=0)((8,))) <= 0.05).all())
    True
    """


class TruncatedNormal(_init.TruncatedNormal, Initializer):
    """``fanin.TruncatedNormal`` as a Keras initializer.

    >>> bool((abs(TruncatedNormal(seed=0)((8,))) <= 0.1).all())
    True
    """


class VarianceScaling(_init.VarianceScaling, Initializer):
    """``fanin.VarianceScaling`` as a Keras initializer.

    >>> VarianceScaling(scale=2.0, mode="fan_out", seed=0).get_config()["mode"]
    'fan_out'
    """


class GlorotNormal(_init.GlorotNormal, Initializer):
    """``fanin.GlorotNormal`` as a Keras initializer.

    >>> GlorotNormal(seed=0)((3, 3)).dtype.name
    'float32'
    """


class GlorotUniform(_init.GlorotUniform, Initializer):
    """``fanin.GlorotUniform`` as a Keras initializer.

    >>> GlorotUniform(seed=0)((3, 3)).shape
    (3, 3)
    """


class LecunNormal(_init.LecunNormal, Initializer):
    """``fanin.LecunNormal`` as a Keras initializer (the same values).

    >>> import fanin
    >>> bool((LecunNormal(seed=1)((4, 3)) == fanin.LecunNormal(seed=1)((4, 3))).all())
    True
    >>> layer = keras.layers.Dense(3, kernel_initializer=LecunNormal(seed=1))
    """


class LecunUniform(_init.LecunUniform, Initializer):
    """``fanin.LecunUniform`` as a Keras initializer.

    >>> LecunUniform(seed=0)((3, 3)).shape
    (3, 3)
    """


class HeNormal(_init.HeNormal, Initializer):
    """``fanin.HeNormal`` as a Keras initializer.

    >>> HeNormal(seed=0)((3, 3, 2, 4)).shape
    (3, 3, 2, 4)
    """


class HeUniform(_init.HeUniform, Initializer):
    """``fanin.HeUniform`` as a Keras initializer.

    >>> HeUniform(seed=0)((3, 3)).shape
    (3, 3)
    """


class Identity(_init.Identity, Initializer):
    """``fanin.Identity`` as a Keras initializer.

    >>> Identity(gain=3.0)((2, 2)).tolist()
    [[3.0, 0.0], [0.0, 3.0]]
    """


class Orthogonal(_init.Orthogonal, Initializer):
    """``fanin.Orthogonal`` as a Keras initializer.

    >>> Orthogonal(seed=0)((3, 3)).shape
    (3, 3)
    """


#: Keras-side class for each fanin class name.
CLASSES = {cls.__name__: cls for cls in (
    Initializer, Zeros, Ones, Constant, RandomNormal, RandomUniform, TruncatedNormal,
    VarianceScaling, GlorotNormal, GlorotUniform, LecunNormal, LecunUniform, HeNormal,
    HeUniform, Identity, Orthogonal)}

# fanin class -> Keras-side class (exact types only; subclasses are the user's).
_FANIN_CLASSES = {"Initializer": _init.Initializer, **_registry.CLASSES}
_WRAPPER_OF = {_FANIN_CLASSES[name]: cls for name, cls in CLASSES.items()}


def _register():
    """Register fanin's classes and the Keras-side ones as ``"fanin>Name"``.

    fanin's own classes are registered first, then the Keras-side ones, so that
    both serialize under the same name and loading gives the Keras-side class.
    """
    for name, wrapper in CLASSES.items():
        keras.saving.register_keras_serializable(package=PACKAGE, name=name)(
            _FANIN_CLASSES[name])
        keras.saving.register_keras_serializable(package=PACKAGE, name=name)(wrapper)


_register()


def to_keras(initializer):
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
    wrapper = _WRAPPER_OF.get(type(initializer))
    if wrapper is None:
        return initializer
    new = wrapper.__new__(wrapper)
    new.__dict__.update(copy.copy(initializer).__dict__)  # same seed, call 0, own lock
    return new


def _seed_value(seed):
    """A Keras seed (int, None, or a serialized ``SeedGenerator``) as an int or None."""
    if isinstance(seed, dict) and seed.get("class_name") == "SeedGenerator":
        seed = (seed.get("config") or {}).get("seed")
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


def from_keras(initializer):
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
