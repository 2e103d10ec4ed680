#!/usr/bin/env python
"""fanin.torch against torch.nn.init: the torch-named functions, and whole modules.

    python benchmarks/bench_torch.py            # 4096 x 4096 float32 and bfloat16, 100M model
    python benchmarks/bench_torch.py --quick    # harness check: 1024 x 1024, a 6M model
    python benchmarks/bench_torch.py --json out.json

Part 1 fills one preallocated CPU tensor (already touched, so page faults are not
timed) with each torch-named function, fanin's and torch's, same arguments, and
reports the best of ``--repeat`` runs. Part 2 re-initializes a
``torch.nn.TransformerEncoder`` of about 100M parameters with ``init_module_``
(rules "torch" and "keras") and with the model's own ``reset_parameters`` (every
submodule's ``reset_parameters`` / ``_reset_parameters``, as at construction).

Targets (DESIGN 4, issue 12): ``trunc_normal_`` at least 10x torch's, the rest at
least 1x. Timings depend on the machine and on its load: the script prints the
thread counts and CPU it ran on; run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import torch  # noqa: E402

import fanin  # noqa: E402
import fanin.torch as ft  # noqa: E402

#: (name, keyword arguments) given to both fanin.torch.<name> and torch.nn.init.<name>.
CASES = [
    ("uniform_", {"a": -0.1, "b": 0.1}),
    ("normal_", {"std": 0.02}),
    ("trunc_normal_", {}),                                    # torch's default: N(0, 1) on [-2, 2]
    ("trunc_normal_", {"std": 0.02, "a": -0.04, "b": 0.04}),  # +-2 std, the ViT scale
    ("trunc_normal_", {"std": 0.02}),                         # timm/ViT's call: a=-2, b=2 absolute
    ("xavier_uniform_", {}),
    ("xavier_normal_", {}),
    ("kaiming_uniform_", {"a": math.sqrt(5)}),
    ("kaiming_normal_", {"nonlinearity": "relu"}),
    ("orthogonal_", {}),
    ("eye_", {}),
    ("constant_", {"val": 0.5}),
    ("zeros_", {}),
]
TARGET = {"trunc_normal_": 10.0}  # anything else: 1.0
#: Functions that run the very op torch.nn.init runs (fill_, zero_, a diagonal fill):
#: their ratio is 1 up to timing noise, so no target is reported.
SAME_OP = ("eye_", "constant_", "zeros_")


def fmt(value):
    return repr(value) if isinstance(value, str) else f"{value:g}"


def best_of(fn, repeat):
    fn()  # warm-up (first-call costs, page faults of temporaries)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def bench_functions(shape, dtypes, repeat):
    rows = []
    for dtype in dtypes:
        t = torch.zeros(shape, dtype=getattr(torch, dtype))  # touched once
        for name, kwargs in CASES:
            if name == "orthogonal_" and (dtype != "float32" or math.prod(shape) > 2**22):
                continue  # QR: LAPACK-bound for both, and torch has no bfloat16 QR
            label = f"{name}({', '.join(f'{k}={fmt(v)}' for k, v in kwargs.items())})"
            ours = getattr(ft, name)
            theirs = getattr(torch.nn.init, name)
            seeded = name not in ("eye_", "constant_", "zeros_")
            f = best_of(lambda: ours(t, seed=1, **kwargs) if seeded else ours(t, **kwargs),
                        repeat)
            r = best_of(lambda: theirs(t, **kwargs), 1 if name == "trunc_normal_" else repeat)
            rows.append((dtype, label, f, r))
    return rows


def transformer(d_model, layers):
    layer = torch.nn.TransformerEncoderLayer(d_model, nhead=16, dim_feedforward=4 * d_model,
                                             batch_first=True)
    return torch.nn.TransformerEncoder(layer, num_layers=layers, enable_nested_tensor=False)


def torch_reset(model):
    """The model's own initialization: each submodule's reset method, as at construction."""
    for m in model.modules():
        reset = getattr(m, "reset_parameters", None) or getattr(m, "_reset_parameters", None)
        if callable(reset):
            reset()


def bench_module(d_model, layers, repeat):
    model = transformer(d_model, layers)
    count = sum(p.numel() for p in model.parameters())
    rows = [("own reset_parameters", best_of(lambda: torch_reset(model), repeat))]
    for rules in ("torch", "keras"):
        rows.append((f'init_module_(rules="{rules}")',
                     best_of(lambda: ft.init_module_(model, rules=rules, seed=0), repeat)))
    return count, rows


def print_functions(shape, rows):
    print(f"\n## torch-named functions, {shape[0]} x {shape[1]} CPU tensor "
          f"(best time, ms; speed-up = torch / fanin)\n")
    print("| dtype | call | fanin | torch.nn.init | speed-up | target |")
    print("|---|---|---|---|---|---|")
    for dtype, label, f, r in rows:
        name = label.split("(")[0]
        target = TARGET.get(name, 1.0)
        verdict = ("same op as torch" if name in SAME_OP else
                   f"{target:g}x{'' if r / f >= target else ' (missed)'}")
        print(f"| {dtype} | `{label}` | {f * 1e3:.1f} | {r * 1e3:.1f} | {r / f:.1f}x | "
              f"{verdict} |")


def print_module(count, rows):
    base = rows[0][1]
    print(f"\n## whole model: TransformerEncoder, {count / 1e6:.1f}M parameters "
          f"(best time, s)\n")
    print("| initialization | time | vs own reset |")
    print("|---|---|---|")
    for label, t in rows:
        print(f"| {label} | {t:.3f} | {base / t:.2f}x |")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes: a harness check")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--dtypes", default="float32,bfloat16")
    ap.add_argument("--json", help="also write the results to this file")
    args = ap.parse_args(argv)
    shape = (1024, 1024) if args.quick else (4096, 4096)
    d_model, layers = (512, 2) if args.quick else (1024, 8)
    print(f"# fanin.torch benchmark: {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs visible, torch {torch.__version__} "
          f"({torch.get_num_threads()} threads), fanin {fanin.__version__} "
          f"({fanin.get_num_threads() if hasattr(fanin, 'get_num_threads') else '?'} threads, "
          f"kernel {'built' if fanin.stream.kernel_available() else 'NOT built'})")
    rows = bench_functions(shape, args.dtypes.split(","), args.repeat)
    print_functions(shape, rows)
    count, mod_rows = bench_module(d_model, layers, max(1, args.repeat - 1))
    print_module(count, mod_rows)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"shape": shape, "functions": rows, "module": [count, mod_rows]}, f,
                      indent=1)


if __name__ == "__main__":
    main()
