"""Peak memory of every fill path: the output plus a small constant (target: 16 MiB).

Each case runs in a fresh subprocess: the process's peak resident memory (VmHWM, reset
through /proc/self/clear_refs just before the case) minus its resident memory before
it, minus the output's own bytes, is the extra memory the path needed.

    python benchmarks/bench_memory.py            # all cases, a table
    python benchmarks/bench_memory.py --json out.json

Linux only (it reads /proc).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import textwrap

LIMIT_MIB = 16  # the target: peak = output + a small constant

# name -> (setup code, measured statement, bytes of the output it allocates). Outputs
# that exist before the statement are touched in the setup (written once), so that
# their pages are resident and only the path's own temporaries count.
CASES = {
    "new tensor float32 (4096, 4096)": (
        "init = fanin.LecunNormal(seed=0)", "out = init((4096, 4096))", "out.nbytes"),
    "new tensor bfloat16 (4096, 4096)": (
        "init = fanin.LecunNormal(seed=0)", "out = init((4096, 4096), 'bfloat16')",
        "out.nbytes"),
    "partition (N, 1) of (N, 2) float16, N = 2**23": (
        "init = fanin.LecunNormal(seed=0)",
        "out = init((2**23, 2), 'float16', partition_shape=(2**23, 1), partition_offset=(0, 0))",
        "out.nbytes"),
    "draw.fill into big-endian float32 (4096, 4096)": (
        "d = fanin.LecunNormal(seed=0).draw((4096, 4096)); out = np.empty((4096, 4096), '>f4');"
        " out.fill(1)",
        "d.fill(out)", "0"),
    "draw.fill into a strided view (4096, 4096)": (
        "d = fanin.LecunNormal(seed=0).draw((4096, 4096));"
        " base = np.ones((4096, 8192), np.float32); out = base[:, ::2]",
        "d.fill(out)", "0"),
    "Identity (12000, 12000) float16": (
        "init = fanin.Identity()", "out = init((12000, 12000), 'float16')", "out.nbytes"),
    "Zeros (4096, 4096) float64": (
        "init = fanin.Zeros()", "out = init((4096, 4096), 'float64')", "out.nbytes"),
    "torch layout nn.Linear(2**26, 2).weight": (
        "import torch, fanin.torch; w = torch.ones(2, 2**26)",
        "fanin.torch.lecun_normal_(w, seed=0)", "0"),
    "torch layout Conv2d(512, 512, 3) weight, bfloat16": (
        "import torch, fanin.torch; w = torch.ones(512, 512, 3, 3, dtype=torch.bfloat16)",
        "fanin.torch.he_normal_(w, seed=0)", "0"),
}

CHILD = """
import gc, os, sys
import numpy as np
import ml_dtypes  # loaded up front: library code is not a fill path's memory
import fanin
{setup}
gc.collect()
def rss(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1]) * 1024
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # reset the peak (VmHWM) to the current resident size
before = rss("VmRSS:")
{stmt}
peak = rss("VmHWM:")
print(peak - before - ({out_bytes}))
"""


def measure(setup: str, stmt: str, out_bytes: str) -> int:
    code = CHILD.format(setup=setup, stmt=stmt, out_bytes=out_bytes)
    r = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                       text=True, timeout=600)
    if r.returncode != 0:
        raise RuntimeError(r.stderr.strip().splitlines()[-1])
    return int(r.stdout.strip())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    results, worst = {}, 0
    print(f"| case | extra peak (MiB) | <= {LIMIT_MIB} MiB |")
    print("|---|---|---|")
    for name, (setup, stmt, out_bytes) in CASES.items():
        try:
            extra = measure(setup, stmt, out_bytes) / 2**20
        except (RuntimeError, subprocess.TimeoutExpired) as err:
            print(f"| {name} | failed: {err} | |")
            continue
        results[name] = extra
        worst = max(worst, extra)
        print(f"| {name} | {extra:.1f} | {'yes' if extra <= LIMIT_MIB else 'NO'} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"limit_mib": LIMIT_MIB, "extra_peak_mib": results}, f, indent=1)
    return 0 if worst <= LIMIT_MIB else 1


if __name__ == "__main__":
    sys.exit(main())
