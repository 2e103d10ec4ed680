"""Call indices: which call index each draw of an initializer instance takes.

An instance counts its calls; call ``k`` is a pure function of (seed, k, shape, dtype,
parameters). Rules (``docs/stream.md`` section 10): a draw or an unpartitioned call
takes the next index. Partitioned calls of one tensor share an index until their union
covers it, so a variable initialized shard by shard equals the unsharded one.

>>> seq = CallSequence()
>>> seq.take(), seq.take()
(0, 1)
"""

from __future__ import annotations

import itertools
import math
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from fanin.draws import Draw

__all__ = ["union_volume", "PartitionGroup", "DrawMaker", "CallSequence"]


# --------------------------------------------------------------------------- #


Box = tuple[tuple[int, ...], tuple[int, ...]]  # (lo, hi) corners


def union_volume(boxes: Sequence[Box]) -> int:
    """Elements in the union of boxes ``(lo, hi)`` (tuples of equal rank), exactly.

    Sweeps the first axis between the boxes' edges and recurses on the boxes
    spanning each slab: cheap for the grid-like tilings of sharded variables.
    """
    boxes = [(lo, hi) for lo, hi in boxes if all(a < b for a, b in zip(lo, hi))]
    if not boxes or not boxes[0][0]:
        return len(boxes) and 1
    edges = sorted({lo[0] for lo, _ in boxes} | {hi[0] for _, hi in boxes})
    total = 0
    for a, b in zip(edges, edges[1:]):
        inside = [(lo[1:], hi[1:]) for lo, hi in boxes if lo[0] <= a and hi[0] >= b]
        if inside:
            total += (b - a) * union_volume(inside)
    return total


@dataclass
class PartitionGroup:
    """The partitions of one tensor that share a call index (one draw)."""

    shape: tuple
    dtype: object
    draw: Draw
    boxes: set = field(default_factory=set)  # distinct (offset, partition_shape)
    total: int = 0  # sum of the distinct boxes' sizes (an upper bound of coverage)

    def add(self, part: tuple[int, ...], offset: tuple[int, ...]) -> bool:
        """Record a partition; True when the distinct partitions cover the tensor."""
        if (offset, part) not in self.boxes:
            self.boxes.add((offset, part))
            self.total += math.prod(part)
        size = math.prod(self.shape)
        if self.total < size:
            return False
        return union_volume([(o, tuple(a + b for a, b in zip(o, p)))
                              for o, p in self.boxes]) >= size


@dataclass(frozen=True)
class DrawMaker:
    """A validated call, waiting for its call index: ``make(call)`` is its draw."""

    cls: type
    shape: tuple
    dtype: str
    fields: dict

    def __call__(self, call: int) -> Draw:
        return self.cls(self.shape, self.dtype, call=call, **self.fields)


class CallSequence:
    """An instance's call counter and its open partition group (thread-safe).

    Rules (``docs/stream.md`` section 10): a draw or an unpartitioned call takes
    the next index and closes the group. A partitioned call joins the open group
    when it is for the same full shape and dtype (the same offset gives the
    same block, overlapping blocks are slices of one tensor), else opens a new
    group with the next index. A group closes once its distinct partitions cover
    the whole tensor (their union, not the sum of their sizes).
    """

    def __init__(self, counter: Iterator[int] | None = None) -> None:
        self._lock = threading.Lock()  # partition groups only
        # next() of itertools.count is one C call, atomic under the GIL: distinct call
        # indices across threads without a lock on the hot path. Another iterator of
        # ints may supply them (a Keras SeedGenerator's counter, in fanin.keras).
        self._counter = itertools.count() if counter is None else counter
        self._group: PartitionGroup | None = None

    def take(self) -> int:
        self._group = None
        return next(self._counter)

    def partition(self, shape: tuple[int, ...], dtype: object, part: tuple[int, ...],
                  offset: tuple[int, ...], make_draw: Callable[[int], Draw]) -> Draw:
        with self._lock:
            group = self._group
            if group is None or group.shape != shape or group.dtype != dtype:
                group = PartitionGroup(shape, dtype, make_draw(next(self._counter)))
                self._group = group
            if group.add(part, offset):
                self._group = None
            return group.draw


