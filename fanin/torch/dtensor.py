"""Which part of a DTensor this rank holds: the index arithmetic behind shard-local fills.

A fanin draw fully determines a tensor, and any block of it can be computed on
its own. So a rank that holds a shard of a ``torch.distributed.tensor.DTensor``
computes exactly the rows and columns it holds, with no communication and no
full-size temporary, and ``full_tensor()`` equals the single-device result bit
for bit (the writing itself is :mod:`fanin.torch.write`'s).

Which global indices a rank holds is worked out from the DTensor's public
metadata (``device_mesh.shape``, ``device_mesh.get_coordinate()``,
``placements``), following DTensor's own rules: ``Shard(d)`` splits the indices
of dim ``d`` held so far as ``torch.chunk`` does (chunks of ``ceil(n / k)``,
trailing ranks possibly empty), mesh dimension by mesh dimension, left to right;
FSDP2's strided shards (``_StridedShard(d, split_factor=f)``, from FSDP2 on top
of tensor parallelism) first split those indices into ``f`` pieces and give
each rank its chunk of every piece; ``Replicate()`` keeps them all. A strided
shard may be several separate blocks of the global tensor: each is written where
it belongs. ``Partial()`` placements hold addends, not values, and are refused.
"""

from __future__ import annotations

import itertools
import sys
from typing import Any, Sequence

import numpy as np

__all__ = ["is_dtensor", "held_indices", "local_blocks", "local_block"]

Block = tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]


def is_dtensor(tensor: Any) -> bool:
    """Whether ``tensor`` is a ``torch.distributed.tensor.DTensor`` (or a Parameter of one).

    Costs a dict lookup: a DTensor can only exist once ``torch.distributed.tensor``
    has been imported, so fanin never imports it for plain tensors.
    """
    module = sys.modules.get("torch.distributed.tensor")
    return module is not None and isinstance(tensor, module.DTensor)


def _chunk(indices: np.ndarray, parts: int, rank: int) -> np.ndarray:
    """Rank ``rank``'s piece of ``indices`` split as ``torch.chunk(indices, parts)``."""
    size = -(-len(indices) // parts)  # ceil: torch.chunk's chunk size
    return indices[rank * size:(rank + 1) * size]


def held_indices(shape: Sequence[int], mesh_shape: Sequence[int], coordinate: Sequence[int],
                 placements: Sequence[Any]) -> list[np.ndarray]:
    """Per tensor dim, the global indices (in local order) held at ``coordinate``.

    ``shape``: the global shape; ``mesh_shape`` / ``coordinate``: the device mesh's
    shape and this rank's coordinate in it; ``placements``: one per mesh dim.
    """
    held = [np.arange(n, dtype=np.int64) for n in shape]
    for mesh_dim, placement in enumerate(placements):
        parts, rank = mesh_shape[mesh_dim], coordinate[mesh_dim]
        if placement.is_replicate():
            continue
        if placement.is_partial():
            raise ValueError(f"cannot initialize a DTensor with placement {placement!r} on mesh "
                             f"dim {mesh_dim}: a Partial placement holds addends, not values; "
                             "initialize it as Replicate() or Shard(d).")
        split = getattr(placement, "split_factor", None)
        if placement.is_shard():
            held[placement.dim] = _chunk(held[placement.dim], parts, rank)
        elif split is not None and hasattr(placement, "dim"):  # FSDP2's _StridedShard
            pieces = [_chunk(held[placement.dim], int(split), i) for i in range(int(split))]
            held[placement.dim] = np.concatenate([_chunk(p, parts, rank) for p in pieces])
        else:
            raise ValueError(f"cannot initialize a DTensor with placement {placement!r} on mesh "
                             f"dim {mesh_dim}: fanin knows Shard, Replicate and FSDP2's "
                             "strided shards.")
    return held


def _dtensor_indices(dt: Any) -> list[np.ndarray]:
    mesh = dt.device_mesh
    coordinate = mesh.get_coordinate()
    if coordinate is None:
        raise ValueError("this rank is not part of the DTensor's device mesh; it holds no shard.")
    return held_indices(tuple(dt.shape), tuple(mesh.shape), coordinate, dt.placements)


def _runs(indices: np.ndarray) -> list[tuple[int, int, int]]:
    """Maximal runs of consecutive values: [(local start, global start, length)]."""
    if len(indices) == 0:
        return []
    breaks = np.flatnonzero(np.diff(indices) != 1) + 1
    starts = np.concatenate(([0], breaks))
    stops = np.concatenate((breaks, [len(indices)]))
    return [(int(a), int(indices[a]), int(b - a)) for a, b in zip(starts, stops)]


def local_blocks(dt: Any) -> list[Block]:
    """The blocks of the global tensor this rank holds.

    A list of ``(local_offset, global_offset, shape)``: the local tensor's block
    at ``local_offset`` of ``shape`` is the global tensor's block at
    ``global_offset``. One block for ``Shard`` / ``Replicate`` placements, several
    for strided shards, none for an empty shard.
    """
    per_dim = [_runs(ix) for ix in _dtensor_indices(dt)]
    blocks = []
    for combo in itertools.product(*per_dim):
        blocks.append((tuple(r[0] for r in combo), tuple(r[1] for r in combo),
                       tuple(r[2] for r in combo)))
    return blocks


def local_block(dt: Any) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """``(offset, shape)``: where this rank's local shard sits in the global tensor.

    ``dt.to_local()`` equals ``dt.full_tensor()[o0:o0 + s0, o1:o1 + s1, ...]``.
    An empty shard has shape 0 on a sharded dim (its offset there is then the
    dim's size, as DTensor reports it). Raises ``ValueError`` naming the
    placement when the shard is not one block (FSDP2's strided shards over
    tensor parallelism) or the placement holds no values (``Partial``).
    """
    if not is_dtensor(dt):
        raise TypeError(f"local_block() expects a DTensor, got {type(dt).__name__}.")
    held = _dtensor_indices(dt)
    offset, shape = [], []
    for dim, ix in enumerate(held):
        if len(_runs(ix)) > 1:
            raise ValueError(f"the local shard of this DTensor (placements {dt.placements}) is "
                             f"not one block of the global tensor: dim {dim} holds "
                             f"{len(_runs(ix))} separate runs of indices (a strided shard).")
        offset.append(int(ix[0]) if len(ix) else int(dt.shape[dim]))
        shape.append(len(ix))
    return tuple(offset), tuple(shape)
