"""fanin for JAX and Flax: ``jax.nn.initializers``' API on fanin's stream.

Every function mirrors its ``jax.nn.initializers`` namesake (same arguments,
same fan rules) and returns ``init(key, shape, dtype=..., out_sharding=None)``,
which works as a Flax linen or NNX ``kernel_init``, under ``jax.jit``,
``jax.vmap`` and sharded ``jit``. The values are fanin's stream, computed
with ``jax.numpy`` operations on the device (see :mod:`fanin.stream.jax`):

- ``init(key, shape, dtype)`` equals, bit for bit, call 0 of the matching
  fanin initializer seeded with ``seed_of(key)``; ``key(seed)`` is the inverse.
- Under ``jax.jit(..., out_shardings=...)`` or with ``out_sharding=``, each
  device computes only its own shard, with no communication. On a mesh with
  Explicit axes (``jax.make_mesh``'s default, under ``jax.set_mesh``) pass
  ``out_sharding=``: with ``out_shardings`` alone each device computes the
  whole tensor and keeps its part.
- dtypes follow JAX: ``dtype=None`` is JAX's default float; without
  ``jax_enable_x64`` a float64 request gives float32 (fanin's float32 values).

>>> import jax, jax.numpy as jnp, numpy as np, fanin, fanin.jax
>>> w = fanin.jax.lecun_normal()(jax.random.key(7), (4, 3), jnp.float32)
>>> bool((np.asarray(w) == fanin.LecunNormal(seed=7)((4, 3), "float32")).all())
True

With Flax: ``flax.linen.Dense(8, kernel_init=fanin.jax.lecun_normal())`` or
``flax.nnx.Linear(4, 8, kernel_init=fanin.jax.lecun_normal(), rngs=nnx.Rngs(0))``.
"""

from __future__ import annotations

import copy
import functools
import math
import numbers
import operator
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import fanin
from fanin import shapes, stream
from fanin.stream import jax as _jax_stream
from fanin.initializers import TRUNCATED_STDDEV

__all__ = [
    "seed_of", "key", "from_initializer", "keras_values", "variance_scaling",
    "normal", "truncated_normal", "uniform", "orthogonal", "zeros", "ones", "constant",
]  # plus the fixed-scale family (FIXED), generated below

_M32 = 0xFFFFFFFF

#: XLA aborts the whole process (no Python exception) on an array of 2**63 bytes or
#: more, and the stream's working arrays hold 4 or 8 bytes an element: larger
#: requests are refused here, before anything is traced.
MAX_ARRAY_BYTES = 1 << 62

#: What every function here returns: ``init(key, shape, dtype=None, out_sharding=None)``,
#: the signature of ``jax.nn.initializers``' initializers (a Flax ``kernel_init``).
JaxInitializer = Callable[..., jax.Array]


# --------------------------------------------------------------------------- #
# Keys and seeds
# --------------------------------------------------------------------------- #


def _key_data(key):
    """The ``uint32[2]`` words of a threefry key, typed (``jax.random.key``) or raw."""
    if not hasattr(key, "dtype"):
        raise TypeError(f"expected a JAX PRNG key, got {type(key).__name__}.")
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        data = jax.random.key_data(key)
    elif key.dtype == jnp.uint32:
        data = key
    else:
        raise TypeError(f"expected a JAX PRNG key (jax.random.key or jax.random.PRNGKey), "
                        f"got an array of dtype {key.dtype}.")
    if data.shape != (2,):
        raise ValueError(f"expected one threefry key (2 uint32 words), got key data of shape "
                         f"{data.shape}; split keys are used one at a time (or with jax.vmap).")
    return data


def _philox_key(key):
    """Philox key words ``(k0, k1) = (lo, hi)`` of the seed ``hi << 32 | lo``: traceable."""
    data = _key_data(key)
    return jnp.stack([data[1], data[0]])


def seed_of(key: jax.Array) -> int:
    """The fanin seed of a JAX key: ``hi << 32 | lo`` of its two words ``(hi, lo)``.

    ``jax.random.key(s)`` and ``jax.random.PRNGKey(s)`` hold ``(0, s)`` for
    ``0 <= s < 2**32``, so their seed is ``s``. Needs a concrete key (inside
    ``jit`` the initializers read the key's words directly).

    >>> import jax
    >>> seed_of(jax.random.key(42)), seed_of(jax.random.PRNGKey(42))
    (42, 42)
    """
    data = _key_data(key)
    if isinstance(data, jax.core.Tracer):
        raise TypeError("seed_of needs a concrete key, not a traced one; fanin.jax "
                        "initializers use the key inside jit without it.")
    hi, lo = (int(w) for w in np.asarray(data))
    return hi << 32 | lo


def key(seed: int) -> jax.Array:
    """The typed JAX key whose :func:`seed_of` is ``seed mod 2**64``.

    >>> seed_of(key(-1)) == 2**64 - 1
    True
    """
    k = stream.seed_to_key(operator.index(seed))
    words = jnp.asarray(np.array([k >> 32, k & _M32], np.uint32))
    return jax.random.wrap_key_data(words, impl="threefry2x32")


# --------------------------------------------------------------------------- #
# Shapes, dtypes, shardings
# --------------------------------------------------------------------------- #


def _shape(shape) -> tuple[int, ...]:
    """A shape as a tuple of ints; ``ValueError`` beyond fanin's 2**62 elements."""
    try:
        dims = tuple(operator.index(d) for d in shape)
    except TypeError:
        raise TypeError(f"shape must be a sequence of integers, got {shape!r}.") from None
    if any(d < 0 for d in dims):
        raise ValueError(f"shape must not contain negative dimensions, got {dims}.")
    shapes.check_count(dims)
    return dims


def _check_bytes(shape, name: str) -> None:
    """Refuse arrays XLA cannot describe (see :data:`MAX_ARRAY_BYTES`)."""
    width = 8 if name == "float64" else max(4, jnp.dtype(name).itemsize)
    if math.prod(shape) * width > MAX_ARRAY_BYTES:
        raise ValueError(f"shape {shape} of {name} needs more than 2**62 bytes of working "
                         "memory, beyond what one XLA array can hold.")


def _dtype_name(dtype) -> str:
    """JAX's rule: None is the default float; float64 is float32 without x64."""
    dt = jnp.result_type(float) if dtype is None else jax.dtypes.canonicalize_dtype(dtype)
    return jnp.dtype(dt).name


def _float_format(dtype) -> str:
    name = _dtype_name(dtype)
    if name not in stream.FLOAT_FORMATS:
        raise ValueError(f"fanin.jax random initializers need a float dtype "
                         f"({', '.join(stream.FLOAT_FORMATS)}), got {name}.")
    return name


def _mesh_of(out_sharding):
    return getattr(out_sharding, "mesh", None) or jax.sharding.get_abstract_mesh()


def _explicit(out_sharding) -> bool:
    """True for a sharding over a mesh with Explicit axes (sharding in types)."""
    return any(t == jax.sharding.AxisType.Explicit for t in _mesh_of(out_sharding).axis_types)


def _spec(out_sharding):
    return getattr(out_sharding, "spec", out_sharding)


def _shard_len(out_sharding, shape) -> int | None:
    """Length of the last axis on one device under ``out_sharding``."""
    if out_sharding is None or not shape:
        return None
    axes = tuple(_spec(out_sharding)) + (None,) * len(shape)
    names = axes[len(shape) - 1]
    names = () if names is None else (names,) if isinstance(names, str) else tuple(names)
    parts = math.prod(_mesh_of(out_sharding).shape[n] for n in names)
    return -(-shape[-1] // parts)


def _constrain(x, out_sharding):
    """``x`` laid out as ``out_sharding`` (a NamedSharding or, under a mesh, a spec)."""
    if out_sharding is None:
        return x
    if _explicit(out_sharding):
        return jax.sharding.reshard(x, out_sharding)
    return jax.lax.with_sharding_constraint(x, out_sharding)


def _stream_values(pkey, call, *, dist, fmt, shape, out_sharding):
    """The stream's values of (key, call) for ``shape``, on the device."""
    _check_bytes(shape, fmt)
    return _stream_values_jit(pkey, call, dist=dist, fmt=fmt, shape=shape,
                              out_sharding=out_sharding)


@functools.partial(jax.jit, static_argnames=("dist", "fmt", "shape", "out_sharding"))
def _stream_values_jit(pkey, call, *, dist, fmt, shape, out_sharding):
    """Compiled once per (distribution, format, shape, sharding); key and call at run time."""
    spec = _spec(out_sharding) if out_sharding is not None and _explicit(out_sharding) else None
    vals = _jax_stream.values(pkey, call, dist, fmt, shape, spec=spec,
                              shard_len=_shard_len(out_sharding, shape))
    return _constrain(vals, out_sharding)


def _random_init(distribution_of, default_dtype):
    """An ``init(key, shape, dtype, out_sharding)`` drawing ``distribution_of(shape)``."""

    def init(key, shape, dtype=default_dtype, out_sharding=None):
        shape, fmt = _shape(shape), _float_format(dtype)
        pkey = _philox_key(key)
        if math.prod(shape) == 0:
            return _full(shape, 0, fmt, out_sharding)
        return _stream_values(pkey, jnp.zeros(2, jnp.uint32), dist=distribution_of(shape),
                              fmt=fmt, shape=shape, out_sharding=out_sharding)

    return init


@functools.partial(jax.jit, static_argnames=("shape", "value", "dtype", "out_sharding"))
def _full_jit(*, shape, value, dtype, out_sharding):
    return _constrain(jnp.full(shape, value[0], dtype), out_sharding)


def _full(shape, value, dtype, out_sharding):
    _check_bytes(shape, dtype)
    # jit's cache compares static values with ==, for which -0.0 == 0.0: the
    # value's repr (which tells them apart) goes into the key as well.
    return _full_jit(shape=shape, value=(value, repr(value)), dtype=dtype,
                     out_sharding=out_sharding)


# --------------------------------------------------------------------------- #
# Variance scaling, with JAX's fan rules
# --------------------------------------------------------------------------- #


def _real(value, name, *, positive=False):
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.generic)):
        raise TypeError(f"`{name}` must be a real number, got {value!r}.")
    try:
        value = float(value)
    except OverflowError:  # an int beyond the float range
        raise ValueError(f"`{name}` must be a finite number, got an integer beyond the "
                         "float64 range.") from None
    if not math.isfinite(value) or (positive and value <= 0):
        raise ValueError(f"`{name}` must be a finite{' positive' if positive else ''} "
                         f"number, got {value!r}.")
    return value


def _axes_size(shape, axes) -> int:
    axes = (axes,) if isinstance(axes, int) else tuple(axes)
    return math.prod(shape[a] for a in axes)


def _fans(shape, in_axis, out_axis, batch_axis) -> tuple[float, float]:
    """(fan_in, fan_out) as ``jax.nn.initializers`` computes them."""
    if isinstance(in_axis, int) and in_axis == -2 and len(shape) <= 1:
        raise ValueError(f"Can't compute input and output sizes of a {len(shape)}-dimensional "
                         "weights tensor with default in_axis. Must be at least 2D or specify "
                         "in_axis explicitly.")
    try:
        in_size = _axes_size(shape, in_axis)
        out_size = _axes_size(shape, out_axis)
        batch_size = _axes_size(shape, batch_axis)
    except IndexError:
        raise ValueError(f"in_axis={in_axis}, out_axis={out_axis}, batch_axis={batch_axis} "
                         f"do not fit shape {shape}.") from None
    receptive = math.prod(shape) / in_size / out_size / batch_size
    return in_size * receptive, out_size * receptive


_MODES = ("fan_in", "fan_out", "fan_avg", "fan_geo_avg")
_DISTRIBUTIONS = ("truncated_normal", "normal", "uniform")


def _variance(scale, mode, fan_in, fan_out) -> float:
    denominator = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2,
                   "fan_geo_avg": (fan_in * fan_out) ** 0.5}[mode]
    return scale / denominator


def variance_scaling(scale: float, mode: str, distribution: str,
                     in_axis: int | Sequence[int] = -2, out_axis: int | Sequence[int] = -1,
                     batch_axis: int | Sequence[int] = (), dtype: Any = None,
                     ) -> JaxInitializer:
    """``jax.nn.initializers.variance_scaling`` on fanin's stream.

    Standard deviation (after truncation) ``sqrt(scale / n)``, ``n`` by
    ``mode``: ``"truncated_normal"`` is cut at two standard deviations before
    scaling (as fanin's and Keras's), ``"normal"`` is untruncated, ``"uniform"``
    is on ``[-limit, limit)``, ``limit = sqrt(3 scale / n)``.

    >>> import jax
    >>> variance_scaling(2.0, "fan_in", "uniform")(jax.random.key(0), (4, 2)).shape
    (4, 2)
    """
    scale = _real(scale, "scale", positive=True)
    if mode not in _MODES:
        raise ValueError(f"invalid mode for variance scaling initializer: {mode!r}; "
                         f"expected one of {_MODES}.")
    if distribution not in _DISTRIBUTIONS:
        raise ValueError(f"invalid distribution for variance scaling initializer: "
                         f"{distribution!r}; expected one of {_DISTRIBUTIONS}.")

    def distribution_of(shape):
        variance = _variance(scale, mode, *_fans(shape, in_axis, out_axis, batch_axis))
        if distribution == "truncated_normal":
            return stream.truncated_normal(0.0, math.sqrt(variance) / TRUNCATED_STDDEV)
        if distribution == "normal":
            return stream.normal(0.0, math.sqrt(variance))
        limit = math.sqrt(3.0 * variance)
        return stream.uniform(-limit, limit)

    return _random_init(distribution_of, dtype)


def _fixed(scale, mode, distribution):
    def factory(in_axis=-2, out_axis=-1, batch_axis=(), dtype=None):
        return variance_scaling(scale, mode, distribution, in_axis, out_axis, batch_axis, dtype)
    return factory


# lecun_normal, glorot_uniform, he_normal, ...: one per fixed-scale class of the registry.
FIXED = []
for _cls in fanin.registry.CLASSES.values():
    if hasattr(_cls, "fixed_scaling"):
        _f = _fixed(*_cls.fixed_scaling)
        _f.__name__ = _f.__qualname__ = fanin.registry.snake_name(_cls.__name__)
        _f.__doc__ = (f"``jax.nn.initializers.{_f.__name__}`` on fanin's stream: "
                      f"``variance_scaling{_cls.fixed_scaling}``.")
        globals()[_f.__name__] = _f
        FIXED.append(_f.__name__)
__all__ += FIXED


# --------------------------------------------------------------------------- #
# Plain distributions and constants
# --------------------------------------------------------------------------- #


def normal(stddev: float = 1e-2, dtype: Any = None) -> JaxInitializer:
    """Normal values with mean 0 and standard deviation ``stddev``."""
    dist = stream.normal(0.0, _real(stddev, "stddev"))
    return _random_init(lambda shape: dist, dtype)


def truncated_normal(stddev: float = 1e-2, dtype: Any = None, lower: float = -2.0,
                     upper: float = 2.0) -> JaxInitializer:
    """Normal values (``stddev`` before truncation) cut to ``(lower, upper) * stddev``."""
    dist = stream.truncated_normal(0.0, _real(stddev, "stddev"), _real(lower, "lower"),
                                   _real(upper, "upper"))
    return _random_init(lambda shape: dist, dtype)


def uniform(scale: float = 1e-2, dtype: Any = None) -> JaxInitializer:
    """Uniform values on ``[0, scale)`` (on ``[scale, 0)`` for a negative ``scale``,
    the interval ``jax.nn.initializers.uniform`` draws from)."""
    scale = _real(scale, "scale")
    dist = stream.uniform(min(0.0, scale), max(0.0, scale))
    return _random_init(lambda shape: dist, dtype)


def zeros(key: jax.Array, shape: Sequence[int] | int, dtype: Any = None,
          out_sharding: Any = None) -> jax.Array:
    """An array of zeros (the key is ignored)."""
    return _full(_shape(shape), 0, _dtype_name(dtype), out_sharding)


def ones(key: jax.Array, shape: Sequence[int] | int, dtype: Any = None,
         out_sharding: Any = None) -> jax.Array:
    """An array of ones (the key is ignored)."""
    return _full(_shape(shape), 1, _dtype_name(dtype), out_sharding)


def constant(value: complex, dtype: Any = None) -> JaxInitializer:
    """An initializer of arrays full of the scalar ``value``."""
    if np.ndim(value) != 0:
        raise TypeError(f"constant value must be a scalar, got {value!r}.")
    value = np.asarray(value).item()

    def init(key, shape, dtype=dtype, out_sharding=None):
        return _full(_shape(shape), value, _dtype_name(dtype), out_sharding)

    return init


# --------------------------------------------------------------------------- #
# Orthogonal
# --------------------------------------------------------------------------- #


@functools.partial(jax.jit, static_argnames=("rows", "cols", "fmt"))
def _orthogonal_matrix(pkey, *, rows, cols, fmt):
    """fanin's orthogonal (rows, cols) matrix in ``fmt``'s working precision.

    The Q factor of a standard normal (max, min) matrix of the stream (call
    0), signs fixed by R's diagonal, transposed when rows < cols.
    """
    work = "float64" if fmt == "float64" else "float32"
    a = _jax_stream.values(pkey, 0, stream.normal(0.0, 1.0), work,
                           (max(rows, cols), min(rows, cols)))
    q, r = jnp.linalg.qr(a)
    q = q * jnp.where(jnp.diagonal(r) < 0, -1.0, 1.0).astype(q.dtype)
    return q.T if rows < cols else q


def _orthogonal_init(gain, column_axis, default_dtype):
    def init(key, shape, dtype=default_dtype, out_sharding=None):
        shape, fmt = _shape(shape), _float_format(dtype)
        if len(shape) < 2:
            raise ValueError("orthogonal initializer requires at least a 2D shape, got "
                             f"{shape}.")
        pkey = _philox_key(key)
        if math.prod(shape) == 0:
            return _full(shape, 0, fmt, out_sharding)
        cols = shape[column_axis]
        _check_bytes(shape, "float64" if fmt == "float64" else "float32")
        q = _orthogonal_matrix(pkey, rows=math.prod(shape) // cols, cols=cols, fmt=fmt)
        rest = tuple(np.delete(np.array(shape), column_axis))
        q = jnp.moveaxis(q.reshape(rest + (cols,)), -1, column_axis)
        return _constrain((jnp.asarray(gain, q.dtype) * q).astype(fmt), out_sharding)

    return init


def orthogonal(scale: float = 1.0, column_axis: int = -1, dtype: Any = None,
               ) -> JaxInitializer:
    """Orthogonal matrices: orthonormal rows or columns, whichever side is smaller.

    The normal matrix is fanin's (float64 with ``jax_enable_x64``, else float32
    values of the stream); the QR step is XLA's, so results match
    ``fanin.Orthogonal`` to rounding (with x64), not bit for bit.
    """
    scale = _real(scale, "scale")
    operator.index(column_axis)
    return _orthogonal_init(scale, column_axis, dtype)


# --------------------------------------------------------------------------- #
# Any fanin initializer, and Keras 3 layouts
# --------------------------------------------------------------------------- #


def from_initializer(initializer: fanin.Initializer, dtype: Any = None) -> JaxInitializer:
    """A JAX ``init(key, shape, dtype, out_sharding)`` from any fanin initializer.

    The values are call 0 of ``initializer`` re-seeded with ``seed_of(key)``:
    random initializers draw their distribution for ``shape`` (the fanin
    fans and parameters) from the key's stream; constant ones ignore the key.
    ``initializer`` itself is not touched (a copy takes the draw).
    """
    if not isinstance(initializer, fanin.Initializer):
        raise TypeError(f"from_initializer expects a fanin initializer, got "
                        f"{type(initializer).__name__}.")

    def init(key, shape, dtype=dtype, out_sharding=None):
        shape, name = _shape(shape), _dtype_name(dtype)
        draw = copy.copy(initializer).draw(shape, name)
        if isinstance(draw, fanin.StreamDraw):
            pkey = _philox_key(key)
            if math.prod(shape) == 0:
                return _full(shape, 0, name, out_sharding)
            return _stream_values(pkey, jnp.zeros(2, jnp.uint32), dist=draw.distribution,
                                  fmt=draw.dtype, shape=shape, out_sharding=out_sharding)
        if isinstance(draw, fanin.OrthogonalDraw):
            return _orthogonal_init(draw.gain, -1, name)(key, shape, name, out_sharding)
        if isinstance(draw, fanin.ConstantDraw):
            return _full(shape, draw.value, name, out_sharding)
        return _constrain(jnp.asarray(draw.array()), out_sharding)  # Identity and others

    return init


def keras_values(draw: fanin.Draw, layout: Any) -> jax.Array:
    """The values of a fanin draw as a ``jax.Array`` laid out by ``layout``.

    ``layout`` is a ``keras.distribution.TensorLayout`` (its backend layout is
    used) or a ``jax.sharding.Sharding``. Stream draws are computed shard by
    shard on the devices that hold them (the draw's own key and call);
    other draws are computed on the host and each shard sent to its device.
    """
    sharding = getattr(layout, "backend_layout", layout)
    if not isinstance(sharding, jax.sharding.Sharding):
        raise TypeError(f"layout must be a keras TensorLayout or a jax Sharding, got "
                        f"{type(layout).__name__}.")
    shape = tuple(draw.shape)
    if not isinstance(draw, fanin.StreamDraw) or math.prod(shape) == 0:
        return jax.device_put(draw.array(), sharding)
    call = int(draw.call) & ((1 << 64) - 1)
    return _stream_values(_jax_stream.key_words(draw.key),
                          jnp.array([call & _M32, call >> 32], jnp.uint32),
                          dist=draw.distribution, fmt=draw.dtype, shape=shape,
                          out_sharding=sharding)
