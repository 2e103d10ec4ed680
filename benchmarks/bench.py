#!/usr/bin/env python
"""fanin benchmark: LecunNormal-equivalent truncated normal against the memory limit
and every installed framework, in one run.

    python benchmarks/bench.py                 # full run (~10-15 min on 2 cores)
    python benchmarks/bench.py --quick         # harness check (1M elements only)
    python benchmarks/bench.py --sizes 16.8M --dtypes float32 --peers numpy,torch

Every measurement runs in a subprocess of its own (one per implementation and size
for speed, one per implementation, size and dtype for peak memory), so that a peer
that runs out of memory or crashes is reported as "failed: ..." and the run goes on,
and so that one case's allocations never show in another's peak. See
benchmarks/README.md for what each column means.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import re
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
DEFAULT_JSON = os.path.join(HERE, "results", "latest.json")

TRUNC = 0.87962566103423978  # std of a standard normal truncated to [-2, 2]

SIZES = {  # label -> shape
    "1M": (1024, 1024),
    "16.8M": (4096, 4096),
    "268M": (16384, 16384),
}
DTYPES = ("float32", "float64", "bfloat16")
PEERS = ("numpy", "torch", "timm", "jax", "tf")
IMPL_LABEL = {
    "fill": "memory limit (np.empty+fill)",
    "fanin": "fanin (kernel)",
    "fanin-ref": "fanin (NumPy reference)",
    "numpy": "numpy rejection",
    "torch": "torch trunc_normal_",
    "timm": "timm lecun_normal_",
    "jax": "jax lecun_normal (jit)",
    "tf": "tf truncated_normal",
}
SMALL_SHAPES = ((3, 3), (256,))
MIB = 1 << 20


# --------------------------------------------------------------------------- #
# Helpers shared by the driver and the workers
# --------------------------------------------------------------------------- #


def parse_size(text: str):
    """'16.8M' / '4096x4096' / '1000000' -> (label, shape)."""
    text = text.strip()
    if text in SIZES:
        return text, SIZES[text]
    if "x" in text:
        shape = tuple(int(p) for p in text.split("x"))
        return text, shape
    return text, (int(float(text)),)


def lecun_std(shape) -> float:
    """Pre-truncation std of LecunNormal: sqrt(1 / fan_in) / 0.8796 (Keras fans)."""
    if len(shape) == 0:
        fan_in = 1
    elif len(shape) == 1:
        fan_in = shape[0]
    elif len(shape) == 2:
        fan_in = shape[0]
    else:
        fan_in = shape[-2] * math.prod(shape[:-2])
    return math.sqrt(1.0 / max(1, fan_in)) / TRUNC


def itemsize(dtype: str) -> int:
    return {"float32": 4, "float64": 8, "bfloat16": 2}[dtype]


def proc_status() -> dict:
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            m = re.match(r"(VmRSS|VmHWM):\s+(\d+) kB", line)
            if m:
                out[m.group(1)] = int(m.group(2)) * 1024
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
    from fanin._shapes import available_memory
    return available_memory() or (1 << 62)


class Unavailable(Exception):
    """The implementation cannot run here (not installed, not built): a skip."""


# --------------------------------------------------------------------------- #
# Implementations (imported lazily, inside the worker subprocess)
# --------------------------------------------------------------------------- #


def _load_timm():
    """timm's lecun_normal_ and a note on how it was loaded."""
    errors = []
    for mod in ("timm.layers", "timm.models.layers"):
        try:
            m = __import__(mod, fromlist=["lecun_normal_"])
            return m.lecun_normal_, f"{mod}.lecun_normal_"
        except Exception as e:  # noqa: BLE001
            errors.append(f"{mod}: {type(e).__name__}: {e}")
    # timm's package __init__ imports torchvision, whose PyPI wheels are CUDA builds
    # that do not load beside torch's CPU build. weight_init.py itself needs only
    # torch: load that file alone so the real timm code is still measured.
    import importlib.util

    spec = importlib.util.find_spec("timm")  # locates the package without running it
    if spec is None or not spec.submodule_search_locations:
        raise Unavailable("timm not installed")
    path = os.path.join(list(spec.submodule_search_locations)[0], "layers", "weight_init.py")
    if not os.path.exists(path):
        raise Unavailable("; ".join(errors))
    s = importlib.util.spec_from_file_location("_timm_weight_init", path)
    m = importlib.util.module_from_spec(s)
    s.loader.exec_module(m)
    first = errors[0].split(": ", 1)[1] if errors else "?"
    return m.lecun_normal_, (f"timm/layers/weight_init.py loaded standalone "
                             f"(import timm.layers failed: {first[:120]})")


class Impl:
    """Builds zero-argument callables that allocate and initialize one tensor."""

    def __init__(self, name: str):
        self.name = name
        self.info: dict = {}
        self.setup()

    # each setup_* imports what it needs and fills self.info
    def setup(self):
        getattr(self, "setup_" + self.name.replace("-", "_"))()

    def setup_fill(self):
        import numpy as np

        self.np = np
        self.info["threads"] = 1
        self.info["numpy"] = np.__version__

    def _setup_fanin(self, reference: bool):
        import numpy as np

        sys.path.insert(0, REPO)
        import fanin
        from fanin import stream

        self.np, self.fanin = np, fanin
        self.info["fanin_file"] = os.path.dirname(fanin.__file__)
        self.info["kernel_built"] = stream._kernel is not None
        self.info["kernel_available"] = stream.using_kernel()  # core v2: in use, not built
        if reference:
            if stream.using_kernel():
                raise RuntimeError("FANIN_REFERENCE=1 did not disable the kernel")
            self.info["threads"] = 1
        else:
            if not stream.using_kernel():
                raise Unavailable("fanin._kernel not built (fanin would use the reference)")
            self.info["kernel_file"] = stream._kernel.__file__
            if hasattr(fanin, "get_num_threads"):
                self.info["threads"] = fanin.get_num_threads()
        self.init = fanin.LecunNormal(seed=1234)

    def setup_fanin(self):
        self._setup_fanin(False)

    def setup_fanin_ref(self):
        self._setup_fanin(True)

    def setup_numpy(self):
        import numpy as np

        self.np = np
        self.rng = np.random.default_rng(1234)
        self.info["threads"] = 1
        self.info["numpy"] = np.__version__

    def setup_torch(self):
        try:
            import torch
        except ImportError as e:
            raise Unavailable(f"torch not installed ({e})") from None
        torch.set_num_threads(os.cpu_count() or 1)
        self.torch = torch
        self.info["torch"] = torch.__version__
        self.info["threads"] = torch.get_num_threads()
        self.tdt = {"float32": torch.float32, "float64": torch.float64,
                    "bfloat16": torch.bfloat16}

    def setup_timm(self):
        self.setup_torch()
        try:
            self.lecun_normal_, how = _load_timm()
        except ImportError as e:
            raise Unavailable(f"timm not installed ({e})") from None
        from importlib import metadata

        self.info["timm"] = metadata.version("timm")
        self.info["loaded_as"] = how

    def setup_jax(self):
        try:
            import jax
        except ImportError as e:
            raise Unavailable(f"jax not installed ({e})") from None
        jax.config.update("jax_enable_x64", True)  # float64 needs it
        import jax.numpy as jnp

        self.jax, self.jnp = jax, jnp
        self.key = jax.random.PRNGKey(1234)
        self.info["jax"] = jax.__version__
        self.info["devices"] = [str(d) for d in jax.devices()]
        self.info["threads"] = f"XLA CPU pool ({os.cpu_count()} cores)"
        self.info["XLA_FLAGS"] = os.environ.get("XLA_FLAGS", "")
        self.jdt = {"float32": jnp.float32, "float64": jnp.float64,
                    "bfloat16": jnp.bfloat16}

    def setup_tf(self):
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        try:
            import tensorflow as tf
        except ImportError as e:
            raise Unavailable(f"tensorflow not installed ({e})") from None
        self.tf = tf
        self.info["tensorflow"] = tf.__version__
        intra = tf.config.threading.get_intra_op_parallelism_threads()
        self.info["threads"] = intra or f"default ({os.cpu_count()} cores)"
        self.tfdt = {"float32": tf.float32, "float64": tf.float64,
                     "bfloat16": tf.bfloat16}

    # ---- the measured calls ---- #

    def make(self, shape, dtype: str):
        """A zero-argument callable returning a freshly allocated, initialized tensor."""
        n = math.prod(shape)
        s = lecun_std(shape)
        name = self.name
        if name == "fill":
            np = self.np
            dt = np.uint16 if dtype == "bfloat16" else np.dtype(dtype)

            def f():
                a = np.empty(n, dt)
                a.fill(1)
                return a
            return f
        if name in ("fanin", "fanin-ref"):
            init = self.init
            return lambda: init(shape, dtype)
        if name == "numpy":
            return self._numpy_rejection(shape, dtype, s)
        if name == "torch":
            torch, tdt = self.torch, self.tdt[dtype]
            tn = torch.nn.init.trunc_normal_

            def f():
                t = torch.empty(shape, dtype=tdt)
                tn(t, std=s, a=-2 * s, b=2 * s)
                return t
            return f
        if name == "timm":
            torch, tdt, ln = self.torch, self.tdt[dtype], self.lecun_normal_

            def f():
                t = torch.empty(shape, dtype=tdt)
                ln(t)
                return t
            return f
        if name == "jax":
            jax = self.jax
            init = jax.nn.initializers.lecun_normal()
            jdt = self.jdt[dtype]
            g = jax.jit(lambda key: init(key, shape, jdt))
            key = self.key
            return lambda: g(key).block_until_ready()
        if name == "tf":
            tf, tdt = self.tf, self.tfdt[dtype]
            return lambda: tf.random.truncated_normal(shape, stddev=s, dtype=tdt)
        raise ValueError(name)

    def _numpy_rejection(self, shape, dtype, s):
        """Generator.standard_normal, redraw |x| > 2 until none left, scale."""
        np, rng = self.np, self.rng
        n = math.prod(shape)
        gdt = np.float64 if dtype == "float64" else np.float32
        if dtype == "bfloat16":
            import ml_dtypes

            bf16 = ml_dtypes.bfloat16

        def f():
            x = rng.standard_normal(n, dtype=gdt)
            bad = np.flatnonzero(np.abs(x) > 2.0)
            while bad.size:
                x[bad] = rng.standard_normal(bad.size, dtype=gdt)
                bad = bad[np.abs(x[bad]) > 2.0]
            x *= gdt(s)
            if dtype == "bfloat16":
                x = x.astype(bf16)
            return x.reshape(shape)
        return f


# --------------------------------------------------------------------------- #
# Worker side: one subprocess per task, results as JSON lines on stdout
# --------------------------------------------------------------------------- #


def emit(obj):
    sys.stdout.write("RESULT " + json.dumps(obj) + "\n")
    sys.stdout.flush()


SLOW_CALL_S = 5.0  # a warm-up call slower than this is the only (timed) call


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
    k = int(budget / max(warm, 1e-9))
    if warm > 2.0:  # slow case: two calls are enough
        kmin = min(kmin, 2)
    k = max(kmin, min(kmax, k))
    times = []
    for _ in range(k):
        t0 = time.perf_counter()
        r = f()
        times.append(time.perf_counter() - t0)
        del r
    return warm, times


def worker_throughput(task):
    impl = Impl(task["impl"])
    for dtype in task["dtypes"]:
        shape = tuple(task["shape"])
        n = math.prod(shape)
        rec = {"impl": task["impl"], "size": task["size"], "shape": list(shape),
               "n": n, "dtype": dtype, "info": impl.info}
        need = task["mem_factor"] * n * itemsize(dtype) + (512 << 20)
        avail = mem_available()
        if avail < need:
            rec.update(status=f"skipped: needs ~{need / 2**30:.1f} GiB, "
                              f"{avail / 2**30:.1f} GiB available")
            emit(rec)
            continue
        try:
            f = impl.make(shape, dtype)
            warm, times = time_calls(f, task["budget"], task["kmin"], task["kmax"])
            best = min(times)
            rec.update(status="ok", warmup_s=warm, times_s=times, k=len(times),
                       best_s=best, median_s=statistics.median(times), rate=n / best)
        except Unavailable as e:
            rec.update(status=f"skipped: {e}")
        except Exception as e:  # noqa: BLE001
            rec.update(status=f"failed: {type(e).__name__}: {str(e).splitlines()[0][:160] if str(e) else ''}")
        gc.collect()
        emit(rec)


def worker_memory(task):
    shape, dtype = tuple(task["shape"]), task["dtype"]
    n = math.prod(shape)
    out_bytes = n * itemsize(dtype)
    rec = {"impl": task["impl"], "size": task["size"], "shape": list(shape), "n": n,
           "dtype": dtype, "output_mib": out_bytes / MIB}
    need = task["mem_factor"] * out_bytes + (512 << 20)
    if mem_available() < need:
        rec.update(status=f"skipped: needs ~{need / 2**30:.1f} GiB")
        emit(rec)
        return
    try:
        impl = Impl(task["impl"])
        # warm the library up on a tiny tensor (lazy imports, thread pools)
        tiny = (8, 8)
        r = impl.make(tiny, dtype)()
        del r
        gc.collect()
        base = proc_status()["VmRSS"]
        f = impl.make(shape, dtype)
        hwm_ok = reset_hwm()
        r = f()  # first call at this shape: includes JIT compiles etc.
        cold = proc_status()["VmHWM"]
        del r
        gc.collect()
        after_warm = proc_status()["VmRSS"]
        if task["impl"] in ("jax", "tf") or n <= 20_000_000 or not hwm_ok:
            reset_hwm()
            r = f()  # the measured call, after the warm-up
            steady = proc_status()["VmHWM"]
            del r
            gc.collect()
        else:  # big tensor, nothing compiled per shape: the first call is the case
            steady = cold
        rec.update(status="ok", hwm_reset=hwm_ok, baseline_rss_mib=base / MIB,
                   rss_after_warmup_mib=after_warm / MIB,
                   peak_mib=(steady - base) / MIB,
                   peak_extra_mib=(steady - base - out_bytes) / MIB,
                   cold_peak_extra_mib=(cold - base - out_bytes) / MIB)
        if task.get("tracemalloc"):
            import tracemalloc

            tracemalloc.start()
            r = f()
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            del r
            rec["tracemalloc_peak_extra_mib"] = (peak - out_bytes) / MIB
    except Unavailable as e:
        rec.update(status=f"skipped: {e}")
    except Exception as e:  # noqa: BLE001
        rec.update(status=f"failed: {type(e).__name__}: {str(e).splitlines()[0][:160] if str(e) else ''}")
    emit(rec)


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


def worker_small(task):
    name = task["impl"]
    try:
        impl = Impl("numpy" if name in ("np.standard_normal", "np.normal") else name)
    except Unavailable as e:
        for shape in task["shapes"]:
            emit({"impl": name, "shape": shape, "dtype": "float32", "status": f"skipped: {e}"})
        return
    except Exception as e:  # noqa: BLE001
        for shape in task["shapes"]:
            emit({"impl": name, "shape": shape, "dtype": "float32",
                  "status": f"failed: {type(e).__name__}: {e}"[:200]})
        return
    for shape in task["shapes"]:
        shape = tuple(shape)
        n = math.prod(shape)
        rec = {"impl": name, "shape": list(shape), "dtype": "float32"}
        try:
            if name == "np.standard_normal":  # float64, NumPy's default, size=n
                rng = impl.rng
                f = lambda: rng.standard_normal(size=n)  # noqa: E731
            elif name == "np.normal":
                rng = impl.rng
                f = lambda: rng.normal(size=n)  # noqa: E731
            else:
                f = impl.make(shape, "float32")
            best, med, loops = per_call_us(f, task["target"])
            rec.update(status="ok", best_us=best, median_us=med, loops=loops,
                       info=impl.info)
        except Unavailable as e:
            rec.update(status=f"skipped: {e}")
        except Exception as e:  # noqa: BLE001
            rec.update(status=f"failed: {type(e).__name__}: {str(e).splitlines()[0][:160] if str(e) else ''}")
        emit(rec)


def worker_threads(task):
    sys.path.insert(0, REPO)
    import fanin
    from fanin import stream

    if not stream.kernel_available():
        emit({"status": "skipped: fanin._kernel not built"})
        return
    if not hasattr(fanin, "set_num_threads"):
        emit({"status": "skipped: fanin.set_num_threads does not exist"})
        return
    init = fanin.LecunNormal(seed=1234)
    default = fanin.get_num_threads() if hasattr(fanin, "get_num_threads") else None
    for label, shape in task["sizes"]:
        shape = tuple(shape)
        n = math.prod(shape)
        rec = {"size": label, "shape": list(shape), "n": n, "dtype": task["dtype"],
               "default_threads": default, "cpus": os.cpu_count()}
        if mem_available() < 2 * n * itemsize(task["dtype"]) + (512 << 20):
            rec["status"] = "skipped: not enough memory"
            emit(rec)
            continue
        for nt in (1, 2):
            fanin.set_num_threads(nt)
            f = lambda: init(shape, task["dtype"])  # noqa: E731
            warm, times = time_calls(f, task["budget"], task["kmin"], task["kmax"])
            rec[f"t{nt}"] = {"best_s": min(times), "median_s": statistics.median(times),
                             "k": len(times), "rate": n / min(times)}
        fanin.set_num_threads(default)
        rec["speedup"] = rec["t1"]["best_s"] / rec["t2"]["best_s"]
        rec["status"] = "ok"
        emit(rec)


def worker_main(task):
    kind = task["kind"]
    {"throughput": worker_throughput, "memory": worker_memory, "small": worker_small,
     "threads": worker_threads}[kind](task)


# --------------------------------------------------------------------------- #
# Driver side
# --------------------------------------------------------------------------- #

MEM_FACTOR = {  # rough peak / output, for the free-memory guard only
    "fill": 1.2, "fanin": 1.2, "fanin-ref": 1.5, "numpy": 2.5, "torch": 4.0,
    "timm": 1.5, "jax": 4.0, "tf": 4.0,
}


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


def wait_for_quiet():
    """Wait (bounded) until other processes leave the CPUs mostly idle; returns busy."""
    t0 = time.time()
    busy = cpu_busy()
    while (busy > QUIET["threshold"] and time.time() - t0 < QUIET["max_wait"]
           and QUIET["waited"] + (time.time() - t0) < QUIET["budget"]):
        time.sleep(1.0)
        busy = cpu_busy()
    QUIET["waited"] += time.time() - t0
    return busy


def run_worker(task, timeout, log):
    """Run one task in a subprocess; returns its RESULT records and an error, if any."""
    busy = wait_for_quiet()
    env = dict(os.environ)
    env["FANIN_NO_KERNEL_WARNING"] = "1"
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    impl = task.get("impl", "")
    if impl == "fanin-ref":
        env["FANIN_REFERENCE"] = "1"
    else:
        env.pop("FANIN_REFERENCE", None)
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", json.dumps(task)]
    t0 = time.time()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env,
                           cwd=REPO)
        out, err, rc = p.stdout, p.stderr, p.returncode
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        err, rc = f"timed out after {timeout} s", "timeout"
    recs = [json.loads(line[7:]) for line in out.splitlines() if line.startswith("RESULT ")]
    for r in recs:
        r["cpu_busy_before"] = round(busy, 3)
    error = None
    if rc != 0:
        if rc == "timeout":
            error = f"timed out after {timeout} s"
        elif isinstance(rc, int) and rc < 0:
            sig = -rc
            error = f"killed by signal {sig}" + (" (likely out of memory)" if sig == 9 else "")
        else:
            tail = [ln for ln in err.strip().splitlines() if ln.strip()]
            error = f"exit {rc}: " + (tail[-1][:200] if tail else "")
    log(f"    [{time.time() - t0:5.1f} s, others {busy:4.0%} busy] {task['kind']} {impl} "
        f"{task.get('size', '')} {task.get('dtype', task.get('dtypes', ''))}"
        + (f" -> {error}" if error else ""))
    return recs, error


def machine_info():
    import numpy as np

    info = {
        "python": sys.version.split()[0], "platform": platform.platform(),
        "machine": platform.machine(), "cpus": os.cpu_count(), "numpy": np.__version__,
        "mem_total_gib": None, "loadavg_start": os.getloadavg(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
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


def fmt_rate(r):
    if r is None:
        return "-"
    return f"{r / 1e6:,.0f}" if r >= 1e7 else f"{r / 1e6:,.1f}"


def short_status(s):
    return s if len(s) <= 70 else s[:67] + "..."


def build_table(res, peers):
    """Rows of the main table plus the derived ratios (stored back into res)."""
    thr = {(r["size"], r["dtype"], r["impl"]): r for r in res["throughput"]}
    mem = {(r["size"], r["dtype"], r["impl"]): r for r in res["memory"]}
    lines = []
    hdr = (f"{'size':>6} {'dtype':8} {'implementation':30} {'Melem/s':>9} {'best ms':>9} "
           f"{'med ms':>9} {'k':>3} {'x fill':>7} {'x peer':>7} {'peak+MiB':>9}  note")
    lines.append(hdr)
    lines.append("-" * len(hdr))
    order = ["fill", "fanin", "fanin-ref"] + list(PEERS)
    for size in res["config"]["sizes"]:
        for dtype in res["config"]["dtypes"]:
            fill = thr.get((size, dtype, "fill"), {})
            fill_rate = fill.get("rate")
            peer_rates = {p: thr[(size, dtype, p)]["rate"] for p in peers
                          if thr.get((size, dtype, p), {}).get("rate")}
            best_peer = max(peer_rates, key=peer_rates.get) if peer_rates else None
            for impl in order:
                r = thr.get((size, dtype, impl))
                m = mem.get((size, dtype, impl))
                if r is None and m is None:
                    continue
                r = r or {"status": "not run"}
                rate = r.get("rate")
                xf = rate / fill_rate if rate and fill_rate else None
                xp = rate / peer_rates[best_peer] if rate and best_peer and impl != "fill" else None
                r["x_fill"], r["x_fastest_peer"] = xf, xp
                r["fastest_peer"] = best_peer
                peak = m.get("peak_extra_mib") if m and m.get("status") == "ok" else None
                note = "" if r["status"] == "ok" else short_status(r["status"])
                if m and m.get("status") != "ok" and not note:
                    note = "memory: " + short_status(m.get("status", "?"))
                if impl == best_peer:
                    note = (note + " fastest peer").strip()
                lines.append(
                    f"{size:>6} {dtype:8} {IMPL_LABEL[impl]:30} {fmt_rate(rate):>9} "
                    f"{r['best_s'] * 1e3 if rate else float('nan'):>9.2f} "
                    f"{r['median_s'] * 1e3 if rate else float('nan'):>9.2f} "
                    f"{r.get('k', 0) if rate else 0:>3} "
                    f"{f'{xf:.2f}' if xf else '-':>7} {f'{xp:.1f}' if xp else '-':>7} "
                    f"{f'{peak:.1f}' if peak is not None else '-':>9}  {note}")
            lines.append("")
    return "\n".join(lines)


def small_table(res):
    by = {}
    for r in res["small"]:
        by.setdefault(r["impl"], {})[tuple(r["shape"])] = r
    lines = [f"{'per-call overhead':34} " + " ".join(f"{str(s):>16}" for s in SMALL_SHAPES),
             "-" * 70]
    for impl, d in by.items():
        cells = []
        for s in SMALL_SHAPES:
            r = d.get(s)
            if r is None:
                cells.append(f"{'-':>16}")
            elif r["status"] == "ok":
                cells.append(f"{r['best_us']:>13.1f} us")
            else:
                cells.append(f"{short_status(r['status'])[:16]:>16}")
        label = {"np.standard_normal": "np Generator.standard_normal(n)",
                 "np.normal": "np Generator.normal(size=n)"}.get(impl, IMPL_LABEL.get(impl, impl))
        lines.append(f"{label:34} " + " ".join(cells))
    notes = [f"  {impl} {list(s)}: {r['status']}" for impl, d in by.items()
             for s, r in d.items() if r["status"] != "ok"]
    return "\n".join(lines + (["failures/skips:"] + notes if notes else []))


def threads_table(res):
    lines = []
    for r in res["threads"]:
        if r.get("status") != "ok":
            lines.append(f"fanin thread scaling: {r.get('size', '')} {r.get('status')}")
            continue
        lines.append(f"fanin {r['dtype']} {r['size']:>6}: 1 thread {fmt_rate(r['t1']['rate'])} "
                     f"Melem/s, 2 threads {fmt_rate(r['t2']['rate'])} Melem/s, "
                     f"speedup {r['speedup']:.2f}x")
    return "\n".join(lines)


def evaluate_targets(res):
    """DESIGN.md section 4 targets, as PASS / FAIL / n/a lines."""
    thr = {(r["size"], r["dtype"], r["impl"]): r for r in res["throughput"]}
    mem = {(r["size"], r["dtype"], r["impl"]): r for r in res["memory"]}
    out = []

    def add(name, ok, detail):
        out.append({"target": name, "result": "n/a" if ok is None else ("PASS" if ok else "FAIL"),
                    "detail": detail})

    for size in ("16.8M", "268M"):
        r = thr.get((size, "float32", "fanin"))
        if r is None or not r.get("rate"):
            add(f"float32 {size} >= 0.5x fill", None, "not measured")
            add(f"float32 {size} >= 10x fastest peer", None, "not measured")
            continue
        xf, xp = r.get("x_fill"), r.get("x_fastest_peer")
        add(f"float32 {size} >= 0.5x fill", None if xf is None else xf >= 0.5,
            f"{xf:.2f}x" if xf else "no fill rate")
        add(f"float32 {size} >= 10x fastest peer", None if xp is None else xp >= 10,
            f"{xp:.1f}x vs {r.get('fastest_peer')}" if xp else "no peer measured")
    for size in ("16.8M", "268M"):
        r = thr.get((size, "float64", "fanin"))
        xf = r.get("x_fill") if r else None
        add(f"float64 {size} >= 0.25x fill", None if xf is None else xf >= 0.25,
            f"{xf:.2f}x" if xf else "not measured")
    worst = None
    for (size, dtype, impl), m in mem.items():
        if impl == "fanin" and m.get("status") == "ok":
            if worst is None or m["peak_extra_mib"] > worst[0]:
                worst = (m["peak_extra_mib"], size, dtype)
    add("fanin peak <= output + 16 MiB (all sizes/dtypes)",
        None if worst is None else worst[0] <= 16,
        f"worst {worst[0]:.1f} MiB extra ({worst[1]} {worst[2]})" if worst else "not measured")
    small = {(r["impl"], tuple(r["shape"])): r for r in res["small"]}
    a, b = small.get(("fanin", (3, 3))), small.get(("np.standard_normal", (3, 3)))
    if a and b and a["status"] == "ok" and b["status"] == "ok":
        ratio = a["best_us"] / b["best_us"]
        add("(3,3) call <= 3x numpy standard_normal(size=9)", ratio <= 3,
            f"{a['best_us']:.1f} us vs {b['best_us']:.1f} us = {ratio:.2f}x")
    else:
        add("(3,3) call <= 3x numpy standard_normal(size=9)", None, "not measured")
    c = small.get(("np.normal", (3, 3)))
    if a and c and a["status"] == "ok" and c["status"] == "ok":
        ratio = a["best_us"] / c["best_us"]
        add("(3,3) call <= 3x numpy Generator.normal(size=9) (DESIGN's wording)", ratio <= 3,
            f"{a['best_us']:.1f} us vs {c['best_us']:.1f} us = {ratio:.2f}x")
    for r in res["threads"]:
        if r.get("status") == "ok":
            add(f"2 threads >= 1.8x 1 thread ({r['dtype']} {r['size']})", r["speedup"] >= 1.8,
                f"{r['speedup']:.2f}x")
    if not any(r.get("status") == "ok" for r in res["threads"]):
        add("2 threads >= 1.8x 1 thread", None,
            res["threads"][0].get("status") if res["threads"] else "not measured")
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", help="comma list of 1M,16.8M,268M or RxC shapes "
                    "(default: all three; --quick: 1M)")
    ap.add_argument("--dtypes", default=",".join(DTYPES), help="comma list (default: %(default)s)")
    ap.add_argument("--peers", default=",".join(PEERS),
                    help="comma list of peers to run, or 'none' (default: %(default)s)")
    ap.add_argument("--quick", action="store_true",
                    help="harness check: 1M only, short timing budget")
    ap.add_argument("--full", action="store_true",
                    help="also time fanin's NumPy reference at 268M (slow)")
    ap.add_argument("--json", default=DEFAULT_JSON, help="output JSON (default: %(default)s)")
    ap.add_argument("--budget", type=float, help="seconds per timed case (default 1.5; quick 0.3)")
    ap.add_argument("--no-memory", action="store_true", help="skip peak-memory subprocesses")
    ap.add_argument("--no-small", action="store_true", help="skip small-shape overhead")
    ap.add_argument("--no-threads", action="store_true", help="skip thread scaling")
    ap.add_argument("--quiet-wait", type=float, default=10.0,
                    help="before each subprocess, wait up to this many seconds for other "
                    "processes to leave the CPUs idle (default %(default)s; 0: never)")
    ap.add_argument("--quiet-budget", type=float, default=60.0,
                    help="total seconds such waits may take in one run (default %(default)s)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.worker:
        worker_main(json.loads(args.worker))
        return 0

    t_start = time.time()
    sizes = [parse_size(s) for s in (args.sizes or ("1M" if args.quick else "1M,16.8M,268M")).split(",")]
    dtypes = [d.strip() for d in args.dtypes.split(",") if d.strip()]
    for d in dtypes:
        if d not in DTYPES:
            ap.error(f"unknown dtype {d!r}; expected {DTYPES}")
    peers = [] if args.peers.strip() == "none" else [p.strip() for p in args.peers.split(",") if p.strip()]
    for p in peers:
        if p not in PEERS:
            ap.error(f"unknown peer {p!r}; expected {PEERS}")
    budget = args.budget or (0.3 if args.quick else 1.5)
    QUIET.update(max_wait=args.quiet_wait, budget=args.quiet_budget)

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    res = {"config": {"sizes": [s for s, _ in sizes], "shapes": {s: list(sh) for s, sh in sizes},
                      "dtypes": dtypes, "peers": peers, "quick": args.quick, "full": args.full,
                      "budget_s": budget, "argv": sys.argv[1:]},
           "machine": machine_info(), "throughput": [], "memory": [], "small": [],
           "threads": [], "notes": []}
    impls = ["fill", "fanin", "fanin-ref"] + peers

    def ref_skipped(impl, shape):
        return impl == "fanin-ref" and math.prod(shape) > 100_000_000 and not args.full

    # ---- throughput: one subprocess per (implementation, size) ---- #
    log("throughput:")
    for label, shape in sizes:
        big = math.prod(shape) > 100_000_000
        for impl in impls:
            if ref_skipped(impl, shape):
                for d in dtypes:
                    res["throughput"].append({"impl": impl, "size": label, "shape": list(shape),
                                              "n": math.prod(shape), "dtype": d,
                                              "status": "skipped: slow at 268M (run with --full)"})
                continue
            task = {"kind": "throughput", "impl": impl, "size": label, "shape": list(shape),
                    "dtypes": dtypes, "budget": budget, "kmin": 2 if big else 3,
                    "kmax": 3 if big else 200, "mem_factor": MEM_FACTOR[impl]}
            recs, err = run_worker(task, 900, log)
            done = {r["dtype"] for r in recs}
            res["throughput"].extend(recs)
            if err:  # the dtypes after the crash: each in a fresh subprocess
                left = [d for d in dtypes if d not in done]
                base = {"impl": impl, "size": label, "shape": list(shape), "n": math.prod(shape)}
                for i, d in enumerate(left):
                    if i == 0:  # the one that crashed
                        res["throughput"].append({**base, "dtype": d, "status": f"failed: {err}"})
                        continue
                    recs2, err2 = run_worker({**task, "dtypes": [d]}, 900, log)
                    res["throughput"].extend(recs2 or [{**base, "dtype": d,
                                                        "status": f"failed: {err2}"}])

    # ---- peak memory: one subprocess per (implementation, size, dtype) ---- #
    if not args.no_memory:
        log("peak memory:")
        for label, shape in sizes:
            n = math.prod(shape)
            for impl in impls:
                for d in dtypes:
                    base = {"impl": impl, "size": label, "shape": list(shape), "n": n, "dtype": d}
                    if ref_skipped(impl, shape):
                        res["memory"].append({**base, "status": "skipped: slow at 268M"})
                        continue
                    prev = next((r for r in res["throughput"] if r["impl"] == impl and
                                 r["size"] == label and r["dtype"] == d), None)
                    if prev and prev["status"].startswith(("skipped", "failed")):
                        res["memory"].append({**base, "status": "not measured (speed case did not run)"})
                        continue
                    task = {"kind": "memory", **base, "mem_factor": MEM_FACTOR[impl],
                            "tracemalloc": impl in ("fill", "fanin", "fanin-ref", "numpy")
                            and n <= 20_000_000}
                    recs, err = run_worker(task, 600, log)
                    res["memory"].extend(recs or [{**base, "status": f"failed: {err}"}])

    # ---- small shapes: per-call overhead ---- #
    if not args.no_small:
        log("small shapes:")
        for impl in ["np.standard_normal", "np.normal", "fanin", "fanin-ref"] + peers:
            task = {"kind": "small", "impl": impl, "shapes": [list(s) for s in SMALL_SHAPES],
                    "target": 0.1 if args.quick else 0.25}
            recs, err = run_worker(task, 300, log)
            res["small"].extend(recs)
            if err and len(recs) < len(SMALL_SHAPES):
                res["small"].extend({"impl": impl, "shape": list(s), "dtype": "float32",
                                     "status": f"failed: {err}"}
                                    for s in SMALL_SHAPES[len(recs):])

    # ---- thread scaling of fanin ---- #
    if not args.no_threads:
        log("thread scaling:")
        tsizes = [(lbl, list(sh)) for lbl, sh in sizes if math.prod(sh) >= 10_000_000]
        if not tsizes:
            tsizes = [(sizes[-1][0], list(sizes[-1][1]))]
            res["notes"].append("thread scaling measured at the largest size run (quick run)")
        big = any(math.prod(sh) > 100_000_000 for _, sh in tsizes)
        task = {"kind": "threads", "sizes": tsizes, "dtype": "float32",
                "budget": budget, "kmin": 2 if big else 3, "kmax": 50}
        recs, err = run_worker(task, 600, log)
        res["threads"].extend(recs or [{"status": f"failed: {err}"}])

    table = build_table(res, peers)
    res["targets"] = evaluate_targets(res)
    res["machine"]["loadavg_end"] = os.getloadavg()
    res["elapsed_s"] = time.time() - t_start
    res["quiet_wait_total_s"] = QUIET["waited"]
    res["notes"].append("Melem/s = 1e6 elements per second of the best call; each call "
                        "allocates its output. x fill = rate / memory-limit rate of the same "
                        "size and dtype; x peer = rate / fastest peer's rate (numpy, torch, "
                        "timm, jax, tf) of the same size and dtype; peak+MiB = peak RSS "
                        "during one call minus the RSS before it minus the output size.")
    thr_info = {}
    for r in res["throughput"]:
        if r.get("info"):
            thr_info[r["impl"]] = r["info"]
    res["implementations"] = thr_info

    out = []
    out.append(f"fanin benchmark  {res['machine'].get('cpu', '')}, {res['machine']['cpus']} cpus, "
               f"{res['machine']['mem_total_gib'] or 0:.0f} GiB, numpy {res['machine']['numpy']}, "
               f"commit {res['machine'].get('git_commit', '')[:10]}")
    out.append("LecunNormal truncated normal (std = sqrt(1/fan_in)/0.8796, cut at +-2 std)")
    out.append("")
    out.append(table)
    if res["small"]:
        out.append(small_table(res))
        out.append("")
    if res["threads"]:
        out.append(threads_table(res))
        out.append("")
    out.append("threads: " + ", ".join(f"{k}={v.get('threads')}" for k, v in thr_info.items()))
    if "timm" in thr_info and thr_info["timm"].get("loaded_as"):
        out.append("timm: " + thr_info["timm"]["loaded_as"])
    out.append("")
    out.append("DESIGN.md section 4 targets:")
    for t in res["targets"]:
        out.append(f"  [{t['result']:>4}] {t['target']}: {t['detail']}")
    busy = [r["cpu_busy_before"] for key in ("throughput", "memory", "small", "threads")
            for r in res[key] if "cpu_busy_before" in r]
    out.append(f"\nelapsed {res['elapsed_s']:.0f} s (waited {QUIET['waited']:.0f} s for idle CPUs); "
               f"load average start {res['machine']['loadavg_start'][0]:.2f}, end "
               f"{res['machine']['loadavg_end'][0]:.2f}; CPUs busy with other work before a "
               f"case: median {statistics.median(busy) if busy else 0:.0%}, max {max(busy, default=0):.0%}")
    text = "\n".join(out)
    res["table"] = text
    print(text)
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        tmp = args.json + ".tmp"
        with open(tmp, "w") as f:
            json.dump(res, f, indent=1, default=str)
        os.replace(tmp, args.json)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
