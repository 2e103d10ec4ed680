#!/usr/bin/env python
"""fanin at scale: shard-local DTensor init on gloo ranks, Dask throughput, Zarr memory.

    python benchmarks/bench_scale.py                    # everything (~2-4 min on 2 cores)
    python benchmarks/bench_scale.py --parts dtensor --ranks 1,2,4 --shape 8192 8192
    python benchmarks/bench_scale.py --parts dask,zarr --zarr-mib 2048

Parts (each measurement in a process of its own, so peaks do not mix):

- ``dtensor``: ``fanin.torch.lecun_normal_`` on a ``Shard(0)`` DTensor of ``--shape``
  (torch layout: a Linear weight), on 1, 2 and 4 gloo ranks on this machine, against
  the same call on a plain tensor in one process. Each rank fills its own shard (no
  communication) with ``cpus // ranks`` kernel threads; the time is barrier to
  barrier, the slowest rank's, best of ``--repeat``. Also each rank's peak RSS.
- ``dask``: ``fanin.dask.lecun_normal(shape, chunks)`` stored into a NumPy array
  (``da.store``, threaded scheduler) and computed (``.compute()``: plus the
  concatenation), against ``LecunNormal.fill`` of the same array in one call.
- ``zarr``: a ``--zarr-mib`` tensor written chunk by chunk with ``to_zarr`` (threaded
  scheduler) in a fresh process: its peak RSS against the tensor's size.

On a shared machine the numbers move with the other load: say so when quoting them.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
MIB = 1 << 20


def _peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _run_json(args):
    """Run this script with ``args`` in a fresh process; return the JSON it prints last."""
    env = {**os.environ, "PYTHONPATH": REPO + os.pathsep + os.environ.get("PYTHONPATH", "")}
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True,
                         env=env, check=False)
    if out.returncode != 0:
        return {"failed": (out.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(out.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- #
# DTensor on gloo ranks
# --------------------------------------------------------------------------- #


def _rank_main(rank, world, store, shape, repeat, result_path):
    import torch
    import torch.distributed as dist
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.tensor import Shard
    from torch.distributed.tensor import empty as dtensor_empty

    import fanin
    import fanin.torch as ft

    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    fanin.set_num_threads(max(1, os.cpu_count() // world))
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world)
    mesh = init_device_mesh("cpu", (world,))
    dt = dtensor_empty(*shape, device_mesh=mesh, placements=[Shard(0)])
    ft.lecun_normal_(dt, seed=0)  # warm-up: pages touched, kernel loaded
    best = float("inf")
    for _ in range(repeat):
        dist.barrier()
        start = time.perf_counter()
        ft.lecun_normal_(dt, seed=0)
        slowest = torch.tensor([time.perf_counter() - start], dtype=torch.float64)
        dist.all_reduce(slowest, op=dist.ReduceOp.MAX)
        best = min(best, float(slowest))
    rss = torch.tensor([_peak_rss_mib()], dtype=torch.float64)
    dist.all_reduce(rss, op=dist.ReduceOp.MAX)
    if rank == 0:
        with open(result_path, "w") as f:
            json.dump({"seconds": best, "peak_rss_mib_max_rank": float(rss),
                       "local_mib": dt.to_local().numel() * 4 / MIB}, f)
    dist.destroy_process_group()


def measure_dtensor(world, shape, repeat):
    import torch.multiprocessing as mp
    with tempfile.TemporaryDirectory() as tmp:
        result = os.path.join(tmp, "result.json")
        mp.spawn(_rank_main, args=(world, os.path.join(tmp, "store"), shape, repeat, result),
                 nprocs=world, join=True)
        with open(result) as f:
            return json.load(f)


def measure_plain(shape, repeat):
    import torch

    import fanin.torch as ft
    t = torch.empty(shape)
    ft.lecun_normal_(t, seed=0)
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        ft.lecun_normal_(t, seed=0)
        best = min(best, time.perf_counter() - start)
    return {"seconds": best, "peak_rss_mib_max_rank": _peak_rss_mib(),
            "local_mib": t.numel() * 4 / MIB}


# --------------------------------------------------------------------------- #
# Dask
# --------------------------------------------------------------------------- #


def _best(fn, repeat):
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def measure_dask(shape, chunks, repeat):
    import dask.array as da
    import numpy as np

    import fanin
    import fanin.dask as fd
    out = np.empty(shape, np.float32)
    fill = _best(lambda: fanin.LecunNormal(seed=0).fill(out), repeat)
    x = fd.lecun_normal(shape, chunks=chunks, seed=0)
    store = _best(lambda: da.store(x, out, scheduler="threads", lock=False), repeat)
    compute = _best(lambda: x.compute(scheduler="threads"), repeat)
    assert (out == fanin.LecunNormal(seed=0)(shape)).all()
    return {"fill_s": fill, "dask_store_s": store, "dask_compute_s": compute,
            "chunks": [len(c) for c in x.chunks]}


def measure_zarr(mib, chunk_mib):
    import numpy as np

    import fanin.dask as fd
    side = int((mib * MIB / 4) ** 0.5)
    chunk = int((chunk_mib * MIB / 4) ** 0.5)
    x = fd.lecun_normal((side, side), chunks=(chunk, chunk), seed=0)
    base = _peak_rss_mib()
    with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR")) as tmp:
        start = time.perf_counter()
        x.to_zarr(os.path.join(tmp, "w.zarr"), compute=True)
        seconds = time.perf_counter() - start
        import zarr
        z = zarr.open_array(os.path.join(tmp, "w.zarr"), mode="r")
        corner = z[:chunk, :chunk]
    assert np.array_equal(corner, x[:chunk, :chunk].compute(scheduler="sync"))
    return {"tensor_mib": side * side * 4 / MIB, "chunk_mib": chunk * chunk * 4 / MIB,
            "seconds": seconds, "peak_rss_mib": _peak_rss_mib(), "rss_before_mib": base}


# --------------------------------------------------------------------------- #
# Driver
# --------------------------------------------------------------------------- #


def _child(args):
    """``--child WHAT``: one measurement, printed as JSON."""
    shape = tuple(args.shape)
    if args.child == "plain":
        result = measure_plain(shape, args.repeat)
    elif args.child.startswith("dtensor"):
        result = measure_dtensor(int(args.child[len("dtensor"):]), shape, args.repeat)
    elif args.child == "dask":
        result = measure_dask(shape, tuple(args.chunks), args.repeat)
    else:
        result = measure_zarr(args.zarr_mib, args.chunk_mib)
    print(json.dumps(result))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--parts", default="dtensor,dask,zarr")
    p.add_argument("--shape", type=int, nargs=2, default=[8192, 8192])
    p.add_argument("--ranks", default="1,2,4")
    p.add_argument("--chunks", type=int, nargs=2, default=[1024, 1024])
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--zarr-mib", type=int, default=1024)
    p.add_argument("--chunk-mib", type=int, default=16)
    p.add_argument("--json", help="also write the results here")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        return _child(args)
    common = ["--shape", *map(str, args.shape), "--repeat", str(args.repeat)]
    parts, results = args.parts.split(","), {}
    elements = args.shape[0] * args.shape[1]
    print(f"machine: {os.cpu_count()} cpus; shared machines vary between runs")
    if "dtensor" in parts:
        print(f"\nDTensor Shard(0) {tuple(args.shape)} float32, lecun_normal_ (torch layout)")
        print(f"{'setting':<28}{'ms':>10}{'M elem/s':>12}{'local MiB':>11}{'peak RSS MiB':>14}")
        runs = [("plain tensor, 1 process", "plain")]
        runs += [(f"DTensor, {n} gloo rank(s)", f"dtensor{n}") for n in args.ranks.split(",")]
        for label, child in runs:
            r = results[child] = _run_json(["--child", child, *common])
            if "failed" in r:
                print(f"{label:<28} failed: {r['failed']}")
                continue
            print(f"{label:<28}{r['seconds'] * 1e3:>10.1f}{elements / r['seconds'] / 1e6:>12.0f}"
                  f"{r['local_mib']:>11.0f}{r['peak_rss_mib_max_rank']:>14.0f}")
    if "dask" in parts:
        r = results["dask"] = _run_json(["--child", "dask", *common,
                                         "--chunks", *map(str, args.chunks)])
        print(f"\nDask {tuple(args.shape)} float32 in {tuple(args.chunks)} chunks, threads")
        if "failed" in r:
            print(f"failed: {r['failed']}")
        else:
            for key, label in [("fill_s", "LecunNormal.fill (one call)"),
                               ("dask_store_s", "fanin.dask + da.store"),
                               ("dask_compute_s", "fanin.dask .compute()")]:
                print(f"{label:<32}{r[key] * 1e3:>10.1f} ms{elements / r[key] / 1e6:>10.0f} M elem/s"
                      f"{r['fill_s'] / r[key]:>8.2f}x fill")
    if "zarr" in parts:
        r = results["zarr"] = _run_json(["--child", "zarr", "--zarr-mib", str(args.zarr_mib),
                                         "--chunk-mib", str(args.chunk_mib)])
        print("\nto_zarr chunk by chunk (threads)")
        if "failed" in r:
            print(f"failed: {r['failed']}")
        else:
            print(f"tensor {r['tensor_mib']:.0f} MiB in {r['chunk_mib']:.0f} MiB chunks: "
                  f"{r['seconds']:.1f} s, peak RSS {r['peak_rss_mib']:.0f} MiB "
                  f"({r['rss_before_mib']:.0f} MiB before writing)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
