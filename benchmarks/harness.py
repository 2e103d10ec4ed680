"""How the benchmark measures: one subprocess per case, timing, peak memory.

The driver (``run_worker``) starts ``python harness.py TASK_JSON``; the worker runs
one task and prints its records as ``RESULT {json}`` lines. So a peer that runs out
of memory or crashes is reported as "failed: ..." and the run goes on, and one
case's allocations never show in another's peak.
"""

from __future__ import annotations

import gc
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time

import peers
import stages

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
MIB = 1 << 20
HEADROOM = 512 << 20        # bytes kept free beyond a case's estimated peak
SLOW_CALL_S = 5.0           # a warm-up call slower than this is the only (timed) call
TWO_CALLS_S = 2.0           # a warm-up call slower than this: two timed calls suffice
SECOND_PEAK_MAX_N = 20_000_000  # up to this size the memory case repeats the call
TRACEMALLOC_MAX_N = 20_000_000  # and also traces Python allocations


# --------------------------------------------------------------------------- #
# Worker side
# --------------------------------------------------------------------------- #


def emit(obj) -> None:
    sys.stdout.write("RESULT " + json.dumps(obj) + "\n")
    sys.stdout.flush()


def outcome(e: Exception) -> str:
    """The status of a case that raised: a skip when unavailable, else a failure."""
    if isinstance(e, peers.Unavailable):
        return f"skipped: {e}"
    text = str(e).splitlines()[0][:160] if str(e) else ""
    return f"failed: {type(e).__name__}: {text}"


def proc_status() -> dict:
    """VmRSS and VmHWM (peak RSS) of this process, in bytes."""
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0]) * 1024
    return out


def reset_hwm() -> bool:
    """Reset the kernel's peak-RSS mark of this process (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def mem_available() -> int:
    """Bytes of memory available now (fanin's own reading of /proc/meminfo)."""
    from fanin.shapes import available_memory
    return available_memory() or (1 << 62)


def time_calls(f, budget: float, kmin: int, kmax: int):
    """Warm up once, then k timed calls with k sized so the case takes ~budget s."""
    t0 = time.perf_counter()
    r = f()
    warm = time.perf_counter() - t0
    del r
    if warm > SLOW_CALL_S:
        # A call this slow has nothing left to warm (the JIT peers compile in well
        # under a second): it is the measurement, so the run stays within minutes.
        return warm, [warm]
    if warm > TWO_CALLS_S:
        kmin = min(kmin, 2)
    k = max(kmin, min(kmax, int(budget / max(warm, 1e-9))))
    times = []
    for _ in range(k):
        t0 = time.perf_counter()
        r = f()
        times.append(time.perf_counter() - t0)
        del r
    return warm, times


def per_call_us(f, target=0.25, repeats=5):
    """Best per-call time in microseconds (timeit-style: loops sized to ~target s)."""
    f()
    loops = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(loops):
            f()
        dt = time.perf_counter() - t0
        if dt >= target / repeats or loops >= 1 << 20:
            break
        loops *= 4 if dt < target / repeats / 8 else 2
    best = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(loops):
            f()
        best.append((time.perf_counter() - t0) / loops)
    return min(best) * 1e6, statistics.median(best) * 1e6, loops


def warm_up(impl, dtype: str) -> None:
    """One untimed call on a tiny tensor: lazy imports (ml_dtypes for bfloat16) and
    thread pools, which would otherwise land in a case's first call."""
    impl.make((8, 8), dtype)()
    gc.collect()


def _short_of_memory(rec: dict, need: int) -> bool:
    avail = mem_available()
    if avail >= need:
        return False
    rec["status"] = (f"skipped: needs ~{need / 2**30:.1f} GiB, "
                     f"{avail / 2**30:.1f} GiB available")
    emit(rec)
    return True


def worker_throughput(task):
    shape = tuple(task["shape"])
    n = math.prod(shape)
    base = {"impl": task["impl"], "size": task["size"], "shape": list(shape), "n": n}
    try:
        impl = peers.create(task["impl"])
    except peers.Unavailable as e:  # not installed: a skip for every dtype
        for dtype in task["dtypes"]:
            emit({**base, "dtype": dtype, "status": f"skipped: {e}"})
        return
    for dtype in task["dtypes"]:
        rec = {**base, "dtype": dtype, "info": impl.info}
        if _short_of_memory(rec, int(task["mem_factor"] * n * peers.ITEMSIZE[dtype]) + HEADROOM):
            continue
        try:
            warm_up(impl, dtype)
            warm, times = time_calls(impl.make(shape, dtype), task["budget"], task["kmin"],
                                     task["kmax"])
            best = min(times)
            rec.update(status="ok", warmup_s=warm, times_s=times, k=len(times),
                       best_s=best, median_s=statistics.median(times), rate=n / best)
        except Exception as e:  # noqa: BLE001 -- every outcome is a record
            rec.update(status=outcome(e))
        gc.collect()
        emit(rec)


def _peaks(task, f, out_bytes: int) -> dict:
    """Peak RSS beyond the output: first call at the shape, and a repeated call."""
    base = proc_status()["VmRSS"]
    hwm_ok = reset_hwm()
    r = f()  # first call at this shape: includes JIT compiles etc.
    cold = proc_status()["VmHWM"]
    del r
    gc.collect()
    after_warm = proc_status()["VmRSS"]
    if task["impl"] in ("jax", "tf") or task["n"] <= SECOND_PEAK_MAX_N or not hwm_ok:
        reset_hwm()
        r = f()  # the measured call, after the warm-up
        steady = proc_status()["VmHWM"]
        del r
        gc.collect()
    else:  # big tensor, nothing compiled per shape: the first call is the case
        steady = cold
    return dict(status="ok", hwm_reset=hwm_ok, baseline_rss_mib=base / MIB,
                rss_after_warmup_mib=after_warm / MIB, peak_mib=(steady - base) / MIB,
                peak_extra_mib=(steady - base - out_bytes) / MIB,
                cold_peak_extra_mib=(cold - base - out_bytes) / MIB)


def _traced_peak(f, out_bytes: int) -> float:
    import tracemalloc

    tracemalloc.start()
    r = f()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del r
    return (peak - out_bytes) / MIB


def worker_memory(task):
    shape, dtype = tuple(task["shape"]), task["dtype"]
    n = math.prod(shape)
    out_bytes = n * peers.ITEMSIZE[dtype]
    rec = {"impl": task["impl"], "size": task["size"], "shape": list(shape), "n": n,
           "dtype": dtype, "output_mib": out_bytes / MIB}
    if _short_of_memory(rec, int(task["mem_factor"] * out_bytes) + HEADROOM):
        return
    try:
        impl = peers.create(task["impl"])
        warm_up(impl, dtype)
        f = impl.make(shape, dtype)
        rec.update(_peaks(task, f, out_bytes))
        if task.get("tracemalloc"):
            rec["tracemalloc_peak_extra_mib"] = _traced_peak(f, out_bytes)
    except Exception as e:  # noqa: BLE001 -- every outcome is a record
        rec.update(status=outcome(e))
    emit(rec)


def worker_small(task):
    name = task["impl"]
    try:
        impl = peers.create(name)
    except Exception as e:  # noqa: BLE001 -- every outcome is a record
        for shape in task["shapes"]:
            emit({"impl": name, "shape": shape, "dtype": "float32", "status": outcome(e)})
        return
    for shape in task["shapes"]:
        rec = {"impl": name, "shape": list(shape), "dtype": "float32"}
        try:
            best, med, loops = per_call_us(impl.make(tuple(shape), "float32"), task["target"])
            rec.update(status="ok", best_us=best, median_us=med, loops=loops, info=impl.info)
        except Exception as e:  # noqa: BLE001 -- every outcome is a record
            rec.update(status=outcome(e))
        emit(rec)


def worker_threads(task):
    import fanin
    from fanin import stream

    if not stream.using_kernel():
        emit({"status": "skipped: fanin.stream._kernel not built or not in use"})
        return
    if not hasattr(fanin, "set_num_threads"):
        emit({"status": "skipped: fanin.set_num_threads does not exist"})
        return
    init = fanin.LecunNormal(seed=peers.SEED)
    default = fanin.get_num_threads() if hasattr(fanin, "get_num_threads") else None
    for label, shape in task["sizes"]:
        shape = tuple(shape)
        n = math.prod(shape)
        rec = {"size": label, "shape": list(shape), "n": n, "dtype": task["dtype"],
               "default_threads": default, "cpus": os.cpu_count()}
        if mem_available() < 2 * n * peers.ITEMSIZE[task["dtype"]] + HEADROOM:
            rec["status"] = "skipped: not enough memory"
            emit(rec)
            continue
        for nt in (1, 2):
            fanin.set_num_threads(nt)
            _, times = time_calls(lambda: init(shape, task["dtype"]), task["budget"],
                                  task["kmin"], task["kmax"])
            rec[f"t{nt}"] = {"best_s": min(times), "median_s": statistics.median(times),
                             "k": len(times), "rate": n / min(times)}
        fanin.set_num_threads(default)
        rec["speedup"] = rec["t1"]["best_s"] / rec["t2"]["best_s"]
        rec["status"] = "ok"
        emit(rec)


def worker_kernel(task):
    """The kernel's per-stage figures, the pre-touched fill against torch's fill_, and
    init.fill's per-call cost (stages.py)."""
    from fanin import stream

    if not stream.using_kernel():
        emit({"part": "stages", "status": "skipped: fanin.stream._kernel not built or not in use"})
        return
    for part, f in (("stages", stages.stage_figures), ("pretouched", stages.pretouched_vs_torch),
                    ("init_fill", stages.init_fill_us)):
        try:
            emit({"part": part, "status": "ok", **f()})
        except Exception as e:  # noqa: BLE001 -- every outcome is a record
            emit({"part": part, "status": outcome(e)})


WORKERS = {"throughput": worker_throughput, "memory": worker_memory, "small": worker_small,
           "threads": worker_threads, "kernel": worker_kernel}


# --------------------------------------------------------------------------- #
# Driver side
# --------------------------------------------------------------------------- #


def cpu_busy(interval=0.3) -> float:
    """Fraction of all CPUs busy over ``interval`` s (this driver itself is idle)."""
    def snap():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return sum(v), v[3] + v[4]  # total, idle + iowait
    try:
        t0, i0 = snap()
        time.sleep(interval)
        t1, i1 = snap()
    except OSError:
        return 0.0
    return 1.0 - (i1 - i0) / max(1, t1 - t0)


QUIET = {"threshold": 0.25, "max_wait": 10.0, "budget": 60.0, "waited": 0.0}


def wait_for_quiet() -> float:
    """Wait (bounded) until other processes leave the CPUs mostly idle; returns busy."""
    t0 = time.time()
    busy = cpu_busy()
    while (busy > QUIET["threshold"] and time.time() - t0 < QUIET["max_wait"]
           and QUIET["waited"] + (time.time() - t0) < QUIET["budget"]):
        time.sleep(1.0)
        busy = cpu_busy()
    QUIET["waited"] += time.time() - t0
    return busy


def _environment(impl: str) -> dict:
    env = dict(os.environ)
    env["FANIN_NO_KERNEL_WARNING"] = "1"
    env.pop("FANIN_REFERENCE", None)
    cls = peers.IMPLS.get(impl)
    env.update(cls.environ if cls else {})
    # The checkout is benchmarked: the repository goes first on the worker's path.
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _error(rc, err: str, timeout: float) -> str | None:
    if rc == 0:
        return None
    if rc == "timeout":
        return f"timed out after {timeout} s"
    if isinstance(rc, int) and rc < 0:
        return f"killed by signal {-rc}" + (" (likely out of memory)" if rc == -9 else "")
    tail = [ln for ln in err.strip().splitlines() if ln.strip()]
    return f"exit {rc}: " + (tail[-1][:200] if tail else "")


def run_worker(task, timeout, log):
    """Run one task in a subprocess; returns its RESULT records and an error, if any."""
    busy = wait_for_quiet()
    impl = task.get("impl", "")
    cmd = [sys.executable, os.path.abspath(__file__), json.dumps(task)]
    t0 = time.time()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                           env=_environment(impl), cwd=REPO)
        out, err, rc = p.stdout, p.stderr, p.returncode
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        err, rc = "", "timeout"
    recs = [json.loads(line[7:]) for line in out.splitlines() if line.startswith("RESULT ")]
    for r in recs:
        r["cpu_busy_before"] = round(busy, 3)
    error = _error(rc, err, timeout)
    log(f"    [{time.time() - t0:5.1f} s, others {busy:4.0%} busy] {task['kind']} {impl} "
        f"{task.get('size', '')} {task.get('dtype', task.get('dtypes', ''))}"
        + (f" -> {error}" if error else ""))
    return recs, error


def machine_info() -> dict:
    import numpy as np

    info = {
        "python": sys.version.split()[0], "platform": platform.platform(),
        "machine": platform.machine(), "cpus": os.cpu_count(), "numpy": np.__version__,
        "mem_total_gib": None, "loadavg_start": os.getloadavg(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    info.update(stages.host_info())  # cpu model, AVX-512, host kind, kernel ISA
    try:
        with open("/proc/cpuinfo") as f:
            info["cpu"] = next((line.split(":", 1)[1].strip() for line in f
                                if line.startswith("model name")), "")
        with open("/proc/meminfo") as f:
            info["mem_total_gib"] = int(f.readline().split()[1]) / 2**20
    except OSError:
        pass
    try:
        info["git_commit"] = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO,
                                            capture_output=True, text=True).stdout.strip()
    except OSError:
        pass
    from importlib import metadata

    for pkg in ("torch", "timm", "jax", "jaxlib", "tensorflow-cpu", "tensorflow",
                "ml_dtypes", "torchvision"):
        try:
            info[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            info[pkg] = None
    return info


if __name__ == "__main__":  # a worker: python harness.py TASK_JSON
    task = json.loads(sys.argv[1])
    WORKERS[task["kind"]](task)
