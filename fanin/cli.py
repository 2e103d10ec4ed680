"""The ``fanin`` command line: a tensor on disk, or a look at a distribution.

    fanin sample lecun_normal --shape 784 256 --seed 0 --out w.npy
    fanin sample '{"class_name": "VarianceScaling", "config": {"scale": 2.0}}' --shape 3 3 64 128
    fanin list
    fanin info he_uniform
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import math
import os
import re
import secrets
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import IO, Any, NoReturn

import numpy as np

import fanin
from fanin import dtypes, shapes, registry, stream

_EPILOG = """\
IDENTIFIER is anything fanin.get accepts: a name ("lecun_normal", "LecunNormal",
"he_uniform", "normal", ...) or a Keras 2 / Keras 3 config as JSON, e.g.
'{"class_name": "RandomNormal", "config": {"stddev": 0.02, "seed": 1}}'.
DTYPE takes NumPy's names: "float" is float64, as in NumPy; bfloat16 needs ml_dtypes.

examples:
  fanin sample lecun_normal --shape 784 256 --seed 0
  fanin sample he_normal --shape 3 3 64 128 --dtype bfloat16 --out kernel.npy
  fanin sample truncated_normal --shape 100000 --hist
  fanin sample lecun_normal --shape 784 256 --plot lecun.png
  fanin list
  fanin info lecun_normal
"""

# Output formats by file suffix; any other suffix (or none) gets .npy content.
_WRITERS = (".npy", ".safetensors", ".pt")
# Warm timing: refill the drawn array at most this often, and only while cheap.
_WARM_CALLS = 3
_WARM_MAX_SECONDS = 0.5
_MOMENT_CHUNK = 1 << 22  # elements per float64 chunk when summing (32 MiB temporaries)
_SEED_BITS = 32  # drawn seeds are short enough to retype
_PROGRESS_STEPS = 100  # row blocks of a --progress draw


class CLIError(Exception):
    """A problem with the command's input, reported as one ``fanin: error:`` line."""


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line, like every other error of the command."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


# --------------------------------------------------------------------------- #
# Arguments
# --------------------------------------------------------------------------- #


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="fanin",
        description="Keras-compatible weight initializers on a reproducible stream: "
                    "sample a tensor, summarize it, save it, plot it.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version",
                        version=f"fanin {fanin.__version__} (stream v{fanin.STREAM_VERSION})")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_sample(sub)
    sub.add_parser("list", help="the initializers, their aliases and kinds",
                   description="List every initializer with the names fanin.get accepts.")
    info = sub.add_parser("info", help="config, fan rule and formula of one initializer",
                          description="Describe one initializer: its default config, how it "
                                      "reads fans from a shape and the distribution it draws.")
    info.add_argument("identifier", metavar="IDENTIFIER", help="initializer name or JSON config")
    info.add_argument("--shape", type=int, nargs="*", default=[784, 256], metavar="D",
                      help="example shape for the fans and parameters (default 784 256)")
    return parser


def _add_sample(sub: Any) -> None:
    sample = sub.add_parser(
        "sample", help="draw one tensor from an initializer and summarize it",
        description="Draw one tensor (call 0 of the initializer) and print its "
                    "configuration, fans, expected and measured statistics.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sample.add_argument("identifier", metavar="IDENTIFIER", help="initializer name or JSON config")
    sample.add_argument("--shape", type=int, nargs="*", required=True, metavar="D",
                        help="tensor shape, e.g. --shape 3 3 64 128 (Keras layout); "
                             "no D for a scalar")
    sample.add_argument("--dtype", default=None,
                        help="float16, bfloat16, float32 (default) or float64 (NumPy names)")
    sample.add_argument("--seed", type=int, default=None,
                        help="seed (replaces the identifier's; drawn and printed when absent)")
    sample.add_argument("--out", metavar="FILE", default=None,
                        help="write the tensor to exactly FILE: .safetensors or .pt by "
                             "suffix, .npy content otherwise")
    sample.add_argument("--force", action="store_true", help="overwrite an existing --out file")
    sample.add_argument("--hist", action="store_true",
                        help="print a text histogram, measured and expected counts")
    sample.add_argument("--plot", metavar="FILE.png", default=None,
                        help="save a histogram with the exact density (needs matplotlib)")
    sample.add_argument("--progress", action="store_true",
                        help="draw in row blocks with a progress line on stderr (the same "
                             "values: for tensors that take seconds)")


def _dtype_name(text: str | None) -> str | None:
    """The dtype as NumPy reads it ("float" is float64); bfloat16 passes through;
    anything that is not one numeric dtype is refused, named as typed."""
    if text is None or text == "bfloat16":
        return text
    try:
        dt = np.dtype(text)
    except Exception:  # NumPy's parser raises TypeError, ValueError, SyntaxError, ...
        try:
            return dtypes.dtype_name(text)  # fanin's own spellings ("bf16")
        except (TypeError, ValueError):
            dt = None
    if dt is None or dt.kind not in "biufc" or dt.fields is not None or dt.shape != ():
        raise CLIError(f"--dtype {text!r} is not a numeric dtype (try float32, float16, "
                       "bfloat16 or float64).")
    return dt.name


# --------------------------------------------------------------------------- #
# Initializers: lookup, seeds, what they draw
# --------------------------------------------------------------------------- #


def _lookup(identifier: str) -> fanin.Initializer:
    text = identifier.strip()
    if text.startswith('"'):  # a JSON string: '"lecun_normal"'
        try:
            text = json.loads(text)
        except json.JSONDecodeError as err:
            raise CLIError(f"{identifier!r} is not valid JSON ({err}).") from None
    if not text.startswith("{") and text not in registry.NAMES:
        raise CLIError(f"Unknown initializer {text!r}.{_hint(text)} "
                       "(`fanin list` shows them all.)")
    init = fanin.get(text)
    if not isinstance(init, fanin.Initializer):
        raise CLIError(f"{identifier!r} is not a fanin initializer.")
    return init


def _hint(name: str) -> str:
    """Did-you-mean for a typo, or the fanin family of a torch.nn.init name."""
    torch_name = registry.torch_equivalent(name)
    if torch_name is not None:
        torch_fn = name.lower().rstrip("_")
        return (f" {torch_fn!r} is torch.nn.init's name: fanin's initializer of that family "
                f"is {torch_name!r} (Keras semantics; fanin.torch.{torch_fn}_ has torch's).")
    close = registry.suggest(name)
    return f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


def _takes_seed(init: fanin.Initializer) -> bool:
    return "seed" in init.get_config()


def _with_seed(init: fanin.Initializer, seed: int | None) -> tuple[fanin.Initializer, str]:
    """The initializer with an explicit seed, and a note on where the seed came from."""
    if not _takes_seed(init):
        note = f"ignored --seed: {type(init).__name__} takes no seed" if seed is not None else ""
        return init, note
    config = init.get_config()
    if seed is None and config["seed"] is not None:
        return init, ""
    note = ""
    if seed is None:  # draw one and pass it explicitly, so the printed seed reproduces
        seed = secrets.randbits(_SEED_BITS)
        note = f"seed drawn: {seed} (pass --seed {seed} to reproduce)"
    return type(init).from_config({**config, "seed": seed}), note


def _core_class(init: fanin.Initializer) -> type:
    """The registered fanin class behind ``init`` (adapters such as fanin.keras
    return subclasses of it, with their own docstrings)."""
    core = set(registry.CLASSES.values())
    return next((c for c in type(init).__mro__ if c in core), type(init))


def _kind(init: fanin.Initializer) -> str:
    """"random" (elementwise stream values), "constant" or "matrix"."""
    return type(init).kind


def _distribution(draw: fanin.Draw) -> stream.Distribution | None:
    """What an elementwise stream draw draws (None for constants and matrices)."""
    return draw.distribution if isinstance(draw, fanin.StreamDraw) else None


def _fans(init: fanin.Initializer, shape: tuple[int, ...]) -> tuple[int, int]:
    if hasattr(init, "fans"):  # VarianceScaling and its family: their input/output axes
        fan_in, fan_out = init.fans(shape)
        return int(fan_in), int(fan_out)
    return shapes.compute_fans(shape)


def _moments_of(dist: stream.Distribution) -> tuple[float, float]:
    """Exact (mean, std) of the values (after truncation for the truncated normal)."""
    if dist.scale == 0:  # stddev 0 or minval == maxval (Keras allows both): loc only
        return dist.loc, 0.0
    return dist.spec.moments(dist)


def _pdf(dist: stream.Distribution, x: np.ndarray) -> np.ndarray:
    if dist.scale == 0:  # every value is loc: a point mass has no density
        return np.zeros_like(x, dtype=np.float64)
    return dist.spec.pdf(dist, x)


def _cdf(dist: stream.Distribution, x: np.ndarray) -> np.ndarray:
    if dist.scale == 0:  # every value is loc; P(X < x), so that a bin [a, b) holding
        return np.where(np.asarray(x) > dist.loc, 1.0, 0.0)  # loc expects them all
    return dist.spec.cdf(dist, x)


# --------------------------------------------------------------------------- #
# sample
# --------------------------------------------------------------------------- #


def _measured(values: np.ndarray) -> tuple[float, float]:
    """Mean and std in float64, in chunks (no full-size float64 temporary)."""
    flat = values.reshape(-1)
    n = flat.size
    total = sq = 0.0
    for i in range(0, n, _MOMENT_CHUNK):
        total += float(flat[i:i + _MOMENT_CHUNK].astype(np.float64).sum())
    mean = total / n
    for i in range(0, n, _MOMENT_CHUNK):
        c = flat[i:i + _MOMENT_CHUNK].astype(np.float64) - mean
        sq += float((c * c).sum())
    return mean, math.sqrt(sq / n)


def _backend(init: fanin.Initializer) -> str:
    """Which code computed the values."""
    if not _takes_seed(init):
        return "NumPy, no stream"  # constants and Identity
    name = "compiled kernel" if stream.using_kernel() else "NumPy reference"
    return name + (" + NumPy QR" if _kind(init) == "matrix" else "")


def _warm_rate(draw: fanin.Draw, values: np.ndarray) -> tuple[float, str]:
    """Best time of refilling the drawn array with its own draw: warm (the memory is
    mapped, the caches and threads are up) and leaving the values as they were."""
    best, runs, spent = math.inf, 0, 0.0
    while runs < _WARM_CALLS and (runs == 0 or spent < _WARM_MAX_SECONDS):
        t0 = time.perf_counter()
        draw.fill(values)
        elapsed = time.perf_counter() - t0
        best, runs, spent = min(best, elapsed), runs + 1, spent + elapsed
    return best, f"best of {runs} warm fill{'s' if runs > 1 else ''} of the array"


def _summary(init: fanin.Initializer, shape: tuple[int, ...], values: np.ndarray,
             dist: stream.Distribution | None) -> list[str]:
    fan_in, fan_out = _fans(init, shape)
    lines = [
        f"initializer  {type(init).__name__}  {json.dumps(init.get_config())}",
        f"shape        {shape}  ({values.size} elements)",
        f"dtype        {dtypes.dtype_name(values.dtype)}",
        f"fan_in       {fan_in}",
        f"fan_out      {fan_out}",
    ]
    if dist is not None:
        mean, std = _moments_of(dist)
        bounds = (f", bounds [{dist.low:.6g}, {dist.high:.6g}]" if math.isfinite(dist.low)
                  else ", unbounded")
        label = "std after truncation" if dist.kind == "truncated_normal" else "std"
        lines.append(f"expected     {dist.kind}: mean {mean:.6g}, {label} {std:.6g}{bounds}")
    if values.size:
        mean, std = _measured(values)
        lines.append(f"measured     mean {mean:.6g}, std {std:.6g}, "
                     f"min {float(values.min()):.6g}, max {float(values.max()):.6g}")
    return lines


def _edge_labels(edges: np.ndarray) -> list[str]:
    """Bin edges in one format, as many digits as tell neighbours apart: fixed point,
    or scientific for very large or very small values."""
    width = float(np.min(np.diff(edges)))
    top = float(np.max(np.abs(edges))) or 1.0
    edges = np.where(np.abs(edges) < width * 1e-9, 0.0, edges)  # no "-0.0000"
    decimals = max(0, 1 - math.floor(math.log10(width)))
    if 1e-4 <= top < 1e6 and decimals <= 8:
        labels = [f"{e:+.{decimals}f}" for e in edges]
    else:
        digits = min(12, max(1, math.floor(math.log10(top)) - math.floor(math.log10(width)) + 1))
        labels = [f"{e:+.{digits}e}" for e in edges]
    size = max(len(t) for t in labels)
    return [t.rjust(size) for t in labels]


def _histogram(values: np.ndarray, dist: stream.Distribution | None,
               width: int = 40) -> str:
    flat = values.reshape(-1).astype(np.float64)
    bins = max(1, min(24, int(math.sqrt(flat.size))))
    counts, edges = np.histogram(flat, bins=bins)
    expected = None if dist is None else flat.size * np.diff(_cdf(dist, edges))
    top = counts.max() or 1
    rows = []
    for label, c, i in zip(_edge_labels(edges), counts, range(len(counts))):
        bar = f"{label} | {'#' * round(width * c / top):<{width}} {c}"
        rows.append(bar + (f"  (expected {expected[i]:.1f})" if expected is not None else ""))
    return "\n".join(rows)


def _draw_with_progress(draw: fanin.Draw) -> np.ndarray:
    """``draw.array()`` (the same values) filled in row blocks, printing the share
    done to stderr."""
    shape = draw.shape
    if not isinstance(draw, fanin.StreamDraw) or not shape or shape[0] < 2:
        return draw.array()  # a matrix is computed whole anyway
    values = np.empty(shape, dtypes.numpy_dtype(draw.dtype))
    rows = -(-shape[0] // _PROGRESS_STEPS)
    for r in range(0, shape[0], rows):
        draw.fill(values[r:r + rows], offset=(r,) + (0,) * (len(shape) - 1))
        done = min(r + rows, shape[0])
        print(f"\rdrawing {100 * done // shape[0]:3d}%", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return values


def _sample(args: argparse.Namespace) -> int:
    # Every argument is checked before anything is drawn or written.
    init, note = _with_seed(_lookup(args.identifier), args.seed)
    shape = shapes.normalize_shape(args.shape)
    draw = init.draw(shape, _dtype_name(args.dtype))  # takes call 0; computes nothing
    out = _check_target(args.out, args.force, "--out") if args.out is not None else None
    writer = _writer(out) if out is not None else None
    if args.plot is not None:
        _check_plot(args.plot, args.force, out)
    dist = _distribution(draw)
    values = _draw_with_progress(draw) if args.progress else draw.array()
    seconds, how = _warm_rate(draw, values)
    lines = _summary(init, shape, values, dist)
    if note:
        lines.insert(1, f"note         {note}")
    rate = values.size / seconds / 1e6 if seconds > 0 else math.inf
    lines.append(f"time         {seconds * 1e3:.3f} ms, {how}  ({rate:.1f} M elements/s, "
                 f"{_backend(init)})")
    if out is not None and writer is not None:
        write, format_note = writer
        _write_atomically(out, lambda f: write(f, values), args.force)
        lines.append(f"wrote        {out}  {format_note(values)}")
    if args.plot is not None:
        _write_atomically(args.plot, lambda f: _plot(f, values, dist, init), args.force)
        lines.append(f"plotted      {args.plot}")
    print("\n".join(lines))
    if args.hist and values.size:
        print(_histogram(values, dist))
    return 0


# --------------------------------------------------------------------------- #
# Files
# --------------------------------------------------------------------------- #


def _check_target(path: str, force: bool, flag: str) -> str:
    """Refuse a file that cannot or may not be written, before anything is drawn."""
    if not path:
        raise CLIError(f"{flag} needs a file name.")
    if os.path.isdir(path):
        raise CLIError(f"{flag} {path!r} is a directory; give a file name inside it.")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise CLIError(f"{flag} {path!r}: the folder {folder!r} does not exist.")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise CLIError(f"{flag} {path!r}: the folder {folder!r} is not writable.")
    if os.path.lexists(path) and not force:
        raise CLIError(f"{flag} {path!r} exists; pass --force to overwrite it.")
    return path


def _check_plot(path: str, force: bool, out: str | None) -> None:
    _check_target(path, force, "--plot")
    if out is not None and os.path.abspath(out) == os.path.abspath(path):
        raise CLIError(f"--plot {path!r} is also the --out file; give them different names.")
    _pyplot()


_Write = Callable[[IO[bytes], np.ndarray], object]


def _writer(path: str) -> tuple[_Write, Callable[[np.ndarray], str]]:
    """How to write ``path`` (by suffix; .npy content otherwise) and a note on the
    format; a missing package is reported now, before drawing."""
    suffix = os.path.splitext(path)[1].lower()
    if suffix == ".safetensors":
        try:
            from safetensors.numpy import save
        except ImportError:
            raise CLIError("writing .safetensors needs the safetensors package "
                           "(pip install safetensors).") from None
        return (lambda f, v: f.write(save({"weight": np.ascontiguousarray(v)})),
                lambda v: "(safetensors, tensor 'weight')")
    if suffix == ".pt":
        try:
            import torch  # noqa: F401 -- only to fail early without it
        except ImportError:
            raise CLIError("writing .pt needs PyTorch (pip install torch).") from None
        return _write_torch, lambda v: "(torch.save of a tensor)"
    return _write_npy, _npy_note


def _npy_note(values: np.ndarray) -> str:
    if values.dtype.name == "bfloat16":
        return "(.npy; bfloat16 values stored as float32, exactly)"
    return "(.npy)"


def _write_npy(f: IO[bytes], values: np.ndarray) -> None:
    # .npy has no bfloat16: float32 holds every bfloat16 value exactly
    np.save(f, values.astype(np.float32) if values.dtype.name == "bfloat16" else values)


def _write_torch(f: IO[bytes], values: np.ndarray) -> None:
    import torch

    if values.dtype.name == "bfloat16":  # torch.from_numpy has no bfloat16: share the bits
        tensor = torch.from_numpy(values.view(np.int16)).view(torch.bfloat16)
    else:
        tensor = torch.from_numpy(np.ascontiguousarray(values))
    torch.save(tensor, f)


def _write_atomically(path: str, write: Callable[[IO[bytes]], object], force: bool) -> None:
    """Write a temporary file in ``path``'s folder and rename it onto ``path`` once it
    is complete: a failed write (a full disk, a size limit) leaves the old file as it
    was, with or without ``force``. Without ``force`` an existing file is never
    replaced, even one that appeared while the tensor was drawn."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".fanin-", suffix=".tmp")
    try:
        try:
            with os.fdopen(fd, "wb") as f:
                write(f)
                f.flush()
                os.fsync(f.fileno())
        except OSError as err:  # e.g. a full disk; the message may not name the file
            raise CLIError(f"writing {path!r} failed ({err}); no file was changed.") from None
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp's 0600 -> what open() would give
        if force:
            os.replace(tmp, path)
        else:
            _move_to_new(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _move_to_new(tmp: str, path: str) -> None:
    """Rename ``tmp`` to ``path`` only if ``path`` does not exist (a hard link fails
    atomically when it does; file systems without hard links get a checked rename)."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise CLIError(f"{path!r} exists; pass --force to overwrite it.") from None
    except OSError:
        if os.path.lexists(path):
            raise CLIError(f"{path!r} exists; pass --force to overwrite it.") from None
        os.replace(tmp, path)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _pyplot() -> Any:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise CLIError("--plot needs matplotlib (pip install 'fanin[plot]').") from None
    return plt


def _plot(f: IO[bytes], values: np.ndarray, dist: stream.Distribution | None,
          init: fanin.Initializer) -> None:
    """A PNG histogram of the values, the exact density and the support's bounds."""
    plt = _pyplot()
    flat = values.reshape(-1).astype(np.float64)
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    ax.hist(flat, bins=max(1, min(100, int(math.sqrt(flat.size)))), density=True,
            color="#8fb3d9", edgecolor="#5d86b3", linewidth=0.3, label="values")
    mean, std = _measured(values) if flat.size else (math.nan, math.nan)
    title = (f"{type(init).__name__} {json.dumps(init.get_config())}, shape {values.shape}, "
             f"{dtypes.dtype_name(values.dtype)}\n")
    title += f"measured mean {mean:.4g}, std {std:.4g}"
    if dist is not None:
        _draw_density(ax, dist)
        e_mean, e_std = _moments_of(dist)
        title += f"; expected mean {e_mean:.4g}, std {e_std:.4g}"
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("value")
    ax.set_ylabel("density")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(f, format="png")
    plt.close(fig)


def _draw_density(ax: Any, dist: stream.Distribution) -> None:
    if dist.scale == 0:  # a point mass: a line where every value is
        ax.axvline(dist.loc, color="#c0392b", linewidth=1.4,
                   label=f"every value is {dist.loc:.4g}")
        return
    lo, hi = (dist.low, dist.high) if math.isfinite(dist.low) else (
        dist.loc - 4.5 * dist.scale, dist.loc + 4.5 * dist.scale)
    pad = 0.08 * (hi - lo)
    x = np.linspace(lo - pad, hi + pad, 801)
    ax.plot(x, _pdf(dist, x), color="#c0392b", linewidth=1.4, label=f"exact {dist.kind} density")
    if math.isfinite(dist.low):
        for bound in (dist.low, dist.high):
            ax.axvline(bound, color="#333333", linestyle="--", linewidth=1.0)
        ax.plot([], [], color="#333333", linestyle="--",
                label=f"bounds [{dist.low:.4g}, {dist.high:.4g}]")


# --------------------------------------------------------------------------- #
# list, info
# --------------------------------------------------------------------------- #


def _aliases(cls: type) -> list[str]:
    return [name for name, c in registry.NAMES.items() if c is cls and name != cls.__name__]


def _list(args: argparse.Namespace) -> int:
    rows = [(name, getattr(cls, "kind"), ", ".join(_aliases(cls)))
            for name, cls in registry.CLASSES.items()]
    width = max(len(r[0]) for r in rows)
    print(f"{'class':<{width}}  {'kind':<8}  names fanin.get also accepts")
    for name, kind, aliases in rows:
        print(f"{name:<{width}}  {kind:<8}  {aliases}")
    return 0


_FAN_RULE = ("fans of a shape (Keras): rank 0: (1, 1); rank 1: (n, n); rank 2 (in, out): "
             "(in, out); rank >= 3 (*kernel, in, out): (in * prod(kernel), out * prod(kernel))")


_SCALING = {  # VarianceScaling's distribution -> what sqrt(scale / n) sets
    "truncated_normal": "std after truncation = sqrt({scale} / {n}) (pre-truncation std "
                        "that / 0.87962566, cut at +-2 pre-truncation std)",
    "untruncated_normal": "std = sqrt({scale} / {n})",
    "uniform": "uniform on [-limit, limit), limit = sqrt(3 * {scale} / {n})",
}


def _scaling_rule(init: Any) -> str:
    """VarianceScaling's rule with its (scale, mode, distribution) filled in."""
    n = {"fan_avg": "((fan_in + fan_out) / 2)"}.get(init.mode, init.mode)
    return _SCALING[init.distribution].format(scale=init.scale, n=n)


_ROLE = re.compile(r":(?:py:)?[a-z]+:`(~?)([^`]+)`( s\b)?")


def _plain(text: str) -> str:
    """Docstring text for a terminal: Sphinx roles and ``literals`` without markup."""
    def role(m: re.Match[str]) -> str:
        name = m.group(2).rsplit(".", 1)[-1] if m.group(1) else m.group(2)
        return name + ("s" if m.group(3) else "")
    return _ROLE.sub(role, text).replace("``", "")


def _doc(cls: type) -> tuple[str, str]:
    """(first line, the prose after it up to the first example) of a docstring."""
    lines = [t.strip() for t in (cls.__doc__ or "").strip().splitlines()]
    if not lines:
        return "", ""
    prose = lines[1:next((i for i, t in enumerate(lines) if t.startswith(">>>")), len(lines))]
    return _plain(lines[0]), _plain(" ".join(" ".join(prose).split()))


def _at_shape(draw: fanin.Draw, shape: tuple[int, ...]) -> str:
    """What a constant or matrix initializer gives at ``shape``."""
    if isinstance(draw, fanin.OrthogonalDraw):
        rows, cols = math.prod(shape[:-1]), shape[-1]
        side = "rows" if rows < cols else "columns"
        return (f"{shape}: a {rows} x {cols} matrix (rows: all but the last dimension) "
                f"with orthonormal {side}, times gain {draw.gain:g}")
    if isinstance(draw, fanin.IdentityDraw):
        return f"{shape}: {draw.gain:g} on the diagonal of a {shape[0]} x {shape[1]} matrix"
    if isinstance(draw, fanin.ConstantDraw):
        return f"{shape}: {math.prod(shape)} elements, every one {draw.value}"
    return f"{shape}"


def _info(args: argparse.Namespace) -> int:
    init = _lookup(args.identifier)
    shape = shapes.normalize_shape(args.shape)
    kind, core = _kind(init), _core_class(init)
    draw = copy.copy(init).draw(shape)  # a copy: the instance's calls stay at 0
    title, prose = _doc(core)
    lines = [f"{core.__name__}  ({kind})  {title}",
             f"config       {json.dumps(init.get_config())}",
             f"names        {', '.join(_aliases(core)) or '-'}"]
    dist = _distribution(draw)
    if kind == "random":
        fan_in, fan_out = _fans(init, shape)
        lines.append(f"fan rule     {_FAN_RULE}")
        if hasattr(init, "mode"):
            lines.append(f"scaling      {_scaling_rule(init)}")
    if dist is not None:
        mean, std = _moments_of(dist)
        lines += [f"formula      {dist.spec.formula}",
                  f"at shape     {shape}: fan_in {fan_in}, fan_out {fan_out}; "
                  f"{dist.kind}(loc={dist.loc:.6g}, scale={dist.scale:.6g}, "
                  f"bounds [{dist.low:.6g}, {dist.high:.6g}]); "
                  f"mean {mean:.6g}, std {std:.6g}"]
    else:
        if prose:
            lines.append(f"formula      {prose}")
        lines.append(f"at shape     {_at_shape(draw, shape)}")
    print("\n".join(lines))
    return 0


# --------------------------------------------------------------------------- #
# Entry point
# --------------------------------------------------------------------------- #

_COMMANDS = {"sample": _sample, "list": _list, "info": _info}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``fanin`` command; returns the exit status.

    >>> main(["sample", "lecun_normal", "--shape", "4", "2", "--seed", "0"])  # doctest: +ELLIPSIS
    initializer  LecunNormal  {"seed": 0}
    ...
    0
    """
    args = _parser().parse_args(argv)
    try:
        return _COMMANDS[args.command](args)
    except BrokenPipeError:  # e.g. `fanin sample ... | head -1`: stop quietly
        _silence_stdout()
        return 141  # what a shell reports for a command ended by SIGPIPE
    except (CLIError, ValueError, TypeError, OverflowError, MemoryError, OSError) as err:
        print(f"fanin: error: {err}", file=sys.stderr)
        return 2


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout without a file descriptor (tests, notebooks)
        pass


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
