#!/usr/bin/env python
"""fanin benchmark: LecunNormal-equivalent truncated normal against the memory limit
and every installed framework, in one run.

    python benchmarks/bench.py                 # full run (~10-15 min on 2 cores)
    python benchmarks/bench.py --quick         # harness check (1M elements only)
    python benchmarks/bench.py --sizes 16.8M --dtypes float32 --peers numpy,torch

Results go to a new file, benchmarks/results/run-<date>.json, unless --json names
one. The modules: peers.py (what is measured), harness.py (subprocesses, timing,
peak memory), stages.py (the kernel's per-stage figures, the host), targets.py (the
targets per host kind), report.py (tables, PASS/FAIL per target, the chart). See
benchmarks/README.md for what each column means.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

import harness
import peers
import report

RESULTS = os.path.join(harness.HERE, "results")
REFERENCE_MAX_N = 100_000_000  # above this, fanin's NumPy reference runs only with --full
THREADS_MIN_N = 10_000_000     # thread scaling is measured at sizes from here up
BIG_N = 100_000_000            # cases this large get fewer timed calls


def parse_size(text: str):
    """'16.8M' / '4096x4096' / '1000000' -> (label, shape)."""
    text = text.strip()
    if text in peers.SIZES:
        return text, peers.SIZES[text]
    if "x" in text:
        return text, tuple(int(p) for p in text.split("x"))
    return text, (int(float(text)),)


def _parser():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", help="comma list of 1M,16.8M,268M or RxC shapes "
                    "(default: all three; --quick: 1M)")
    ap.add_argument("--dtypes", default=",".join(peers.DTYPES),
                    help="comma list (default: %(default)s)")
    ap.add_argument("--peers", default=",".join(peers.peer_names()),
                    help="comma list of peers to run, or 'none' (default: %(default)s)")
    ap.add_argument("--quick", action="store_true",
                    help="harness check: 1M only, short timing budget")
    ap.add_argument("--full", action="store_true",
                    help="also time fanin's NumPy reference at 268M (slow)")
    ap.add_argument("--json", help="output JSON (default: a new results/run-<date>.json)")
    ap.add_argument("--chart", metavar="FILE.png", help="also draw the chart (matplotlib)")
    ap.add_argument("--budget", type=float, help="seconds per timed case (default 1.5; quick 0.3)")
    ap.add_argument("--no-memory", action="store_true", help="skip peak-memory subprocesses")
    ap.add_argument("--no-small", action="store_true", help="skip small-shape overhead")
    ap.add_argument("--no-threads", action="store_true", help="skip thread scaling")
    ap.add_argument("--no-kernel", action="store_true",
                    help="skip the kernel's per-stage figures, the pre-touched fill and init.fill")
    ap.add_argument("--quiet-wait", type=float, default=10.0,
                    help="before each subprocess, wait up to this many seconds for other "
                    "processes to leave the CPUs idle (default %(default)s; 0: never)")
    ap.add_argument("--quiet-budget", type=float, default=60.0,
                    help="total seconds such waits may take in one run (default %(default)s)")
    return ap


def _choices(ap, text, allowed, what):
    items = [t.strip() for t in text.split(",") if t.strip()]
    for item in items:
        if item not in allowed:
            ap.error(f"unknown {what} {item!r}; expected {tuple(allowed)}")
    return items


def log(msg):
    print(msg, file=sys.stderr, flush=True)


class Run:
    """One benchmark run: its settings and the records it collects."""

    def __init__(self, args, sizes, dtypes, peer_list):
        self.args, self.sizes, self.dtypes, self.peers = args, sizes, dtypes, peer_list
        self.budget = args.budget or (0.3 if args.quick else 1.5)
        self.impls = ["fill", "fanin", "fanin-ref"] + peer_list
        self.res = {"config": {"sizes": [s for s, _ in sizes],
                               "shapes": {s: list(sh) for s, sh in sizes},
                               "dtypes": dtypes, "peers": peer_list, "quick": args.quick,
                               "full": args.full, "budget_s": self.budget,
                               "argv": sys.argv[1:]},
                    "machine": harness.machine_info(), "throughput": [], "memory": [],
                    "small": [], "threads": [], "notes": []}

    def reference_skipped(self, impl, shape):
        return impl == "fanin-ref" and math.prod(shape) > REFERENCE_MAX_N and not self.args.full

    def throughput(self):
        """One subprocess per (implementation, size); a crash reruns the rest one by one."""
        log("throughput:")
        for label, shape in self.sizes:
            base = {"size": label, "shape": list(shape), "n": math.prod(shape)}
            big = base["n"] > BIG_N
            for impl in self.impls:
                if self.reference_skipped(impl, shape):
                    self.res["throughput"] += [
                        {**base, "impl": impl, "dtype": d,
                         "status": "skipped: slow at 268M (run with --full)"} for d in self.dtypes]
                    continue
                task = {"kind": "throughput", "impl": impl, **base, "dtypes": self.dtypes,
                        "budget": self.budget, "kmin": 2 if big else 3,
                        "kmax": 3 if big else 200, "mem_factor": peers.IMPLS[impl].mem_factor}
                self._throughput_task(task, {**base, "impl": impl})

    def _throughput_task(self, task, base):
        recs, err = harness.run_worker(task, 900, log)
        self.res["throughput"] += recs
        if not err:
            return
        left = [d for d in self.dtypes if d not in {r["dtype"] for r in recs}]
        for i, d in enumerate(left):  # the first crashed; the others get a fresh process
            if i == 0:
                self.res["throughput"].append({**base, "dtype": d, "status": f"failed: {err}"})
                continue
            recs2, err2 = harness.run_worker({**task, "dtypes": [d]}, 900, log)
            self.res["throughput"] += recs2 or [{**base, "dtype": d, "status": f"failed: {err2}"}]

    def memory(self):
        """One subprocess per (implementation, size, dtype)."""
        log("peak memory:")
        for label, shape in self.sizes:
            n = math.prod(shape)
            for impl in self.impls:
                for d in self.dtypes:
                    base = {"impl": impl, "size": label, "shape": list(shape), "n": n, "dtype": d}
                    self.res["memory"] += self._memory_case(base, impl, shape, n)

    def _memory_case(self, base, impl, shape, n):
        if self.reference_skipped(impl, shape):
            return [{**base, "status": "skipped: slow at 268M"}]
        prev = next((r for r in self.res["throughput"] if r["impl"] == impl and
                     r["size"] == base["size"] and r["dtype"] == base["dtype"]), None)
        if prev and prev["status"].startswith(("skipped", "failed")):
            return [{**base, "status": "not measured (speed case did not run)"}]
        task = {"kind": "memory", **base, "mem_factor": peers.IMPLS[impl].mem_factor,
                "tracemalloc": impl in ("fill", "fanin", "fanin-ref", "numpy")
                and n <= harness.TRACEMALLOC_MAX_N}
        recs, err = harness.run_worker(task, 600, log)
        return recs or [{**base, "status": f"failed: {err}"}]

    def small(self):
        """Per-call overhead of tiny shapes."""
        log("small shapes:")
        for impl in ["np.standard_normal", "np.normal", "fanin", "fanin-ref"] + self.peers:
            task = {"kind": "small", "impl": impl,
                    "shapes": [list(s) for s in peers.SMALL_SHAPES],
                    "target": 0.1 if self.args.quick else 0.25}
            recs, err = harness.run_worker(task, 300, log)
            self.res["small"] += recs
            if err and len(recs) < len(peers.SMALL_SHAPES):
                self.res["small"] += [{"impl": impl, "shape": list(s), "dtype": "float32",
                                       "status": f"failed: {err}"}
                                      for s in peers.SMALL_SHAPES[len(recs):]]

    def threads(self):
        """fanin's 1-thread vs 2-thread rate."""
        log("thread scaling:")
        sizes = [(lbl, list(sh)) for lbl, sh in self.sizes if math.prod(sh) >= THREADS_MIN_N]
        if not sizes:
            sizes = [(self.sizes[-1][0], list(self.sizes[-1][1]))]
            self.res["notes"].append("thread scaling measured at the largest size run "
                                     "(quick run); its target is defined at 16.8M and 268M")
        big = any(math.prod(sh) > BIG_N for _, sh in sizes)
        task = {"kind": "threads", "sizes": sizes, "dtype": "float32",
                "budget": self.budget, "kmin": 2 if big else 3, "kmax": 50}
        recs, err = harness.run_worker(task, 600, log)
        self.res["threads"] += recs or [{"status": f"failed: {err}"}]

    def kernel(self):
        """The kernel's stages, the pre-touched fill vs torch, init.fill's call cost."""
        log("kernel stages:")
        recs, err = harness.run_worker({"kind": "kernel"}, 600, log)
        for r in recs:
            self.res[r.pop("part")] = r
        if err:
            self.res["notes"].append(f"kernel stages: {err}")

    def finish(self, t_start):
        res = self.res
        report.add_ratios(res, self.peers)
        res["targets"] = report.evaluate_targets(res)
        res["machine"]["loadavg_end"] = os.getloadavg()
        res["elapsed_s"] = time.time() - t_start
        res["quiet_wait_total_s"] = harness.QUIET["waited"]
        res["notes"].append("Melem/s = 1e6 elements per second of the best call; each call "
                            "allocates its output. x fill = rate / memory-limit rate of the "
                            "same size and dtype; x peer = rate / fastest peer's rate (numpy, "
                            "torch, timm, jax, tf) of the same size and dtype; peak+MiB = peak "
                            "RSS during one call minus the RSS before it minus the output size.")
        res["implementations"] = {r["impl"]: r["info"] for r in res["throughput"] if r.get("info")}
        res["table"] = report.render(res)
        return res


def _write(res, path):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(res, f, indent=1, default=str)
    os.replace(tmp, path)


def main(argv=None):
    ap = _parser()
    args = ap.parse_args(argv)
    t_start = time.time()
    sizes = [parse_size(s) for s in (args.sizes or ("1M" if args.quick else "1M,16.8M,268M"))
             .split(",")]
    dtypes = _choices(ap, args.dtypes, peers.DTYPES, "dtype")
    peer_list = [] if args.peers.strip() == "none" else _choices(ap, args.peers,
                                                                 peers.peer_names(), "peer")
    harness.QUIET.update(max_wait=args.quiet_wait, budget=args.quiet_budget)
    run = Run(args, sizes, dtypes, peer_list)
    run.throughput()
    if not args.no_memory:
        run.memory()
    if not args.no_small:
        run.small()
    if not args.no_threads:
        run.threads()
    if not args.no_kernel:
        run.kernel()
    res = run.finish(t_start)
    print(res["table"])
    path = args.json or os.path.join(RESULTS, time.strftime("run-%Y%m%d-%H%M%S.json"))
    _write(res, path)
    print(f"wrote {path}")
    if args.chart:
        report.chart(res, args.chart)
        print(f"wrote {args.chart}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
