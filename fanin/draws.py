"""Draws: one tensor's values, as a small immutable value that any process can fill.

``initializer.draw(shape, dtype)`` takes exactly one call index and returns a
:class:`Draw`. It is frozen, hashable, picklable and cheap (a few numbers), and it
fully determines one tensor: ``draw.block(offset, shape)`` computes any block of it,
``draw.fill(out, offset)`` writes one into an existing array, in any process, thread
or order, any number of times, bit for bit the slice of ``draw.array()``. Framework
and distributed adapters take one draw per tensor and fill blocks from it; they never
rely on an initializer instance's state.

Kinds of draw (adapters dispatch on these, never on initializer classes):

- :class:`StreamDraw`: elementwise values of the stream (``key``, ``call``,
  ``distribution``): backends that re-implement the stream (torch ops, jnp) need only
  these fields and :meth:`StreamDraw.plan`.
- :class:`ConstantDraw`: every element ``value``.
- :class:`IdentityDraw`: ``gain`` on the diagonal of a matrix, 0 elsewhere.
- :class:`OrthogonalDraw`: an orthogonal matrix from the stream; each block computes
  the whole matrix (a QR decomposition), so ask for few, large blocks.

>>> import fanin, pickle
>>> d = fanin.LecunNormal(seed=0).draw((4, 6))
>>> full = d.array()
>>> bool((d.block((1, 2), (2, 3)) == full[1:3, 2:5]).all())
True
>>> pickle.loads(pickle.dumps(d)) == d
True
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from fanin import dtypes, shapes, stream
from fanin.shapes import ShapeLike
from fanin.stream.identity import BitwiseEquality
from fanin.stream.plans import check_key

__all__ = ["Draw", "StreamDraw", "ConstantDraw", "IdentityDraw", "OrthogonalDraw",
           "TILE_BYTES", "tiles"]

#: Largest temporary, in bytes (half the 16 MiB temporary budget of docs/design.md: a copy may need as
#: much again), that draws use to write into arrays they cannot
#: fill directly (non-native byte order, non-contiguous views), and the default
#: tile size of :func:`tiles`.
TILE_BYTES = 8 << 20


def tiles(shape: Sequence[int], max_elements: int, offset: Sequence[int] | None = None,
          ) -> Iterator[tuple[tuple[int, ...], tuple[int, ...]]]:
    """Cover the box ``[offset, offset + shape)`` with C-ordered tiles of at most ``max_elements``.

    Yields ``(offset, shape)`` pairs; each tile spans whole trailing axes where it
    can, so there are few tiles, and never more elements than ``max_elements``
    (but at least one).

    >>> list(tiles((4, 3), 6))
    [((0, 0), (2, 3)), ((2, 0), (2, 3))]
    >>> list(tiles((2, 5), 2, offset=(1, 0)))[:3]
    [((1, 0), (1, 2)), ((1, 2), (1, 2)), ((1, 4), (1, 1))]
    """
    shape = tuple(shape)
    offset = (0,) * len(shape) if offset is None else tuple(offset)
    if math.prod(shape) == 0:
        return
    if not shape:
        yield (), ()
        return
    max_elements = max(1, int(max_elements))
    axis = len(shape) - 1  # first axis whose trailing block fits in a tile
    while axis > 0 and math.prod(shape[axis:]) <= max_elements:
        axis -= 1
    inner = math.prod(shape[axis + 1:])
    step = max(1, max_elements // inner)
    for outer in np.ndindex(*shape[:axis]):
        for i in range(0, shape[axis], step):
            n = min(step, shape[axis] - i)
            yield (tuple(o + j for o, j in zip(offset, outer + (i,)))
                   + offset[axis + 1:],
                   (1,) * axis + (n,) + shape[axis + 1:])


def _fill_value(out: np.ndarray, value: object) -> None:
    """``out.fill(value)`` as the value's bits through an unsigned view of the same
    size: the same bits, and a plain integer fill (NumPy's fill of an ml_dtypes
    bfloat16 array costs about 3.5x a uint16 fill).

    >>> import ml_dtypes
    >>> a = np.empty(3, ml_dtypes.bfloat16); _fill_value(a, 1.5); a.tolist()
    [1.5, 1.5, 1.5]
    """
    unsigned = np.dtype(f"u{out.dtype.itemsize}")
    out.view(unsigned).fill(np.array(value, out.dtype).view(unsigned))


def _set_elements(out: np.ndarray, index: tuple[np.ndarray, ...], value: object,
                 dtype: np.dtype) -> None:
    """``out[index] = value``, the value rounded to ``dtype`` (out's values, which ``out``
    may hold as uint16 bits of bfloat16 or in the other byte order), any strides."""
    unsigned = np.dtype(f"u{out.dtype.itemsize}")
    bits = np.array(value, dtype)
    if out.dtype.byteorder not in "=|" and out.dtype.newbyteorder("=") == dtype:
        bits = bits.byteswap()
    out.view(unsigned)[index] = bits.view(unsigned)


@dataclass(frozen=True, eq=False)
class Draw(BitwiseEquality):
    """One tensor's values: ``shape`` (full), ``dtype`` (canonical name), ``fans``.

    Draws compare and hash by the bits of their fields: ``Constant(-0.0)`` and
    ``Constant(0.0)`` give different draws, as they give different arrays.

    Subclasses say how a native, C-contiguous block is filled (``_fill_block``);
    this base validates blocks and handles every other kind of target array.
    """

    shape: tuple[int, ...]
    dtype: str
    fans: tuple[int, int] | None = field(default=None, kw_only=True)
    #: Most elements are zero (an identity, a Dirac kernel): a caller may zero the
    #: target with its own fast fill, then call :meth:`fill_nonzeros`. Such a draw
    #: defines ``_nonzeros`` instead of ``_fill_block``. A class attribute, not
    #: annotated: a dataclass would list it among the fields.
    sparse = False

    @property
    def numpy_dtype(self) -> np.dtype:
        """The numpy dtype of the values (``ml_dtypes.bfloat16`` for bfloat16)."""
        return dtypes.numpy_dtype(self.dtype)

    @property
    def size(self) -> int:
        """Number of elements of the full tensor."""
        return math.prod(self.shape)

    def _region(self, offset: ShapeLike | None, shape: ShapeLike | None,
                ) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """Validated (offset, shape) of a block of this draw."""
        shape = shapes.normalize_shape(self.shape if shape is None else shape, "shape")
        offset = ((0,) * len(self.shape) if offset is None
                  else shapes.normalize_shape(offset, "offset"))
        shapes.check_block(self.shape, offset, shape)
        return offset, shape

    def block(self, offset: ShapeLike | None = None, shape: ShapeLike | None = None,
              ) -> np.ndarray:
        """The block ``[o0:o0+s0, o1:o1+s1, ...]`` of the full tensor, as a new array.

        Defaults: offset 0 and the full shape. Memory: the block (plus, for
        orthogonal draws, the whole matrix).
        """
        start, size = self._region(offset, shape)
        dt = self.numpy_dtype
        shapes.check_size(size, dt.itemsize)
        out = np.empty(size, dt)
        self._fill_block(out, start)
        return out

    def array(self) -> np.ndarray:
        """The whole tensor."""
        return self.block()

    def fill(self, out: np.ndarray, offset: ShapeLike | None = None) -> np.ndarray:
        """Write the block at ``offset`` of shape ``out.shape`` into ``out``; return ``out``.

        ``out`` must have the draw's dtype (any byte order; for bfloat16 also
        ``uint16`` holding its bits) and be writable; any strides. A native
        C-contiguous ``out`` is filled in place, others through temporaries of
        at most :data:`TILE_BYTES`.
        """
        start, shape, same = self._check_out(out, offset)
        dt = self.numpy_dtype
        target = out.dtype
        if same and out.flags.c_contiguous:
            self._fill_block(out.view(dt) if target != dt else out, start)
            return out
        view = out.view(np.uint16).view(dt) if target == np.dtype(np.uint16) else out
        limit = TILE_BYTES // dt.itemsize
        buffer = np.empty(min(limit, math.prod(shape)), dt)  # one for every tile
        for o, s in tiles(shape, limit, start):
            rel = tuple(slice(a - b, a - b + n) for a, b, n in zip(o, start, s))
            tmp = buffer[:math.prod(s)].reshape(s)
            self._fill_block(tmp, o)
            view[rel] = tmp  # numpy converts the byte order on assignment
        return out

    def _check_out(self, out: object, offset: ShapeLike | None,
                   ) -> tuple[tuple[int, ...], tuple[int, ...], bool]:
        """(offset, shape, native) of a valid target of :meth:`fill`; native: the draw's
        own dtype (bfloat16 also as uint16 bits), not byte-swapped."""
        if not isinstance(out, np.ndarray):
            raise TypeError(f"out must be a numpy.ndarray, got {type(out).__name__}.")
        start, shape = self._region(offset, out.shape)
        dt, target = self.numpy_dtype, out.dtype
        same = target == dt or (self.dtype == "bfloat16" and target == np.dtype(np.uint16))
        if not same and target.newbyteorder("=") != dt:
            raise TypeError(f"out has dtype {target}; this draw's values are {self.dtype}.")
        if not out.flags.writeable:
            raise ValueError("out is read-only.")
        return start, shape, same

    def fill_nonzeros(self, out: np.ndarray, offset: ShapeLike | None = None) -> np.ndarray:
        """:meth:`fill` for an ``out`` that already holds zeros: a :attr:`sparse` draw
        writes only its non-zero elements (any strides); any other draw writes
        everything."""
        if not self.sparse:
            return self.fill(out, offset)
        start, _, _ = self._check_out(out, offset)
        index, value = self._nonzeros(start, out.shape)
        _set_elements(out, index, value, self.numpy_dtype)
        return out

    def _nonzeros(self, offset: tuple[int, ...], shape: tuple[int, ...],
                  ) -> tuple[tuple[np.ndarray, ...], object]:
        """A sparse draw's non-zero elements in a block: (their indices within it, their
        value)."""
        raise NotImplementedError

    def fill_permuted(self, out: np.ndarray, axes: Sequence[int],
                      offset: ShapeLike | None = None) -> np.ndarray:
        """Write the block at ``offset``, permuted by ``axes``, into ``out``; return ``out``.

        ``out`` is ``block.transpose(axes)``: how a torch-layout weight
        ``(out, in, *kernel)`` holds its Keras-layout draw. Same rules for ``out``
        as :meth:`fill`.

        >>> import fanin
        >>> d = fanin.LecunNormal(seed=0).draw((3, 5))
        >>> w = d.fill_permuted(np.empty((5, 3), np.float32), (1, 0))
        >>> bool((w == d.array().T).all())
        True
        """
        axes = self._check_axes(out, axes)
        self.fill(out.transpose(np.argsort(axes)), offset)  # out's memory in the draw's layout
        return out

    def _check_axes(self, out: object, axes: Sequence[int]) -> tuple[int, ...]:
        if not isinstance(out, np.ndarray):
            raise TypeError(f"out must be a numpy.ndarray, got {type(out).__name__}.")
        axes = tuple(int(a) for a in axes)
        if sorted(axes) != list(range(len(self.shape))) or out.ndim != len(axes):
            raise ValueError(f"axes {axes} is not a permutation of this draw's "
                             f"{len(self.shape)} axes matching out's {out.ndim}.")
        return axes

    def _fill_block(self, out: np.ndarray, offset: tuple[int, ...]) -> None:
        if not self.sparse:
            raise NotImplementedError
        _fill_value(out, 0)
        index, value = self._nonzeros(offset, out.shape)
        out[index] = value


#: Elements up to which a whole permuted stream draw is filled in its own layout and
#: copied in (a prepared call and NumPy's strided copy) rather than written
#: transposed by the kernel, whose plan and row starts cost more than the values.
SMALL_PERMUTED = 1 << 16


@dataclass(frozen=True, eq=False)
class StreamDraw(Draw):
    """Elementwise stream values: element ``i`` (flat, C order) is
    ``value(key, call, i, distribution, dtype)`` of :mod:`fanin.stream`.

    >>> from fanin import stream
    >>> d = StreamDraw((2, 2), "float32", key=5, call=0, distribution=stream.normal(0.0, 1.0))
    >>> d.plan((1, 0), (1, 2)).block
    (1, 2)
    """

    key: int = field(kw_only=True)
    call: int = field(kw_only=True)
    distribution: stream.Distribution = field(kw_only=True)

    def plan(self, offset: ShapeLike | None = None, shape: ShapeLike | None = None,
             ) -> stream.Plan:
        """The validated :class:`fanin.stream.Plan` of a block (default: the whole tensor)."""
        offset, shape = self._region(offset, shape)
        return stream.plan(self.key, self.call, self.distribution, self.dtype, self.shape,
                           offset, shape)

    def _fill_block(self, out: np.ndarray, offset: tuple[int, ...]) -> None:
        stream.fill(out, stream.plan(self.key, self.call, self.distribution, self.dtype,
                                     self.shape, offset, out.shape))

    def fill(self, out: np.ndarray, offset: ShapeLike | None = None) -> np.ndarray:
        """:meth:`Draw.fill`; a whole tensor into a native C-contiguous ``out`` (the
        common case: a framework's own weight) is one prepared kernel call
        (:func:`fanin.stream.whole_fill`), without building a plan: the small-call
        path, where checks, not values, are the cost."""
        if not self._whole_native(out, offset):
            return super().fill(out, offset)
        check_key("key", self.key)  # what the plan would check; the shape is out's
        check_key("call", self.call)
        stream.whole_fill(self.distribution, self.dtype).into(out, self.key, self.call)
        return out

    def _whole_native(self, out: object, offset: ShapeLike | None) -> bool:
        """``out`` is the whole tensor (see :meth:`_at_origin`), C-contiguous, writable,
        of the draw's own dtype (or bfloat16 as uint16) in native byte order."""
        if not (isinstance(out, np.ndarray) and out.shape == self.shape
                and out.flags.c_contiguous and out.flags.writeable
                and self._at_origin(offset)):
            return False
        dt = self.numpy_dtype
        return out.dtype == dt or (self.dtype == "bfloat16" and out.dtype == np.uint16)

    def _at_origin(self, offset: ShapeLike | None) -> bool:
        """``offset`` is absent or a tuple of int zeros of the draw's rank (any other
        spelling is left to :meth:`Draw.fill`'s validation)."""
        return offset is None or (type(offset) is tuple and len(offset) == len(self.shape)
                                  and all(type(o) is int and o == 0 for o in offset))

    def fill_permuted(self, out: np.ndarray, axes: Sequence[int],
                      offset: ShapeLike | None = None) -> np.ndarray:
        """:meth:`Draw.fill_permuted`; when ``axes`` puts the draw's last axis first
        and ``out`` is C-contiguous in the draw's dtype (the torch layout), the stream
        writes it in one pass (:func:`fanin.stream.fill_columns`)."""
        axes = self._check_axes(out, axes)
        n = len(axes)
        native = out.dtype == self.numpy_dtype or (self.dtype == "bfloat16"
                                                   and out.dtype == np.uint16)
        in_order = out.transpose(np.argsort(axes)).flags.c_contiguous  # e.g. (1, n) from (n, 1)
        if n < 2 or axes[0] != n - 1 or not native or not out.flags.c_contiguous or in_order:
            return super().fill_permuted(out, axes, offset)
        target = out.transpose(np.argsort(axes))  # out's memory in the draw's layout
        if out.size <= SMALL_PERMUTED and target.shape == self.shape and self._at_origin(offset):
            target[...] = self.fill(np.empty(self.shape, out.dtype))  # one prepared call
            return out
        plan = self.plan(offset, tuple(out.shape[i] for i in np.argsort(axes)))
        columns = out.reshape(out.shape[0], math.prod(out.shape[1:]))  # [t, r]: row r's t-th
        start = plan.continuing_start(axes[1:])
        if start is not None:  # e.g. a 2-D draw: no row starts to compute or read
            stream.fill_columns(columns, self.key, self.call, self.distribution, self.dtype,
                                start, out.shape[0])
            return out
        for first, starts in plan.column_runs(axes[1:]):
            stream.fill_columns(columns[:, first:first + starts.size], self.key, self.call,
                                self.distribution, self.dtype, starts, out.shape[0])
        return out


@dataclass(frozen=True, eq=False)
class ConstantDraw(Draw):
    """Every element is ``value`` (already checked to fit the dtype).

    >>> ConstantDraw((2, 3), "int32", value=7).block((1, 1), (1, 2)).tolist()
    [[7, 7]]
    """

    value: object = field(kw_only=True)

    def _fill_block(self, out: np.ndarray, offset: tuple[int, ...]) -> None:
        _fill_value(out, self.value)


@dataclass(frozen=True, eq=False)
class IdentityDraw(Draw):
    """``gain`` where row index == column index of a 2-D tensor, 0 elsewhere.

    >>> IdentityDraw((3, 4), "float32", gain=2.0).block((1, 0), (2, 3)).tolist()
    [[0.0, 2.0, 0.0], [0.0, 0.0, 2.0]]
    """

    gain: float = field(kw_only=True)
    sparse = True

    def fill_permuted(self, out: np.ndarray, axes: Sequence[int],
                      offset: ShapeLike | None = None) -> np.ndarray:
        """:meth:`Draw.fill_permuted`; a transposed block is the transposed identity's
        block at the swapped offset, written directly (no transposing copy)."""
        axes = self._check_axes(out, axes)
        if axes != (1, 0):
            return super().fill_permuted(out, axes, offset)
        start, _ = self._region(offset, out.shape[::-1])
        transposed = IdentityDraw(self.shape[::-1], self.dtype, fans=self.fans, gain=self.gain)
        return transposed.fill(out, start[::-1])

    def _nonzeros(self, offset: tuple[int, ...], shape: tuple[int, ...],
                  ) -> tuple[tuple[np.ndarray, ...], object]:
        """The block's diagonal elements and the gain."""
        (r0, c0), (rows, cols) = offset, shape
        i = np.arange(max(r0, c0), min(r0 + rows, c0 + cols))
        return (i - r0, i - c0), self.gain


@dataclass(frozen=True, eq=False)
class OrthogonalDraw(Draw):
    """``gain`` times an orthogonal matrix, from a standard normal matrix of the stream.

    The ``(rows, cols)`` matrix, ``rows`` the product of all but the last
    dimension, is the Q factor of the QR decomposition of the float64 normal
    matrix of (``key``, ``call``) of shape ``(max(rows, cols), min(rows, cols))``,
    its signs fixed by R's diagonal, transposed when ``rows < cols``. The normal
    matrix is bit-reproducible; QR is LAPACK's, so the last bits can differ
    between LAPACK builds. Every block computes the whole matrix.

    >>> d = OrthogonalDraw((4, 3), "float64", key=0, call=0, gain=1.0)
    >>> q = d.array(); bool(np.allclose(q.T @ q, np.eye(3)))
    True
    """

    key: int = field(kw_only=True)
    call: int = field(kw_only=True)
    gain: float = field(kw_only=True)

    @property
    def matrix_shape(self) -> tuple[int, int]:
        """The shape of the normal matrix QR factorizes."""
        rows, cols = math.prod(self.shape[:-1]), self.shape[-1]
        return max(rows, cols), min(rows, cols)

    @property
    def working_bytes(self) -> int:
        """Memory the QR step holds besides the output: the matrix, LAPACK's copy, Q, R."""
        m, k = self.matrix_shape
        return 8 * (3 * m * k + k * k)

    def _fill_block(self, out: np.ndarray, offset: tuple[int, ...]) -> None:
        m, k = self.matrix_shape
        a = np.empty((m, k), np.float64)
        if a.size == 0:
            out.fill(0)
            return
        stream.fill(a, stream.plan(self.key, self.call, stream.normal(0.0, 1.0), "float64",
                                   (m, k)))
        q, r = np.linalg.qr(a)
        del a
        q *= np.where(np.diagonal(r) < 0, -1.0, 1.0)  # sign(0) counts as +1
        if math.prod(self.shape[:-1]) < self.shape[-1]:
            q = q.T
        full = q.reshape(self.shape)
        region = tuple(slice(o, o + s) for o, s in zip(offset, out.shape))
        np.multiply(full[region], self.gain, out=out, casting="unsafe")
