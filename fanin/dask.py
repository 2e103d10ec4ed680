"""Dask arrays of fanin initializers: the same values whatever the chunks.

``from_initializer(init, shape, chunks)`` takes ONE draw of ``init`` on the
client (one call index, as ``init(shape)`` takes) and builds a graph with one
pure task per chunk, ``draw.block(offset, chunk_shape)``. So:

- any chunking gives bit for bit ``init(shape)`` (the same call of a twin
  instance), on every scheduler (threads, processes, ``dask.distributed``);
- computing twice gives the same values, and the same arguments give the same
  graph keys (the task name is a hash of the draw and the chunks);
- slicing computes only the chunks it needs, and nothing but the draw (a few
  numbers) travels to the workers: each one generates its own chunks, so a
  tensor larger than memory can go to Zarr chunk by chunk (``to_zarr``).

The family by name, one function per registered initializer class
(``lecun_normal(shape, chunks="auto", seed=None, dtype=None, **params)``, ...),
is generated from ``fanin.registry``.

>>> import fanin, fanin.dask
>>> x = fanin.dask.lecun_normal((1000, 300), chunks=(250, 100), seed=0)
>>> x.numblocks
(4, 3)
>>> bool((x.compute() == fanin.LecunNormal(seed=0)((1000, 300))).all())
True
"""

from __future__ import annotations

import inspect
import math
import numbers
from typing import Any

import dask.array as da
import numpy as np
from dask.base import tokenize
from dask.utils import parse_bytes

import fanin
from fanin.dtypes import DTypeLike
from fanin.shapes import ShapeLike

__all__ = ["from_initializer", "from_draw"]

#: Most chunks an array may have. Each chunk is a task, and dask's schedulers keep
#: state of the order of a kilobyte per task: 2**30 tasks would need a terabyte.
MAX_CHUNKS = 1 << 30


def _block(draw, starts, block_id=None):
    """One chunk: the draw's block at chunk ``block_id``.

    ``starts`` holds each axis' chunk boundaries (0, ..., size) as an int64 array,
    so the graph stores one array per axis instead of a description of every
    chunk (and dask does not walk arrays looking for collections, as it walks tuples).
    """
    offset = tuple(int(s[i]) for s, i in zip(starts, block_id))
    shape = tuple(int(s[i + 1] - s[i]) for s, i in zip(starts, block_id))
    return draw.block(offset, shape)


def _axis_counts(chunks, shape, dtype):
    """Chunks along each axis, computed without expanding ``chunks`` into one entry
    per chunk (which for a huge shape could itself exhaust memory); None for a
    spelling left to dask's own checks."""
    spec = tuple(chunks) if isinstance(chunks, list) else chunks
    if isinstance(spec, (numbers.Number, str)):
        spec = (spec,) * len(shape)
    elif isinstance(spec, dict):
        spec = tuple(spec.get(i) for i in range(len(shape)))
    if not isinstance(spec, tuple):
        return None
    if len(shape) == 1 and len(spec) > 1 and all(isinstance(c, numbers.Number) for c in spec):
        spec = (spec,)  # explicit chunk sizes of a 1-D array
    if len(spec) != len(shape):
        return None
    spec = tuple(d if c is None or (isinstance(c, int) and c == -1) else c
                 for c, d in zip(spec, shape))
    limits = {parse_bytes(c) for c in spec if isinstance(c, str) and c != "auto"}
    if len(limits) > 1:
        return None
    spec = tuple("auto" if isinstance(c, str) else c for c in spec)
    if any(isinstance(c, str) for c in spec):
        spec = da.core.auto_chunks(spec, shape, limits.pop() if limits else None, dtype)
    counts = []
    for c, d in zip(spec, shape):
        if isinstance(c, (tuple, list)):
            counts.append(len(c))
        elif isinstance(c, numbers.Integral) and c > 0:
            counts.append(max(1, -(-d // int(c))))
        else:
            return None
    return counts


def _check_chunk_count(chunks, shape, counts) -> None:
    if max(counts, default=1) > MAX_CHUNKS or math.prod(counts) > MAX_CHUNKS:
        raise ValueError(f"chunks={chunks!r} cut shape {shape} into {math.prod(counts)} "
                         f"chunks, more than fanin.dask's limit of 2**30 (each chunk is a "
                         f"dask task): use larger chunks.")


def from_draw(draw: fanin.Draw, chunks: Any = "auto") -> da.Array:
    """A dask array of ``draw``'s tensor, one task per chunk (``draw.block``).

    ``chunks`` is anything ``dask.array`` accepts (``"auto"``, an int, a tuple
    per dim, explicit block sizes); at most :data:`MAX_CHUNKS` chunks. Building
    the array costs time and memory in the number of chunks along each axis, not
    in their product. Task keys are ``"fanin-" + `` a hash of the draw and the
    chunks: the same draw and chunks give the same keys.
    """
    if not isinstance(draw, fanin.Draw):
        raise TypeError(f"draw must be a fanin.Draw, got {type(draw).__name__}.")
    dtype = draw.numpy_dtype
    counts = _axis_counts(chunks, draw.shape, dtype)
    if counts is not None:
        _check_chunk_count(chunks, draw.shape, counts)
    chunks = da.core.normalize_chunks(chunks, draw.shape, dtype=dtype)
    _check_chunk_count(chunks, draw.shape, [len(c) for c in chunks])
    starts = tuple(np.cumsum((0,) + c, dtype=np.int64) for c in chunks)
    # a draw is a frozen dataclass of numbers: dask hashes its fields, the same in
    # every process (ensure_deterministic: raise rather than fall back to a random name)
    name = "fanin-" + tokenize(type(draw).__qualname__, draw, chunks, ensure_deterministic=True)
    return da.map_blocks(_block, draw=draw, starts=starts, name=name, chunks=chunks,
                         dtype=dtype, meta=np.empty((0,) * len(draw.shape), dtype))


def from_initializer(init: Any, shape: ShapeLike, chunks: Any = "auto",
                     dtype: DTypeLike = None) -> da.Array:
    """A dask array with the values of ``init(shape, dtype)``, computed chunk by chunk.

    ``init`` is an initializer instance (it takes one call index, as calling it
    would) or anything :func:`fanin.get` accepts. The draw is taken now, on the
    client; no chunk is computed until the array is.

    >>> import fanin
    >>> x = from_initializer(fanin.HeUniform(seed=3), (6, 4), chunks=(4, 3))
    >>> bool((x.compute() == fanin.HeUniform(seed=3)((6, 4))).all())
    True
    """
    init = fanin.get(init)
    if not isinstance(init, fanin.Initializer):
        raise TypeError(f"init must be a fanin initializer or identifier, got {init!r}.")
    return from_draw(init.draw(shape, dtype), chunks)


# --------------------------------------------------------------------------- #
# The family by name, generated from the registry
# --------------------------------------------------------------------------- #


def _family_function(cls):
    takes_seed = "seed" in inspect.signature(cls).parameters

    def make(shape: ShapeLike, chunks: Any = "auto", seed: int | None = None,
             dtype: DTypeLike = None, **params: Any) -> da.Array:
        if seed is not None and not takes_seed:
            raise TypeError(f"{cls.__name__} takes no seed.")
        init = cls(seed=seed, **params) if takes_seed else cls(**params)
        return from_initializer(init, shape, chunks, dtype)

    make.__name__ = make.__qualname__ = fanin.registry.snake_name(cls.__name__)
    make.__doc__ = (f"A dask array of ``fanin.{cls.__name__}(seed=seed, **params)(shape, "
                    f"dtype)``, chunk by chunk (see :func:`from_initializer`).")
    return make


for _cls in fanin.registry.CLASSES.values():
    _fn = _family_function(_cls)
    globals()[_fn.__name__] = _fn
    __all__.append(_fn.__name__)
del _cls, _fn
