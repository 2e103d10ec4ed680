"""DTensor support for :mod:`fanin.torch`: each rank fills only its local shard.

A fanin draw fully determines a tensor, and any block of it can be computed on
its own (``draw.fill(out, offset)``). So a rank that holds a shard of a
``torch.distributed.tensor.DTensor`` computes exactly the rows and columns it
holds, with no communication and no full-size temporary, and ``full_tensor()``
equals the single-device result bit for bit.

Which global indices a rank holds is worked out from the DTensor's public
metadata (``device_mesh.shape``, ``device_mesh.get_coordinate()``,
``placements``), following DTensor's own rules: ``Shard(d)`` splits the indices
of dim ``d`` held so far as ``torch.chunk`` does (chunks of ``ceil(n / k)``,
trailing ranks possibly empty), mesh dimension by mesh dimension, left to right;
FSDP2's strided shards (``_StridedShard(d, split_factor=f)``, from FSDP2 on top
of tensor parallelism) first split those indices into ``f`` pieces and give
each rank its chunk of every piece; ``Replicate()`` keeps them all. A strided
shard may be several separate blocks of the global tensor: each is written where
it belongs.
``Partial()`` placements hold addends, not values, and are refused.
"""

from __future__ import annotations

import itertools
import sys

import numpy as np
import torch

from fanin.draws import TILE_BYTES, tiles

#: CPU shards are filled in place through NumPy; tests set this False to run the
#: path of other devices (blocks computed on the host, copied in) on the CPU.
CPU_IN_PLACE = True


def is_dtensor(tensor) -> bool:
    """Whether ``tensor`` is a ``torch.distributed.tensor.DTensor`` (or a Parameter of one).

    Costs a dict lookup: a DTensor can only exist once ``torch.distributed.tensor``
    has been imported, so fanin never imports it for plain tensors.
    """
    module = sys.modules.get("torch.distributed.tensor")
    return module is not None and isinstance(tensor, module.DTensor)


# --------------------------------------------------------------------------- #
# Which global indices this rank holds
# --------------------------------------------------------------------------- #


def _chunk(indices, parts: int, rank: int):
    """Rank ``rank``'s piece of ``indices`` split as ``torch.chunk(indices, parts)``."""
    size = -(-len(indices) // parts)  # ceil: torch.chunk's chunk size
    return indices[rank * size:(rank + 1) * size]


def held_indices(shape, mesh_shape, coordinate, placements):
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


def _dtensor_indices(dt):
    mesh = dt.device_mesh
    coordinate = mesh.get_coordinate()
    if coordinate is None:
        raise ValueError("this rank is not part of the DTensor's device mesh; it holds no shard.")
    return held_indices(tuple(dt.shape), tuple(mesh.shape), coordinate, dt.placements)


def _runs(indices):
    """Maximal runs of consecutive values: [(local start, global start, length)]."""
    if len(indices) == 0:
        return []
    breaks = np.flatnonzero(np.diff(indices) != 1) + 1
    starts = np.concatenate(([0], breaks))
    stops = np.concatenate((breaks, [len(indices)]))
    return [(int(a), int(indices[a]), int(b - a)) for a, b in zip(starts, stops)]


def local_blocks(dt):
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


def local_block(dt):
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


# --------------------------------------------------------------------------- #
# Writing
# --------------------------------------------------------------------------- #


def _to_keras(offset, shape, axes):
    """A torch-layout block as the Keras-layout block it is a permutation of."""
    if axes is None:
        return tuple(offset), tuple(shape)
    koffset, kshape = [0] * len(axes), [0] * len(axes)
    for dim, kdim in enumerate(axes):  # torch dim ``dim`` is Keras dim ``axes[dim]``
        koffset[kdim], kshape[kdim] = offset[dim], shape[dim]
    return tuple(koffset), tuple(kshape)


def _numpy_view(t):
    """A NumPy array sharing a CPU tensor's memory, any strides (bfloat16 as uint16 bits)."""
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().view(np.uint16)
    return t.numpy()


def _from_numpy(values):
    """A CPU torch tensor sharing ``values``' memory (bfloat16 through int16)."""
    if values.dtype.name == "bfloat16":
        return torch.from_numpy(values.view(np.int16)).view(torch.bfloat16)
    return torch.from_numpy(values)


def _write_block(target, draw, offset, axes):
    """Fill ``target`` (torch layout) with the draw's block at torch offset ``offset``.

    On the CPU the target's memory, seen in Keras layout (a transposed NumPy
    view), is filled by ``draw.fill``: in place when contiguous, else through
    temporaries of at most ``TILE_BYTES``. On other devices the block is
    computed on the host in tiles of at most ``TILE_BYTES`` and copied in.
    """
    if target.numel() == 0:
        return
    koffset, kshape = _to_keras(offset, target.shape, axes)
    if target.device.type == "cpu" and CPU_IN_PLACE:
        view = _numpy_view(target.detach())  # same memory, never tracked by autograd
        draw.fill(view if axes is None else view.transpose(np.argsort(axes)), koffset)
        torch.autograd.graph.increment_version(target)  # NumPy writes bypass autograd
        return
    dims = range(target.dim())
    keras_dim = dims if axes is None else axes  # torch dim d is Keras dim keras_dim[d]
    for o, s in tiles(kshape, TILE_BYTES // draw.numpy_dtype.itemsize, koffset):
        src = _from_numpy(draw.block(o, s))
        region = tuple(slice(o[k] - koffset[k], o[k] - koffset[k] + s[k]) for k in
                       (keras_dim[d] for d in dims))
        target[region].copy_(src if axes is None else src.permute(axes))


def write(tensor, draw, axes):
    """Write ``draw`` (Keras layout, the global shape) into the DTensor ``tensor``.

    ``tensor`` is ``keras_tensor.permute(axes)`` (``axes=None``: no permutation).
    Only this rank's local shard is computed and written; nothing is communicated.
    """
    with torch.no_grad():
        local = tensor.to_local()
        for local_offset, global_offset, shape in local_blocks(tensor):
            target = local[tuple(slice(o, o + s) for o, s in zip(local_offset, shape))]
            _write_block(target, draw, global_offset, axes)
    return tensor
