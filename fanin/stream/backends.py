"""Filling numpy arrays: argument checks, and the backend that does the work.

Every backend computes the same bits. ``"kernel"`` (the compiled kernel) is the
default when it is built; ``"reference"`` (pure NumPy) otherwise, or when the
environment variable ``FANIN_REFERENCE=1`` is set at import. ``"triton"`` (the fused
GPU kernel; on a CPU, in Triton's interpreter with ``TRITON_INTERPRET=1``) is loaded
when first selected. ``FANIN_BACKEND=<name>`` selects a backend at import.

>>> with set_backend("reference"):
...     using_kernel()
False
"""

from __future__ import annotations

import functools
import importlib
import os
from typing import Callable

import numpy as np

from fanin.restore import Restore
from fanin.stream.kernel import KERNEL, fill_kernel_rows, kernel_args
from fanin.stream.numpy import fill_reference_rows
from fanin.stream.kinds import Distribution
from fanin.stream.plans import Plan, check_rows, plan

__all__ = ["BACKENDS", "set_backend", "get_backend", "using_kernel", "kernel_available",
           "check_out", "fill", "fill_rows", "fill_columns", "WholeFill", "whole_fill"]

#: fill_rows-style functions on validated arguments, by backend name.
_ROWS: dict[str, Callable[..., None]] = {"reference": fill_reference_rows}
if KERNEL is not None:
    _ROWS["kernel"] = fill_kernel_rows
#: Backends in modules of their own, imported when first selected: each module has a
#: ``fill_rows`` with the signature of :func:`fanin.stream.numpy.fill_reference_rows`.
_LOADED_ON_USE = {"triton": "fanin.stream.triton"}
#: Every backend name fanin knows (built, installed or not).
BACKENDS = ("kernel", "reference", *_LOADED_ON_USE)


def _available(name: str) -> bool:
    """Whether backend ``name`` can run here, importing it on first use."""
    if name not in _ROWS and name in _LOADED_ON_USE:
        try:
            module = importlib.import_module(_LOADED_ON_USE[name])
        except ImportError:
            return False
        if not module.available():  # installed, but no device it can run on here
            return False
        _ROWS[name] = module.fill_rows
    return name in _ROWS


def _initial() -> str:
    """The kernel when built, unless FANIN_REFERENCE=1 or FANIN_BACKEND names another
    (read once, at import)."""
    if os.environ.get("FANIN_REFERENCE", "") not in ("", "0"):
        return "reference"
    wanted = os.environ.get("FANIN_BACKEND", "")
    if wanted:
        if wanted not in BACKENDS or not _available(wanted):
            raise RuntimeError(f"FANIN_BACKEND={wanted!r} is not an available backend "
                               f"(one of {BACKENDS}; triton needs torch, triton and a CUDA "
                               "device, or TRITON_INTERPRET=1 for the CPU).")
        return wanted
    return "kernel" if KERNEL is not None else "reference"


_backend = _initial()


def set_backend(name: str) -> Restore:
    """Fill numpy arrays with ``"kernel"`` (compiled), ``"reference"`` (pure NumPy) or
    another added backend.

    All give the same bits. Used as a context manager, the previous backend
    comes back at the end of the block.
    """
    global _backend
    if name not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {name!r}.")
    if not _available(name):
        what = "compiled kernel" if name == "kernel" else f"{name} backend"
        raise RuntimeError(f"fanin's {what} is not available.")
    previous, _backend = _backend, name

    def restore() -> None:
        global _backend
        _backend = previous
    return Restore(restore)


def get_backend() -> str:
    """The backend in use: ``"kernel"``, ``"reference"``, or an added one."""
    return _backend


def using_kernel() -> bool:
    """True when numpy arrays are filled by the compiled kernel."""
    return _backend == "kernel"


def kernel_available() -> bool:
    """True when the compiled kernel is built (whether or not it is in use)."""
    return KERNEL is not None


def _storage_dtype(fmt: str) -> np.dtype:
    return np.dtype(np.uint16) if fmt == "bfloat16" else np.dtype(fmt)


def check_out(out: object, fmt: str) -> np.ndarray:
    """``out`` as a flat array of ``fmt``'s storage dtype; clear errors otherwise.

    Accepted: exactly the format's dtype in native byte order (for bfloat16:
    ``ml_dtypes.bfloat16`` or ``uint16`` holding its bits). Nothing else is
    reinterpreted: an int32 array is not float32, float16 is not bfloat16.
    """
    array = _check_writable(out, fmt)
    if not array.flags.c_contiguous:
        raise ValueError("out is not C-contiguous.")
    return array.reshape(-1).view(_storage_dtype(fmt))


def _check_writable(out: object, fmt: str) -> np.ndarray:
    """check_out's checks but contiguity: an array of the format's dtype, writable."""
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a numpy.ndarray, got {type(out).__name__}.")
    dt = out.dtype
    ok = dt == np.dtype(fmt) if fmt != "bfloat16" else (
        dt.name == "bfloat16" or dt == np.dtype(np.uint16))
    if not dt.isnative and dt.newbyteorder("=") in (np.dtype(fmt), np.dtype(np.uint16)):
        raise TypeError(f"out has non-native byte order ({dt.str}); fill a native "
                        f"{fmt} array and assign it.")
    if not ok:
        raise TypeError(f"out has dtype {dt}, which does not hold {fmt} values "
                        + ("(bfloat16 fills ml_dtypes.bfloat16 or uint16 arrays)."
                           if fmt == "bfloat16" else f"(expected {fmt})."))
    if not out.flags.writeable:
        raise ValueError("out is read-only.")
    return out


def fill_rows(out: np.ndarray, key: int, call: int, dist: Distribution, fmt: str,
              starts: np.ndarray | int, row_len: int) -> None:
    """Fill ``out`` with the stream values of explicit rows: element ``t`` of row ``r``
    gets flat index ``starts[r] + t`` (``starts`` one int: rows continuing each other
    from it). Validated, then run by the backend in use. Most callers want :func:`fill`.

    >>> from fanin.stream.kinds import normal
    >>> a = np.empty(6, np.float64); b = np.empty(4, np.float64)
    >>> fill_rows(a, 1, 0, normal(0.0, 1.0), "float64", np.array([0], np.uint64), 6)
    >>> fill_rows(b, 1, 0, normal(0.0, 1.0), "float64", np.array([2], np.uint64), 4)
    >>> bool(np.array_equal(a[2:], b))
    True
    """
    flat = check_out(out, fmt)
    check_rows(starts, row_len, flat.size)
    plan(key, call, dist, fmt, ())  # validates key, call, format and support
    if type(starts) is int:  # continuing rows: one row
        starts, row_len = np.array([starts], np.uint64), flat.size
    if flat.size:
        _ROWS[_backend](flat, key, call, dist, fmt, starts, row_len)


#: Elements per temporary (at least one row) when a backend without a transposing
#: write fills columns: rows are computed, then copied in transposed.
_COLUMN_CHUNK = 1 << 16


def fill_columns(out: np.ndarray, key: int, call: int, dist: Distribution, fmt: str,
                 starts: np.ndarray | int, row_len: int) -> None:
    """:func:`fill_rows` with the rows written transposed: ``out[t, r]`` gets flat
    index ``starts[r] + t``. ``out`` has shape ``(row_len, len(starts))`` and
    contiguous rows, any distance apart (a block of columns of a wider array).
    ``starts`` may be one int: row ``r`` then starts at ``starts + r * row_len``
    (rows continuing each other, as a 2-D draw's do), and ``out.shape[1]`` rows.

    A torch-layout weight ``(out, in, *kernel)`` from its Keras-layout draw is such
    a write; the compiled kernel does it through a buffer that stays in cache, so
    memory is written once. Same bits on every backend.

    >>> from fanin.stream.kinds import normal
    >>> rows = np.empty((3, 4), np.float32); cols = np.empty((4, 3), np.float32)
    >>> starts = np.array([0, 4, 8], np.uint64)
    >>> fill_rows(rows, 1, 0, normal(0.0, 1.0), "float32", starts, 4)
    >>> fill_columns(cols, 1, 0, normal(0.0, 1.0), "float32", starts, 4)
    >>> bool((cols == rows.T).all())
    True
    >>> fill_columns(cols, 1, 0, normal(0.0, 1.0), "float32", 0, 4)  # the same rows
    >>> bool((cols == rows.T).all())
    True
    """
    out = _check_writable(out, fmt)
    nrows = out.shape[1] if type(starts) is int and out.ndim == 2 else np.size(starts)
    check_rows(starts, row_len, nrows * row_len)
    if out.shape != (row_len, nrows) or (out.size > 1 and nrows > 1 and
                                         out.strides[1] != out.itemsize):
        raise ValueError(f"out must have shape (row_len, len(starts)) = {(row_len, nrows)}"
                         f" with contiguous rows; got shape {out.shape}, strides {out.strides}.")
    plan(key, call, dist, fmt, ())  # validates key, call, format and support
    if out.size == 0:
        return
    view = out.view(_storage_dtype(fmt))
    if _backend == "kernel":
        assert KERNEL is not None  # the kernel backend exists only when it is built
        code, params, ilow, irange = kernel_args(dist, fmt)
        KERNEL.fill_columns(view, fmt, key, call, code, params, ilow, irange, starts, row_len)
        return
    step = max(1, _COLUMN_CHUNK // row_len)
    tmp = np.empty(min(nrows, step) * row_len, view.dtype)
    for r in range(0, nrows, step):
        if isinstance(starts, np.ndarray):
            part = starts[r:r + step]
        else:  # continuing rows from one int
            part = (np.arange(r, min(nrows, r + step), dtype=np.uint64) * np.uint64(row_len)
                    + np.uint64(starts))
        rows = tmp[:part.size * row_len]
        _ROWS[_backend](rows, key, call, dist, fmt, part, row_len)
        view[:, r:r + part.size] = rows.reshape(part.size, row_len).T

def fill(out: np.ndarray, plan: Plan) -> None:
    """Fill the numpy array ``out`` (shape or size of ``plan.block``) with the plan's values.

    The backend in use (:func:`set_backend`) does the work: the same bits on any.

    >>> from fanin.stream.kinds import uniform
    >>> from fanin.stream.plans import plan as make_plan
    >>> out = np.empty((2, 3), np.float32)
    >>> fill(out, make_plan(0, 0, uniform(0.0, 1.0), "float32", (2, 3)))
    >>> bool(((out >= 0) & (out < 1)).all())
    True
    """
    flat = check_out(out, plan.fmt)
    if flat.size != plan.size:
        raise ValueError(f"out has {flat.size} elements; the plan's block {plan.block} "
                         f"has {plan.size}.")
    rows = _ROWS[_backend]
    for start, starts, row_len in plan.runs():
        rows(flat[start:start + starts.size * row_len], plan.key, plan.call, plan.dist,
             plan.fmt, starts, row_len)


_WHOLE = np.zeros(1, np.uint64)  # one row starting at element 0
_WHOLE.flags.writeable = False


class WholeFill:
    """Whole tensors (elements 0.. of (key, call)) of one distribution in one format, with
    everything but the key and call checked and prepared once, for the backend in use
    when it was made: the small-call path (biases, 3x3 kernels), where per-call
    overhead, not the values, is the cost.

    >>> from fanin.stream.kinds import normal
    >>> w = WholeFill(normal(0.0, 1.0), "float32")
    >>> a = w.new((2, 3), np.dtype(np.float32), 7, 0)
    >>> b = np.empty((2, 3), np.float32); w.into(b, 7, 0)
    >>> bool((a == b).all())
    True
    """

    def __init__(self, dist: Distribution, fmt: str) -> None:
        plan(0, 0, dist, fmt, ())  # validates the format and the support
        self.dist, self.fmt, self.backend = dist, fmt, _backend
        self._rows = _ROWS[_backend]
        self._kernel = kernel_args(dist, fmt) if _backend == "kernel" else None
        self._bits = fmt == "bfloat16"  # the kernel writes bfloat16 as uint16 bits
        kernel_new = getattr(KERNEL, "new", None) if self._kernel is not None else None
        if kernel_new is not None:  # allocate and fill in one C call
            self.new = self._kernel_new(kernel_new)  # type: ignore[method-assign]

    def _kernel_new(self, kernel_new: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
        """``new`` as one kernel call, its constant arguments bound."""
        fmt, (code, params, ilow, irange) = self.fmt, self._kernel or ()
        if self._bits:  # the kernel writes bfloat16's bits into the given dtype
            return lambda shape, dtype, key, call: kernel_new(
                shape, fmt, key, call, code, params, ilow, irange, dtype=dtype)
        return lambda shape, dtype, key, call: kernel_new(
            shape, fmt, key, call, code, params, ilow, irange)

    def new(self, shape: tuple, dtype: np.dtype, key: int, call: int) -> np.ndarray:
        """A new C-contiguous array of ``shape`` and ``dtype`` (the format's) filled."""
        out = np.empty(shape, dtype)
        self.into(out, key, call)
        return out

    def into(self, out: np.ndarray, key: int, call: int) -> None:
        """Fill ``out``: C-contiguous, native, of the format's dtype (or uint16 bits)."""
        flat = out.reshape(-1)
        if self._bits:
            flat = flat.view(np.uint16)
        if not flat.size:
            return
        if self._kernel is not None and KERNEL is not None:
            KERNEL.fill(flat, self.fmt, key, call, *self._kernel, _WHOLE, flat.size)
        else:
            self._rows(flat, key, call, self.dist, self.fmt, _WHOLE, flat.size)


@functools.lru_cache(maxsize=256)
def _whole_fill(dist: Distribution, fmt: str, backend: str) -> WholeFill:
    return WholeFill(dist, fmt)  # built for ``backend``, the one in use


def whole_fill(dist: Distribution, fmt: str) -> WholeFill:
    """The :class:`WholeFill` of ``dist`` in ``fmt`` for the backend in use, made once
    (distributions hash by their bits): what a library call filling a whole tensor
    uses, so that it checks and prepares nothing again. Raises ``ValueError`` as
    :func:`plan` does.

    >>> from fanin.stream.kinds import normal
    >>> whole_fill(normal(0.0, 1.0), "float32") is whole_fill(normal(0.0, 1.0), "float32")
    True
    """
    return _whole_fill(dist, fmt, _backend)
