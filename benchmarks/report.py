#!/usr/bin/env python
"""What the benchmark reports: tables, the targets (targets.py) for the host, a chart.

Re-render a saved run (table, targets, chart) without measuring again:

    python benchmarks/report.py benchmarks/results/latest.json --chart docs/img/benchmark.png
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys

import peers
import stages
import targets

TABLE_ORDER = ("fill", "fanin", "fanin-ref")  # then the peers


def fmt_rate(r):
    if r is None:
        return "-"
    return f"{r / 1e6:,.0f}" if r >= 1e7 else f"{r / 1e6:,.1f}"


def short_status(s):
    return s if len(s) <= 70 else s[:67] + "..."


def _label(impl: str) -> str:
    cls = peers.IMPLS.get(impl)
    return cls.label if cls else impl


# --------------------------------------------------------------------------- #
# Derived ratios and the main table
# --------------------------------------------------------------------------- #


def add_ratios(res, peer_list):
    """Store x_fill, x_fastest_peer and fastest_peer into every throughput record."""
    thr = {(r["size"], r["dtype"], r["impl"]): r for r in res["throughput"]}
    for r in res["throughput"]:
        size, dtype = r["size"], r["dtype"]
        fill_rate = thr.get((size, dtype, "fill"), {}).get("rate")
        peer_rates = {p: thr[(size, dtype, p)]["rate"] for p in peer_list
                      if thr.get((size, dtype, p), {}).get("rate")}
        best = max(peer_rates, key=peer_rates.get) if peer_rates else None
        rate = r.get("rate")
        r["x_fill"] = rate / fill_rate if rate and fill_rate else None
        r["x_fastest_peer"] = (rate / peer_rates[best] if rate and best and r["impl"] != "fill"
                               else None)
        r["fastest_peer"] = best


def _row(r, m):
    rate = r.get("rate")
    xf, xp = r.get("x_fill"), r.get("x_fastest_peer")
    peak = m.get("peak_extra_mib") if m and m.get("status") == "ok" else None
    note = "" if r["status"] == "ok" else short_status(r["status"])
    if m and m.get("status") != "ok" and not note:
        note = "memory: " + short_status(m.get("status", "?"))
    if r["impl"] == r.get("fastest_peer"):
        note = (note + " fastest peer").strip()
    ms = (lambda key: r[key] * 1e3) if rate else (lambda key: float("nan"))
    return (f"{r['size']:>6} {r['dtype']:8} {_label(r['impl']):30} {fmt_rate(rate):>9} "
            f"{ms('best_s'):>9.2f} {ms('median_s'):>9.2f} {r.get('k', 0) if rate else 0:>3} "
            f"{f'{xf:.2f}' if xf else '-':>7} {f'{xp:.1f}' if xp else '-':>7} "
            f"{f'{peak:.1f}' if peak is not None else '-':>9}  {note}")


def build_table(res):
    thr = {(r["size"], r["dtype"], r["impl"]): r for r in res["throughput"]}
    mem = {(r["size"], r["dtype"], r["impl"]): r for r in res["memory"]}
    hdr = (f"{'size':>6} {'dtype':8} {'implementation':30} {'Melem/s':>9} {'best ms':>9} "
           f"{'med ms':>9} {'k':>3} {'x fill':>7} {'x peer':>7} {'peak+MiB':>9}  note")
    lines = [hdr, "-" * len(hdr)]
    for size in res["config"]["sizes"]:
        for dtype in res["config"]["dtypes"]:
            for impl in TABLE_ORDER + peers.peer_names():
                r, m = thr.get((size, dtype, impl)), mem.get((size, dtype, impl))
                if r is None and m is None:
                    continue
                r = r or {"impl": impl, "size": size, "dtype": dtype, "status": "not run"}
                lines.append(_row(r, m))
            lines.append("")
    return "\n".join(lines)


def small_table(res):
    by = {}
    for r in res["small"]:
        by.setdefault(r["impl"], {})[tuple(r["shape"])] = r
    lines = [f"{'per-call overhead':34} "
             + " ".join(f"{str(s):>16}" for s in peers.SMALL_SHAPES), "-" * 70]
    for impl, d in by.items():
        cells = []
        for s in peers.SMALL_SHAPES:
            r = d.get(s)
            if r is None:
                cells.append(f"{'-':>16}")
            elif r["status"] == "ok":
                cells.append(f"{r['best_us']:>13.1f} us")
            else:
                cells.append(f"{short_status(r['status'])[:16]:>16}")
        lines.append(f"{_label(impl):34} " + " ".join(cells))
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
    """Every target for the run's host as PASS / FAIL / n/a records (see targets.py)."""
    return targets.evaluate(res)


# --------------------------------------------------------------------------- #
# The whole text, and the chart
# --------------------------------------------------------------------------- #


def render(res) -> str:
    m = res["machine"]
    out = [f"fanin benchmark  {m.get('cpu', '')}, {m['cpus']} cpus, "
           f"{m['mem_total_gib'] or 0:.0f} GiB, numpy {m['numpy']}, "
           f"commit {m.get('git_commit', '')[:10]}",
           "LecunNormal truncated normal (std = sqrt(1/fan_in)/0.8796, cut at +-2 std)", "",
           build_table(res)]
    if res["small"]:
        out += [small_table(res), ""]
    if res["threads"]:
        out += [threads_table(res), ""]
    info = res.get("implementations", {})
    out.append("threads: " + ", ".join(f"{k}={v.get('threads')}" for k, v in info.items()))
    if info.get("timm", {}).get("loaded_as"):
        out.append("timm: " + info["timm"]["loaded_as"])
    if res.get("stages", {}).get("rows"):
        out += ["", stages.render(res["stages"])]
    out += ["", targets.header(res)]
    out += [f"  [{t['result']:>4}] {t['target']}: {t['detail']}" for t in res["targets"]]
    busy = [r["cpu_busy_before"] for key in ("throughput", "memory", "small", "threads")
            for r in res[key] if "cpu_busy_before" in r]
    out.append(f"\nelapsed {res['elapsed_s']:.0f} s (waited {res['quiet_wait_total_s']:.0f} s "
               f"for idle CPUs); load average start {m['loadavg_start'][0]:.2f}, end "
               f"{m['loadavg_end'][0]:.2f}; CPUs busy with other work before a case: median "
               f"{statistics.median(busy) if busy else 0:.0%}, max {max(busy, default=0):.0%}")
    return "\n".join(out)


def chart(res, path: str) -> None:
    """Bars of million elements per second, per size and dtype, log scale."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    impls = [i for i in TABLE_ORDER + peers.peer_names()
             if any(r["impl"] == i and r.get("rate") for r in res["throughput"])]
    groups = [(s, d) for s in res["config"]["sizes"] for d in res["config"]["dtypes"]]
    rate = {(r["size"], r["dtype"], r["impl"]): r.get("rate") for r in res["throughput"]}
    width = 0.8 / max(1, len(impls))
    fig, ax = plt.subplots(figsize=(10, 4.5), dpi=100)
    for k, impl in enumerate(impls):
        xs = [g + (k - (len(impls) - 1) / 2) * width for g in range(len(groups))]
        ys = [(rate.get((s, d, impl)) or 0) / 1e6 for s, d in groups]
        ax.bar(xs, ys, width, label=_label(impl))
    ax.set_yscale("log")
    ax.set_xticks(range(len(groups)), [f"{s}\n{d}" for s, d in groups])
    ax.set_ylabel("million elements / s (best call)")
    ax.set_title(f"LeCun normal, {res['machine'].get('cpu', '')}, {res['machine']['cpus']} CPUs",
                 fontsize=10)
    ax.legend(fontsize=7, ncol=3)
    ax.grid(axis="y", which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", help="a results JSON written by bench.py")
    ap.add_argument("--chart", metavar="FILE.png", help="also draw the chart (matplotlib)")
    args = ap.parse_args(argv)
    with open(args.results) as f:
        res = json.load(f)
    add_ratios(res, res["config"]["peers"])
    res["targets"] = evaluate_targets(res)
    print(render(res))
    if args.chart:
        chart(res, args.chart)
        print(f"wrote {args.chart}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
