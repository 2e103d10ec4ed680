"""Shapes: validation, fans, partitions and the refusal of absurd sizes."""

from __future__ import annotations

import math
import operator
import os

import numpy as np

# Flat element indices live in 64-bit counters, two words per float64 element.
MAX_ELEMENTS = 1 << 62  # = stream.MAX_INDEX
# Requests below this size skip the available-memory check.
_MEMORY_CHECK_BYTES = 1 << 28


def normalize_shape(shape, name: str = "shape") -> tuple[int, ...]:
    """A tuple of non-negative Python ints from any integer sequence.

    Accepts tuples, lists, numpy integer arrays, ``torch.Size`` and
    ``tf.TensorShape`` (fully defined).

    >>> normalize_shape([2, np.int64(3)])
    (2, 3)
    """
    if hasattr(shape, "as_list"):  # tf.TensorShape
        shape = shape.as_list()
    if isinstance(shape, (str, bytes)) or not hasattr(shape, "__iter__"):
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


def check_size(shape: tuple[int, ...], itemsize: int) -> int:
    """Element count of ``shape``; refuse sizes that overflow or exceed memory."""
    n = math.prod(shape)
    if n > MAX_ELEMENTS:
        raise ValueError(f"shape {shape} has {n} elements, more than fanin's limit of "
                         f"2**62.")
    need = n * itemsize
    if need < _MEMORY_CHECK_BYTES:  # small: not worth a look at /proc/meminfo
        return n
    avail = available_memory()
    if avail is not None and need > avail:
        raise MemoryError(f"shape {shape} needs {need / 2**30:.1f} GiB, more than the "
                          f"{avail / 2**30:.1f} GiB of memory available.")
    return n


def available_memory() -> int | None:
    """Bytes of memory available to this process (None when unknown)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def compute_fans(shape, input_axes=None, output_axes=None) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight shape, by the Keras rules.

    Rank 0: (1, 1); rank 1 ``(n,)``: (n, n); rank 2 ``(a, b)``: (a, b); rank >= 3 is a
    channels-last kernel ``(*spatial, in, out)``. With both ``input_axes`` and
    ``output_axes``, fan_in is the product of the input axes times the receptive
    field (every axis in neither list), and likewise fan_out.

    >>> compute_fans((3, 3, 16, 32))
    (144, 288)
    >>> compute_fans((32, 16, 3, 3), input_axes=[1], output_axes=[0])
    (144, 288)
    """
    shape = tuple(shape)
    if input_axes is not None and output_axes is not None:
        rank = len(shape)
        ins = {a % rank for a in input_axes} if rank else set()
        outs = {a % rank for a in output_axes} if rank else set()
        receptive = math.prod(d for i, d in enumerate(shape) if i not in ins | outs)
        fan_in = math.prod(shape[i] for i in ins) * receptive
        fan_out = math.prod(shape[i] for i in outs) * receptive
        return int(fan_in), int(fan_out)
    if len(shape) < 1:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


def check_axes(axes, name: str):
    """Validate an ``input_axes`` / ``output_axes`` argument: a list of ints."""
    if axes is None:
        return None
    if isinstance(axes, (int, np.integer)) and not isinstance(axes, bool):
        axes = [axes]
    try:
        out = [operator.index(a) for a in axes]
    except TypeError:
        raise TypeError(f"`{name}` must be a list of integer axes, got {axes!r}.") from None
    if any(isinstance(a, bool) for a in axes):
        raise TypeError(f"`{name}` must be a list of integer axes, got {axes!r}.")
    if len(set(out)) != len(out):
        raise ValueError(f"`{name}` has repeated axes: {axes!r}.")
    return out


def check_axes_fit(shape, input_axes, output_axes) -> None:
    """Axes must exist in ``shape`` and not overlap."""
    if input_axes is None or output_axes is None:
        return
    rank = len(shape)
    for name, axes in (("input_axes", input_axes), ("output_axes", output_axes)):
        for a in axes:
            if not -rank <= a < rank:
                raise ValueError(f"`{name}` axis {a} is out of range for shape "
                                 f"{shape} of rank {rank}.")
    if {a % rank for a in input_axes} & {a % rank for a in output_axes}:
        raise ValueError(f"`input_axes` {input_axes} and `output_axes` {output_axes} "
                         "overlap.")


def check_partition(shape, partition_shape, partition_offset):
    """Validate partition arguments; returns (partition_shape, offset) tuples."""
    if partition_shape is None and partition_offset is None:
        return None, None
    if partition_shape is None:
        raise ValueError("`partition_offset` was given without `partition_shape`.")
    part = normalize_shape(partition_shape, "partition_shape")
    offset = ((0,) * len(shape) if partition_offset is None
              else normalize_shape(partition_offset, "partition_offset"))
    if len(part) != len(shape) or len(offset) != len(shape):
        raise ValueError(f"partition_shape {part} and partition_offset {offset} must "
                         f"have the rank of shape {shape} ({len(shape)}).")
    for p, o, d in zip(part, offset, shape):
        if o + p > d:
            raise ValueError(f"partition [offset {offset}, shape {part}] falls outside "
                             f"shape {shape}.")
    return part, offset


def partition_rows(shape, part, offset):
    """Flat row starts and row length of a partition inside the full tensor.

    The partition, read in C order, is ``len(starts)`` runs of ``row_len``
    consecutive flat indices of the full tensor. Trailing axes the partition
    covers whole merge into one run, so the common cases need few rows.

    >>> partition_rows((4, 5), (2, 5), (1, 0))
    (array([5], dtype=uint64), 10)
    >>> partition_rows((4, 5), (2, 2), (1, 3))
    (array([ 8, 13], dtype=uint64), 2)
    """
    rank = len(shape)
    if rank == 0:
        return np.zeros(1, np.uint64), 1
    strides = [1] * rank
    for i in range(rank - 2, -1, -1):
        strides[i] = strides[i + 1] * shape[i + 1]
    axis = rank - 1  # last axis the partition does not cover whole
    while axis > 0 and part[axis] == shape[axis]:
        axis -= 1
    row_len = math.prod(part[axis:])
    starts = np.array([offset[axis] * strides[axis]], np.uint64)
    for i in range(axis - 1, -1, -1):
        idx = (np.arange(part[i], dtype=np.uint64) + np.uint64(offset[i])) * np.uint64(strides[i])
        starts = (idx[:, None] + starts[None, :]).reshape(-1)
    return starts, row_len
