#!/usr/bin/env python3
"""fanin on a GPU: fanin.jax, fanin.torch and the fused Triton kernel
(fanin.stream.triton) bit for bit against the NumPy reference, then a short benchmark.
Run from the source tree by scripts/gpu_check.sh.

    python3 scripts/gpu_check.py [--out result.json] [--quick] [--skip-bench]

No network and no installs: it uses whatever torch, JAX and Triton are importable (any
may be missing; that part is then reported as skipped). Without a GPU it runs the
same checks on CPU devices (degraded mode, to test the script itself); the Triton
kernel then runs only with TRITON_INTERPRET=1 (Triton's interpreter, small shapes),
and its benchmark is skipped. The host side is fanin's NumPy reference (the compiled
kernel is not needed).

Exit status: 0 when every check that ran matched, 1 when any value differed, 2 when
no framework could run at all. One JSON document with every result is written to
--out.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import traceback

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("FANIN_NO_KERNEL_WARNING", "1")

import numpy as np  # noqa: E402

import fanin  # noqa: E402
from fanin import stream  # noqa: E402

FORMATS = ("float32", "bfloat16", "float16", "float64")
DISTS = {"normal": stream.normal(0.3, 1.5), "truncated_normal": stream.truncated_normal(-0.25, 0.7),
         "truncated_general": stream.truncated_normal(0.5, 2.0, -1.0, 3.5),
         "uniform": stream.uniform(-0.5, 2.0)}
SHAPES = [(), (7,), (5, 6), (3, 8), (2, 3, 17), (1000, 1000)]
SEED, CALL = 12345, 3
# uniform_int: every integer format, full and odd ranges
INTS = [("int8", -100, 100), ("uint8", 0, 256), ("int16", -5, 1000), ("uint16", 0, 65536),
        ("int32", -2**31, 2**31), ("uint32", 7, 2**32 - 3), ("int64", -2**63, 2**63),
        ("uint64", 0, 2**64), ("uint64", 3, 2**64 - 7)]
# blocks of larger tensors (rows at every lane: offsets and widths not multiples of 4)
BLOCKS = [((64, 1001), (3, 5), (40, 997)), ((9, 10, 11), (1, 2, 3), (7, 3, 5))]


class Skipped(Exception):
    """A part that cannot run here (no device for it): reported as skipped."""


def reference(dist, fmt, shape, offset=None, block=None):
    """The NumPy reference (never the kernel): values as a numpy array (bfloat16: uint16 bits)."""
    p = stream.plan(SEED, CALL, dist, fmt, shape, offset, block)
    out = np.empty(p.block, np.uint16 if fmt == "bfloat16" else fmt)
    flat = out.reshape(-1)
    for start, starts, row_len in p.runs():
        stream.fill_reference_rows(flat[start:start + starts.size * row_len], p.key, p.call,
                                   p.dist, p.fmt, starts, row_len)
    return out


def compare(got_bits, want_bits, label, results):
    """Record whether two arrays have the same bytes; on a mismatch, where and how."""
    got_bits, want_bits = np.asarray(got_bits).reshape(-1), np.asarray(want_bits).reshape(-1)
    bad = np.flatnonzero(got_bits != want_bits)
    entry = {"check": label, "elements": int(want_bits.size), "mismatches": int(bad.size)}
    if bad.size:
        entry["first"] = [{"index": int(i), "got": hex(int(got_bits[i])),
                           "want": hex(int(want_bits[i]))} for i in bad[:5]]
    results.append(entry)
    print(f"  {'ok  ' if not bad.size else 'FAIL'} {label}: {bad.size} of {want_bits.size} differ",
          flush=True)


def as_bits(a, fmt):
    a = np.asarray(a)
    return a.view({"float64": np.uint64, "float32": np.uint32}.get(fmt, np.uint16))


def timed(fn, repeats):
    fn()  # compile / warm up
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


# --------------------------------------------------------------------------- #
# JAX
# --------------------------------------------------------------------------- #


def jax_checks(results, shapes):
    import jax
    jax.config.update("jax_enable_x64", True)  # float64 too; other formats are unaffected
    import jax.numpy as jnp

    import fanin.jax as fj
    from fanin.stream import jax as js

    device = jax.devices()[0]
    print(f"JAX {jax.__version__} on {device.platform} ({device})", flush=True)
    key = js.key_words(SEED)
    for fmt in FORMATS:
        for name, dist in DISTS.items():
            f = jax.jit(lambda k: [js.values(k, CALL, dist, fmt, s) for s in shapes])
            for shape, got in zip(shapes, f(jax.device_put(key, device))):
                compare(as_bits(got, fmt), as_bits(reference(dist, fmt, shape), fmt),
                        f"jax {fmt} {name} {shape}", results)
    for fmt in ("float32", "bfloat16"):
        got = jax.jit(lambda k: fj.lecun_normal()(k, (512, 256), jnp.dtype(fmt)))(jax.random.key(7))
        want = fanin.LecunNormal(seed=7).draw((512, 256), fmt).array()
        compare(as_bits(got, fmt), as_bits(want, fmt), f"jax lecun_normal {fmt}", results)
    return device.platform


def jax_bench(results, shape, repeats):
    import jax
    import jax.numpy as jnp

    import fanin.jax as fj
    n = math.prod(shape)
    for name, init in [("fanin.jax.lecun_normal", fj.lecun_normal()),
                       ("jax.nn.initializers.lecun_normal", jax.nn.initializers.lecun_normal())]:
        f = jax.jit(lambda k: init(k, shape, jnp.float32))
        k = jax.random.key(1)
        best = timed(lambda: f(k).block_until_ready(), repeats)
        results.append({"bench": name, "shape": shape, "best_s": best, "elements_per_s": n / best})
        print(f"  {name:36s} {best * 1e3:9.2f} ms  {n / best / 1e9:7.2f} G elem/s", flush=True)


# --------------------------------------------------------------------------- #
# torch
# --------------------------------------------------------------------------- #


def torch_checks(results, shapes):
    import torch

    from fanin.stream import torch as ts
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    print(f"torch {torch.__version__} on {device}", flush=True)
    dtypes = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16,
              "float64": torch.float64}
    bits = {"float32": torch.int32, "bfloat16": torch.int16, "float16": torch.int16,
            "float64": torch.int64}
    for fmt in FORMATS:
        for name, dist in DISTS.items():
            for shape in shapes:
                t = torch.empty(shape, dtype=dtypes[fmt], device=device)
                ts.fill_plan(t, stream.plan(SEED, CALL, dist, fmt, shape))
                got = t.view(bits[fmt]).cpu().numpy()
                want = reference(dist, fmt, shape).view(got.dtype)
                compare(got, want, f"torch {fmt} {name} {shape}", results)
    return device.type


def torch_bench(results, shape, repeats):
    import torch

    import fanin.torch as ft
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    n = math.prod(shape)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    t = torch.empty(shape, dtype=torch.float32, device=device)
    draw = fanin.LecunNormal(seed=1).draw(shape, "float32")
    std = 1.0 / math.sqrt(shape[0])

    def fanin_fill():
        ft.fill_with_torch_ops(t, draw)
        sync()

    def torch_fill():
        torch.nn.init.trunc_normal_(t, std=std, a=-2 * std, b=2 * std)
        sync()

    for name, fn in [("fanin.torch.fill_with_torch_ops", fanin_fill),
                     ("torch.nn.init.trunc_normal_", torch_fill)]:
        best = timed(fn, repeats)
        results.append({"bench": name, "shape": shape, "best_s": best, "elements_per_s": n / best})
        print(f"  {name:36s} {best * 1e3:9.2f} ms  {n / best / 1e9:7.2f} G elem/s", flush=True)


# --------------------------------------------------------------------------- #
# The fused Triton kernel
# --------------------------------------------------------------------------- #


def _triton_device():
    """(fanin.stream.triton, torch, device) or Skipped: CUDA, else the interpreter."""
    import torch
    if not torch.cuda.is_available() and os.environ.get("TRITON_INTERPRET") != "1":
        raise Skipped("no CUDA device (TRITON_INTERPRET=1 runs the kernel interpreted)")
    from fanin.stream import triton as ft
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if not ft.available(device):
        raise Skipped(f"the Triton kernel cannot run on {device} here")
    return ft, torch, device


def triton_checks(results, shapes):
    ft, torch, device = _triton_device()
    print(f"fanin.stream.triton (Triton {__import__('triton').__version__}) on {device}",
          flush=True)
    if device == "cpu":  # the interpreter: a few thousand elements per fill
        shapes = [s for s in shapes if math.prod(s) <= 4096]
    bits = {1: torch.int8, 2: torch.int16, 4: torch.int32, 8: torch.int64}

    def check(dist, fmt, shape, offset=None, block=None, label=""):
        p = stream.plan(SEED, CALL, dist, fmt, shape, offset, block)
        t = ft.fill_tensor(torch.empty(p.block, dtype=getattr(torch, fmt), device=device), p)
        got = t.view(bits[t.element_size()]).cpu().numpy()
        want = reference(dist, fmt, shape, offset, block).view(got.dtype)
        compare(got, want, f"triton {fmt} {label} {shape}{'' if block is None else block}",
                results)

    for fmt in FORMATS:
        for name, dist in DISTS.items():
            for shape in shapes:
                check(dist, fmt, shape, label=name)
            for shape, offset, block in BLOCKS[device == "cpu":]:
                check(dist, fmt, shape, offset, block, label=name)
    for fmt, lo, hi in INTS:
        for shape in shapes[-2:]:
            check(stream.uniform_int(lo, hi), fmt, shape, label=f"uniform_int[{lo},{hi})")
        check(stream.uniform_int(lo, hi), fmt, *BLOCKS[-1], label=f"uniform_int[{lo},{hi})")
    return device


def triton_bench(results, repeats, sizes):
    """fanin.stream.triton.fill_tensor (plan included) against torch's own fills, with
    the peak device memory each allocates beyond the tensor."""
    ft, torch, device = _triton_device()
    if device != "cuda":
        raise Skipped("the benchmark needs a CUDA device")
    for shape in sizes:
        for fmt in ("float32", "bfloat16"):
            _bench_tensor(ft, torch, shape, fmt, results, repeats)
            torch.cuda.empty_cache()


def _bench_tensor(ft, torch, shape, fmt, results, repeats):
    n = math.prod(shape)
    std = 1.0 / math.sqrt(shape[0]) if len(shape) > 1 else 0.02
    t = torch.empty(shape, dtype=getattr(torch, fmt), device="cuda")

    def fanin_fill(dist):
        return lambda: ft.fill_tensor(t, stream.plan(SEED, CALL, dist, fmt, shape))

    cases = [("fanin triton normal", fanin_fill(stream.normal(0.0, std))),
             ("fanin triton truncated_normal", fanin_fill(stream.truncated_normal(0.0, std))),
             ("fanin triton uniform", fanin_fill(stream.uniform(-std, std))),
             ("torch Tensor.normal_", lambda: t.normal_(0.0, std)),
             ("torch Tensor.uniform_", lambda: t.uniform_(-std, std)),
             ("torch.nn.init.trunc_normal_",
              lambda: torch.nn.init.trunc_normal_(t, std=std, a=-2 * std, b=2 * std))]
    for name, fill in cases:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        best = timed(lambda: (fill(), torch.cuda.synchronize()), repeats)
        extra = torch.cuda.max_memory_allocated() - base
        results.append({"bench": name, "dtype": fmt, "shape": shape, "best_s": best,
                        "elements_per_s": n / best, "extra_peak_bytes": extra})
        print(f"  {name:32s} {fmt:8s} {str(shape):14s} {best * 1e3:9.2f} ms "
              f"{n / best / 1e9:7.2f} G elem/s  +{extra / 2**20:8.1f} MiB peak", flush=True)

# --------------------------------------------------------------------------- #


def run_part(name, fn, summary, *args):
    try:
        summary[name] = fn(*args)
    except (ImportError, Skipped) as e:
        summary[name] = f"skipped: {e}"
        print(f"{name}: skipped ({e})", flush=True)
    except Exception:  # report and go on: the other framework's results still count
        summary[name] = "error: " + traceback.format_exc(limit=3)
        print(f"{name}: ERROR\n{traceback.format_exc()}", flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="gpu_check_result.json")
    ap.add_argument("--quick", action="store_true", help="small shapes and benchmark only")
    ap.add_argument("--skip-bench", action="store_true")
    args = ap.parse_args(argv)
    shapes = SHAPES[:-1] if args.quick else SHAPES
    results, summary = [], {"fanin_stream_version": fanin.STREAM_VERSION,
                            "kernel": stream.kernel_available()}
    t0 = time.perf_counter()
    run_part("jax", jax_checks, summary, results, shapes)
    run_part("torch", torch_checks, summary, results, shapes)
    run_part("triton", triton_checks, summary, results, shapes)
    if not args.skip_bench:
        on_gpu = "gpu" in str(summary.get("jax")) or "cuda" in str(summary.get("torch"))
        # GPU: 268M elements (16.8M with --quick); CPU (degraded): 1M, to test the script.
        shape = ((4096, 4096) if args.quick else (16384, 16384)) if on_gpu else (1024, 1024)
        repeats = 5 if on_gpu else 2
        if not str(summary.get("jax", "")).startswith(("skipped", "error")):
            run_part("jax_bench", jax_bench, summary, results, shape, repeats)
        if not str(summary.get("torch", "")).startswith(("skipped", "error")):
            run_part("torch_bench", torch_bench, summary, results, shape, repeats)
        if summary.get("triton") == "cuda":
            # 4096 x 4096 and 2**30 elements (4 GiB in float32); --quick: the first only
            sizes = [(4096, 4096)] + ([] if args.quick else [(1 << 30,)])
            run_part("triton_bench", triton_bench, summary, results, repeats, sizes)
    checks = [r for r in results if "check" in r]
    failed = [r["check"] for r in checks if r["mismatches"]]
    errors = [k for k, v in summary.items() if str(v).startswith("error")]
    summary.update(checks=len(checks), failed=failed, errors=errors,
                   seconds=time.perf_counter() - t0)
    with open(args.out, "w") as f:
        json.dump({"summary": summary, "results": results}, f, indent=1)
    print(f"{len(checks)} checks, {len(failed)} failed, errors in {errors or 'none'}; "
          f"{summary['seconds']:.0f} s; results in {args.out}")
    if not checks:
        return 2
    return 1 if failed or errors else 0


if __name__ == "__main__":
    sys.exit(main())
