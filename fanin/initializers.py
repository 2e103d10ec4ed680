"""The Keras 2.7 initializer family, on NumPy and fanin's stream.

Same math, fans, configs, errors and seed semantics as ``tf.keras.initializers``;
values come from :mod:`fanin.stream`, so call ``k`` of an initializer seeded with
``s`` is the same tensor in every process, on every machine, in every framework.

Every initializer has :meth:`~Initializer.draw`: one tensor's values as an
immutable :class:`fanin.Draw` that any process can fill any block of; ``__call__``
and ``fill`` are built on it.

>>> import fanin
>>> init = fanin.LecunNormal(seed=0)
>>> w = init(shape=(256, 128))
>>> w.shape, w.dtype.name, bool(abs(w.std() - (1 / 256) ** 0.5) < 0.01)
((256, 128), 'float32', True)
"""

from __future__ import annotations

import functools
import inspect
import math
import numbers
from collections.abc import Mapping
from typing import Any, Self, cast

import numpy as np

from fanin import dtypes, _frameworks, seeds, shapes, stream
from fanin.calls import CallSequence, DrawMaker
from fanin.draws import ConstantDraw, Draw, IdentityDraw, OrthogonalDraw, StreamDraw
from fanin.dtypes import DTypeLike
from fanin.registry import register
from fanin.seeds import Seed
from fanin.shapes import Axes, ShapeLike

_PARTITION_KWARGS = ("partition_shape", "partition_offset")

# Standard deviation of a standard normal truncated to [-2, 2]:
# scipy.stats.truncnorm.std(a=-2, b=2).
TRUNCATED_STDDEV = 0.87962566103423978


def _partition_args(cls_name, shape, kwargs, supported=True):
    """Validated (partition_shape, partition_offset), or (None, None)."""
    unknown = [k for k in kwargs if k not in _PARTITION_KWARGS]
    if unknown:
        raise TypeError(f"Unknown keyword arguments: {unknown}. Allowed keyword "
                        f"arguments: {list(_PARTITION_KWARGS)}.")
    if not supported and kwargs:
        raise ValueError(f"{cls_name} initializer doesn't support "
                         "partition-related arguments.")
    return shapes.check_partition(shape, kwargs.get("partition_shape"),
                                   kwargs.get("partition_offset"))


def _scalar(value, name):
    """A Python int or float from a Python/numpy scalar or a 0-d tensor of any framework."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"`{name}` must be a real number, got {value!r}.")
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    shape = getattr(value, "shape", None)
    item = None
    if shape is not None and tuple(shape) == ():  # numpy, torch, jax, tf scalars
        read = getattr(value, "item", None) or getattr(value, "numpy", None)
        item = read() if read is not None else None
        item = item.item() if isinstance(item, np.generic) else item
    if isinstance(item, bool) or not isinstance(item, (int, float)):
        raise TypeError(f"`{name}` must be a real scalar (a number or a 0-d tensor), "
                        f"got {value!r}.")
    return item


def _check_float_range(number, name):
    """Refuse an int no float holds (``math.isfinite`` would raise OverflowError)."""
    if isinstance(number, int) and abs(number) > _FLOAT64_MAX:
        raise ValueError(f"`{name}` is beyond the float64 range (about 1.8e308), which no "
                         f"dtype fanin fills can hold. Received: {name}, an integer of "
                         f"{abs(number).bit_length()} bits.")


_FLOAT64_MAX = int(np.finfo(np.float64).max)


def _real(value, name, *, positive=False, nonnegative=False):
    """A finite number as stored in configs (int or float); clear errors otherwise."""
    number = _scalar(value, name)
    _check_float_range(number, name)
    if not math.isfinite(number):
        raise ValueError(f"`{name}` must be finite. Received: {name}={number}.")
    if positive and number <= 0:
        raise ValueError(f"`{name}` must be positive float. Received: {name}={number}.")
    if nonnegative and number < 0:
        raise ValueError(f"`{name}` must be non-negative. Received: {name}={number}.")
    return number


class Initializer:
    """Initializer base class: all fanin initializers inherit from this class.

    A subclass implements :meth:`draw` (and gets ``__call__``, partitions and
    ``fill`` from it), or just ``__call__(shape, dtype=None, **kwargs)`` returning
    a ``numpy.ndarray``; and ``get_config()`` when it takes arguments.

    Class attributes read by adapters: ``kind`` (``"random"``: elementwise
    stream values; ``"constant"``; ``"matrix"``: Identity, Orthogonal) and
    ``dtype_kind`` (``"float"``: float16/bfloat16/float32/float64; ``"real"``:
    those or integers; ``"numeric"``: any numeric or boolean dtype).

    >>> class Twos(Initializer):
    ...     def draw(self, shape, dtype=None):
    ...         return ConstantDraw(shapes.normalize_shape(shape), dtypes.float_dtype(dtype), value=2.0)
    >>> Twos()((2,)).tolist()
    [2.0, 2.0]
    """

    kind = "custom"
    dtype_kind = "float"
    supports_partitions = True

    def __new__(cls, *args: Any, **kwargs: Any) -> Self:
        # With Keras loaded, fanin's own classes create their Keras-side
        # subclass, so that Keras sees its own API (fanin/_frameworks.py).
        return super().__new__(_frameworks.framework_class(cls))

    def __call__(self, shape: ShapeLike, dtype: DTypeLike = None, **kwargs: Any) -> np.ndarray:
        """Values for ``shape`` and ``dtype`` (default :func:`fanin.floatx`).

        ``partition_shape`` / ``partition_offset`` give the block
        ``[offset, offset + partition_shape)`` of the tensor of ``shape``
        (fans from the full shape); see :meth:`draw` and ``docs/stream.md``
        section 10 for which call index partitions share.
        """
        part, offset = _partition_args(type(self).__name__, shape, kwargs,
                                       self.supports_partitions)
        if part is None:
            return self.draw(shape, dtype).array()
        return self._partition_draw(shapes.normalize_shape(shape), dtype, part,
                                    offset).block(offset, part)

    def draw(self, shape: ShapeLike, dtype: DTypeLike = None) -> Draw:
        """One tensor's values as an immutable :class:`fanin.Draw` (takes one call index)."""
        raise NotImplementedError(f"{type(self).__name__} must implement `draw()` or "
                                  "`__call__()`.")

    def _partition_draw(self, shape, dtype, part, offset) -> Draw:
        return self.draw(shape, dtype)  # no call index to share: every call is the same

    def fill(self, out: np.ndarray, *, shape: ShapeLike | None = None,
             partition_offset: ShapeLike | None = None, dtype: DTypeLike = None) -> np.ndarray:
        """Fill an existing array in place, as ``self(shape, ...)`` would; return ``out``.

        ``out`` is the whole tensor (``shape=None``) or the partition at
        ``partition_offset`` of a tensor of ``shape``. ``dtype`` is how ``out`` is
        read (``"bfloat16"`` for a ``uint16`` buffer; default: ``out``'s dtype).

        >>> a = np.empty((2, 3), np.float32)
        >>> bool((Ones().fill(a) == 1).all())
        True
        """
        if not isinstance(out, np.ndarray):
            raise TypeError(f"out must be a numpy.ndarray, got {type(out).__name__}.")
        dtype = out.dtype if dtype is None else dtype
        if shape is None:
            return self.draw(out.shape, dtype).fill(out)
        shape = shapes.normalize_shape(shape)
        part, offset = _partition_args(type(self).__name__, shape, {
            "partition_shape": out.shape, "partition_offset": partition_offset},
            self.supports_partitions)
        return self._partition_draw(shape, dtype, part, offset).fill(out, offset)

    def get_config(self) -> dict[str, Any]:
        """The initializer's configuration as a JSON-serializable dict."""
        return {}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Self:
        """Instantiate an initializer from a ``get_config()`` dict (not mutated).

        A ``dtype`` key, written by some Keras versions, is ignored.

        >>> RandomUniform.from_config({"minval": -1, "maxval": 1, "seed": 3})
        RandomUniform(minval=-1, maxval=1, seed=3)
        """
        if not isinstance(config, dict):
            raise TypeError(f"{cls.__name__}.from_config expects a dict, got "
                            f"{type(config).__name__}.")
        config = {k: v for k, v in config.items() if k != "dtype"}
        accepted = list(_config_keys(cast(type, cls)))
        unknown = sorted(str(k) for k in config if k not in accepted)
        if unknown:
            raise TypeError(f"{cls.__name__} config has unknown keys {unknown}; accepted "
                            f"keys: {accepted}.")
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


@functools.lru_cache(maxsize=256)
def _config_keys(cls: type) -> tuple[str, ...]:
    """The keys ``cls.from_config`` accepts: its constructor's parameters (looked up
    once per class: ``inspect.signature`` costs tens of microseconds, and frameworks
    rebuild initializers from configs per weight)."""
    return tuple(p for p in inspect.signature(cls).parameters if p not in ("args", "kwargs"))


# --------------------------------------------------------------------------- #
# Constant initializers
# --------------------------------------------------------------------------- #


class _Fill(Initializer):
    """Initializers that fill every element with one value."""

    kind = "constant"
    dtype_kind = "numeric"
    value = 0

    def draw(self, shape: ShapeLike, dtype: DTypeLike = None) -> Draw:
        """A :class:`fanin.ConstantDraw` (no call index: every draw is the same)."""
        name = dtypes.checked_dtype(dtype, self.dtype_kind)
        shape = shapes.normalize_shape(shape)
        shapes.check_count(shape)
        return ConstantDraw(shape, name, value=dtypes.fit(self.value, name, "Constant value"))


@register("zero")
class Zeros(_Fill):
    """Initializer that generates tensors initialized to 0.

    >>> Zeros()((2, 2)).tolist()
    [[0.0, 0.0], [0.0, 0.0]]
    """

    value = 0


@register("one")
class Ones(_Fill):
    """Initializer that generates tensors initialized to 1.

    >>> Ones()((3,), "int32").tolist()
    [1, 1, 1]
    """

    value = 1


@register()
class Constant(_Fill):
    """Initializer that generates tensors with a constant value (a scalar).

    >>> Constant(3.0)((2,)).tolist()
    [3.0, 3.0]
    """

    def __init__(self, value: complex = 0) -> None:
        if isinstance(value, (bool, np.bool_)):
            self.value = bool(value)
            return
        try:
            number = _scalar(value, "value")
        except TypeError:
            raise TypeError(f"Constant value must be a Python or numpy scalar number, "
                            f"got {value!r}.") from None
        _check_float_range(number, "value")
        self.value = number

    def get_config(self) -> dict[str, Any]:
        return {"value": self.value}


# --------------------------------------------------------------------------- #
# Seeded initializers
# --------------------------------------------------------------------------- #


class _Seeded(Initializer):
    """Seed, key and call sequence of the random initializers.

    ``copy.copy``, ``copy.deepcopy`` and pickling give an instance with the same
    key at call 0 (like ``from_config``, but an unseeded instance keeps the seed
    it drew). To send one tensor to another process, send its draw.
    """

    def _init_seed(self, seed: Seed) -> None:
        self.seed = seeds.check_seed(seed)
        self._key = stream.seed_to_key(self.seed if self.seed is not None
                                       else seeds.fresh_seed())
        self._calls = CallSequence()
        self._plans: dict[Any, tuple[Any, ...]] = {}  # (shape, dtype) -> a small call's plan

    def _use_counter(self, counter) -> None:
        """Take call indices from ``counter`` (an iterator of ints) from now on: how
        Keras-side classes follow a ``keras.random.SeedGenerator``."""
        self._calls, self._plans = CallSequence(counter), {}

    def _partition_draw(self, shape, dtype, part, offset):
        make = self._prepare(shape, dtypes.checked_dtype(dtype, self.dtype_kind))
        return self._calls.partition(shape, make.dtype, part, offset, make)

    def draw(self, shape: ShapeLike, dtype: DTypeLike = None) -> Draw:
        """Validate a call and take its call index, without computing values.

        >>> init = RandomNormal(seed=5)
        >>> [init.draw((3,)).call for _ in range(3)]
        [0, 1, 2]
        """
        make = self._prepare(shapes.normalize_shape(shape),
                             dtypes.checked_dtype(dtype, self.dtype_kind))
        return make(self._calls.take())

    def _prepare(self, shape, name) -> "DrawMaker":
        """Validate a call (raising before any call index is taken)."""
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        return {"seed": self.seed}

    def __getstate__(self):
        return {k: v for k, v in self.__dict__.items() if k not in ("_calls", "_plans")}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._calls = CallSequence()
        self._plans = {}

    def __copy__(self):
        new = type(self).__new__(type(self))
        new.__setstate__(self.__getstate__())
        return new

    def __deepcopy__(self, memo):
        return self.__copy__()


class StreamInitializer(_Seeded):
    """Base of the initializers whose values are elementwise stream values.

    Their draws are :class:`fanin.StreamDraw` s. Subclasses give
    ``_distribution(shape, dtype_name)``.
    """

    kind = "random"

    def _distribution(self, shape, name) -> stream.Distribution:
        raise NotImplementedError

    def _fans(self, shape):
        return None

    def _prepare(self, shape, name):
        shapes.check_count(shape)
        dist = self._distribution(shape, name)
        stream.check_format(dist, name)  # NaN, infinities, values beyond the dtype
        stream.clamp_bounds(dist, name)  # raises when no value of the dtype is in the support
        return DrawMaker(StreamDraw, shape, name, {"key": self._key, "distribution": dist,
                                                     "fans": self._fans(shape)})

    def __call__(self, shape: ShapeLike, dtype: DTypeLike = None, **kwargs: Any) -> np.ndarray:
        """Values for ``shape`` and ``dtype`` (default :func:`fanin.floatx`).

        ``partition_shape`` / ``partition_offset`` give a block of the tensor of
        ``shape``: see :class:`Initializer` and ``docs/stream.md`` section 10.

        >>> LecunNormal(seed=0)((4, 4), partition_shape=(2, 4), partition_offset=(2, 0)).shape
        (2, 4)
        """
        if kwargs or type(shape) is not tuple:
            return super().__call__(shape, dtype, **kwargs)
        for d in shape:  # exactly ints: (3.0, 3) == (3, 3) as a cache key
            if type(d) is not int:
                return super().__call__(shape, dtype, **kwargs)
        # Small tensors (biases, 3x3 kernels) already drawn once with this shape and
        # dtype cost a dict lookup and the fill: per-call overhead near NumPy's own.
        key = (shape, dtypes.floatx() if dtype is None else dtype)
        cached = self._cached(key)
        if cached is None:
            draw = self.draw(shape, dtype)
            self._remember(key, draw)
            return draw.array()
        return cached[0].new(shape, cached[1], self._key, self._calls.take())

    def fill(self, out: np.ndarray, *, shape: ShapeLike | None = None,
             partition_offset: ShapeLike | None = None, dtype: DTypeLike = None) -> np.ndarray:
        """Fill an existing array in place, as ``self(shape, ...)`` would; return ``out``.

        See :meth:`Initializer.fill`. A whole C-contiguous array of a shape and dtype
        filled before costs a dict lookup and the fill.

        >>> a = np.empty(4096, np.float32)
        >>> b = LecunNormal(seed=1).fill(a).copy()
        >>> bool((LecunNormal(seed=1).fill(np.empty(4096, np.float32)) == b).all())
        True
        """
        if (shape is None and partition_offset is None and dtype is None
                and isinstance(out, np.ndarray) and out.flags.c_contiguous
                and out.flags.writeable and type(out.shape) is tuple):
            key = (out.shape, out.dtype)
            cached = self._cached(key)
            if cached is not None and cached[1] == out.dtype:
                cached[0].into(out, self._key, self._calls.take())
                return out
            if cached is None:
                draw = self.draw(out.shape, out.dtype)
                self._remember(key, draw)
                return draw.fill(out)
        return super().fill(out, shape=shape, partition_offset=partition_offset, dtype=dtype)

    def _cached(self, key):
        """The prepared whole fill of a (shape, dtype) called before, for the backend in
        use, or None."""
        try:
            cached = self._plans.get(key)
        except TypeError:  # an unhashable dtype object: no cache
            return None
        if cached is not None and cached[0].backend != stream.get_backend():
            return None
        return cached

    def _remember(self, key, draw) -> None:
        """Prepare repeated calls like this draw (small tensors only: large ones are
        dominated by the fill itself)."""
        if draw.size * draw.numpy_dtype.itemsize < shapes.MEMORY_CHECK_BYTES:
            if len(self._plans) >= 64:  # shapes a model uses are few; bound it anyway
                self._plans.clear()
            try:
                self._plans[key] = (stream.WholeFill(draw.distribution, draw.dtype),
                                    draw.numpy_dtype)
            except TypeError:  # an unhashable dtype object: no cache
                pass


class _Gaussian(StreamInitializer):
    """RandomNormal and TruncatedNormal: a mean and a (pre-truncation) stddev."""

    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: Seed = None) -> None:
        self.mean = _real(mean, "mean")
        self.stddev = _real(stddev, "stddev", nonnegative=True)
        self._init_seed(seed)

    def get_config(self) -> dict[str, Any]:
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


@register("normal")
class RandomNormal(_Gaussian):
    """Initializer that generates tensors with a normal distribution.

    >>> RandomNormal(mean=0.0, stddev=1.0, seed=0)((2, 2)).shape
    (2, 2)
    """

    def _distribution(self, shape, name):
        return stream.normal(self.mean, self.stddev)


@register()
class TruncatedNormal(_Gaussian):
    """Normal values more than two standard deviations from the mean cut away.

    Values are drawn by the inverse CDF between the cut points, never rejected.

    >>> v = TruncatedNormal(mean=0.0, stddev=1.0, seed=0)((1000,))
    >>> bool((abs(v) < 2).all())
    True
    """

    def _distribution(self, shape, name):
        return stream.truncated_normal(self.mean, self.stddev)


@register("uniform")
class RandomUniform(StreamInitializer):
    """Initializer that generates tensors uniform on ``[minval, maxval)``.

    Float dtypes get uniform floats; integer dtypes (as in Keras 2.7) uniform
    integers in ``[minval, maxval)``, which must then be integers.

    >>> v = RandomUniform(minval=0.0, maxval=1.0, seed=0)((1000,))
    >>> bool(((v >= 0) & (v < 1)).all())
    True
    """

    dtype_kind = "real"

    def __init__(self, minval: float = -0.05, maxval: float = 0.05, seed: Seed = None,
                 ) -> None:
        self.minval, self.maxval = _real(minval, "minval"), _real(maxval, "maxval")
        if self.maxval < self.minval:
            raise ValueError(f"`maxval` must not be less than `minval`. Received: "
                             f"minval={minval}, maxval={maxval}.")
        self._init_seed(seed)

    def _distribution(self, shape, name):
        if name in dtypes.FLOAT_NAMES:
            return stream.uniform(self.minval, self.maxval)
        if not (float(self.minval).is_integer() and float(self.maxval).is_integer()
                and self.minval < self.maxval):
            raise ValueError(f"RandomUniform with integer dtype {name} needs integer "
                             f"minval < maxval, got minval={self.minval}, "
                             f"maxval={self.maxval}.")
        lo, hi = int(self.minval), int(self.maxval)
        info = np.iinfo(name)
        if lo < int(info.min) or hi - 1 > int(info.max):  # exclusive: [0, 256) fills uint8
            raise ValueError(f"RandomUniform range [{lo}, {hi}) does not fit {name} "
                             f"([{info.min}, {int(info.max) + 1})).")
        return stream.uniform_int(lo, hi)

    def get_config(self) -> dict[str, Any]:
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}


@register()
class VarianceScaling(StreamInitializer):
    """Initializer that adapts its scale to the shape of its input tensors.

    With ``distribution="truncated_normal"`` or ``"untruncated_normal"``, samples
    have mean 0 and standard deviation (after truncation) ``sqrt(scale / n)``;
    with ``"uniform"`` they are uniform within ``[-limit, limit)``,
    ``limit = sqrt(3 * scale / n)``. ``n`` is fan_in, fan_out or their average
    by ``mode``. ``input_axes`` / ``output_axes`` (both, or neither) give the
    fans of other layouts as Keras 3.15 computes them (the product of the listed
    axes; an axis may be in both), e.g. PyTorch's ``(out, in, kh, kw)``:
    ``input_axes=[1, 2, 3], output_axes=[0, 2, 3]``.

    >>> init = VarianceScaling(scale=0.1, mode="fan_in", distribution="uniform", seed=0)
    >>> bool((abs(init((2, 2))) < (3 * 0.1 / 2) ** 0.5).all())
    True
    """

    def __init__(self, scale: float = 1.0, mode: str = "fan_in",
                 distribution: str = "truncated_normal", seed: Seed = None,
                 input_axes: Axes = None, output_axes: Axes = None) -> None:
        self._set_params(scale, mode, distribution, input_axes, output_axes)
        self._init_seed(seed)

    def _set_params(self, scale, mode, distribution, input_axes, output_axes):
        self.scale = _real(scale, "scale", positive=True)
        allowed_modes = ("fan_in", "fan_out", "fan_avg")
        if mode not in allowed_modes:
            raise ValueError(f"Invalid `mode` argument: {mode}. Please use one of the "
                             f"{set(allowed_modes)}.")
        allowed = ("uniform", "truncated_normal", "untruncated_normal")
        if not isinstance(distribution, str):
            raise ValueError(f"Invalid `distribution` argument: {distribution}. "
                             f"Allowed distributions: {set(allowed)}.")
        distribution = distribution.lower()
        if distribution == "normal":  # compatibility with old keras-team/keras
            distribution = "truncated_normal"
        if distribution not in allowed:
            raise ValueError(f"Invalid `distribution` argument: {distribution}. "
                             f"Allowed distributions: {set(allowed)}.")
        self.mode, self.distribution = mode, distribution
        self.input_axes = shapes.check_axes(input_axes, "input_axes")
        self.output_axes = shapes.check_axes(output_axes, "output_axes")

    def _axes_config(self):
        if self.input_axes is None and self.output_axes is None:
            return {}
        return {"input_axes": self.input_axes, "output_axes": self.output_axes}

    def fans(self, shape: ShapeLike) -> tuple[int, int]:
        """(fan_in, fan_out) this initializer uses for ``shape``.

        >>> LecunNormal(input_axes=[1, 2, 3], output_axes=[0, 2, 3]).fans((64, 32, 3, 3))
        (288, 576)
        """
        shape = shapes.normalize_shape(shape)
        shapes.check_count(shape)
        shapes.check_axes_fit(shape, self.input_axes, self.output_axes)
        return shapes.compute_fans(shape, self.input_axes, self.output_axes)

    _fans = fans

    def _distribution(self, shape, name):
        fan_in, fan_out = self.fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        scale = float(self.scale) / max(1.0, float(n))
        if self.distribution == "truncated_normal":
            return stream.truncated_normal(0.0, math.sqrt(scale) / TRUNCATED_STDDEV)
        if self.distribution == "untruncated_normal":
            return stream.normal(0.0, math.sqrt(scale))
        limit = math.sqrt(3.0 * scale)
        return stream.uniform(-limit, limit)

    def get_config(self) -> dict[str, Any]:
        return {"scale": self.scale, "mode": self.mode,
                "distribution": self.distribution, "seed": self.seed,
                **self._axes_config()}


class _FixedScaling(VarianceScaling):
    """A VarianceScaling with fixed (scale, mode, distribution): config is the seed."""

    #: (scale, mode, distribution), set by each subclass; the torch and JAX families
    #: of the same names are generated from it.
    fixed_scaling: tuple[float, str, str]

    def __init__(self, seed: Seed = None, input_axes: Axes = None,
                 output_axes: Axes = None) -> None:
        self._set_params(*self.fixed_scaling, input_axes, output_axes)
        self._init_seed(seed)

    def get_config(self) -> dict[str, Any]:
        return {"seed": self.seed, **self._axes_config()}


@register()
class LecunNormal(_FixedScaling):
    """Lecun normal initializer.

    Draws samples from a truncated normal distribution centered on 0 with
    ``stddev = sqrt(1 / fan_in)`` (after truncation at two pre-truncation
    standard deviations) where ``fan_in`` is the number of input units in the
    weight tensor. ``VarianceScaling(1.0, "fan_in", "truncated_normal", seed)``.

    A seeded initializer does not produce the same values across calls, but two
    initializers built with the same seed produce the same sequence, in any
    process on any machine.

    >>> initializer = LecunNormal()
    >>> values = initializer(shape=(2, 2))
    >>> a, b = LecunNormal(seed=1), LecunNormal(seed=1)
    >>> first_a, first_b = a((3,)), b((3,))      # call 0 of each
    >>> second_a, second_b = a((3,)), b((3,))    # call 1 of each: new values
    >>> bool((first_a == first_b).all()), bool((second_a == second_b).all())
    (True, True)
    >>> bool((first_a == second_a).all())
    False
    """

    fixed_scaling = (1.0, "fan_in", "truncated_normal")


@register()
class LecunUniform(_FixedScaling):
    """Lecun uniform: uniform within ``[-limit, limit)``, ``limit = sqrt(3 / fan_in)``.

    >>> LecunUniform(seed=0)((4, 4)).dtype.name
    'float32'
    """

    fixed_scaling = (1.0, "fan_in", "uniform")


@register()
class GlorotNormal(_FixedScaling):
    """Glorot (Xavier) normal: truncated normal, ``stddev = sqrt(2 / (fan_in + fan_out))``.

    >>> GlorotNormal(seed=0)((4, 4)).shape
    (4, 4)
    """

    fixed_scaling = (1.0, "fan_avg", "truncated_normal")


@register()
class GlorotUniform(_FixedScaling):
    """Glorot (Xavier) uniform: ``limit = sqrt(6 / (fan_in + fan_out))``.

    >>> GlorotUniform(seed=0)((4, 4)).shape
    (4, 4)
    """

    fixed_scaling = (1.0, "fan_avg", "uniform")


@register()
class HeNormal(_FixedScaling):
    """He normal: truncated normal, ``stddev = sqrt(2 / fan_in)``.

    >>> HeNormal(seed=0)((3, 3, 8, 16)).shape
    (3, 3, 8, 16)
    """

    fixed_scaling = (2.0, "fan_in", "truncated_normal")


@register()
class HeUniform(_FixedScaling):
    """He uniform: ``limit = sqrt(6 / fan_in)``.

    >>> HeUniform(seed=0)((8,)).shape
    (8,)
    """

    fixed_scaling = (2.0, "fan_in", "uniform")


# --------------------------------------------------------------------------- #
# Matrix initializers
# --------------------------------------------------------------------------- #


def _matrix_shape(shape, rank_ok, what):
    shape = shapes.normalize_shape(shape)
    shapes.check_count(shape)
    if not rank_ok(len(shape)):
        raise ValueError(f"{what} Received: shape={shape} of rank {len(shape)}.")
    return shape


@register("IdentityInitializer")
class Identity(Initializer):
    """Initializer that generates the identity matrix (2D only) times ``gain``.

    >>> Identity(gain=2.0)((2, 3)).tolist()
    [[2.0, 0.0, 0.0], [0.0, 2.0, 0.0]]
    """

    kind = "matrix"
    supports_partitions = False

    def __init__(self, gain: float = 1.0) -> None:
        self.gain = _real(gain, "gain")

    def draw(self, shape: ShapeLike, dtype: DTypeLike = None) -> Draw:
        """An :class:`fanin.IdentityDraw` (no call index)."""
        name = dtypes.checked_dtype(dtype, self.dtype_kind)
        dims = _matrix_shape(shape, lambda r: r == 2, "Identity matrix initializer can "
                             "only be used for 2D matrices.")
        return IdentityDraw(dims, name, gain=cast(float, dtypes.fit(self.gain, name, "gain")))

    def get_config(self) -> dict[str, Any]:
        return {"gain": self.gain}


@register("OrthogonalInitializer")
class Orthogonal(_Seeded):
    """Initializer that generates an orthogonal matrix (times ``gain``).

    A ``(rows, cols)`` matrix, with ``rows`` the product of all but the last
    dimension, is the Q factor of the QR decomposition of a standard normal
    matrix from the stream (float64, this call's index), its signs fixed by
    R's diagonal; orthonormal rows if ``rows < cols``, else orthonormal columns.
    The normal matrix is bit-reproducible; the QR step uses LAPACK, so the
    last bits can differ between LAPACK builds. Draws are
    :class:`fanin.OrthogonalDraw` s: each block computes the whole matrix.

    >>> q = Orthogonal(seed=0)((4, 3)).astype(np.float64)
    >>> bool(np.allclose(q.T @ q, np.eye(3), atol=1e-6))
    True
    """

    kind = "matrix"
    supports_partitions = False

    def __init__(self, gain: float = 1.0, seed: Seed = None) -> None:
        self.gain = _real(gain, "gain")
        self._init_seed(seed)

    def _prepare(self, shape, name):
        shape = _matrix_shape(shape, lambda r: r >= 2, "The tensor to initialize must be "
                              "at least two-dimensional.")
        make = DrawMaker(OrthogonalDraw, shape, name,
                          {"key": self._key, "gain": dtypes.fit(self.gain, name, "gain")})
        shapes.check_size(shape, dtypes.numpy_dtype(name).itemsize,
                           make(0).working_bytes)
        return make

    def get_config(self) -> dict[str, Any]:
        return {"gain": self.gain, "seed": self.seed}
