"""``get`` / ``serialize`` / ``deserialize`` in both Keras config formats.

Configs are data: a name in a config is looked up in fanin's own table (its
classes and the Keras names for them) and in ``custom_objects``; nothing named in
a config is ever imported or executed.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Mapping
from typing import Any

from fanin import _frameworks
from fanin import initializers as _init
from fanin.initializers import Initializer
from fanin.registry import CLASSES, NAMES, suggest, torch_equivalent

_KERAS3_KEYS = {"module", "class_name", "config", "registered_name", "build_config",
                "compile_config", "shared_object_id"}


def serialize(initializer: Initializer, keras_format: str = "keras2") -> dict[str, Any]:
    """The Keras config dict of an initializer.

    ``keras_format="keras2"`` gives ``{"class_name", "config"}``; ``"keras3"`` adds
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
    if keras_format == "keras2":
        return {"class_name": name, "config": config}
    if keras_format == "keras3":
        builtin = CLASSES.get(name) is _frameworks.core_class(type(initializer))
        return {"module": "keras.initializers" if builtin else type(initializer).__module__,
                "class_name": name, "config": config,
                "registered_name": None if builtin else name}
    raise ValueError(f"Unknown keras_format {keras_format!r}: expected 'keras2' or 'keras3'.")


def deserialize(config: Mapping[str, Any],
                custom_objects: Mapping[str, Any] | None = None) -> Initializer:
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
    close = suggest(name)
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    torch_name = torch_equivalent(name)
    if torch_name:
        hint = (f" {name!r} is a torch.nn.init name: the Keras equivalent is "
                f"{torch_name!r}; fanin.torch.{name.lower().rstrip('_')}_ has torch's "
                "own semantics.")
    raise ValueError(f"Unknown initializer: '{name}'.{hint} Please ensure you are using a "
                     "`fanin.Initializer` name or pass the object in `custom_objects`.")


def get(identifier: Any, custom_objects: Mapping[str, Any] | None = None,
        ) -> Initializer | None:
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
                config = json.loads(text)
            except (json.JSONDecodeError, RecursionError) as err:
                raise ValueError(f"Could not interpret initializer identifier: "
                                 f"{identifier[:200]!r} ({type(err).__name__}: "
                                 f"{str(err)[:200]}).") from None
            return deserialize(config, custom_objects)
        return deserialize({"class_name": text, "config": {}}, custom_objects)
    if inspect.isclass(identifier) and issubclass(identifier, _init.Initializer):
        return identifier()
    if callable(identifier) and not inspect.isclass(identifier):
        return identifier
    raise ValueError(f"Could not interpret initializer identifier: {identifier!r}")
