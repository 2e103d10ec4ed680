"""fanin's Triton kernel compiled for an sm_90 GPU without one; run by tests/test_triton.py
in a child process (TRITON_INTERPRET unset, so the kernel is compiled, not interpreted).

    python tests/triton_sass_check.py

Triton's bundled ptxas and nvdisasm turn the kernel into machine code (SASS) on any
machine. For each variant this prints, as one JSON object, how many fused
multiply-adds (FFMA, DFMA, HFMA2) and separate multiplies and adds the SASS holds, once
with floating-point contraction off (as fanin launches it) and, for a few variants,
once with it on: the canary showing that a contraction would be seen.
"""

import collections
import json
import os
import re
import subprocess
import sys
import tempfile

# (label, KIND, FMT, PER, ROWS, BLOCK, fused): every transform in both working
# precisions, the half formats' rounding, the integer formats, a many-rows layout.
UNIFORM, NORMAL, TN2, GENERAL, INT = 0, 1, 2, 3, 4
F32, F16, BF16, F64, INTS = 0, 1, 2, 3, 4
VARIANTS = [(f"{kname} {fname}", k, f, 2 if f == F64 else 1, 1, 256, False)
            for kname, k in (("uniform", UNIFORM), ("normal", NORMAL),
                             ("truncated_normal", TN2), ("truncated_general", GENERAL))
            for fname, f in (("float32", F32), ("float64", F64))]
VARIANTS += [("normal float16", NORMAL, F16, 1, 1, 256, False),
             ("truncated_general bfloat16", GENERAL, BF16, 1, 1, 256, False),
             ("normal float32 rows", NORMAL, F32, 1, 32, 8, False),
             ("truncated_normal float64 rows", TN2, F64, 2, 4, 64, False),
             ("uniform_int 2 words rows", INT, INTS, 2, 32, 8, False),
             ("uniform float64 long row", UNIFORM, F64, 2, 1, 256, False),
             ("uniform_int 2 words", INT, INTS, 2, 1, 256, False),
             ("uniform_int 4 words", INT, INTS, 4, 1, 256, False),
             ("normal float32 fused", NORMAL, F32, 1, 1, 256, True),
             ("truncated_general float64 fused", GENERAL, F64, 2, 1, 256, True)]
SASS_OPS = re.compile(r"\b(FFMA|DFMA|HFMA2|FMUL|DMUL|FADD|DADD)\b")


def main() -> int:
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    from fanin.stream import triton as ft

    kernel = ft._fill_kernel  # the module's one kernel, compiled here as fanin launches it
    nvdisasm = os.path.join(os.path.dirname(triton.__file__), "backends", "nvidia", "bin",
                            "nvdisasm")
    out = {}
    for label, kind, fmt, per, rows, block, fused in VARIANTS:
        width = {F32: "i32", F16: "i16", BF16: "i16", F64: "i64", INTS: "i64"}[fmt]
        count = "i64" if label.endswith("long row") else "i32"  # Triton types ints by value
        sig = {"out_ptr": "*" + width, "p_ptr": "*i64",
               "dy_ptr": "*fp64" if fmt == F64 else "*fp32", "nrows": count, "row_len": count,
               "chunks": count, "KIND": "constexpr", "FMT": "constexpr", "PER": "constexpr",
               "ROWS": "constexpr", "BLOCK": "constexpr"}
        consts = {"KIND": kind, "FMT": fmt, "PER": per, "ROWS": rows, "BLOCK": block}
        compiled = triton.compile(ASTSource(kernel, sig, consts),
                                  target=GPUTarget("cuda", 90, 32),
                                  options={"enable_fp_fusion": fused, "num_warps": 4})
        with tempfile.NamedTemporaryFile(suffix=".cubin") as f:
            f.write(compiled.asm["cubin"])
            f.flush()
            sass = subprocess.run([nvdisasm, f.name], capture_output=True, text=True,
                                  check=True).stdout
        counts = collections.Counter(SASS_OPS.findall(sass))
        counts["ptx_fma"] = len(re.findall(r"\bfma\.", compiled.asm["ptx"]))
        out[label] = dict(counts, fused=fused)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
