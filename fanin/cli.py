"""The ``fanin`` command line: a tensor on disk, or a look at a distribution.

    fanin sample lecun_normal --shape 784 256 --seed 0 --out w.npy
    fanin sample '{"class_name": "VarianceScaling", "config": {"scale": 2.0}}' --shape 3 3 64 128
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time

import numpy as np

import fanin
from fanin import _shapes
from fanin.initializers import TRUNCATED_STDDEV, VarianceScaling

_EPILOG = """\
IDENTIFIER is anything fanin.get accepts: a name ("lecun_normal", "LecunNormal",
"he_uniform", "normal", ...) or a Keras 2 / Keras 3 config as JSON, e.g.
'{"class_name": "RandomNormal", "config": {"stddev": 0.02, "seed": 1}}'.

examples:
  fanin sample lecun_normal --shape 784 256 --seed 0
  fanin sample he_normal --shape 3 3 64 128 --dtype bfloat16 --out kernel.npy
  fanin sample truncated_normal --shape 100000 --hist
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fanin",
        description="Keras-compatible weight initializers on a reproducible stream: "
                    "sample a tensor, summarize it, save it.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version",
                        version=f"fanin {fanin.__version__} (stream v{fanin.STREAM_VERSION})")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sample = sub.add_parser(
        "sample", help="draw one tensor from an initializer and summarize it",
        description="Draw one tensor (call 0 of the initializer) and print its "
                    "configuration, fans, expected and measured statistics.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sample.add_argument("identifier", metavar="IDENTIFIER",
                        help="initializer name or JSON config")
    sample.add_argument("--shape", type=int, nargs="+", required=True, metavar="D",
                        help="tensor shape, e.g. --shape 3 3 64 128 (Keras layout)")
    sample.add_argument("--dtype", default=None,
                        help="float16, bfloat16, float32 (default) or float64")
    sample.add_argument("--seed", type=int, default=None,
                        help="seed (replaces the identifier's seed)")
    sample.add_argument("--out", metavar="FILE.npy", default=None,
                        help="write the tensor to this .npy file")
    sample.add_argument("--hist", action="store_true",
                        help="print a text histogram of the values")
    return parser


def _initializer(identifier: str, seed):
    init = fanin.get(identifier)
    if not isinstance(init, fanin.Initializer):
        raise ValueError(f"{identifier!r} is not a fanin initializer.")
    if seed is not None:
        config = init.get_config()
        if "seed" not in config:
            raise ValueError(f"{type(init).__name__} takes no seed.")
        init = type(init).from_config({**config, "seed": seed})
    return init


def _moments(values: np.ndarray):
    """Mean and std in float64, in chunks (no full-size float64 temporary)."""
    flat = values.reshape(-1)
    n = flat.size
    total = sq = 0.0
    step = 1 << 22
    for i in range(0, n, step):
        c = flat[i:i + step].astype(np.float64)
        total += c.sum()
    mean = total / n
    for i in range(0, n, step):
        c = flat[i:i + step].astype(np.float64) - mean
        sq += (c * c).sum()
    return mean, math.sqrt(sq / n)


def _expected(draw):
    """(expected std, low, high) of the values; None where not applicable."""
    if not isinstance(draw, fanin.StreamDraw):
        return None, None, None
    dist = draw.distribution
    std = {"normal": dist.scale, "truncated_normal": dist.scale * TRUNCATED_STDDEV,
           "uniform": dist.scale / math.sqrt(12.0)}[dist.kind]
    return std, dist.low, dist.high


def _histogram(values: np.ndarray, bins: int = 24, width: int = 50) -> str:
    flat = values.reshape(-1).astype(np.float64)
    counts, edges = np.histogram(flat, bins=bins)
    top = counts.max() or 1
    return "\n".join(f"{edges[i]:>+11.4g} | {'#' * round(width * c / top)} {c}"
                     for i, c in enumerate(counts))


def _sample(args) -> int:
    init = _initializer(args.identifier, args.seed)
    shape = _shapes.normalize_shape(args.shape)
    t0 = time.perf_counter()
    draw = init.draw(shape, args.dtype)
    values = draw.array()
    elapsed = time.perf_counter() - t0
    fan_in, fan_out = (init.fans(shape) if isinstance(init, VarianceScaling)
                       else _shapes.compute_fans(shape))
    std, low, high = _expected(draw)
    lines = [
        f"initializer  {type(init).__name__}  {json.dumps(init.get_config())}",
        f"shape        {shape}  ({values.size} elements)",
        f"dtype        {fanin._dtypes.dtype_name(values.dtype)}",
        f"fan_in       {fan_in}",
        f"fan_out      {fan_out}",
    ]
    if std is not None:
        lines.append(f"expected     std {std:.6g}" + (
            f", bounds [{low:.6g}, {high:.6g}]" if math.isfinite(low) else ", unbounded"))
    if values.size:
        mean, measured_std = _moments(values)
        lines.append(f"measured     mean {mean:.6g}, std {measured_std:.6g}, "
                     f"min {float(values.min()):.6g}, max {float(values.max()):.6g}")
    rate = values.size / elapsed if elapsed > 0 else float("inf")
    lines.append(f"time         {elapsed * 1e3:.3f} ms  ({rate / 1e6:.1f} M elements/s, "
                 f"{'compiled kernel' if fanin.stream.using_kernel() else 'NumPy reference'})")
    if args.out:
        if values.dtype.name == "bfloat16":  # .npy has no bfloat16: float32 holds it exactly
            np.save(args.out, values.astype(np.float32))
            lines.append(f"wrote        {args.out}  (bfloat16 values stored as float32, exactly)")
        else:
            np.save(args.out, values)
            lines.append(f"wrote        {args.out}")
    print("\n".join(lines))
    if args.hist and values.size:
        print(_histogram(values))
    return 0


def main(argv=None) -> int:
    """Entry point of the ``fanin`` command.

    >>> main(["sample", "lecun_normal", "--shape", "4", "2", "--seed", "0"])  # doctest: +ELLIPSIS
    initializer  LecunNormal  {"seed": 0}
    ...
    0
    """
    args = _parser().parse_args(argv)
    try:
        return _sample(args)
    except (ValueError, TypeError, MemoryError, OSError) as err:
        print(f"fanin: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
