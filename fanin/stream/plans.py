"""Plans: one validated block of one tensor's stream values, cut into runs of rows.

A plan is what every backend computes: the key and call, the distribution and format,
the full tensor's shape and the block's offset and shape. :meth:`Plan.runs` turns the
block into rows of consecutive flat indices, a bounded number at a time.

>>> from fanin.stream.kinds import normal
>>> p = plan(7, 0, normal(0.0, 1.0), "float32", (4, 5), offset=(1, 3), block=(2, 2))
>>> [(start, s.tolist(), n) for start, s, n in p.runs()]
[(0, [8, 13], 2)]
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np

from fanin.stream import spec
from fanin.stream.kinds import Distribution, check_format, clamp_bounds

__all__ = ["ROWS_PER_RUN", "Plan", "plan", "check_geometry", "check_rows", "check_key"]

#: Rows handed to a backend at once: bounds the row-start array (8 bytes a row)
#: whatever the block's shape, e.g. the N rows of one element of an (N, 1) block.
ROWS_PER_RUN = 1 << 16


def check_geometry(shape: tuple, offset: tuple, block: tuple) -> None:
    """Validate a block of a full shape (tuples of Python ints); refuse > 2**62 elements."""
    for name, dims in (("shape", shape), ("offset", offset), ("block", block)):
        if not all(type(d) is int and d >= 0 for d in dims):
            raise ValueError(f"plan {name} must hold non-negative ints, got {dims!r}.")
    if not len(shape) == len(offset) == len(block):
        raise ValueError(f"block [offset {offset}, shape {block}] must have the rank of "
                         f"shape {shape} ({len(shape)}).")
    if math.prod(shape) > spec.MAX_INDEX:
        raise ValueError(f"shape {shape} has {math.prod(shape)} elements, more than "
                         "fanin's limit of 2**62.")
    if any(o + b > d for o, b, d in zip(offset, block, shape)):
        raise ValueError(f"block [offset {offset}, shape {block}] falls outside shape "
                         f"{shape}.")


def check_key(name: str, value: object) -> None:
    """A key or call index: an int in [0, 2**64)."""
    if type(value) is not int or not 0 <= value <= spec.MASK64:
        raise ValueError(f"plan {name} must be an int in [0, 2**64), got {value!r}.")


def check_rows(starts: np.ndarray | int, row_len: int, n: int) -> None:
    """Explicit rows (``len(starts)`` rows of ``row_len``, or from one int start rows
    continuing each other) that fill ``n`` elements, every index below 2**62: the
    checks every backend shares."""
    if type(row_len) is not int or row_len < 0:
        raise ValueError(f"row_len must be a non-negative int, got {row_len!r}.")
    if type(starts) is int:
        if not 0 <= starts <= spec.MAX_INDEX - n:
            raise ValueError("element indices must stay below 2**62.")
        return
    if (not isinstance(starts, np.ndarray) or starts.dtype != np.uint64 or starts.ndim != 1
            or not starts.flags.c_contiguous):
        raise TypeError("starts must be a 1-D C-contiguous numpy.uint64 array or an int.")
    if starts.size * row_len != n:
        raise ValueError(f"{starts.size} rows of {row_len} elements do not fill an array "
                         f"of {n} elements.")
    if starts.size and int(starts.max()) + row_len > spec.MAX_INDEX:
        raise ValueError("element indices must stay below 2**62.")


@dataclass(frozen=True)
class Plan:
    """One block of one tensor's stream values, validated: what every backend computes.

    ``key`` and ``call`` are the 64-bit Philox key and call index, ``dist`` and
    ``fmt`` the distribution and output format, ``shape`` the full tensor's shape
    and ``offset`` / ``block`` the block's. Build it with :func:`plan`; fill with
    :func:`fanin.stream.fill` (NumPy) or any backend that consumes :meth:`runs`.
    """

    key: int
    call: int
    dist: Distribution
    fmt: str
    shape: tuple
    offset: tuple
    block: tuple

    @property
    def size(self) -> int:
        """Number of elements in the block."""
        return math.prod(self.block)

    @property
    def bounds(self) -> tuple[float, float]:
        """(lo, hi): the clamp bounds of :func:`fanin.stream.clamp_bounds` for this plan."""
        return clamp_bounds(self.dist, self.fmt)

    def runs(self, rows_per_run: int = ROWS_PER_RUN) -> Iterator[tuple[int, np.ndarray, int]]:
        """Yield ``(out_start, starts, row_len)`` covering the block in C order.

        ``len(starts)`` rows of ``row_len`` consecutive flat indices of the full
        tensor, starting at ``starts[r]``; they are the block's elements
        ``out_start .. out_start + len(starts) * row_len - 1``. Trailing axes the
        block covers whole merge into one row; rows come at most
        ``rows_per_run`` at a time, so memory stays bounded for any shape.
        """
        shape, block = self.shape, self.block
        n = self.size
        if n == 0:
            return
        axis = len(shape) - 1  # the last axis the block does not cover whole
        while axis > 0 and block[axis] == shape[axis]:
            axis -= 1
        row_len = math.prod(block[axis:]) if shape else 1
        for r0, starts in self._row_starts(range(axis), n // row_len, rows_per_run):
            yield r0 * row_len, starts, row_len

    def column_runs(self, order: Sequence[int], rows_per_run: int = ROWS_PER_RUN,
                    ) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(first, starts)`` covering the block's rows along its last axis
        (``block[-1]`` consecutive flat indices from each start), counted with the
        leading axes in ``order`` (a permutation of them, the first varying
        slowest), from row ``first``, ``rows_per_run`` at a time.

        The rows of a torch-layout tensor ``(out, in, *kernel)`` from its Keras
        draw ``(*kernel, in, out)``: ``order`` is ``(in, *kernel)``'s axes there
        (:func:`fanin.stream.fill_columns` writes them).

        >>> from fanin.stream.kinds import normal
        >>> p = plan(7, 0, normal(0.0, 1.0), "float32", (2, 3, 4))
        >>> [s.tolist() for _, s in p.column_runs((1, 0))]
        [[0, 12, 4, 16, 8, 20]]
        """
        if self.size:
            yield from self._row_starts(order, self.size // self.block[-1], rows_per_run)

    def continuing_start(self, order: Sequence[int]) -> int | None:
        """The first row's flat index when the rows of :meth:`column_runs` in ``order``
        continue each other (the block is one range of flat indices, its rows in
        that order, as a 2-D draw's), else None.

        >>> from fanin.stream.kinds import normal
        >>> p = plan(7, 0, normal(0.0, 1.0), "float32", (2, 3, 4), (1, 0, 0), (1, 3, 4))
        >>> p.continuing_start((0, 1)), p.continuing_start((1, 0))
        (12, 12)
        >>> plan(7, 0, normal(0.0, 1.0), "float32", (2, 3, 4)).continuing_start((1, 0)) is None
        True
        """
        varying = [k for k in order if self.block[k] > 1]
        if varying != sorted(varying):
            return None
        whole = range(varying[0] + 1, len(self.shape)) if varying else ()
        if any(self.block[k] != self.shape[k] for k in whole):
            return None
        return self._first_index()

    def _strides(self) -> list[int]:
        """Flat indices from one index of each axis to the next (C order)."""
        return [math.prod(self.shape[i + 1:]) for i in range(len(self.shape))]

    def _first_index(self) -> int:
        """The flat index of the block's first element."""
        return sum(o * s for o, s in zip(self.offset, self._strides()))

    def _row_starts(self, axes: Sequence[int], nrows: int, rows_per_run: int,
                    ) -> Iterator[tuple[int, np.ndarray]]:
        """``(r0, starts)``: the flat first index of rows r0, r0 + 1, ... counted over
        the block's ``axes`` in C order (the last fastest), ``rows_per_run`` at a time.

        Sums of each axis' index steps (outer sums, no division): the fastest axes
        that fit a run together form ``inner``; the next axis is cut into pieces of
        whole ``inner`` periods and the slower ones are counted one index at a time,
        so every run but a piece's last holds at least half of ``rows_per_run`` rows."""
        strides, base = self._strides(), self._first_index()

        def steps(k: int, n: int) -> np.ndarray:  # the first n indices of axis k
            return np.arange(n, dtype=np.uint64) * np.uint64(strides[k])

        inner, j = np.zeros(1, np.uint64), len(axes)
        while j and inner.size * self.block[axes[j - 1]] <= rows_per_run:
            j -= 1
            inner = np.add.outer(steps(axes[j], self.block[axes[j]]), inner).ravel()
        if j == 0:
            yield 0, inner + np.uint64(base)
            return
        cut = axes[j - 1]
        per = min(self.block[cut], max(1, rows_per_run // inner.size))
        ramp = steps(cut, per)
        r0 = 0
        for index in np.ndindex(*(self.block[k] for k in axes[:j - 1])):
            first = base + sum(i * strides[k] for i, k in zip(index, axes))
            for c in range(0, self.block[cut], per):
                piece = ramp[:self.block[cut] - c] + np.uint64(first + c * strides[cut])
                starts = np.add.outer(piece, inner).ravel()
                yield r0, starts
                r0 += starts.size


def plan(key: int, call: int, dist: Distribution, fmt: str, shape: Sequence[int],
         offset: Sequence[int] | None = None, block: Sequence[int] | None = None) -> Plan:
    """A validated :class:`Plan`: the block ``[offset, offset + block)`` of ``shape``.

    Without ``offset`` / ``block``, the whole tensor. Raises ``ValueError`` for
    a format, geometry or distribution the stream cannot produce (for example
    a support that holds no value of ``fmt``), before any work is done.

    >>> from fanin.stream.kinds import uniform
    >>> plan(1, 0, uniform(0.0, 1.0), "float16", (3,)).block
    (3,)
    """
    shape = tuple(shape)
    offset = (0,) * len(shape) if offset is None else tuple(offset)
    block = shape if block is None else tuple(block)
    check_geometry(shape, offset, block)
    check_key("key", key)
    check_key("call", call)
    check_format(dist, fmt)
    clamp_bounds(dist, fmt)  # raises when no value of the format lies in the support
    return Plan(key, call, dist, fmt, shape, offset, block)
