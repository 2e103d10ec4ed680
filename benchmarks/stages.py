#!/usr/bin/env python
"""Micro-benchmark of the compiled kernel's stages, and the host it runs on.

    python benchmarks/stages.py            # per-stage table for this host
    python benchmarks/stages.py --json F   # also write the records

Per element, one thread, cache-resident (16,384 elements), each figure the best of
several repetitions of the calling thread's CPU time (``time.thread_time``: on a
machine shared with other work this is far steadier than wall time):

- ``philox``: the Philox4x32-10 words alone (``philox_words``), times words/element;
- ``transform+store``: the transform, rounding, clamp and store on given words
  (``transform_words``), no Philox;
- ``store``: ``ndarray.fill`` of the same array (the stores alone);
- ``fused``: the whole kernel loop (``fill``, one thread).

``fused / (philox + transform+store)`` near 1.0 says the loop costs what its parts
cost: no intermediate buffer, no second pass. ``x +-2`` is a kind's fused cost over
the Keras truncated normal's (the +-2 path) in the same format.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time

N = 16_384
KINDS = {  # name -> (constructor name, args)
    "uniform": ("uniform", (-1.0, 1.0)),
    "+-2": ("truncated_normal", (0.0, 1.0, -2.0, 2.0)),
    "normal": ("normal", (0.0, 1.0)),
    "general": ("truncated_normal", (0.0, 1.0, -100.0, 100.0)),  # timm's std=.02 bounds
}
FORMATS = {"float32": "float32", "bfloat16": "uint16", "float64": "float64"}


def host_info() -> dict:
    """CPU model, the vector extensions fanin's kernel can use, and the host kind."""
    model, flags = "", set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and not model:
                    model = value.strip()
                elif key.strip() == "flags" and not flags:
                    flags = set(value.split())
    except OSError:
        model = platform.processor()
    avx512 = {"avx512f", "avx512dq", "avx512bw", "avx512vl"} <= flags
    if "AMD EPYC" in model:
        kind = "amd-epyc"
    elif "Intel" in model and avx512:
        kind = "intel-avx512"
    else:
        kind = "other"
    isa = None
    try:
        from fanin.stream.kernel import KERNEL

        isa = KERNEL.isa() if KERNEL is not None else None
    except ImportError:
        pass
    return {"cpu": model, "avx512": avx512, "avx2": "avx2" in flags, "host_kind": kind,
            "kernel_isa": isa}


def _cpu_ns(f, n: int, reps: int) -> float:
    t = time.thread_time()
    for _ in range(reps):
        f()
    return (time.thread_time() - t) / reps / n * 1e9


def _cases(n: int):
    """name -> call, for every stage of every (format, kind)."""
    import numpy as np
    from fanin import stream
    from fanin.stream.kernel import KERNEL as kernel

    words = np.empty(2 * n, np.uint32)
    kernel.philox_words(words, 1, 2, 0)
    starts = np.zeros(1, np.uint64)
    cases = {("philox",): lambda: kernel.philox_words(words[:n], 1, 2, 0)}
    for fmt, np_type in FORMATS.items():
        per, out = stream.words_per_element(fmt), np.empty(n, np_type)
        cases[(fmt, "store")] = lambda out=out: out.fill(1)
        for name, (ctor, args) in KINDS.items():
            a = (fmt,) + stream.kernel_args(getattr(stream, ctor)(*args), fmt)
            cases[(fmt, name, "fused")] = lambda out=out, a=a: kernel.fill(
                out, a[0], 1, 2, *a[1:], starts, n, threads=1)
            cases[(fmt, name, "transform_store")] = lambda out=out, a=a, w=words[:n * per]: (
                kernel.transform_words(w, out, *a))
    return cases


def stage_figures(n: int = N, reps: int = 100, rounds: int = 11) -> dict:
    """ns per element of each stage, per (kind, format); see the module docstring.
    Every case is timed once per round, rounds interleaved, best round kept: a burst
    of load elsewhere then touches every case alike."""
    from fanin import stream
    from fanin.stream.kernel import KERNEL

    cases = _cases(n)
    best = dict.fromkeys(cases, float("inf"))
    for _ in range(rounds):
        for key, f in cases.items():
            best[key] = min(best[key], _cpu_ns(f, n, reps))
    philox, rows = best[("philox",)], []
    for fmt in FORMATS:
        per = stream.words_per_element(fmt)
        for name in KINDS:
            fused, tstore = best[(fmt, name, "fused")], best[(fmt, name, "transform_store")]
            rows.append({"fmt": fmt, "kind": name, "philox_ns": philox * per,
                         "transform_store_ns": tstore, "store_ns": best[(fmt, "store")],
                         "fused_ns": fused, "fused_vs_parts": fused / (philox * per + tstore),
                         "x_pm2": fused / best[(fmt, "+-2", "fused")]})
    return {"n": n, "philox_ns_per_word": philox, "isa": KERNEL.isa(), "rows": rows}


def pretouched_vs_torch(n: int = 1 << 24, trials: int = 7) -> dict:
    """``init.fill(out)`` of a pre-touched float32 array against torch's ``Tensor.fill_``
    of a pre-touched tensor, the same thread count, best wall time of each."""
    import numpy as np

    import fanin

    try:
        import torch
    except ImportError:
        return {"status": "skipped: torch not installed"}
    threads = fanin.get_num_threads()
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    init, out, t = fanin.LecunNormal(seed=0), np.ones(n, np.float32), torch.ones(n)
    best = {"fanin": float("inf"), "torch": float("inf")}
    try:
        for _ in range(trials):  # interleaved: both see the same machine
            for name, f in (("fanin", lambda: init.fill(out)), ("torch", lambda: t.fill_(1.0))):
                t0 = time.perf_counter()
                f()
                best[name] = min(best[name], time.perf_counter() - t0)
    finally:
        torch.set_num_threads(before)
    return {"status": "ok", "n": n, "threads": threads, "fanin_s": best["fanin"],
            "torch_s": best["torch"], "ratio": best["torch"] / best["fanin"]}


def init_fill_us(n: int = 4096, number: int = 2000, trials: int = 5) -> dict:
    """Microseconds per ``init.fill(out)`` call on an n-element float32 array."""
    import numpy as np

    import fanin

    init, out = fanin.LecunNormal(seed=0), np.empty(n, np.float32)
    init.fill(out)
    best = float("inf")
    for _ in range(trials):
        t0 = time.perf_counter()
        for _ in range(number):
            init.fill(out)
        best = min(best, (time.perf_counter() - t0) / number)
    return {"status": "ok", "n": n, "us": best * 1e6}


def render(rec: dict) -> str:
    out = [f"kernel stages, ns per element (1 thread, {rec['n']:,} elements, CPU time, "
           f"ISA {rec['isa']}); Philox {rec['philox_ns_per_word']:.3f} ns per word",
           "| format | kind | philox | transform+store | store | fused | fused/parts | x +-2 |",
           "|---|---|---|---|---|---|---|---|"]
    for r in rec["rows"]:
        out.append(f"| {r['fmt']} | {r['kind']} | {r['philox_ns']:.3f} | "
                   f"{r['transform_store_ns']:.3f} | {r['store_ns']:.3f} | "
                   f"**{r['fused_ns']:.3f}** | {r['fused_vs_parts']:.2f} | {r['x_pm2']:.2f} |")
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", help="write the records here")
    args = ap.parse_args(argv)
    rec = {"host": host_info(), **stage_figures()}
    h = rec["host"]
    print(f"host: {h['cpu']} ({h['host_kind']}), AVX-512 {'yes' if h['avx512'] else 'no'}, "
          f"AVX2 {'yes' if h['avx2'] else 'no'}")
    print(render(rec))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rec, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
