"""The Keras 2.7 initializer family, on NumPy and fanin's stream.

Same math, fans, configs, errors and seed semantics as ``tf.keras.initializers``;
values come from :mod:`fanin.stream`, so call ``k`` of an initializer seeded with
``s`` is the same tensor in every process, on every machine, in every framework.

>>> import fanin
>>> init = fanin.LecunNormal(seed=0)
>>> w = init(shape=(256, 128))
>>> w.shape, w.dtype.name, bool(abs(w.std() - (1 / 256) ** 0.5) < 0.01)
((256, 128), 'float32', True)
"""

from __future__ import annotations

import math
import numbers
import threading
from dataclasses import dataclass

import numpy as np

from fanin import _dtypes, _seeds, _shapes, stream

_PARTITION_KWARGS = ("partition_shape", "partition_offset")

# Standard deviation of a standard normal truncated to [-2, 2]:
# scipy.stats.truncnorm.std(a=-2, b=2).
TRUNCATED_STDDEV = 0.87962566103423978


def _validate_kwargs(cls_name, kwargs, support_partition=True):
    unknown = [k for k in kwargs if k not in _PARTITION_KWARGS]
    if unknown:
        raise TypeError(f"Unknown keyword arguments: {unknown}. Allowed keyword "
                        f"arguments: {list(_PARTITION_KWARGS)}.")
    if not support_partition and kwargs:
        raise ValueError(f"{cls_name} initializer doesn't support "
                         "partition-related arguments.")


def _real(value, name, *, positive=False, nonnegative=False):
    """A finite Python float from a Python/numpy scalar; clear errors otherwise."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.ndarray, np.generic)):
        raise TypeError(f"`{name}` must be a real number, got {value!r}.")
    value = np.asarray(value)
    if value.ndim != 0 or value.dtype.kind not in "iuf":
        raise TypeError(f"`{name}` must be a real scalar, got {value!r}.")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"`{name}` must be finite. Received: {name}={value}.")
    if positive and value <= 0:
        raise ValueError(f"`{name}` must be positive float. Received: {name}={value}.")
    if nonnegative and value < 0:
        raise ValueError(f"`{name}` must be non-negative. Received: {name}={value}.")
    return value


def _plain(value):
    """Config values as plain JSON types (numpy scalars become Python numbers)."""
    return value.item() if isinstance(value, np.generic) else value


class Initializer:
    """Initializer base class: all fanin initializers inherit from this class.

    Subclasses implement ``__call__(shape, dtype=None, **kwargs)`` returning a
    ``numpy.ndarray``, and ``get_config()`` when they take arguments.

    >>> class Twos(Initializer):
    ...     def __call__(self, shape, dtype=None, **kwargs):
    ...         return np.full(shape, 2.0, _dtypes.numpy_dtype(_dtypes.float_dtype(dtype)))
    >>> Twos()((2,)).tolist()
    [2.0, 2.0]
    """

    def __call__(self, shape, dtype=None, **kwargs):
        raise NotImplementedError("Initializer subclasses must implement the "
                                  "`__call__()` method.")

    def get_config(self):
        """The initializer's configuration as a JSON-serializable dict."""
        return {}

    @classmethod
    def from_config(cls, config):
        """Instantiate an initializer from a ``get_config()`` dict (not mutated).

        A ``dtype`` key, written by some Keras versions, is ignored.

        >>> RandomUniform.from_config({"minval": -1, "maxval": 1, "seed": 3})
        RandomUniform(minval=-1, maxval=1, seed=3)
        """
        if not isinstance(config, dict):
            raise TypeError(f"{cls.__name__}.from_config expects a dict, got "
                            f"{type(config).__name__}.")
        config = {k: v for k, v in config.items() if k != "dtype"}
        return cls(**config)

    def fill(self, out, *, shape=None, partition_offset=None, dtype=None):
        """Fill an existing array in place, as ``self(shape, ...)`` would.

        ``out`` is the whole tensor (``shape=None``) or the partition at
        ``partition_offset`` of a tensor of ``shape``. ``dtype`` overrides how
        ``out`` is read (``"bfloat16"`` for a ``uint16`` buffer). Returns ``out``.

        >>> a = np.empty((2, 3), np.float32)
        >>> bool((Ones().fill(a) == 1).all())
        True
        """
        kwargs = {} if shape is None else {"partition_shape": out.shape,
                                           "partition_offset": partition_offset}
        values = self(out.shape if shape is None else shape,
                      out.dtype if dtype is None else dtype, **kwargs)
        if values.dtype != out.dtype:  # e.g. bfloat16 values into a uint16 buffer
            if values.dtype.itemsize != out.dtype.itemsize:
                raise ValueError(f"cannot write {values.dtype} values into an array "
                                 f"of dtype {out.dtype}.")
            values = values.view(out.dtype)
        out[...] = values
        return out

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


# --------------------------------------------------------------------------- #
# Constant initializers
# --------------------------------------------------------------------------- #


class _Fill(Initializer):
    """Initializers that fill every element with one value."""

    def _value(self):
        raise NotImplementedError

    def __call__(self, shape, dtype=None, **kwargs):
        _validate_kwargs(type(self).__name__, kwargs)
        name = _dtypes.numeric_dtype(dtype)
        shape = _shapes.normalize_shape(shape)
        part, _ = _shapes.check_partition(shape, kwargs.get("partition_shape"),
                                          kwargs.get("partition_offset"))
        out_shape = part if part is not None else shape
        dt = _dtypes.numpy_dtype(name)
        _shapes.check_size(out_shape, dt.itemsize)
        return np.full(out_shape, self._value(), dtype=dt)


class Zeros(_Fill):
    """Initializer that generates tensors initialized to 0.

    >>> Zeros()((2, 2)).tolist()
    [[0.0, 0.0], [0.0, 0.0]]
    """

    def _value(self):
        return 0


class Ones(_Fill):
    """Initializer that generates tensors initialized to 1.

    >>> Ones()((3,), "int32").tolist()
    [1, 1, 1]
    """

    def _value(self):
        return 1


class Constant(_Fill):
    """Initializer that generates tensors with a constant value (a scalar).

    >>> Constant(3.0)((2,)).tolist()
    [3.0, 3.0]
    """

    def __init__(self, value=0):
        arr = np.asarray(value)
        if arr.ndim != 0 or arr.dtype.kind not in "biuf":
            raise TypeError(f"Constant value must be a Python or numpy scalar number, "
                            f"got {value!r}.")
        self.value = _plain(value) if isinstance(value, np.generic) else (
            arr.item() if isinstance(value, np.ndarray) else value)

    def _value(self):
        return self.value

    def get_config(self):
        return {"value": self.value}


# --------------------------------------------------------------------------- #
# Random initializers
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class Draw:
    """One call of a random initializer: everything needed to compute its values.

    Framework adapters use it to fill their own tensors (on the host with
    :func:`fanin.stream.fill`, or on a device with the same algorithm).

    >>> d = LecunNormal(seed=1).draw((4, 2))
    >>> d.call, d.distribution.kind
    (0, 'truncated_normal')
    """

    seed: int
    call: int
    distribution: stream.Distribution
    dtype: str
    shape: tuple
    partition_shape: tuple | None = None
    partition_offset: tuple | None = None

    @property
    def out_shape(self):
        """Shape of the values this draw produces (the partition, if any)."""
        return self.partition_shape if self.partition_shape is not None else self.shape

    def rows(self):
        """(starts, row_len): the flat element indices this draw covers, as runs."""
        if self.partition_shape is None:
            return None, None
        return _shapes.partition_rows(self.shape, self.partition_shape,
                                      self.partition_offset)

    def fill(self, out):
        """Write this draw's values into ``out`` (writable, C-contiguous)."""
        starts, row_len = self.rows()
        stream.fill(out, self.seed, self.call, self.distribution,
                    starts=starts, row_len=row_len, fmt=self.dtype)
        return out


class _RandomInitializer(Initializer):
    """Base of the stream-backed initializers: seed, call counting, partitions.

    Call indices: an unpartitioned call takes the next index. Partitioned calls
    of one tensor share an index: the first partition of a shape takes the next
    index and opens a group; further partitions of the same shape reuse it (the
    same offset gives the same block) until the distinct partitions cover the
    whole tensor, which closes the group. A call of another shape, or an
    unpartitioned call, also closes it. So a variable initialized shard by shard
    equals the unsharded one, and the calls after it line up.
    """

    def _init_seed(self, seed):
        self.seed = _seeds.check_seed(seed)
        self._key = stream.seed_to_key(self.seed) if self.seed is not None else _seeds.fresh_seed()
        self._reset_calls()

    def _reset_calls(self):
        self._lock = threading.Lock()
        self._next_call = 0
        self._group = None  # [shape, call, seen offsets, elements covered]
        # (shape, dtype) -> (numpy dtype, canonical dtype name, distribution) of
        # calls already validated: small tensors (biases, 3x3 kernels) then cost
        # a dict lookup, not a re-validation.
        self._plans = {}

    def _take_call(self, shape, part, offset):
        with self._lock:
            if part is None or part == shape:
                self._group = None
                call, self._next_call = self._next_call, self._next_call + 1
                return call
            group = self._group
            if group is None or group[0] != shape:
                group = self._group = [shape, self._next_call, set(), 0]
                self._next_call += 1
            if offset not in group[2]:
                group[2].add(offset)
                group[3] += math.prod(part)
                if group[3] >= math.prod(shape):
                    self._group = None
            return group[1]

    def _distribution(self, shape) -> stream.Distribution:
        raise NotImplementedError

    def draw(self, shape, dtype=None, *, partition_shape=None, partition_offset=None) -> Draw:
        """Validate a call and take its call index, without computing values.

        >>> init = RandomNormal(seed=5)
        >>> [init.draw((3,)).call for _ in range(3)]
        [0, 1, 2]
        """
        name, shape, part, offset, dist = self._prepare(shape, dtype, partition_shape,
                                                        partition_offset)
        call = self._take_call(shape, part, offset)
        return Draw(self._key, call, dist, name, shape, part, offset)

    def _prepare(self, shape, dtype, partition_shape, partition_offset):
        """Validate a call (raising before any call index is taken)."""
        name = _dtypes.float_dtype(dtype)
        shape = _shapes.normalize_shape(shape)
        part, offset = _shapes.check_partition(shape, partition_shape, partition_offset)
        dist = self._distribution(shape)
        _check_fits(dist, name)
        return name, shape, part, offset, dist

    def __call__(self, shape, dtype=None, **kwargs):
        key = None
        if not kwargs and type(shape) is tuple and all(type(d) is int for d in shape):
            key = (shape, _dtypes.floatx() if dtype is None else dtype)
            plan = self._plans.get(key)
            if plan is not None and plan[0].itemsize * math.prod(shape) < _shapes._MEMORY_CHECK_BYTES:
                dt, name, dist = plan
                out = np.empty(shape, dt)
                stream.fill_whole(out, self._key, self._take_call(shape, None, None), dist, name)
                return out
        _validate_kwargs(type(self).__name__, kwargs)
        name, shape, part, offset, dist = self._prepare(
            shape, dtype, kwargs.get("partition_shape"), kwargs.get("partition_offset"))
        dt = _dtypes.numpy_dtype(name)
        _shapes.check_size(part if part is not None else shape, dt.itemsize)
        d = Draw(self._key, self._take_call(shape, part, offset), dist, name, shape, part, offset)
        if key is not None:
            try:
                if len(self._plans) > 64:
                    self._plans.clear()
                self._plans[key] = (dt, name, d.distribution)
            except TypeError:  # an unhashable dtype object: no cache
                pass
        return d.fill(np.empty(d.out_shape, dt))

    def fill(self, out, *, shape=None, partition_offset=None, dtype=None):
        """Fill an existing writable C-contiguous array in place, with no copy.

        ``out`` is the whole tensor (``shape=None``) or the partition at
        ``partition_offset`` of a tensor of ``shape``. ``dtype="bfloat16"``
        fills a ``uint16`` buffer with bfloat16 bits. Advances the call index
        as ``__call__`` does. Returns ``out``.

        >>> a = np.empty((3, 4), np.float32)
        >>> bool((LecunNormal(seed=2).fill(a) == LecunNormal(seed=2)((3, 4))).all())
        True
        """
        if not isinstance(out, np.ndarray):
            raise TypeError(f"out must be a numpy.ndarray, got {type(out).__name__}.")
        name = _dtypes.float_dtype(out.dtype if dtype is None else dtype)
        if shape is None:
            d = self.draw(out.shape, name)
        else:
            d = self.draw(shape, name, partition_shape=out.shape,
                          partition_offset=partition_offset)
        return d.fill(out)

    def get_config(self):
        return {"seed": self.seed}

    def __copy__(self):
        new = type(self).__new__(type(self))
        new.__dict__.update({k: v for k, v in self.__dict__.items()
                             if k not in ("_lock", "_group")})
        new._reset_calls()
        return new

    def __deepcopy__(self, memo):
        return self.__copy__()

    def __getstate__(self):
        state = {k: v for k, v in self.__dict__.items() if k not in ("_lock",)}
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()


def _check_fits(dist: stream.Distribution, name: str) -> None:
    """Refuse parameters whose values would overflow the output dtype."""
    finfo_max = {"float16": 65504.0, "bfloat16": 3.3895313892515355e38,
                 "float32": 3.4028234663852886e38, "float64": 1.7976931348623157e308}[name]
    if dist.kind == "normal":
        reach = abs(dist.loc) + (9.0 if name == "float64" else 6.0) * abs(dist.scale)
    else:
        reach = max(abs(dist.low), abs(dist.high))
    if not reach < finfo_max:
        raise ValueError(f"{dist.kind} values with loc={dist.loc} and scale={dist.scale} "
                         f"would overflow {name}.")
    stream.clamp_bounds(dist, name)  # raises when no value of the dtype is in the support


class _Gaussian(_RandomInitializer):
    """RandomNormal and TruncatedNormal: a mean and a (pre-truncation) stddev."""

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        _real(mean, "mean"), _real(stddev, "stddev", nonnegative=True)
        self.mean, self.stddev = _plain(mean), _plain(stddev)
        self._init_seed(seed)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class RandomNormal(_Gaussian):
    """Initializer that generates tensors with a normal distribution.

    >>> RandomNormal(mean=0.0, stddev=1.0, seed=0)((2, 2)).shape
    (2, 2)
    """

    def _distribution(self, shape):
        return stream.normal(self.mean, self.stddev)


class TruncatedNormal(_Gaussian):
    """Normal values more than two standard deviations from the mean cut away.

    Values are drawn by the inverse CDF between the cut points, never rejected.

    >>> v = TruncatedNormal(mean=0.0, stddev=1.0, seed=0)((1000,))
    >>> bool((abs(v) < 2).all())
    True
    """

    def _distribution(self, shape):
        return stream.truncated_normal(self.mean, self.stddev)


class RandomUniform(_RandomInitializer):
    """Initializer that generates tensors uniform on ``[minval, maxval)``.

    >>> v = RandomUniform(minval=0.0, maxval=1.0, seed=0)((1000,))
    >>> bool(((v >= 0) & (v < 1)).all())
    True
    """

    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        lo, hi = _real(minval, "minval"), _real(maxval, "maxval")
        if hi < lo:
            raise ValueError(f"`maxval` must not be less than `minval`. Received: "
                             f"minval={minval}, maxval={maxval}.")
        self.minval, self.maxval = _plain(minval), _plain(maxval)
        self._init_seed(seed)

    def _distribution(self, shape):
        return stream.uniform(self.minval, self.maxval)

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}


class VarianceScaling(_RandomInitializer):
    """Initializer that adapts its scale to the shape of its input tensors.

    With ``distribution="truncated_normal"`` or ``"untruncated_normal"``, samples
    have mean 0 and standard deviation (after truncation) ``sqrt(scale / n)``;
    with ``"uniform"`` they are uniform within ``[-limit, limit)``,
    ``limit = sqrt(3 * scale / n)``. ``n`` is fan_in, fan_out or their average
    by ``mode``. ``input_axes`` / ``output_axes`` (both, or neither) give the
    fans of other layouts, e.g. PyTorch's ``(out, in, *kernel)``:
    ``input_axes=[1], output_axes=[0]``.

    >>> init = VarianceScaling(scale=0.1, mode="fan_in", distribution="uniform", seed=0)
    >>> bool((abs(init((2, 2))) < (3 * 0.1 / 2) ** 0.5).all())
    True
    """

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal",
                 seed=None, input_axes=None, output_axes=None):
        self.scale = _plain(scale)
        self._set_params(scale, mode, distribution, input_axes, output_axes)
        self._init_seed(seed)

    def _set_params(self, scale, mode, distribution, input_axes, output_axes):
        _real(scale, "scale", positive=True)
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
        self.input_axes = _shapes.check_axes(input_axes, "input_axes")
        self.output_axes = _shapes.check_axes(output_axes, "output_axes")

    def _axes_config(self):
        if self.input_axes is None and self.output_axes is None:
            return {}
        return {"input_axes": self.input_axes, "output_axes": self.output_axes}

    def fans(self, shape):
        """(fan_in, fan_out) this initializer uses for ``shape``.

        >>> LecunNormal(input_axes=[1], output_axes=[0]).fans((64, 32, 3, 3))
        (288, 576)
        """
        shape = _shapes.normalize_shape(shape)
        _shapes.check_axes_fit(shape, self.input_axes, self.output_axes)
        return _shapes.compute_fans(shape, self.input_axes, self.output_axes)

    def _distribution(self, shape):
        fan_in, fan_out = self.fans(shape)
        scale = float(self.scale)
        if self.mode == "fan_in":
            scale /= max(1.0, fan_in)
        elif self.mode == "fan_out":
            scale /= max(1.0, fan_out)
        else:
            scale /= max(1.0, (fan_in + fan_out) / 2.0)
        if self.distribution == "truncated_normal":
            return stream.truncated_normal(0.0, math.sqrt(scale) / TRUNCATED_STDDEV)
        if self.distribution == "untruncated_normal":
            return stream.normal(0.0, math.sqrt(scale))
        limit = math.sqrt(3.0 * scale)
        return stream.uniform(-limit, limit)

    def get_config(self):
        return {"scale": self.scale, "mode": self.mode,
                "distribution": self.distribution, "seed": self.seed,
                **self._axes_config()}


class _FixedScaling(VarianceScaling):
    """A VarianceScaling with fixed (scale, mode, distribution): config is the seed."""

    _params = (1.0, "fan_in", "truncated_normal")

    def __init__(self, seed=None, input_axes=None, output_axes=None):
        self.scale = self._params[0]
        self._set_params(*self._params, input_axes, output_axes)
        self._init_seed(seed)

    def get_config(self):
        return {"seed": self.seed, **self._axes_config()}


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
    >>> bool((a((3,)) == b((3,))).all()), bool((a((3,)) == b((3,))).all())
    (True, True)
    """

    _params = (1.0, "fan_in", "truncated_normal")


class LecunUniform(_FixedScaling):
    """Lecun uniform: uniform within ``[-limit, limit)``, ``limit = sqrt(3 / fan_in)``.

    >>> LecunUniform(seed=0)((4, 4)).dtype.name
    'float32'
    """

    _params = (1.0, "fan_in", "uniform")


class GlorotNormal(_FixedScaling):
    """Glorot (Xavier) normal: truncated normal, ``stddev = sqrt(2 / (fan_in + fan_out))``.

    >>> GlorotNormal(seed=0)((4, 4)).shape
    (4, 4)
    """

    _params = (1.0, "fan_avg", "truncated_normal")


class GlorotUniform(_FixedScaling):
    """Glorot (Xavier) uniform: ``limit = sqrt(6 / (fan_in + fan_out))``.

    >>> GlorotUniform(seed=0)((4, 4)).shape
    (4, 4)
    """

    _params = (1.0, "fan_avg", "uniform")


class HeNormal(_FixedScaling):
    """He normal: truncated normal, ``stddev = sqrt(2 / fan_in)``.

    >>> HeNormal(seed=0)((3, 3, 8, 16)).shape
    (3, 3, 8, 16)
    """

    _params = (2.0, "fan_in", "truncated_normal")


class HeUniform(_FixedScaling):
    """He uniform: ``limit = sqrt(6 / fan_in)``.

    >>> HeUniform(seed=0)((8,)).shape
    (8,)
    """

    _params = (2.0, "fan_in", "uniform")


# --------------------------------------------------------------------------- #
# Matrix initializers
# --------------------------------------------------------------------------- #


def _matrix_dtype(self, shape, dtype, kwargs):
    _validate_kwargs(type(self).__name__, kwargs, support_partition=False)
    name = _dtypes.float_dtype(dtype)
    return _shapes.normalize_shape(shape), name, _dtypes.numpy_dtype(name)


class Identity(Initializer):
    """Initializer that generates the identity matrix (2D only) times ``gain``.

    >>> Identity(gain=2.0)((2, 3)).tolist()
    [[2.0, 0.0, 0.0], [0.0, 2.0, 0.0]]
    """

    def __init__(self, gain=1.0):
        _real(gain, "gain")
        self.gain = _plain(gain)

    def __call__(self, shape, dtype=None, **kwargs):
        shape, name, dt = _matrix_dtype(self, shape, dtype, kwargs)
        if len(shape) != 2:
            raise ValueError("Identity matrix initializer can only be used for 2D "
                             f"matrices. Received: shape={shape} of rank {len(shape)}.")
        _shapes.check_size(shape, dt.itemsize)
        return (float(self.gain) * np.eye(*shape)).astype(dt)

    def get_config(self):
        return {"gain": self.gain}


class Orthogonal(_RandomInitializer):
    """Initializer that generates an orthogonal matrix (times ``gain``).

    A ``(rows, cols)`` matrix, with ``rows`` the product of all but the last
    dimension, is the Q factor of the QR decomposition of a standard normal
    matrix from the stream (float64, this call's index), its signs fixed by
    R's diagonal; orthonormal rows if ``rows < cols``, else orthonormal columns.
    The normal matrix is bit-reproducible; the QR step uses LAPACK, so the
    last bits can differ between LAPACK builds.

    >>> q = Orthogonal(seed=0)((4, 3)).astype(np.float64)
    >>> bool(np.allclose(q.T @ q, np.eye(3), atol=1e-6))
    True
    """

    def __init__(self, gain=1.0, seed=None):
        _real(gain, "gain")
        self.gain = _plain(gain)
        self._init_seed(seed)

    def __call__(self, shape, dtype=None, **kwargs):
        shape, name, dt = _matrix_dtype(self, shape, dtype, kwargs)
        if len(shape) < 2:
            raise ValueError("The tensor to initialize must be at least two-dimensional. "
                             f"Received: shape={shape} of rank {len(shape)}.")
        rows, cols = math.prod(shape[:-1]), shape[-1]
        flat = (max(rows, cols), min(rows, cols))
        _shapes.check_size(flat, 8)
        _shapes.check_size(shape, dt.itemsize)
        a = np.empty(flat, np.float64)
        stream.fill(a, self._key, self._take_call(shape, None, None), stream.normal(0.0, 1.0))
        if a.size == 0:
            return np.zeros(shape, dt)
        q, r = np.linalg.qr(a)
        q *= np.where(np.diagonal(r) < 0, -1.0, 1.0)  # sign(0) counts as +1
        if rows < cols:
            q = q.T
        return np.ascontiguousarray((float(self.gain) * q).reshape(shape), dtype=dt)

    def fill(self, out, *, shape=None, partition_offset=None, dtype=None):
        """Fill ``out`` in place with an orthogonal matrix (no partitions)."""
        if shape is not None or partition_offset is not None:
            raise ValueError("Orthogonal initializer doesn't support partition-related "
                             "arguments.")
        return Initializer.fill(self, out, dtype=dtype)

    def draw(self, *args, **kwargs):
        raise TypeError("Orthogonal is not an elementwise stream draw; call it instead.")

    def get_config(self):
        return {"gain": self.gain, "seed": self.seed}
