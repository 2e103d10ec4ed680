"""fanin's stream in PyTorch tensor operations, for any torch device.

The transforms are :mod:`fanin.stream.transforms`, over :class:`TorchOps`; this
module adds only what torch does differently:

- Philox4x32-10 on ``int64`` tensors holding 32-bit words (torch lacks most
  ``uint32`` operations). The 32 x 32 -> 64-bit products are split into 16-bit
  halves of the (constant) multiplier, so no intermediate exceeds 2**49 and
  nothing overflows ``int64``; uniform_int's multi-word product uses the same split.
- Working integers are int64: float64's ``H << 32 | L`` wraps into the sign bit,
  which the transforms' masked shifts make harmless. Bit casts go through
  ``Tensor.view``; ``*`` and ``+`` stay separate operations (torch does not fuse
  them); constants and tables are rounded to the working format on the host, as the
  reference rounds them.
- float16 rounding is ``Tensor.to(torch.float16)`` (round to nearest even,
  subnormals kept); bfloat16 is the transforms' integer rounding, written as raw
  ``int16`` bits (no conversion instruction that might flush subnormals).

Memory: work goes in chunks of :data:`CHUNK` elements, so temporaries stay a
few tens of MiB whatever the tensor's size.

>>> import torch, numpy as np
>>> from fanin import stream
>>> t = torch.empty(5, dtype=torch.float32)
>>> _ = fill_stream(t, key=3, call=0, dist=stream.normal(0.0, 1.0))
>>> ref = np.empty(5, np.float32)
>>> stream.fill(ref, stream.plan(3, 0, stream.normal(0.0, 1.0), "float32", (5,)))
>>> bool((t.numpy() == ref).all())
True
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

from fanin.stream import spec, transforms
from fanin.stream.transforms import Array
from fanin.stream.kinds import Distribution, check_format, clamp_bounds
from fanin.stream.plans import Plan, check_key, check_rows

__all__ = ["CHUNK", "DEVICE_CHUNK", "FORMATS", "TorchOps", "philox4x32", "fill_stream",
           "fill_plan", "check_tensor_out"]

#: Elements computed per step on CPU (bounds temporary memory: ~100 bytes per
#: element, so ~25 MiB), and on accelerators (fewer kernel launches; ~200 MiB).
CHUNK = 1 << 18
DEVICE_CHUNK = 1 << 21

_M32 = spec.MASK32
#: torch dtype -> stream format, for every format torch has.
FORMATS = {getattr(torch, name): name for name in spec.FORMATS
           if getattr(torch, name, None) is not None}


# --------------------------------------------------------------------------- #
# Philox4x32-10 on int64 tensors
# --------------------------------------------------------------------------- #


def _mulhilo(a, m: int):
    """(hi, lo) 32-bit words of ``a * m`` for 32-bit ``a`` (tensor or int), constant ``m``.

    ``m = mh * 2**16 + ml``: ``a * ml < 2**48`` and ``a * mh + (a * ml >> 16) <
    2**49``, so every intermediate fits in int64.
    """
    ml, mh = m & 0xFFFF, m >> 16
    al = a * ml
    t = a * mh + (al >> 16)
    return t >> 16, ((t & 0xFFFF) << 16) | (al & 0xFFFF)


def philox4x32(counter: Sequence, key: Sequence[int]) -> tuple:
    """Philox4x32-10 on int64 tensors (or Python ints) holding 32-bit words.

    Same results as :func:`fanin.stream.philox4x32`.

    >>> c = torch.zeros(1, dtype=torch.int64)
    >>> [hex(int(w)) for w in philox4x32((c, c, c, c), (0, 0))]
    ['0x6627e8d5', '0xe169c58d', '0xbc57ac4c', '0x9b00dbd8']
    """
    c0, c1, c2, c3 = counter
    k0, k1 = int(key[0]) & _M32, int(key[1]) & _M32
    for _ in range(spec.PHILOX_ROUNDS):
        hi0, lo0 = _mulhilo(c0, spec.PHILOX_M0)
        hi1, lo1 = _mulhilo(c2, spec.PHILOX_M1)
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
        k0 = (k0 + spec.PHILOX_W0) & _M32
        k1 = (k1 + spec.PHILOX_W1) & _M32
    return c0, c1, c2, c3


def _words(key: int, call: int, starts: np.ndarray, count: int, device):
    """Words ``starts[r] + t`` (t < count) of the word stream: int64, shape (rows, count)."""
    call &= spec.MASK64
    first = torch.from_numpy((starts >> np.uint64(2)).astype(np.int64)).to(device)
    lanes = (starts & np.uint64(3)).astype(np.int64)
    nblocks = (count + 3) // 4 + (1 if lanes.any() else 0)
    blocks = first[:, None] + torch.arange(nblocks, dtype=torch.int64, device=device)[None, :]
    r = philox4x32((blocks & _M32, blocks >> 32, call & _M32, call >> 32),
                   (key & _M32, key >> 32))
    lanes4 = [w if isinstance(w, torch.Tensor) else torch.full_like(blocks, w) for w in r]
    words = torch.stack(lanes4, dim=-1).reshape(len(starts), nblocks * 4)
    if not lanes.any():
        return words[:, :count]
    take = (torch.from_numpy(lanes).to(device)[:, None]
            + torch.arange(count, dtype=torch.int64, device=device)[None, :])
    return torch.gather(words, 1, take)


def _mulhi_limbs(limbs: list, n: int):
    """floor(R * n / 2**(32 k)) as :func:`fanin.stream.ops.mulhi_limbs`, on int64 tensors:
    products of 32-bit halves by _mulhilo (no int64 overflow), columns with carries."""
    k = len(limbs)
    cols = [torch.zeros_like(limbs[0]) for _ in range(k + 2)]
    for i, r in enumerate(limbs):
        for j, nj in enumerate((n & _M32, n >> 32)):
            if nj == 1 << 32:
                hi, lo = r, torch.zeros_like(r)
            elif nj:
                hi, lo = _mulhilo(r, nj)
            else:
                continue
            cols[i + j] += lo
            cols[i + j + 1] += hi
    carry = torch.zeros_like(limbs[0])
    out = []
    for c in cols:
        acc = c + carry
        out.append(acc & _M32)
        carry = acc >> 32
    return out[k] | (out[k + 1] << 32)  # the top bit wraps into int64's sign


# --------------------------------------------------------------------------- #
# The transforms' operations
# --------------------------------------------------------------------------- #


class TorchOps:
    """:class:`fanin.stream.transforms.Ops` on one device: int64 words, torch floats."""

    def __init__(self, bits: int, device: Any) -> None:
        self.bits, self.device = bits, device
        self.prec = spec.P32 if bits == 32 else spec.P64
        self._f = torch.float32 if bits == 32 else torch.float64
        self._i = torch.int32 if bits == 32 else torch.int64
        self._tables = {id(t): torch.tensor(np.asarray(t), device=device)
                        for t in (self.prec.tail, self.prec.center)}

    def c(self, x: float) -> Array:
        return torch.tensor(float(self.prec.float(x)), dtype=self._f, device=self.device)

    def u(self, n: int) -> Array:
        return n

    def as_float(self, u: Array) -> Array:
        return u.to(self._i).view(self._f)

    def as_uint(self, f: Array) -> Array:
        if self.bits == 32:
            return f.view(torch.int32).to(torch.int64) & _M32
        return f.view(torch.int64)

    def signed(self, u: Array) -> Array:
        return u

    def to_float(self, i: Array) -> Array:
        return i.to(self._f)

    def where(self, cond: Array, a: Array, b: Array) -> Array:
        return torch.where(cond, a, b)

    def minimum(self, a: Array, b: Array) -> Array:
        return torch.minimum(a, b)

    def abs(self, a: Array) -> Array:
        return torch.abs(a)

    def clip(self, i: Array, lo: int, hi: int) -> Array:
        return torch.clamp(i, lo, hi)

    def to_bool(self, u: Array) -> Array:
        return u.bool()

    def mul(self, a: Array, b: Array) -> Array:
        return a * b

    def rows(self, table: Array, idx: Array) -> list:
        t = self._tables.get(id(table))
        if t is None:
            t = torch.tensor(np.asarray(table), device=self.device)
        picked = t[idx]
        return [picked[..., k] for k in range(picked.shape[-1])]

    def work(self, ws: Sequence[Array]) -> Array:
        return ws[0] if self.bits == 32 else (ws[1] << 32) | ws[0]

    def cast(self, f: Array, fmt: str) -> Array:
        return f.to(getattr(torch, fmt))

    def scalar_like(self, x: Array, v: float) -> Array:
        return torch.tensor(v, dtype=x.dtype, device=x.device)

    def uniform_int(self, ws: Sequence[Array], low: int, n: int, fmt: str) -> Array:
        """int64 holding the two's-complement bits of ``low + q`` (mod 2**64)."""
        low &= spec.MASK64
        return _mulhi_limbs(list(ws), n) + (low - (1 << 64) if low >= 1 << 63 else low)


# --------------------------------------------------------------------------- #
# Filling tensors
# --------------------------------------------------------------------------- #

_INT_VIEW = {"uint16": torch.int16, "uint32": torch.int32, "uint64": torch.int64}


def _store(values, dst, fmt: str, o: TorchOps, bounds: tuple[float, float]) -> None:
    """Round working-precision ``values`` to ``fmt``, clamp into ``bounds``, write ``dst``
    (a view of the output: ``int16`` bits for bfloat16, the signed type of the same
    width for uint16/32/64)."""
    if fmt in spec.INT_FORMATS:
        dst.copy_(values.to(dst.dtype))  # int64 -> narrower: keeps the low bits
        return
    x = transforms.round_and_clamp(o, values, fmt, bounds)
    if fmt == "bfloat16":
        x = (o.as_uint(x) >> 16).to(torch.int16)
    dst.copy_(x.reshape(dst.shape))


def _flat_view(out: torch.Tensor, fmt: str | None) -> tuple[torch.Tensor, str]:
    """``out`` as a flat tensor of its format's storage, and the format; clear errors."""
    if not isinstance(out, torch.Tensor):
        raise TypeError(f"out must be a torch.Tensor, got {type(out).__name__}.")
    name = FORMATS.get(out.dtype)
    if name is None:
        raise ValueError(f"Cannot fill a tensor of dtype {out.dtype}: expected one of "
                         f"{spec.FORMATS}.")
    if fmt is not None and fmt != name:
        raise ValueError(f"format {fmt!r} does not match the tensor's dtype {out.dtype}.")
    if not out.is_contiguous():
        raise ValueError("out must be a contiguous tensor.")
    flat = out.view(-1)
    if name == "bfloat16":
        flat = flat.view(torch.int16)
    elif name in _INT_VIEW:
        flat = flat.view(_INT_VIEW[name])
    return flat, name


def fill_stream(out: torch.Tensor, key: int, call: int, dist: Distribution, *,
                starts: Sequence[int] | np.ndarray | None = None,
                row_len: int | None = None, fmt: str | None = None,
                chunk: int | None = None) -> torch.Tensor:
    """Fill the contiguous tensor ``out`` with stream values of (key, call), in torch ops.

    Without ``starts``, elements 0.. of the stream; with them, ``len(starts)`` rows of
    ``row_len`` elements as in :func:`fanin.stream.fill_rows` (same checks, same bits).
    ``out`` is a ``torch.Tensor`` on any device, of any stream format (``fmt``
    defaults to its dtype). Returns ``out``.

    >>> from fanin import stream
    >>> t = torch.empty(2, 3, dtype=torch.bfloat16)
    >>> _ = fill_stream(t, key=0, call=1, dist=stream.truncated_normal(0.0, 1.0))
    >>> bool((t.abs() < 2).all())
    True
    """
    flat, name = _flat_view(out, fmt)
    if starts is None:
        starts, row_len = np.zeros(1, np.uint64), flat.numel()
    else:
        starts = np.ascontiguousarray(starts, dtype=np.uint64).reshape(-1)
        row_len = int(row_len or 0)
        check_rows(starts, row_len, flat.numel())
    check_key("key", key)
    check_format(dist, name)
    bounds = clamp_bounds(dist, name)
    if flat.numel() == 0:
        return out
    chunk = int(chunk or (CHUNK if out.device.type == "cpu" else DEVICE_CHUNK))
    o = TorchOps(64 if name == "float64" else 32, out.device)
    per = spec.words_per_element(name)
    rows = flat.view(len(starts), row_len)

    def step(row_starts, dst, count):
        w = _words(key, int(call), row_starts * np.uint64(per), count * per, out.device)
        ws = [w[..., t::per] for t in range(per)]
        _store(transforms.transform(o, ws, dist, name), dst, name, o, bounds)

    with torch.no_grad():
        if row_len >= chunk:
            for r, s in enumerate(starts):
                for t in range(0, row_len, chunk):
                    count = min(chunk, row_len - t)
                    step(np.array([int(s) + t], np.uint64), rows[r, t:t + count], count)
        else:
            group = max(1, chunk // row_len)
            for g in range(0, len(starts), group):
                step(starts[g:g + group], rows[g:g + group], row_len)
    return out


def check_tensor_out(out: object, plan: Plan) -> None:
    """``out`` is a contiguous torch tensor of the plan's block size (any tensor
    backend's check); TypeError / ValueError naming the problem otherwise."""
    if not isinstance(out, torch.Tensor):
        raise TypeError(f"out must be a torch.Tensor, got {type(out).__name__}.")
    if out.numel() != plan.size:
        raise ValueError(f"out has {out.numel()} elements; the plan's block {plan.block} "
                         f"has {plan.size}.")
    if not out.is_contiguous():
        raise ValueError("out must be a contiguous tensor.")


def fill_plan(out: torch.Tensor, plan: Plan, *, chunk: int | None = None) -> torch.Tensor:
    """Fill the contiguous tensor ``out`` (shape or size of ``plan.block``) with the plan's values.

    The torch-ops twin of :func:`fanin.stream.fill`: the plan's runs, each through
    :func:`fill_stream`. Returns ``out``.

    >>> from fanin import stream
    >>> p = stream.plan(3, 0, stream.normal(0.0, 1.0), "float32", (4, 5), (1, 1), (2, 3))
    >>> t = fill_plan(torch.empty(2, 3), p)
    >>> ref = np.empty((2, 3), np.float32); stream.fill(ref, p)
    >>> bool((t.numpy() == ref).all())
    True
    """
    check_tensor_out(out, plan)
    flat = out.view(-1)
    for start, starts, row_len in plan.runs():
        fill_stream(flat[start:start + starts.size * row_len], plan.key, plan.call,
                    plan.dist, starts=starts, row_len=row_len, fmt=plan.fmt, chunk=chunk)
    return out
