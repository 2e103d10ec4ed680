"""fanin: Keras-compatible weight initializers on a position-stable random stream.

>>> import fanin
>>> initializer = fanin.LecunNormal()
>>> values = initializer(shape=(2, 2))
>>> values.shape
(2, 2)
"""

from fanin import registry
from fanin.dtypes import floatx, set_floatx
from fanin.seeds import set_random_seed
from fanin._threads import get_num_threads, set_num_threads
from fanin.draws import ConstantDraw, Draw, IdentityDraw, OrthogonalDraw, StreamDraw
from fanin.initializers import Initializer, StreamInitializer
from fanin.serialization import deserialize, get, serialize
from fanin.stream import STREAM_VERSION

__version__ = "0.1.0"

# Every registered class under its class name and its snake-case alias (the same
# class object, as in tf.keras.initializers: fanin.lecun_normal is fanin.LecunNormal).
_ALIASES = {registry.snake_name(name): cls for name, cls in registry.CLASSES.items()}
globals().update(registry.CLASSES, **_ALIASES)

__all__ = [
    "Initializer", "StreamInitializer", *registry.CLASSES, *_ALIASES,
    "Draw", "StreamDraw", "ConstantDraw", "IdentityDraw", "OrthogonalDraw",
    "get", "serialize", "deserialize", "floatx", "set_floatx", "set_random_seed",
    "get_num_threads", "set_num_threads", "registry", "STREAM_VERSION", "__version__",
]

# Keras imported before fanin: register fanin's classes with it now, so that
# models load back with fanin's classes (fanin/_frameworks.py).
from fanin import _frameworks  # noqa: E402

_frameworks.register_loaded()
