"""Dtype handling: one canonical name for every way a user can spell a dtype.

Accepts strings, numpy dtypes and scalar types, ``ml_dtypes.bfloat16``, and the dtype
objects of torch, JAX and TensorFlow, without importing any framework: they are
recognised by their names.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from fanin.restore import Restore

#: What a dtype argument may be: a name ("float32", "bfloat16", "float"), a NumPy
#: dtype or scalar type, ``ml_dtypes.bfloat16``, or a torch / JAX / TensorFlow dtype
#: object (recognised by its name, without importing the framework).
DTypeLike = Any

#: The floating formats every random initializer accepts.
FLOAT_NAMES = ("float16", "bfloat16", "float32", "float64")

_ALIASES = {
    "half": "float16", "f2": "float16", "float": "float32", "single": "float32",
    "f4": "float32", "double": "float64", "f8": "float64", "bf16": "bfloat16",
}

_floatx = "float32"


def floatx() -> str:
    """The default float dtype, as a string (``"float32"`` unless changed).

    >>> floatx()
    'float32'
    """
    return _floatx


def set_floatx(value: DTypeLike) -> Restore:
    """Set the default float dtype: one of float16, bfloat16, float32, float64.

    As a context manager, the previous default comes back at the end.

    >>> with set_floatx("float64"):
    ...     floatx()
    'float64'
    """
    global _floatx
    try:
        name = dtype_name(value)
    except TypeError:
        name = None
    if name not in FLOAT_NAMES:
        raise ValueError(f"Unknown `floatx` value: {value!r}. "
                         f"Expected one of {list(FLOAT_NAMES)}.")
    previous, _floatx = _floatx, name

    def restore() -> None:
        global _floatx
        _floatx = previous
    return Restore(restore)


def _unknown(dtype: object) -> TypeError:
    return TypeError(f"Unknown dtype: {dtype!r} (of type {type(dtype).__name__}).")


#: Names already worked out, by (type, spelling): a hot path of every small call.
_NAMES: dict[tuple[type, object], str] = {}


def dtype_name(dtype: DTypeLike) -> str:
    """Canonical numpy-style name of any supported dtype spelling.

    ``TypeError("Unknown dtype: ...")`` for anything that is not a plain numeric or
    boolean dtype (structured, sub-array, string, object and time dtypes included).

    >>> dtype_name("float"), dtype_name(np.float16), dtype_name("bfloat16")
    ('float32', 'float16', 'bfloat16')
    """
    if dtype is None:
        return _floatx
    key = (type(dtype), dtype)  # the type too: np.dtype("float64") == "float", but
    try:                          # dtype_name("float") is "float32"
        return _NAMES[key]
    except (KeyError, TypeError):  # new, or unhashable
        pass
    name = _dtype_name(dtype)
    if len(_NAMES) < 1024:
        try:
            _NAMES[key] = name
        except TypeError:
            pass
    return name


def _dtype_name(dtype: DTypeLike) -> str:
    if isinstance(dtype, str):
        key = dtype.strip().lower()
        for prefix in ("torch.", "tf.", "jnp.", "np.", "numpy."):
            key = key[len(prefix):] if key.startswith(prefix) else key
        key = _ALIASES.get(key, key)
        if key == "bfloat16":
            return key
        dtype = key
    else:
        module = type(dtype).__module__ or ""
        if module.startswith("torch"):  # torch.dtype prints as "torch.float32"
            return dtype_name(str(dtype))
        if hasattr(dtype, "as_numpy_dtype") and hasattr(dtype, "name"):  # tf.DType
            return dtype_name(dtype.name)
    try:
        dt = np.dtype(dtype)
    except Exception:  # numpy raises TypeError, ValueError, SyntaxError, ... for junk
        raise _unknown(dtype) from None
    if dt.name == "bfloat16":
        return "bfloat16"
    if dt.kind not in "biufc" or dt.fields is not None or dt.shape != ():
        raise _unknown(dtype)
    return dt.name


def numpy_dtype(name: str) -> np.dtype:
    """The numpy dtype for a canonical name; bfloat16 needs ``ml_dtypes``."""
    if name == "bfloat16":
        try:
            import ml_dtypes
        except ImportError:
            raise ValueError("bfloat16 output needs the ml_dtypes package "
                             "(pip install 'fanin[bfloat16]').") from None
        return np.dtype(ml_dtypes.bfloat16)  # type: ignore[no-any-return]
    return np.dtype(name)


def float_dtype(dtype: DTypeLike) -> str:
    """Canonical name of a floating dtype; ``ValueError`` for any other dtype.

    >>> float_dtype(None)
    'float32'
    >>> float_dtype("int32")
    Traceback (most recent call last):
    ...
    ValueError: Expected floating point type, got int32.
    """
    name = dtype_name(dtype)
    if name not in FLOAT_NAMES:
        raise ValueError(f"Expected floating point type, got {name}.")
    return name


def numeric_dtype(dtype: DTypeLike) -> str:
    """Canonical name of a numeric or boolean dtype (for Zeros, Ones, Constant)."""
    return dtype_name(dtype)  # dtype_name admits only numeric and boolean dtypes


def real_dtype(dtype: DTypeLike) -> str:
    """Canonical name of a floating or integer dtype (RandomUniform, as Keras 2.7).

    >>> real_dtype("int32")
    'int32'
    """
    name = dtype_name(dtype)
    if name not in FLOAT_NAMES and np.dtype(name).kind not in "iu":
        raise ValueError(f"Expected float or integer dtype, got {name}.")
    return name


_BY_KIND = {"float": float_dtype, "real": real_dtype, "numeric": numeric_dtype}


def checked_dtype(dtype: DTypeLike, kind: str) -> str:
    """The canonical name of ``dtype`` if an initializer of ``dtype_kind`` ``kind`` takes it."""
    return _BY_KIND[kind](dtype)


def _info(name: str) -> Any:
    dt = numpy_dtype(name)
    if name == "bfloat16":
        import ml_dtypes
        return ml_dtypes.finfo(dt)  # type: ignore[no-untyped-call]
    return np.iinfo(dt) if dt.kind in "iu" else np.finfo(dt) if dt.kind in "fc" else None


@functools.lru_cache(maxsize=None)  # one entry per dtype name
def max_value(name: str) -> float:
    """The largest finite value of a numeric dtype.

    >>> max_value("float16"), max_value("int8")
    (65504.0, 127)
    """
    info = _info(name)
    return 1 if info is None else info.max.item() if hasattr(info.max, "item") else info.max


def fit(value: Any, name: str, what: str) -> bool | int | float | complex:
    """``value`` as a number that dtype ``name`` holds; ``ValueError`` if it cannot.

    Floats refuse a finite value that would round to infinity; integers and
    booleans refuse values they cannot hold exactly (no wrap-around, no truncation).

    >>> fit(2.0, "int32", "value"), fit(1e5, "float32", "gain")
    (2, 100000.0)
    """
    dt = numpy_dtype(name)
    if dt.kind == "b":
        if value in (0, 1):
            return bool(value)
    elif dt.kind in "iu":
        if isinstance(value, (int, float)) and math.isfinite(value) and value == int(value):
            info = np.iinfo(dt)
            if info.min <= int(value) <= info.max:
                return int(value)
    elif dt.kind == "c":
        return complex(value)
    else:
        number = float(value)
        if not math.isfinite(number) or abs(number) <= max_value(name):
            return number  # a finite value within the range never rounds to infinity
        with np.errstate(over="ignore"):  # just beyond the largest value: may round to it
            if np.isfinite(np.asarray(number).astype(dt)):
                return number
    raise ValueError(f"{what} {value!r} does not fit dtype {name} (it would overflow "
                     "or be rounded away).")
