"""fanin: Keras-compatible weight initializers on a position-stable random stream.

>>> import fanin
>>> initializer = fanin.LecunNormal()
>>> values = initializer(shape=(2, 2))
>>> values.shape
(2, 2)
"""

from fanin._dtypes import floatx, set_floatx
from fanin._seeds import set_random_seed
from fanin.initializers import (
    Constant,
    Draw,
    GlorotNormal,
    GlorotUniform,
    HeNormal,
    HeUniform,
    Identity,
    Initializer,
    LecunNormal,
    LecunUniform,
    Ones,
    Orthogonal,
    RandomNormal,
    RandomUniform,
    TruncatedNormal,
    VarianceScaling,
    Zeros,
)
from fanin.serialization import deserialize, get, serialize
from fanin.stream import STREAM_VERSION

__version__ = "0.1.0"

# Snake-case aliases: the same class objects, as in tf.keras.initializers.
constant = Constant
glorot_normal = GlorotNormal
glorot_uniform = GlorotUniform
he_normal = HeNormal
he_uniform = HeUniform
identity = Identity
lecun_normal = LecunNormal
lecun_uniform = LecunUniform
ones = Ones
orthogonal = Orthogonal
random_normal = RandomNormal
random_uniform = RandomUniform
truncated_normal = TruncatedNormal
variance_scaling = VarianceScaling
zeros = Zeros

try:  # thread settings live with the compiled kernel when it is built
    from fanin._threads import get_num_threads, set_num_threads  # noqa: F401
except ImportError:  # pragma: no cover
    pass

__all__ = [
    "Initializer", "VarianceScaling", "LecunNormal", "LecunUniform", "GlorotNormal",
    "GlorotUniform", "HeNormal", "HeUniform", "RandomNormal", "RandomUniform",
    "TruncatedNormal", "Zeros", "Ones", "Constant", "Identity", "Orthogonal", "Draw",
    "constant", "glorot_normal", "glorot_uniform", "he_normal", "he_uniform",
    "identity", "lecun_normal", "lecun_uniform", "ones", "orthogonal", "random_normal",
    "random_uniform", "truncated_normal", "variance_scaling", "zeros",
    "get", "serialize", "deserialize", "floatx", "set_floatx", "set_random_seed",
    "STREAM_VERSION", "__version__",
] + [name for name in ("get_num_threads", "set_num_threads") if name in globals()]
