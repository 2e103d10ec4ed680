"""Dtype handling: one canonical name for every way a user can spell a dtype.

Accepts strings, numpy dtypes and scalar types, ``ml_dtypes.bfloat16``, and the dtype
objects of torch, JAX and TensorFlow, without importing any framework: they are
recognised by their names.
"""

from __future__ import annotations

import threading

import numpy as np

FLOAT_NAMES = ("float16", "bfloat16", "float32", "float64")

_ALIASES = {
    "half": "float16", "f2": "float16", "float": "float32", "single": "float32",
    "f4": "float32", "double": "float64", "f8": "float64", "bf16": "bfloat16",
}

_floatx_lock = threading.Lock()
_floatx = "float32"


def floatx() -> str:
    """The default float dtype, as a string (``"float32"`` unless changed).

    >>> floatx()
    'float32'
    """
    return _floatx


def set_floatx(value) -> None:
    """Set the default float dtype: one of float16, bfloat16, float32, float64.

    >>> set_floatx("float64"); floatx()
    'float64'
    >>> set_floatx("float32")
    """
    global _floatx
    try:
        name = dtype_name(value)
    except TypeError:
        name = None
    if name not in FLOAT_NAMES:
        raise ValueError(f"Unknown `floatx` value: {value!r}. "
                         f"Expected one of {list(FLOAT_NAMES)}.")
    with _floatx_lock:
        _floatx = name


def dtype_name(dtype) -> str:
    """Canonical numpy-style name of any supported dtype spelling.

    >>> dtype_name("float"), dtype_name(np.float16), dtype_name("bfloat16")
    ('float32', 'float16', 'bfloat16')
    """
    if dtype is None:
        return _floatx
    if isinstance(dtype, str):
        key = dtype.strip().lower()
        for prefix in ("torch.", "tf.", "jnp.", "np.", "numpy."):
            key = key[len(prefix):] if key.startswith(prefix) else key
        key = _ALIASES.get(key, key)
        if key == "bfloat16":
            return key
        try:
            return np.dtype(key).name
        except TypeError:
            raise TypeError(f"Unknown dtype: {dtype!r}.") from None
    module = type(dtype).__module__ or ""
    if module.startswith("torch"):  # torch.dtype prints as "torch.float32"
        return dtype_name(str(dtype))
    if hasattr(dtype, "as_numpy_dtype") and hasattr(dtype, "name"):  # tf.DType
        return dtype_name(dtype.name)
    try:
        name = np.dtype(dtype).name
    except (TypeError, ValueError):
        raise TypeError(f"Unknown dtype: {dtype!r} (of type {type(dtype).__name__}).") from None
    return "bfloat16" if name == "bfloat16" else name


def numpy_dtype(name: str) -> np.dtype:
    """The numpy dtype for a canonical name; bfloat16 needs ``ml_dtypes``."""
    if name == "bfloat16":
        try:
            import ml_dtypes
        except ImportError:
            raise ValueError("bfloat16 output needs the ml_dtypes package "
                             "(pip install 'fanin[bfloat16]').") from None
        return np.dtype(ml_dtypes.bfloat16)
    return np.dtype(name)


def float_dtype(dtype) -> str:
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


def numeric_dtype(dtype) -> str:
    """Canonical name of a numeric or boolean dtype (for Zeros, Ones, Constant)."""
    name = dtype_name(dtype)
    if name != "bfloat16" and np.dtype(name).kind not in "biufc":
        raise ValueError(f"Expected numeric or boolean dtype, got {name}.")
    return name
