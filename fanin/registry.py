"""The registry: every initializer class fanin has, and every name it answers to.

One table that ``fanin``'s namespace, :func:`fanin.get`, the command line and the
framework adapters read. A class joins it with the :func:`register` decorator; its
names are its class name, its snake-case alias (``LecunNormal`` -> ``lecun_normal``),
the ``...V2`` class names of tf.keras configs, and any Keras names given.

>>> from fanin import registry
>>> registry.NAMES["lecun_normal"] is registry.CLASSES["LecunNormal"]
True
>>> registry.suggest("LecunNormall")
['lecun_normal']
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from typing import TypeVar

_C = TypeVar("_C", bound=type)

#: Canonical class name -> class, in registration order (the documented order).
CLASSES: dict[str, type] = {}

#: Every identifier :func:`fanin.get` accepts -> class.
NAMES: dict[str, type] = {}


def snake_name(class_name: str) -> str:
    """The snake-case alias of a class name.

    >>> snake_name("VarianceScaling"), snake_name("HeUniform")
    ('variance_scaling', 'he_uniform')
    """
    return re.sub(r"(?<!^)(?=[A-Z])", "_", class_name).lower()


def register(*keras_names: str) -> Callable[[_C], _C]:
    """Class decorator: add a class and its names (plus ``keras_names``) to the registry."""
    def add(cls: _C) -> _C:
        name = cls.__name__
        names = (name, snake_name(name), name + "V2", *keras_names)
        for n in names:
            if NAMES.get(n, cls) is not cls:
                raise ValueError(f"initializer name {n!r} is already taken by "
                                 f"{NAMES[n].__name__}.")
        CLASSES[name] = cls
        NAMES.update(dict.fromkeys(names, cls))
        return cls
    return add


#: ``torch.nn.init`` names -> the fanin (Keras) name of the same family. The
#: distributions differ in details: torch's normals are untruncated, Keras's truncated.
TORCH_NAMES = {"xavier_uniform": "glorot_uniform", "xavier_normal": "glorot_normal",
               "kaiming_uniform": "he_uniform", "kaiming_normal": "he_normal",
               "trunc_normal": "truncated_normal", "eye": "identity"}


def torch_equivalent(name: str) -> str | None:
    """The fanin name of the family of a ``torch.nn.init`` name, if it has one.

    >>> torch_equivalent("xavier_uniform_"), torch_equivalent("lecun_normal")
    ('glorot_uniform', None)
    """
    return TORCH_NAMES.get(str(name).lower().rstrip("_"))


def suggest(name: str, n: int = 3) -> list[str]:
    """Snake-case names of the registered classes closest to ``name`` ("did you mean")."""
    key = snake_name(str(name)) if "_" not in str(name) else str(name).lower()
    return difflib.get_close_matches(key, [snake_name(c) for c in CLASSES], n=n, cutoff=0.8)
