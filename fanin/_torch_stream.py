"""fanin's stream (version 2) in PyTorch tensor operations, for any torch device.

A re-implementation of :mod:`fanin.stream` (the spec) with torch ops, so CUDA
(or any other device) tensors are filled where they live, bit for bit equal to
the NumPy reference. Used by :mod:`fanin.torch` for non-CPU tensors; it runs on
CPU tensors too, which is how CI checks it against the reference.

How it stays bit-identical:

- Philox4x32-10 on ``int64`` tensors holding 32-bit words (torch lacks most
  ``uint32`` operations). The 32 x 32 -> 64-bit products are split into 16-bit
  halves of the (constant) multiplier, so no intermediate exceeds 2**49 and
  nothing overflows ``int64``.
- The float transforms use the same operations in the same order as the
  reference: separate ``*`` and ``+`` (torch does not fuse them), integer ->
  float conversions rounded to nearest, table lookups by indexing, and the
  bit manipulation through ``Tensor.view``. Constants and the coefficient
  tables are rounded to the working format on the host, with NumPy, exactly as
  the reference rounds them.
- uniform_int's multi-word product uses the same 16-bit split (``_mulhilo``).
- Rounding: float16 by ``Tensor.to(torch.float16)`` (round to nearest even,
  subnormals kept, on CPU and CUDA); bfloat16 by the reference's integer
  round-to-nearest-even trick on the float32 bits, written as raw ``int16``
  bits (no conversion instruction that might flush subnormals). Values are
  then clamped to :func:`fanin.stream.clamp_bounds`, like the reference.

Memory: work goes in chunks of :data:`CHUNK` elements, so temporaries stay a
few tens of MiB whatever the tensor's size.

>>> import torch, numpy as np
>>> from fanin import stream
>>> t = torch.empty(5, dtype=torch.float32)
>>> _ = fill_stream(t, seed=3, call=0, dist=stream.normal(0.0, 1.0))
>>> ref = np.empty(5, np.float32)
>>> stream.fill(ref, stream.plan(3, 0, stream.normal(0.0, 1.0), "float32", (5,)))
>>> bool((t.numpy() == ref).all())
True
"""

from __future__ import annotations

import numpy as np
import torch

from fanin import stream

__all__ = ["CHUNK", "DEVICE_CHUNK", "philox4x32", "fill_stream"]

#: Elements computed per step on CPU (bounds temporary memory: ~100 bytes per
#: element, so ~25 MiB), and on accelerators (fewer kernel launches; ~200 MiB).
CHUNK = 1 << 18
DEVICE_CHUNK = 1 << 21

_M32 = 0xFFFFFFFF
_TORCH_FORMATS = {getattr(torch, name): name for name in stream.FORMATS
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


def philox4x32(counter, key):
    """Philox4x32-10 on int64 tensors (or Python ints) holding 32-bit words.

    Same results as :func:`fanin.stream.philox4x32`.

    >>> c = torch.zeros(1, dtype=torch.int64)
    >>> [hex(int(w)) for w in philox4x32((c, c, c, c), (0, 0))]
    ['0x6627e8d5', '0xe169c58d', '0xbc57ac4c', '0x9b00dbd8']
    """
    c0, c1, c2, c3 = counter
    k0, k1 = int(key[0]) & _M32, int(key[1]) & _M32
    for _ in range(stream.PHILOX_ROUNDS):
        hi0, lo0 = _mulhilo(c0, stream.PHILOX_M0)
        hi1, lo1 = _mulhilo(c2, stream.PHILOX_M1)
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
        k0 = (k0 + stream.PHILOX_W0) & _M32
        k1 = (k1 + stream.PHILOX_W1) & _M32
    return c0, c1, c2, c3


def _words(key: int, call: int, starts: np.ndarray, count: int, device):
    """Words ``starts[r] + t`` (t < count) of the word stream: int64, shape (rows, count)."""
    call &= (1 << 64) - 1
    first = torch.from_numpy((starts >> np.uint64(2)).astype(np.int64)).to(device)
    lanes = (starts & np.uint64(3)).astype(np.int64)
    nblocks = (count + 3) // 4 + (1 if lanes.any() else 0)
    blocks = first[:, None] + torch.arange(nblocks, dtype=torch.int64, device=device)[None, :]
    r = philox4x32((blocks & _M32, blocks >> 32, call & _M32, call >> 32),
                   (key & _M32, key >> 32))
    r = [w if isinstance(w, torch.Tensor) else torch.full_like(blocks, w) for w in r]
    words = torch.stack(r, dim=-1).reshape(len(starts), nblocks * 4)
    if not lanes.any():
        return words[:, :count]
    take = (torch.from_numpy(lanes).to(device)[:, None]
            + torch.arange(count, dtype=torch.int64, device=device)[None, :])
    return torch.gather(words, 1, take)


# --------------------------------------------------------------------------- #
# Transforms
# --------------------------------------------------------------------------- #


class _Prec:
    """The working precision on one device: types, bit layout, tables as tensors."""

    def __init__(self, bits: int, device):
        self.bits = bits
        self.f = torch.float32 if bits == 32 else torch.float64
        self.i = torch.int32 if bits == 32 else torch.int64
        self.np = np.float32 if bits == 32 else np.float64
        self.mant = 23 if bits == 32 else 52
        self.bias = 127 if bits == 32 else 1023
        self.device = device
        ref = stream._P32 if bits == 32 else stream._P64
        self.pred_half = self.c(float(ref.pred_half))
        self.tail = torch.from_numpy(ref.tail).to(device)
        self.center = torch.from_numpy(ref.center).to(device)

    def c(self, value):
        """A constant rounded to the working format on the host, as the reference does."""
        return torch.tensor(float(self.np(value)), dtype=self.f, device=self.device)


def _unit(p: _Prec, frac):
    """``1.frac - 1`` in [0, 1), exact (frac: int64 holding the fraction bits)."""
    bits = frac | (p.bias << p.mant)
    return bits.to(p.i).view(p.f) - p.c(1.0)


def _horner(rows, x):
    acc = rows[..., 0]
    for k in range(1, rows.shape[-1]):
        acc = acc * x + rows[..., k]
    return acc


def _dyadic(p: _Prec, table, y):
    sub = stream._tables.DYADIC_SUB_BITS
    b = y.view(p.i).to(torch.int64)  # y > 0: sign bit clear
    base = (p.bias + stream._tables.DYADIC_EXP_MIN) << sub
    idx = torch.clamp((b >> (p.mant - sub)) - base, 0, stream._tables.DYADIC_COUNT - 1)
    frac = (b << sub) & ((1 << p.mant) - 1)
    return _horner(table[idx], _unit(p, frac))


def _bit(p: _Prec, r, bit: int):
    """Bit (bits - 1 - bit) of r, counted from the top: a bool tensor."""
    return ((r >> (p.bits - 1 - bit)) & 1).bool()


def _half_unit(p: _Prec, r):
    c = r & ((1 << (p.bits - 2)) - 1)
    t = (2 * c + 1).to(p.f) * p.c(2.0 ** -p.bits)
    return torch.minimum(t, p.pred_half)


def _normal(p, r, loc, scale):
    t = _half_unit(p, r)
    z = torch.where(_bit(p, r, 1), _dyadic(p, p.tail, t), t * _dyadic(p, p.center, t))
    z = torch.where(_bit(p, r, 0), -z, z)
    return p.c(loc) + z * p.c(scale)


def _truncated_general(p, r, loc, scale, params):
    A, B, C2a, M2, U1, U2 = (p.c(x) for x in params)
    t = _half_unit(p, r)
    right = _bit(p, r, 0)
    one = p.c(1.0)
    u = torch.where(right, one - t, t)
    v = torch.where(right, t, one - t)
    z_low = -_dyadic(p, p.tail, torch.minimum(A + u * M2, p.pred_half))
    c = C2a + u * M2
    z_mid = c * _dyadic(p, p.center, torch.minimum(torch.abs(c), p.pred_half))
    z_high = _dyadic(p, p.tail, torch.minimum(B + v * M2, p.pred_half))
    z = torch.where(u < U1, z_low, torch.where(u < U2, z_mid, z_high))
    return p.c(loc) + z * p.c(scale)


def _tn2(p, r, fmt, loc, scale):
    coeffs = torch.from_numpy(stream.tn2_coefficients(fmt, scale)).to(p.device)
    if p.bits == 32:
        idx = r & 31
        tau = _unit(p, ((r >> 5) & 0x3FFFF) << 5)
    else:
        last = stream._tables.TN2_64_MAIN - 1
        i, k = r & 15, (r >> 4) & 15
        idx = torch.where(i < last, i, last + k)
        tau = _unit(p, (r >> 8) & ((1 << 52) - 1))
    z = _horner(coeffs[idx], tau)
    z = torch.where(_bit(p, r, 0), -z, z)
    return p.c(loc) + z


def _uniform(p, words, loc, scale):
    if p.bits == 64:
        j = (words[..., 1::2] << 21) | (words[..., 0::2] >> 11)  # 53 bits
        nbits = 53
    else:
        j = words >> 8  # 24 bits
        nbits = 24
    u = j.to(p.f) * p.c(2.0 ** -nbits)  # [0, 1), exact
    return p.c(loc) + u * p.c(scale)


def _mulhi_limbs(limbs, n: int):
    """floor(R * n / 2**(32 k)) as stream._mulhi_limbs, on int64 tensors: products
    of 32-bit halves by _mulhilo (no int64 overflow), columns with carries."""
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


def _transform(words, dist, fmt: str, p):
    """The stream's words (int64, element-major) to float32 / float64 values, or to
    int64 holding the integer format's two's-complement bits. ``p``: the _Prec."""
    code = stream.kind_code(dist)
    if code == stream.KIND_CODES["uniform_int"]:
        k = stream.words_per_element(fmt)
        q = _mulhi_limbs([words[..., t::k] for t in range(k)], dist.scale)
        low = dist.low & 0xFFFFFFFFFFFFFFFF
        return q + (low - (1 << 64) if low >= 1 << 63 else low)  # wraps mod 2**64
    if code == stream.KIND_CODES["uniform"]:
        return _uniform(p, words, dist.loc, dist.scale)
    r = (words[..., 1::2] << 32) | words[..., 0::2] if p.bits == 64 else words
    if code == stream.KIND_CODES["normal"]:
        return _normal(p, r, dist.loc, dist.scale)
    if code == stream.KIND_CODES["truncated_general"]:
        params = stream._tn_exact(dist.lower, dist.upper)
        return _truncated_general(p, r, dist.loc, dist.scale, params)
    return _tn2(p, r, fmt, dist.loc, dist.scale)


def _clamp(v, lo, hi):
    """Replace values strictly beyond a bound, as stream._clamp (-0 kept)."""
    lo_t = torch.tensor(lo, dtype=v.dtype, device=v.device)
    hi_t = torch.tensor(hi, dtype=v.dtype, device=v.device)
    v = torch.where(v < lo_t, lo_t, v)
    return torch.where(v > hi_t, hi_t, v)


_INT_VIEW = {"uint16": torch.int16, "uint32": torch.int32, "uint64": torch.int64}


def _store(values, dst, fmt: str, lo: float, hi: float, bounded: bool):
    """Round float32/float64 ``values`` to ``fmt``, clamp into [lo, hi], write ``dst``.

    ``dst`` is a view of the output (``int16`` bits for bfloat16, the signed type of
    the same width for uint16/32/64).
    """
    if fmt in stream.INT_FORMATS:
        dst.copy_(values.to(dst.dtype))  # int64 -> narrower: keeps the low bits
        return
    if fmt == "bfloat16":
        i = values.view(torch.int32)
        # round to nearest even on the bits; no carry reaches the sign (finite values)
        r = (i + (0x7FFF + ((i >> 16) & 1))) & -65536
        v = r.view(torch.float32)
        if bounded:
            v = _clamp(v, lo, hi)  # lo, hi are bfloat16 values: exact compares
        dst.copy_((v.view(torch.int32) >> 16).to(torch.int16))
        return
    if fmt == "float16":
        values = values.to(torch.float16)
    dst.copy_(_clamp(values, lo, hi) if bounded else values)


# --------------------------------------------------------------------------- #
# Filling tensors
# --------------------------------------------------------------------------- #


def fill_stream(out, seed, call, dist, *, starts=None, row_len=None, fmt=None,
                chunk: int | None = None):
    """Fill the contiguous tensor ``out`` with stream values, computed with torch ops.

    Same arguments and results, to the bit, as :func:`fanin.stream.fill_rows`;
    ``out`` is a ``torch.Tensor`` on any device (float16, bfloat16, float32 or
    float64; ``fmt`` defaults to its dtype). Returns ``out``.

    >>> t = torch.empty(2, 3, dtype=torch.bfloat16)
    >>> _ = fill_stream(t, seed=0, call=1, dist=stream.truncated_normal(0.0, 1.0))
    >>> bool((t.abs() < 2).all())
    True
    """
    if not isinstance(out, torch.Tensor):
        raise TypeError(f"out must be a torch.Tensor, got {type(out).__name__}.")
    name = _TORCH_FORMATS.get(out.dtype)
    if name is None:
        raise ValueError(f"Cannot fill a tensor of dtype {out.dtype}: expected one of "
                         f"{stream.FORMATS}.")
    if fmt is not None and fmt != name:
        raise ValueError(f"format {fmt!r} does not match the tensor's dtype {out.dtype}.")
    if not out.is_contiguous():
        raise ValueError("out must be a contiguous tensor.")
    flat = out.view(-1)
    if name == "bfloat16":
        flat = flat.view(torch.int16)
    elif name in _INT_VIEW:
        flat = flat.view(_INT_VIEW[name])
    if starts is None:
        starts, row_len = np.zeros(1, np.uint64), flat.numel()
    else:
        starts = np.ascontiguousarray(starts, dtype=np.uint64).reshape(-1)
        row_len = int(row_len)
        # the checks every backend shares: counts and the 2**62 index limit (R9)
        stream._check_rows(starts, row_len, flat.numel())
    if flat.numel() == 0:
        return out
    chunk = int(chunk or (CHUNK if out.device.type == "cpu" else DEVICE_CHUNK))
    key = stream.seed_to_key(seed)
    call = int(call)
    lo, hi = stream.clamp_bounds(dist, name)
    stream.check_format(dist, name)
    bounded = (lo, hi) != (-float("inf"), float("inf"))
    prec = _Prec(64 if name == "float64" else 32, out.device)
    per = stream.words_per_element(name)
    rows = flat.view(len(starts), row_len)

    def step(row_starts, dst, count):
        w = _words(key, call, row_starts * np.uint64(per), count * per, out.device)
        vals = _transform(w, dist, name, prec)
        _store(vals.reshape(dst.shape), dst, name, lo, hi, bounded)

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


def fill_plan(out, plan: stream.Plan, *, chunk: int | None = None):
    """Fill the contiguous tensor ``out`` (shape or size of ``plan.block``) with the plan's values.

    The torch-ops twin of :func:`fanin.stream.fill`: the plan's runs, each through
    :func:`fill_stream`. Returns ``out``.

    >>> p = stream.plan(3, 0, stream.normal(0.0, 1.0), "float32", (4, 5), (1, 1), (2, 3))
    >>> t = fill_plan(torch.empty(2, 3), p)
    >>> ref = np.empty((2, 3), np.float32); stream.fill(ref, p)
    >>> bool((t.numpy() == ref).all())
    True
    """
    if not isinstance(out, torch.Tensor):
        raise TypeError(f"out must be a torch.Tensor, got {type(out).__name__}.")
    if out.numel() != plan.size:
        raise ValueError(f"out has {out.numel()} elements; the plan's block {plan.block} "
                         f"has {plan.size}.")
    if not out.is_contiguous():
        raise ValueError("out must be a contiguous tensor.")
    flat = out.view(-1)
    for start, starts, row_len in plan.runs():
        fill_stream(flat[start:start + starts.size * row_len], plan.key, plan.call,
                    plan.dist, starts=starts, row_len=row_len, fmt=plan.fmt, chunk=chunk)
    return out
