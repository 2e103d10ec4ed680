#!/usr/bin/env python
"""fanin.jax against jax.nn.initializers: lecun_normal under jax.jit, same machine.

    python benchmarks/bench_jax.py                    # float32, 4096 x 4096 (16.8M elements)
    python benchmarks/bench_jax.py --shape 1024 1024 --repeats 5 --dtype bfloat16

Both initializers are jitted with the key as the argument, compiled once (not
timed), then run ``--repeats`` times with ``block_until_ready``; the best and the
median time are reported, with the ratio of medians (> 1: fanin.jax is faster).
On a machine shared with other jobs, the best time is the steadier figure.
Prints one JSON line with every number and the JAX backend/devices used.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time

os.environ.setdefault("FANIN_NO_KERNEL_WARNING", "1")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

import fanin.jax as fj  # noqa: E402


def time_init(init, shape, dtype, repeats):
    """Seconds per call of the jitted ``init(key, shape, dtype)``: (best, median)."""
    f = jax.jit(lambda k: init(k, shape, dtype))
    key = jax.random.key(0)
    f(key).block_until_ready()  # compile and warm up
    times = []
    for i in range(repeats):
        k = jax.random.key(i + 1)
        t0 = time.perf_counter()
        f(k).block_until_ready()
        times.append(time.perf_counter() - t0)
    return min(times), statistics.median(times)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shape", type=int, nargs="+", default=[4096, 4096])
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args(argv)
    shape, dtype = tuple(args.shape), jnp.dtype(args.dtype)
    n = math.prod(shape)
    result = {"shape": shape, "dtype": dtype.name, "elements": n, "repeats": args.repeats,
              "backend": jax.default_backend(), "devices": [str(d) for d in jax.devices()],
              "jax": jax.__version__}
    for name, init in [("fanin.jax", fj.lecun_normal()),
                       ("jax.nn.initializers", jax.nn.initializers.lecun_normal())]:
        best, median = time_init(init, shape, dtype, args.repeats)
        result[name] = {"best_s": best, "median_s": median, "elements_per_s": n / best}
        print(f"{name:22s} best {best * 1e3:9.2f} ms  median {median * 1e3:9.2f} ms  "
              f"{n / best / 1e9:6.3f} G elem/s", flush=True)
    result["speedup_median"] = result["jax.nn.initializers"]["median_s"] / result["fanin.jax"]["median_s"]
    result["speedup_best"] = result["jax.nn.initializers"]["best_s"] / result["fanin.jax"]["best_s"]
    print(f"fanin.jax speed-up over jax.nn.initializers: {result['speedup_median']:.2f}x "
          f"(median), {result['speedup_best']:.2f}x (best)")
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
