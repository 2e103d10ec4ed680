"""The fanin random stream (version 2): position-stable, counter-based random numbers.

Every random initializer in fanin draws from one function::

    value(seed, call, element index, distribution, format)

An element's value depends on nothing else: not on threads, chunks, partitions or
devices. ``docs/stream.md`` specifies the algorithm precisely. This package is that
specification in code, in layers (as ``numpy.random`` separates bits from
distributions):

- :mod:`~fanin.stream.spec`: the spec as data: formats, limits, Philox constants,
  precisions and tables, exact host arithmetic;
- :mod:`~fanin.stream.kinds`: the distributions, one class per kind owning all its
  knowledge (bounds, reach, parameters, moments, density);
- :mod:`~fanin.stream.transforms`: words to values, written once over a small
  array-operations protocol;
- :mod:`~fanin.stream.plans`: validated blocks of tensors, cut into rows;
- backends: :mod:`~fanin.stream.numpy` (the reference), :mod:`~fanin.stream.kernel`
  (the compiled kernel), :mod:`~fanin.stream.torch` and :mod:`~fanin.stream.jax` (the
  stream in framework operations, imported only when used);
- :mod:`~fanin.stream.backends`: filling numpy arrays with the backend in use.

This module re-exports the public names.

>>> import numpy as np
>>> from fanin import stream
>>> out = np.empty(4, np.float32)
>>> stream.fill(out, stream.plan(7, 0, stream.truncated_normal(0.0, 1.0), "float32", (4,)))
>>> bool(np.all(np.abs(out) < 2.0))
True
"""

from fanin.stream.spec import (  # noqa: F401
    FLOAT_FORMATS, FORMATS, INT_FORMATS, MAX_INDEX, PHILOX_M0, PHILOX_M1, PHILOX_ROUNDS,
    PHILOX_W0, PHILOX_W1, STREAM_VERSION, TN_CLIP, TN_MIN_CLIPPED_MASS, seed_to_key,
    tn2_coefficients, words_per_element,
)
from fanin.stream.kinds import (  # noqa: F401
    KIND_CODES, NORMAL_REACH, Distribution, check_format, clamp_bounds, kind_code, normal,
    truncated_normal, uniform, uniform_int,
)
from fanin.stream.plans import ROWS_PER_RUN, Plan, plan  # noqa: F401
from fanin.stream.numpy import fill_reference_rows, philox4x32, words  # noqa: F401
from fanin.stream.kernel import fill_kernel_rows, kernel_args  # noqa: F401
from fanin.stream.backends import (  # noqa: F401
    BACKENDS, WholeFill, fill, fill_columns, fill_rows, get_backend, kernel_available, set_backend,
    using_kernel, whole_fill,
)

__all__ = [
    "STREAM_VERSION", "FORMATS", "FLOAT_FORMATS", "INT_FORMATS", "Distribution", "uniform",
    "uniform_int", "normal", "truncated_normal", "philox4x32", "seed_to_key",
    "words_per_element", "clamp_bounds", "words", "kernel_args", "check_format", "Plan",
    "plan", "fill", "fill_rows", "fill_columns", "fill_reference_rows", "fill_kernel_rows",
    "set_backend", "get_backend", "using_kernel", "kernel_available", "WholeFill", "whole_fill",
]
