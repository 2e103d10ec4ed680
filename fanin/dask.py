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
from typing import Any

import dask.array as da
import numpy as np
from dask.base import tokenize

import fanin
from fanin.dtypes import DTypeLike
from fanin.shapes import ShapeLike

__all__ = ["from_initializer", "from_draw"]


def _block(draw, block_info=None):
    """One chunk: the draw's block at this chunk's place in the array."""
    location = block_info[None]["array-location"]
    offset = tuple(start for start, _ in location)
    shape = tuple(stop - start for start, stop in location)
    return draw.block(offset, shape)


def from_draw(draw: fanin.Draw, chunks: Any = "auto") -> da.Array:
    """A dask array of ``draw``'s tensor, one task per chunk (``draw.block``).

    ``chunks`` is anything ``dask.array`` accepts (``"auto"``, an int, a tuple
    per dim, explicit block sizes). Task keys are ``"fanin-" + `` a hash of the
    draw and the chunks: the same draw and chunks give the same keys.
    """
    if not isinstance(draw, fanin.Draw):
        raise TypeError(f"draw must be a fanin.Draw, got {type(draw).__name__}.")
    dtype = draw.numpy_dtype
    chunks = da.core.normalize_chunks(chunks, draw.shape, dtype=dtype)
    # a draw is a frozen dataclass of numbers: dask hashes its fields, the same in
    # every process (ensure_deterministic: raise rather than fall back to a random name)
    name = "fanin-" + tokenize(type(draw).__qualname__, draw, chunks, ensure_deterministic=True)
    return da.map_blocks(_block, draw=draw, name=name, chunks=chunks, dtype=dtype,
                         meta=np.empty((0,) * len(draw.shape), dtype))


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
