"""tf_keras (legacy Keras 2, ``tf.keras`` with ``TF_USE_LEGACY_KERAS=1``) integration.

Defines, for every fanin class, a tf_keras-side class of the same name
(``fanin.tf_keras.LecunNormal``): a subclass of both the fanin class and
``tf_keras.initializers.Initializer``, with the same values and config. Once
tf_keras is imported, ``fanin.LecunNormal(...)`` creates this class (see
:mod:`fanin._frameworks`), so ``tf_keras.initializers.serialize`` is silent
and ``deserialize`` / ``get`` give fanin's classes back. TensorFlow imports
Keras 3 too (when installed); then these classes are built on
``fanin.keras``'s, so the same object also works in Keras 3 layers (fans of
``EinsumDense`` / ``MultiHeadAttention`` included).

Importing this module registers both fanin's and the tf_keras-side classes with
tf_keras as ``"fanin>LecunNormal"``, .... It is imported automatically by
``import fanin`` when tf_keras is already imported, and the first time a fanin
initializer is created after tf_keras was imported. Then ``.keras`` files and
SavedModels reload with fanin's classes and configs (``clone_model`` reproduces
the weights); ``.h5`` files need ``custom_objects=fanin.tf_keras.custom_objects()``.

``__call__`` takes tf_keras's keywords: ``partition_shape`` /
``partition_offset`` (blocks of one tensor) and ``layout`` (a DTensor
``tf.experimental.dtensor.Layout``): one draw for the whole variable, and each
local device gets its block of the unsharded tensor, packed into a DTensor.

Seeds: an unseeded fanin initializer draws its seed as the core documents
(``fanin.set_random_seed``, else Python's ``random``), so after
``tf_keras.utils.set_random_seed(s)`` a model built with unseeded fanin
initializers is reproducible, as one built with tf_keras's own is.
``tf.random.set_seed`` alone does not make tf_keras's own unseeded
initializers reproducible, and does not make fanin's.

>>> import tf_keras, fanin
>>> initializer = fanin.LecunNormal()
>>> isinstance(initializer, tf_keras.initializers.Initializer)
True
>>> tf_keras.initializers.serialize(fanin.LecunNormal(seed=1))["registered_name"]
'fanin>LecunNormal'
"""

from __future__ import annotations

try:
    import tf_keras
except ImportError as err:  # pragma: no cover - exercised only without tf_keras
    raise ImportError("fanin.tf_keras needs tf_keras: pip install tensorflow-cpu, then "
                      "pip install --no-deps tf_keras.") from err

from typing import Any

import tensorflow as tf

from fanin import _frameworks
from fanin import initializers as _init
from fanin import registry as _registry

#: The tf_keras serialization package fanin's classes are registered under.
PACKAGE = "fanin"

# fanin's classes by name.
_CORE_CLASSES = _registry.CLASSES

# TensorFlow imports Keras 3 too, when it is installed: then the tf_keras-side
# classes are built on the Keras 3-side ones, so that one object is an
# initializer of both generations (Keras 3 layers in the same process get their
# fans and serialize it by fanin's name).
if _frameworks.loaded("keras"):
    from fanin import keras as _keras3
    _BASES = {name: _keras3.CLASSES[name] for name in _CORE_CLASSES}
else:  # pragma: no cover - tf_keras without Keras 3
    _keras3 = None
    _BASES = _CORE_CLASSES


class Initializer(_init.Initializer, tf_keras.initializers.Initializer):
    """Base of the tf_keras-side classes: a fanin and a tf_keras ``Initializer``.

    >>> import numpy as np
    >>> class Twos(Initializer):
    ...     def __call__(self, shape, dtype=None, **kwargs):
    ...         return np.full(shape, 2.0, np.float32)
    >>> isinstance(Twos(), tf_keras.initializers.Initializer), Twos()((2,)).tolist()
    (True, [2.0, 2.0])
    """


class _LayoutCall:
    """``__call__`` with tf_keras's DTensor ``layout`` keyword."""

    def __call__(self, shape, dtype=None, **kwargs):
        layout = kwargs.get("layout")
        if not isinstance(layout, tf.experimental.dtensor.Layout):
            return super().__call__(shape, dtype, **kwargs)  # Keras 3's layouts, if any
        del kwargs["layout"]
        if kwargs:
            raise ValueError(f"`layout` cannot be combined with {sorted(kwargs)}.")
        return pack(self.draw(shape, dtype), layout)


def _device_block(shape, layout, location):
    """(offset, block shape) of the device at mesh ``location`` under ``layout``."""
    offset, block = [], []
    for size, spec in zip(shape, layout.sharding_specs):
        parts = 1 if spec == tf.experimental.dtensor.UNSHARDED else layout.mesh.dim_size(spec)
        if size % parts:
            raise ValueError(f"DTensor layout {layout.sharding_specs} splits an axis of "
                             f"size {size} into {parts} unequal parts.")
        step = size // parts
        offset.append(0 if parts == 1 else location[spec] * step)
        block.append(step)
    return tuple(offset), tuple(block)


def pack(draw: _init.Draw, layout: Any) -> Any:
    """The DTensor of one draw under ``layout``: each local device gets its block.

    The values are those of the unsharded tensor; each block is computed on its
    own (memory: one block at a time, plus the DTensor).
    """
    if len(layout.sharding_specs) != len(draw.shape):
        raise ValueError(f"DTensor layout of rank {len(layout.sharding_specs)} for a "
                         f"tensor of shape {draw.shape}.")
    components = []
    for device, location in zip(layout.mesh.local_devices(),
                                layout.mesh.local_device_locations()):
        offset, block = _device_block(draw.shape, layout, location)
        with tf.device(device):
            components.append(tf.constant(draw.block(offset, block)))
    return tf.experimental.dtensor.pack(components, layout)


#: tf_keras-side class for each fanin class name.
CLASSES = _frameworks.make_classes(__name__, _BASES, _LayoutCall, Initializer, Initializer)
globals().update(CLASSES)

#: fanin class -> its tf_keras-side class (exact types; subclasses are the user's),
#: read by fanin.Initializer.__new__ through fanin._frameworks.
KERAS_SIDE = _frameworks.keras_side(CLASSES, _CORE_CLASSES)

_frameworks.register(tf_keras.saving.register_keras_serializable, PACKAGE, CLASSES, _CORE_CLASSES,
                     _init.Initializer)
if _keras3 is not None:  # last registered: Keras 3 loads give these (also Keras 3's) classes
    _frameworks.register(_keras3.keras.saving.register_keras_serializable, PACKAGE, CLASSES,
                         _CORE_CLASSES, _init.Initializer)


def custom_objects() -> dict[str, type]:
    """``custom_objects`` for loading ``.h5`` files that use fanin's initializers.

    Maps every name such a file can record to the tf_keras-side class:
    ``.h5`` model configs name initializers by bare class name
    (``"LecunNormal"``), so tf_keras's own initializers in the file (a layer's
    default ``"zeros"`` bias) load as fanin's too: the same config and weights,
    only re-initialization uses fanin's stream.

    >>> custom_objects()["fanin>LecunNormal"] is LecunNormal
    True
    """
    names = {}
    for name, cls in CLASSES.items():
        names[name] = names[f"{PACKAGE}>{name}"] = cls
    return names


__all__ = ["PACKAGE", "CLASSES", "custom_objects", "pack", *CLASSES]
