"""``get`` / ``serialize`` / ``deserialize`` in both Keras config formats.

Configs are data: a name in a config is looked up in fanin's own table (its
classes and the Keras names for them) and in ``custom_objects``; nothing named in
a config is ever imported or executed.
"""

from __future__ import annotations

import inspect
import json

from fanin import initializers as _init

_CLASSES = {cls.__name__: cls for cls in (
    _init.Initializer, _init.Zeros, _init.Ones, _init.Constant, _init.RandomUniform,
    _init.RandomNormal, _init.TruncatedNormal, _init.VarianceScaling, _init.Orthogonal,
    _init.Identity, _init.GlorotUniform, _init.GlorotNormal, _init.LecunNormal,
    _init.LecunUniform, _init.HeNormal, _init.HeUniform)}

#: Every name Keras accepts for an initializer, mapped to fanin's class.
NAMES = dict(_CLASSES)
NAMES.update({
    "zeros": _init.Zeros, "zero": _init.Zeros, "ones": _init.Ones, "one": _init.Ones,
    "constant": _init.Constant, "uniform": _init.RandomUniform,
    "random_uniform": _init.RandomUniform, "normal": _init.RandomNormal,
    "random_normal": _init.RandomNormal, "truncated_normal": _init.TruncatedNormal,
    "variance_scaling": _init.VarianceScaling, "orthogonal": _init.Orthogonal,
    "identity": _init.Identity, "glorot_uniform": _init.GlorotUniform,
    "glorot_normal": _init.GlorotNormal, "lecun_normal": _init.LecunNormal,
    "lecun_uniform": _init.LecunUniform, "he_normal": _init.HeNormal,
    "he_uniform": _init.HeUniform,
    # class names of TF 2 / Keras 2 configs written by tf.keras
    **{name + "V2": cls for name, cls in _CLASSES.items() if name != "Initializer"},
    "IdentityInitializer": _init.Identity, "OrthogonalInitializer": _init.Orthogonal,
})

_KERAS3_KEYS = {"module", "class_name", "config", "registered_name", "build_config",
                "compile_config", "shared_object_id"}


def serialize(initializer, format: str = "keras2") -> dict:
    """The Keras config dict of an initializer.

    ``format="keras2"`` gives ``{"class_name", "config"}``; ``"keras3"`` adds
    ``"module"`` and ``"registered_name"`` as Keras 3 writes them (fanin's classes
    carry Keras's names and configs, so Keras itself can read the result).

    >>> import fanin
    >>> serialize(fanin.LecunNormal(seed=3))
    {'class_name': 'LecunNormal', 'config': {'seed': 3}}
    >>> serialize(fanin.LecunNormal(seed=3), "keras3")["module"]
    'keras.initializers'
    """
    if not isinstance(initializer, _init.Initializer):
        raise TypeError(f"serialize expects a fanin Initializer, got {initializer!r}.")
    name = type(initializer).__name__
    config = json.loads(json.dumps(initializer.get_config()))  # plain JSON, a copy
    if format == "keras2":
        return {"class_name": name, "config": config}
    if format == "keras3":
        builtin = NAMES.get(name) is type(initializer)
        return {"module": "keras.initializers" if builtin else type(initializer).__module__,
                "class_name": name, "config": config,
                "registered_name": None if builtin else name}
    raise ValueError(f"Unknown format {format!r}: expected 'keras2' or 'keras3'.")


def deserialize(config, custom_objects=None):
    """Rebuild an initializer from a Keras 2 or Keras 3 config dict.

    Only fanin's classes (under their Keras names) and ``custom_objects`` can be
    named; the ``module`` of a Keras 3 config is never imported.

    >>> deserialize({"class_name": "LecunNormal", "config": {"seed": 3}})
    LecunNormal(seed=3)
    >>> deserialize({"module": "keras.initializers", "class_name": "HeUniform",
    ...              "config": {"seed": 1}, "registered_name": None})
    HeUniform(seed=1)
    """
    if not isinstance(config, dict):
        raise TypeError(f"deserialize expects a dict config, got {type(config).__name__}.")
    extra = set(config) - _KERAS3_KEYS
    if extra:
        raise ValueError(f"Malformed initializer config: unexpected keys {sorted(extra)}.")
    if "class_name" not in config:
        raise ValueError(f"Malformed initializer config: no 'class_name' in {config!r}.")
    name = config["class_name"]
    if not isinstance(name, str):
        raise TypeError(f"'class_name' must be a string, got {name!r}.")
    inner = config.get("config") or {}
    if not isinstance(inner, dict):
        raise TypeError(f"'config' must be a dict, got {type(inner).__name__}.")
    cls = _lookup(name, custom_objects, config.get("registered_name"))
    if hasattr(cls, "from_config"):
        return cls.from_config(inner)
    return cls(**inner)


def _lookup(name, custom_objects, registered_name=None):
    custom_objects = custom_objects or {}
    if not isinstance(custom_objects, dict):
        raise TypeError("custom_objects must be a dict of names to classes or functions.")
    for key in (registered_name, name):
        if isinstance(key, str) and key in custom_objects:
            return custom_objects[key]
    if name in NAMES:
        return NAMES[name]
    raise ValueError(f"Unknown initializer: '{name}'. Please ensure you are using a "
                     "`fanin.Initializer` name or pass the object in `custom_objects`.")


def get(identifier, custom_objects=None):
    """An initializer from a name, config dict, JSON string, class, instance or None.

    >>> get("lecun_normal")
    LecunNormal(seed=None)
    >>> get(None) is None
    True
    """
    if identifier is None:
        return None
    if isinstance(identifier, _init.Initializer):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier, custom_objects)
    if isinstance(identifier, str):
        text = identifier.strip()
        if text.startswith("{"):
            try:
                return deserialize(json.loads(text), custom_objects)
            except json.JSONDecodeError as err:
                raise ValueError(f"Could not interpret initializer identifier: "
                                 f"{identifier!r} ({err}).") from None
        return deserialize({"class_name": text, "config": {}}, custom_objects)
    if inspect.isclass(identifier) and issubclass(identifier, _init.Initializer):
        return identifier()
    if callable(identifier) and not inspect.isclass(identifier):
        return identifier
    raise ValueError(f"Could not interpret initializer identifier: {identifier!r}")
