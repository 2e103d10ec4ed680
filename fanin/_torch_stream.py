"""fanin's stream (version 1) in PyTorch tensor operations, for any torch device.

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
  reference: separate ``*`` and ``+`` (torch does not fuse them), ``/``
  (correctly rounded on CPU and, without fast-math, on CUDA), a square root
  made correctly rounded by an exact correction step (``torch.sqrt`` is not,
  on PyTorch's AVX-512 CPU kernels), exact integer -> float conversions, and ``log`` by bit manipulation through
  ``Tensor.view``. Constants are rounded to the working format on the host,
  with NumPy, exactly as the reference rounds them.
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
_TORCH_FORMATS = {torch.float16: "float16", torch.bfloat16: "bfloat16",
                  torch.float32: "float32", torch.float64: "float64"}


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


class _Consts:
    """0-d tensors of constants, rounded on the host as the reference rounds them."""

    def __init__(self, ftype, device):
        self.ftype, self.device = ftype, device
        self.np = np.float32 if ftype == torch.float32 else np.float64
        self._cache = {}

    def __call__(self, value):
        c = self._cache.get(value)
        if c is None:
            c = self._cache[value] = torch.tensor(float(self.np(value)), dtype=self.ftype,
                                                  device=self.device)
        return c


def _horner(coeffs, x, k):
    acc = torch.full_like(x, float(k.np(coeffs[0])))
    for c in coeffs[1:]:
        acc = acc * x + k(c)
    return acc


def _log(y, k):
    """Natural log of positive normal floats from + - * / and bit manipulation."""
    if k.ftype == torch.float32:
        bits = y.view(torch.int32).to(torch.int64)  # y > 0: sign bit clear
        mant_bits, bias, sqrt2_bits, coeffs = 23, 127, 0x3FB504F3, stream._LOG_COEFFS32
    else:
        bits = y.view(torch.int64)
        mant_bits, bias, sqrt2_bits, coeffs = 52, 1023, 0x3FF6A09E667F3BCC, stream._LOG_COEFFS64
    one = 1 << mant_bits
    exponent = (bits >> mant_bits) - bias
    mbits = (bits & (one - 1)) | (bias << mant_bits)  # m in [1, 2)
    big = mbits > sqrt2_bits  # m > sqrt(2): use m / 2, exponent + 1
    mbits = torch.where(big, mbits - one, mbits)
    exponent = exponent + big.to(torch.int64)
    if k.ftype == torch.float32:
        m = mbits.to(torch.int32).view(torch.float32)  # < 2**31: exact
    else:
        m = mbits.view(torch.float64)
    f = m - k(1.0)  # exact (Sterbenz)
    s = f / (k(2.0) + f)
    return exponent.to(k.ftype) * k(stream.LN2) + s * _horner(coeffs, s * s, k)


def _two_prod_exceeds(x, a, b, k):
    """Exactly ``x > a * b`` for float64 tensors (no overflow or underflow).

    Dekker's product: ``a * b = p + e`` exactly, with Veltkamp splitting (no FMA
    needed). ``x - p`` is exact (Sterbenz: ``p`` is within a factor 2 of ``x``
    wherever this is used), so ``x > a * b`` iff ``x - p > e``.
    """
    split = k(134217729.0)  # 2**27 + 1
    ca, cb = split * a, split * b
    ah = ca - (ca - a)
    al = a - ah
    bh = cb - (cb - b)
    bl = b - bh
    p = a * b
    e = ((ah * bh - p) + ah * bl + al * bh) + al * bl
    return (x - p) > e


def _sqrt(x, k):
    """Correctly rounded square root of positive normal floats.

    ``torch.sqrt`` is not correctly rounded on every backend (PyTorch's AVX-512
    CPU kernels are off by one ulp for ~18% of float32 inputs), so its result
    ``y`` is corrected with an exact test. With ``dn < y < up`` the neighbours
    of ``y``, ``y`` is the rounded root iff ``y * dn < x <= y * up`` (the
    midpoints' squares differ from these products by a quarter of a squared
    ulp, less than the spacing of ``x``). The products are exact: in float64
    for float32 inputs, by Dekker's product for float64 inputs. Two rounds
    of correction allow ``torch.sqrt`` an error of up to two ulps.
    """
    y = torch.sqrt(x)
    inf = torch.tensor(float("inf"), dtype=x.dtype, device=x.device)
    zero = torch.zeros((), dtype=x.dtype, device=x.device)
    for _ in range(2):
        up, dn = torch.nextafter(y, inf), torch.nextafter(y, zero)
        if k.ftype == torch.float32:
            x64, y64 = x.to(torch.float64), y.to(torch.float64)
            raise_ = x64 > y64 * up.to(torch.float64)  # 24 x 24 bits: exact
            lower = ~(x64 > y64 * dn.to(torch.float64))
        else:
            raise_ = _two_prod_exceeds(x, y, up, k)
            lower = ~_two_prod_exceeds(x, y, dn, k)
        y = torch.where(raise_, up, torch.where(lower, dn, y))
    return y


def _erfinv(x, k, tails: bool):
    """Giles' erfinv, as the reference. ``tails=False`` skips the branches the
    truncated normal never reaches (|x| <= erf(sqrt 2) gives w < 2.5). Tail
    branches are computed for the elements that need them only, as the
    reference does (the values do not depend on this)."""
    w = -_log((k(1.0) - x) * (k(1.0) + x), k)
    if k.ftype == torch.float32:
        p = _horner(stream._GILES32_CENTRAL, w - k(2.5), k)
        if tails:
            tail = w >= k(5.0)
            if bool(tail.any()):
                p[tail] = _horner(stream._GILES32_TAIL, _sqrt(w[tail], k) - k(3.0), k)
    else:
        p = _horner(stream._GILES64_CENTRAL, w - k(3.125), k)
        if tails:
            mid = w >= k(6.25)
            if bool(mid.any()):
                ws = _sqrt(w[mid], k)
                far = ws >= k(4.0)  # sqrt(16)
                pm = _horner(stream._GILES64_MIDDLE, ws - k(3.25), k)
                if bool(far.any()):
                    pm[far] = _horner(stream._GILES64_TAIL, ws[far] - k(5.0), k)
                p[mid] = pm
    return p * x


def _transform(words, kind: str, fmt: str, loc: float, scale: float, k):
    """The stream's words (int64) to float32 (32-bit formats) or float64 values."""
    if fmt == "float64":
        lo, hi = words[..., 0::2], words[..., 1::2]
        j = (hi << 21) | (lo >> 11)  # 53 bits
        nbits = 53
    else:
        j = words >> 8  # 24 bits
        nbits = 24
    ulp = k(2.0 ** -nbits)
    if kind == "uniform":
        u = j.to(k.ftype) * ulp  # [0, 1), exact
        return k(loc) + u * k(scale)
    v = (2 * j + (1 - (1 << nbits))).to(k.ftype) * ulp  # odd multiples of ulp, exact
    x = v * k(stream.ERF_SQRT2) if kind == "truncated_normal" else v
    z = _erfinv(x, k, tails=kind != "truncated_normal") * k(stream.SQRT2)
    return k(loc) + z * k(scale)


def _store(values, dst, fmt: str, lo: float, hi: float, bounded: bool):
    """Round float32/float64 ``values`` to ``fmt``, clamp into [lo, hi], write ``dst``.

    ``dst`` is a view of the output (``int16`` bits for bfloat16).
    """
    if fmt == "bfloat16":
        i = values.view(torch.int32)
        # round to nearest even on the bits; no carry reaches the sign (finite values)
        r = (i + (0x7FFF + ((i >> 16) & 1))) & -65536
        v = r.view(torch.float32)
        if bounded:
            v = torch.clamp(v, lo, hi)  # lo, hi are bfloat16 values: exact compares
        dst.copy_((v.view(torch.int32) >> 16).to(torch.int16))
        return
    if fmt == "float16":
        values = values.to(torch.float16)
    if bounded:
        torch.clamp(values, lo, hi, out=dst)
    else:
        dst.copy_(values)


# --------------------------------------------------------------------------- #
# Filling tensors
# --------------------------------------------------------------------------- #


def fill_stream(out, seed, call, dist, *, starts=None, row_len=None, fmt=None,
                chunk: int | None = None):
    """Fill the contiguous tensor ``out`` with stream values, computed with torch ops.

    Same arguments and results, to the bit, as :func:`fanin.stream.fill_reference`;
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
    if starts is None:
        starts, row_len = np.zeros(1, np.uint64), flat.numel()
    else:
        starts = np.ascontiguousarray(starts, dtype=np.uint64).reshape(-1)
        row_len = int(row_len)
        if starts.size * row_len != flat.numel():
            raise ValueError(f"{starts.size} rows of {row_len} elements do not fill a "
                             f"tensor of {flat.numel()} elements.")
    if flat.numel() == 0:
        return out
    chunk = int(chunk or (CHUNK if out.device.type == "cpu" else DEVICE_CHUNK))
    key = stream.seed_to_key(seed)
    call = int(call)
    lo, hi = stream.clamp_bounds(dist, name)
    bounded = dist.kind != "normal"
    k = _Consts(torch.float64 if name == "float64" else torch.float32, out.device)
    per = 2 if name == "float64" else 1
    rows = flat.view(len(starts), row_len)

    def step(row_starts, dst, count):
        w = _words(key, call, row_starts * np.uint64(per), count * per, out.device)
        vals = _transform(w, dist.kind, name, dist.loc, dist.scale, k)
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
