"""The project's speed and memory targets, as data, and their check against a run.

Fresh pages cost about 2.4x less on AMD EPYC hosts than on Intel AVX-512 hosts, so a
new tensor's rate relative to ``np.empty + fill`` (and a pre-touched fill relative to
torch's ``fill_``) is held to a bound per host kind; the other bounds hold on every
host. A host of neither kind is checked against the Intel bounds, the stricter ones,
and the report says so.

Each target names the quantity it checks (``measure``):
  x_fill          fanin's rate / the ``np.empty + fill`` rate, same size and dtype
  x_fastest_peer  fanin's rate / the fastest framework peer's, same size and dtype
  pretouched      ``init.fill`` of a pre-touched float32 array / torch ``fill_``, same threads
  fused_vs_parts  the kernel loop's cost / (Philox alone + transform-and-store alone)
  x_pm2           a kind's kernel cost per element / the +-2 truncated normal's
  peak_extra_mib  fanin's worst peak memory beyond the output, every case
  small_ratio     a (3, 3) call's time / NumPy ``Generator.standard_normal(size=9)``'s
  init_fill_us    microseconds per ``init.fill(out)`` on a 4096-element array
  thread_speedup  2-thread rate / 1-thread rate (float32)
"""

from __future__ import annotations

HOST_KINDS = ("amd-epyc", "intel-avx512")
STRICT = "intel-avx512"  # the bounds a host of another kind is held to


def _per_host(amd: float, intel: float) -> dict:
    return {"amd-epyc": amd, "intel-avx512": intel}


BIG = ("16.8M", "268M")
TARGETS = (
    {"measure": "x_fill", "dtype": "float32", "sizes": BIG, "min": _per_host(0.9, 1.2)},
    {"measure": "x_fastest_peer", "dtype": "float32", "sizes": BIG, "min": 6.0},
    {"measure": "pretouched", "min": _per_host(0.35, 0.45)},
    {"measure": "x_fill", "dtype": "bfloat16", "sizes": BIG, "min": _per_host(0.6, 0.75)},
    {"measure": "x_fill", "dtype": "float64", "sizes": BIG, "min": _per_host(0.65, 0.8)},
    {"measure": "fused_vs_parts", "fmt": "float32", "kind": "+-2", "max": 1.10},
    {"measure": "x_pm2", "fmt": "float32", "kind": "normal", "max": 2.5},
    {"measure": "x_pm2", "fmt": "float32", "kind": "general", "max": 2.5},
    {"measure": "peak_extra_mib", "max": 16.0},
    {"measure": "small_ratio", "versus": "np.standard_normal", "max": 2.0},
    {"measure": "init_fill_us", "max": 8.0},
    {"measure": "thread_speedup", "dtype": "float32", "sizes": BIG, "min": 1.8},
)


def _ratio_values(res, target):
    """(what, value or None, text) per size for x_fill / x_fastest_peer."""
    thr = {(r["size"], r["dtype"], r["impl"]): r for r in res["throughput"]}
    for size in target["sizes"]:
        r = thr.get((size, target["dtype"], "fanin"), {})
        value = r.get(target["measure"])
        text = f"{value:.2f}x" if value else "not measured"
        if value and target["measure"] == "x_fastest_peer":
            text = f"{value:.1f}x vs {r.get('fastest_peer')}"
        yield f"{target['dtype']} {size}", value, text


def _pretouched_values(res, target):
    r = res.get("pretouched") or {}
    if r.get("status") != "ok":
        yield "float32 16.8M pre-touched vs torch fill_", None, r.get("status", "not measured")
        return
    yield (f"float32 {r['n'] / 2**20:.1f}Mi pre-touched vs torch fill_, {r['threads']} threads",
           r["ratio"], f"{r['fanin_s'] * 1e3:.1f} ms vs {r['torch_s'] * 1e3:.1f} ms = "
           f"{r['ratio']:.2f}x")


def _stage_values(res, target):
    rows = (res.get("stages") or {}).get("rows", [])
    r = next((r for r in rows if r["fmt"] == target["fmt"] and r["kind"] == target["kind"]),
             None)
    what = f"{target['fmt']} {target['kind']}"
    if r is None:
        yield what, None, "not measured"
    elif target["measure"] == "x_pm2":
        yield (f"{what} per element vs +-2", r["x_pm2"],
               f"{r['fused_ns']:.3f} ns vs {r['fused_ns'] / r['x_pm2']:.3f} ns = {r['x_pm2']:.2f}x")
    else:
        yield (f"{what} kernel loop vs Philox + transform-and-store", r["fused_vs_parts"],
               f"{r['fused_ns']:.3f} ns vs {r['philox_ns']:.3f} + {r['transform_store_ns']:.3f} ns"
               f" = {r['fused_vs_parts']:.2f}x")


def _peak_values(res, target):
    ok = [m for m in res["memory"] if m["impl"] == "fanin" and m.get("status") == "ok"]
    worst = max(ok, key=lambda m: m["peak_extra_mib"], default=None)
    if worst is None:
        yield "fanin, all sizes and dtypes", None, "not measured"
    else:
        yield ("fanin, all sizes and dtypes", worst["peak_extra_mib"],
               f"worst {worst['peak_extra_mib']:.1f} MiB extra ({worst['size']} {worst['dtype']})")


def _small_values(res, target):
    small = {(r["impl"], tuple(r["shape"])): r for r in res["small"]}
    a, b = small.get(("fanin", (3, 3))), small.get((target["versus"], (3, 3)))
    what = f"(3, 3) call vs {target['versus']}(9)"
    if not (a and b and a["status"] == "ok" and b["status"] == "ok"):
        yield what, None, "not measured"
        return
    ratio = a["best_us"] / b["best_us"]
    yield what, ratio, f"{a['best_us']:.2f} us vs {b['best_us']:.2f} us = {ratio:.2f}x"


def _init_fill_values(res, target):
    r = res.get("init_fill") or {}
    if r.get("status") != "ok":
        yield "init.fill(out), 4096 float32", None, r.get("status", "not measured")
    else:
        yield f"init.fill(out), {r['n']} float32", r["us"], f"{r['us']:.1f} us per call"


def _thread_values(res, target):
    by_size = {r.get("size"): r for r in res["threads"] if r.get("status") == "ok"}
    for size in target["sizes"]:
        r = by_size.get(size)
        yield (f"2 threads vs 1, {target['dtype']} {size}", r and r["speedup"],
               f"{r['speedup']:.2f}x" if r else f"not measured (target defined at {size})")


MEASURES = {"x_fill": _ratio_values, "x_fastest_peer": _ratio_values,
            "pretouched": _pretouched_values, "fused_vs_parts": _stage_values,
            "x_pm2": _stage_values, "peak_extra_mib": _peak_values,
            "small_ratio": _small_values, "init_fill_us": _init_fill_values,
            "thread_speedup": _thread_values}


def host_kind(res) -> str:
    return res["machine"].get("host_kind", "other")


def evaluate(res) -> list:
    """Every target, for the run's host kind, as PASS / FAIL / n/a records."""
    kind = host_kind(res)
    out = []
    for target in TARGETS:
        key = "min" if "min" in target else "max"
        bound = target[key]
        if isinstance(bound, dict):
            bound = bound.get(kind, bound[STRICT])
        sign = ">=" if key == "min" else "<="
        for what, value, text in MEASURES[target["measure"]](res, target):
            ok = None if value is None else (value >= bound if key == "min" else value <= bound)
            out.append({"target": f"{target['measure']} {sign} {bound:g}: {what}",
                        "result": "n/a" if ok is None else ("PASS" if ok else "FAIL"),
                        "detail": text})
    return out


def header(res) -> str:
    """Which host the targets were checked for."""
    m, kind = res["machine"], host_kind(res)
    isa = (res.get("stages") or {}).get("isa") or m.get("kernel_isa")  # the worker's view
    note = "" if kind in HOST_KINDS else f" (not a known host kind: the {STRICT} bounds)"
    return (f"targets for this host: {m.get('cpu', '?')}, host kind {kind}{note}, "
            f"AVX-512 {'yes' if m.get('avx512') else 'no'}, fanin kernel ISA "
            f"{isa or 'not measured'}")
