"""Shapes: validation, fans, partitions and the refusal of absurd sizes."""

from __future__ import annotations

import math
import operator
import os
from collections.abc import Iterable, Sequence
from typing import Any, SupportsIndex

import numpy as np

from fanin.stream import MAX_INDEX as MAX_ELEMENTS

#: What a shape argument may be: a sequence of integers (Python ints, NumPy
#: integers, anything with ``__index__``), e.g. a tuple, ``torch.Size``, a NumPy array.
ShapeLike = Iterable[SupportsIndex]
#: Keras's ``input_axes`` / ``output_axes``: an axis or a list of axes.
Axes = Sequence[int] | int | None

#: Requests below this size skip the available-memory check (a file read or two).
MEMORY_CHECK_BYTES = 1 << 28


def normalize_shape(shape: ShapeLike, name: str = "shape") -> tuple[int, ...]:
    """A tuple of non-negative Python ints from any integer sequence.

    Accepts tuples, lists, numpy integer arrays, ``torch.Size`` and
    ``tf.TensorShape`` (fully defined).

    >>> normalize_shape([2, np.int64(3)])
    (2, 3)
    """
    if isinstance(shape, tuple) and all(type(d) is int and d >= 0 for d in shape):
        return tuple(shape)  # already ints (torch.Size too): the per-weight common case
    if hasattr(shape, "as_list"):  # tf.TensorShape
        shape = shape.as_list()
    if isinstance(shape, (str, bytes)) or not hasattr(shape, "__iter__"):  # callers' mistakes
        raise TypeError(f"`{name}` must be a sequence of non-negative integers, "
                        f"got {shape!r}.")
    dims = []
    for d in shape:
        if isinstance(d, (bool, np.bool_)) or d is None:
            raise TypeError(f"`{name}` must contain integers, got {d!r} in {shape!r}.")
        try:
            d = operator.index(d)
        except TypeError:
            raise TypeError(f"`{name}` must contain integers, got {d!r} "
                            f"in {shape!r}.") from None
        if d < 0:
            raise ValueError(f"`{name}` must not contain negative dimensions, "
                             f"got {tuple(shape)!r}.")
        dims.append(int(d))
    return tuple(dims)


def check_count(shape: tuple[int, ...]) -> int:
    """Element count of ``shape``; ``ValueError`` above fanin's limit of 2**62
    elements (or a dimension above it, which no array can have, even an empty one)."""
    n = math.prod(shape)
    if n > MAX_ELEMENTS or any(d > MAX_ELEMENTS for d in shape):
        raise ValueError(f"shape {shape} has {n} elements, more than fanin's limit of "
                         f"2**62.")
    return n


def check_size(shape: tuple[int, ...], itemsize: int, extra_bytes: int = 0) -> int:
    """Element count of ``shape``; refuse sizes that overflow or exceed memory.

    ``extra_bytes`` is working memory held besides the output (e.g. QR's).
    """
    n = check_count(shape)
    need = n * itemsize + extra_bytes
    if need < MEMORY_CHECK_BYTES:  # small: not worth a look at the memory figures
        return n
    avail = available_memory()
    if avail is not None and need > avail:
        raise MemoryError(f"shape {shape} needs {need / 2**30:.1f} GiB, more than the "
                          f"{avail / 2**30:.1f} GiB of memory available.")
    return n


def _read_int(path: str) -> int | None:
    try:
        with open(path) as f:
            text = f.read().split()
    except OSError:
        return None
    return int(text[0]) if text and text[0].isdigit() else None  # "max": no limit


def _cgroup_room() -> int | None:
    """Bytes left under this process's cgroup memory limit (v2, then v1), if any."""
    for limit, usage in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                         ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                          "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        cap, used = _read_int(limit), _read_int(usage)
        if cap is not None and used is not None and cap < 1 << 60:  # v1 "no limit" is ~2**63
            return max(0, cap - used)
    return None


def available_memory() -> int | None:
    """Bytes this process can still allocate: the machine's available memory, or
    the room under its cgroup's limit when that is smaller (None when unknown)."""
    avail = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
                    break
    except OSError:
        try:
            avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            pass
    room = _cgroup_room()
    if room is not None:
        avail = room if avail is None else min(avail, room)
    return avail


def compute_fans(shape: ShapeLike, input_axes: Sequence[int] | None = None,
                 output_axes: Sequence[int] | None = None) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight shape, by the Keras rules.

    With both ``input_axes`` and ``output_axes`` (Keras 3.15): fan_in is the product
    of the input axes' sizes, fan_out of the output axes'; an axis may be in both
    (a receptive-field axis, e.g. PyTorch's conv layout ``(out, in, kh, kw)`` with
    ``input_axes=[1, 2, 3], output_axes=[0, 2, 3]``). Otherwise Keras 2.7's rule:
    rank 0: (1, 1); rank 1 ``(n,)``: (n, n); rank 2 ``(a, b)``: (a, b); rank >= 3 is a
    channels-last kernel ``(*spatial, in, out)``.

    >>> compute_fans((3, 3, 16, 32))
    (144, 288)
    >>> compute_fans((32, 16, 3, 3), input_axes=[1, 2, 3], output_axes=[0, 2, 3])
    (144, 288)
    """
    dims = tuple(operator.index(d) for d in shape)
    if input_axes is not None and output_axes is not None:
        return (math.prod(dims[a] for a in input_axes),
                math.prod(dims[a] for a in output_axes))
    if len(dims) < 1:
        return 1, 1
    if len(dims) == 1:
        return dims[0], dims[0]
    if len(dims) == 2:
        return dims[0], dims[1]
    receptive = math.prod(dims[:-2])
    return dims[-2] * receptive, dims[-1] * receptive


def check_axes(axes: Iterable[SupportsIndex] | SupportsIndex | None,
               name: str) -> list[int] | None:
    """Validate an ``input_axes`` / ``output_axes`` argument: a list of ints."""
    if axes is None:
        return None
    if isinstance(axes, (int, np.integer)) and not isinstance(axes, bool):
        axes = [axes]
    items: Any = axes  # validated here: anything iterable of integers
    try:
        out = [operator.index(a) for a in items]
    except TypeError:
        raise TypeError(f"`{name}` must be a list of integer axes, got {axes!r}.") from None
    if any(isinstance(a, bool) for a in items):
        raise TypeError(f"`{name}` must be a list of integer axes, got {axes!r}.")
    if len(set(out)) != len(out):
        raise ValueError(f"`{name}` has repeated axes: {axes!r}.")
    return out


def check_axes_fit(shape: Sequence[int], input_axes: Sequence[int] | None,
                   output_axes: Sequence[int] | None) -> None:
    """Axes must exist in ``shape``. They may overlap (Keras 3.15: shared axes
    are receptive-field axes, counted in both fans)."""
    if input_axes is None or output_axes is None:
        return
    rank = len(shape)
    for name, axes in (("input_axes", input_axes), ("output_axes", output_axes)):
        for a in axes:
            if not -rank <= a < rank:
                raise ValueError(f"`{name}` axis {a} is out of range for shape "
                                 f"{shape} of rank {rank}.")


def check_block(shape: Sequence[int], offset: Sequence[int], block: Sequence[int]) -> None:
    """A block ``[offset, offset + block)`` must have ``shape``'s rank and lie inside it."""
    if len(block) != len(shape) or len(offset) != len(shape):
        raise ValueError(f"block shape {block} and offset {offset} must have the rank of "
                         f"shape {shape} ({len(shape)}).")
    for b, o, d in zip(block, offset, shape):
        if o + b > d:
            raise ValueError(f"block [offset {offset}, shape {block}] falls outside "
                             f"shape {shape}.")


def check_partition(shape: Sequence[int], partition_shape: ShapeLike | None,
                    partition_offset: ShapeLike | None,
                    ) -> tuple[tuple[int, ...], tuple[int, ...]] | tuple[None, None]:
    """Validate partition arguments; returns (partition_shape, offset) tuples.

    ``partition_offset`` defaults to the origin, as in Keras (which reads only
    ``partition_shape`` to size the values).
    """
    if partition_shape is None and partition_offset is None:
        return None, None
    if partition_shape is None:
        raise ValueError("`partition_offset` was given without `partition_shape`.")
    part = normalize_shape(partition_shape, "partition_shape")
    offset = ((0,) * len(shape) if partition_offset is None
              else normalize_shape(partition_offset, "partition_offset"))
    check_block(shape, offset, part)
    return part, offset
