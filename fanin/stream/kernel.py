"""The compiled kernel (``fanin.stream._kernel``): loading it, and its arguments.

The kernel is used only when it implements this stream: the same
:data:`~fanin.stream.spec.STREAM_VERSION` and the same tables
(:data:`~fanin.stream.spec.TABLES_ID`); otherwise fanin warns and uses the NumPy
reference. ``FANIN_NO_KERNEL_WARNING=1`` silences the warning for a missing kernel.

>>> from fanin.stream.kinds import normal
>>> kernel_args(normal(0.0, 2.0), "float32")[0]
1
"""

from __future__ import annotations

import functools
import os
import warnings
from types import ModuleType

import numpy as np

from fanin.stream import spec
from fanin.stream.kinds import Distribution, clamp_bounds

__all__ = ["KERNEL", "MAX_THREADS", "kernel_args", "fill_kernel_rows"]


def load() -> ModuleType | None:
    """The compiled kernel, or None when it is missing or implements another stream."""
    try:  # the compiled kernel, built by the package's own install
        from fanin.stream import _kernel as k  # type: ignore[attr-defined]
    except ImportError:  # pragma: no cover - exercised when the extension is missing
        if not os.environ.get("FANIN_NO_KERNEL_WARNING"):
            warnings.warn("fanin's compiled kernel is not built; using the NumPy reference "
                          "stream (same values, slower).", RuntimeWarning, stacklevel=3)
        return None
    got = (getattr(k, "STREAM_VERSION", None), getattr(k, "TABLES_ID", None))
    if got != (spec.STREAM_VERSION, spec.TABLES_ID):
        warnings.warn(f"fanin's compiled kernel implements stream version {got[0]} with "
                      f"tables {got[1]}, not version {spec.STREAM_VERSION} with tables "
                      f"{spec.TABLES_ID}: rebuild it (python setup.py build_ext "
                      "--inplace). Using the NumPy reference.", RuntimeWarning, stacklevel=3)
        return None
    return k


#: The loaded kernel module, or None (then the NumPy reference fills everything).
KERNEL = load()
#: Most threads one fill uses (the kernel's fixed-size thread table); None without it.
MAX_THREADS: int | None = getattr(KERNEL, "MAX_THREADS", None)


@functools.lru_cache(maxsize=256)
def kernel_args(dist: Distribution, fmt: str) -> tuple:
    """The kernel's (kind, params, int_low, int_range_minus_1) for ``dist`` in ``fmt``.

    params: float64 (loc, scale, clamp_lo, clamp_hi, A, B, C2a, M2, U1, U2); the
    last six are the general truncated normal's (zeros otherwise). The kernel
    rounds them to float32 for the 32-bit formats, as the reference does.
    """
    kind = dist.spec
    params = np.zeros(10, np.float64)
    if kind.is_integer:
        return kind.code, params, int(dist.low) & spec.MASK64, int(dist.scale) - 1
    lo, hi = clamp_bounds(dist, fmt)
    params[:4] = (dist.loc, dist.scale, lo, hi)
    host = kind.host_params(dist)
    params[4:4 + len(host)] = host
    params.flags.writeable = False
    return kind.code, params, 0, 0


def fill_kernel_rows(flat_out: np.ndarray, key: int, call: int, dist: Distribution,
                     fmt: str, starts: np.ndarray, row_len: int) -> None:
    """The compiled kernel on validated arguments (see
    :func:`fanin.stream.numpy.fill_reference_rows`)."""
    assert KERNEL is not None
    code, params, ilow, irange = kernel_args(dist, fmt)
    KERNEL.fill(flat_out, fmt, key, call & spec.MASK64, code, params, ilow, irange,
                starts, row_len)
