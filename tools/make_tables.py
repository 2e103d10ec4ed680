"""Generate the stream v2 coefficient tables and kind codes: fanin/stream/_tables.py and
fanin/stream/_tables.h.

One generator, two outputs with the same numbers (the single source of truth for
the piecewise-polynomial inverse CDFs of docs/stream.md section 5). Needs mpmath;
run from the repository root:

    python tools/make_tables.py

Every polynomial is fitted by weighted least squares (weights 1/f: relative error)
at 64 Chebyshev nodes of its interval, solved in 50-digit arithmetic, then each
coefficient is rounded to nearest in its working format (float32 tables: binary32
values; float64 tables: binary64). Coefficients are listed highest degree first,
for Horner's rule, in the variable tau in [0, 1) of the interval.
"""

from __future__ import annotations

import functools
import hashlib
import os
import sys

import mpmath as mp
import numpy as np

mp.mp.dps = 50
NODES = 64

# Layout constants, written into both outputs.
TN2_32_INTERVALS, TN2_32_DEGREE = 32, 6
TN2_64_MAIN, TN2_64_SUB, TN2_64_DEGREE = 16, 16, 14   # last main interval split in 16
DYADIC_SUB_BITS = 3          # dyadic intervals [2**e, 2**(e+1)) split in 2**3
DYADIC_EXP_MIN = -64         # lowest exponent e covered (e = -64 .. -2)
DYADIC_EXPS = -2 - DYADIC_EXP_MIN + 1
DYADIC_COUNT = DYADIC_EXPS << DYADIC_SUB_BITS
DYADIC_32_DEGREE, DYADIC_64_DEGREE = 6, 12

SQRT2 = mp.sqrt(2)
ERF_SQRT2 = mp.erf(SQRT2)


@functools.lru_cache(maxsize=None)
def _nodes():
    return [(1 - mp.cos(mp.pi * (j + mp.mpf(1) / 2) / NODES)) / 2 for j in range(NODES)]


_TRUTH = {}  # (function name, interval) -> values at the nodes (shared by both formats)


def _values(f, key):
    if key is None or key not in _TRUTH:
        vals = [f(t) for t in _nodes()]
        if key is None:
            return vals
        _TRUTH[key] = vals
    return _TRUTH[key]


def _fit(f, degree, no_constant=False, key=None):
    """Weighted LS fit of f(tau) on [0, 1] by a polynomial of `degree`; coefficients
    lowest degree first. no_constant: fit f(tau) = tau * Q(tau) (constant term 0).
    key: cache f's values at the nodes under this name."""
    taus = _nodes()
    vals = _values(f, key)
    if no_constant:
        vals = [v / t for v, t in zip(vals, taus)]
        degree -= 1
    n = degree + 1
    ata = mp.zeros(n, n)
    atb = mp.zeros(n, 1)
    for t, v in zip(taus, vals):
        w2 = 1 / (v * v)
        powers = [t ** k for k in range(n)]
        for a in range(n):
            atb[a] += w2 * powers[a] * v
            for b in range(a, n):
                ata[a, b] += w2 * powers[a] * powers[b]
    for a in range(n):
        for b in range(a):
            ata[a, b] = ata[b, a]
    c = mp.lu_solve(ata, atb)
    coeffs = [c[k] for k in range(n)]
    return ([mp.mpf(0)] + coeffs) if no_constant else coeffs


def _round(coeffs, fmt):
    """Highest degree first, rounded to the working format (as Python floats)."""
    t = np.float32 if fmt == 32 else np.float64
    return tuple(float(t(float(c))) for c in reversed(coeffs))


def tn2_32():
    def g(i):
        return lambda tau: SQRT2 * mp.erfinv((i + tau) / TN2_32_INTERVALS * ERF_SQRT2)
    return [_round(_fit(g(i), TN2_32_DEGREE, no_constant=(i == 0)), 32)
            for i in range(TN2_32_INTERVALS)]


def tn2_64():
    rows = []
    for i in range(TN2_64_MAIN - 1):
        f = (lambda i: lambda tau: SQRT2 * mp.erfinv((i + tau) / TN2_64_MAIN * ERF_SQRT2))(i)
        rows.append(_round(_fit(f, TN2_64_DEGREE, no_constant=(i == 0)), 64))
    last = TN2_64_MAIN - 1
    for k in range(TN2_64_SUB):
        f = (lambda k: lambda tau: SQRT2 * mp.erfinv(
            (last + (k + tau) / TN2_64_SUB) / TN2_64_MAIN * ERF_SQRT2))(k)
        rows.append(_round(_fit(f, TN2_64_DEGREE), 64))
    return rows


def _dyadic_point(idx, tau):
    """The probability at tau of dyadic interval idx (exponent and sub-interval)."""
    e = DYADIC_EXP_MIN + (idx >> DYADIC_SUB_BITS)
    m = idx & ((1 << DYADIC_SUB_BITS) - 1)
    return mp.ldexp(1 + (m + tau) / (1 << DYADIC_SUB_BITS), e)


def tail(idx):
    """T(y) = sqrt(2) erfcinv(y): the z > 0 with P(|Z| > z) = y."""
    return lambda tau: SQRT2 * mp.erfinv(1 - _dyadic_point(idx, tau))


def center(idx):
    """R(v) = sqrt(2) erfinv(v) / v: z = v R(v) has P(|Z| < z) = v."""
    def f(tau):
        v = _dyadic_point(idx, tau)
        return SQRT2 * mp.erfinv(v) / v
    return f


def dyadic(fn, degree, fmt):
    return [_round(_fit(fn(i), degree, key=(fn.__name__, i)), fmt)
            for i in range(DYADIC_COUNT)]


def _py_table(name, rows):
    lines = [f"{name} = ("]
    lines += ["    (" + ", ".join(repr(c) for c in row) + ")," for row in rows]
    lines.append(")")
    return "\n".join(lines)


def _c_table(name, ctype, rows):
    width = len(rows[0])
    suffix = "f" if ctype == "float" else ""
    lines = [f"static const {ctype} {name}[{len(rows)}][{width}] = {{"]
    for row in rows:
        lines.append("    {" + ", ".join(float(c).hex() + suffix for c in row) + "},")
    lines.append("};")
    return "\n".join(lines)


def main(root="."):
    tables = {
        "TN2_32": ("float", tn2_32()),
        "TN2_64": ("double", tn2_64()),
        "TAIL_32": ("float", dyadic(tail, DYADIC_32_DEGREE, 32)),
        "CENTER_32": ("float", dyadic(center, DYADIC_32_DEGREE, 32)),
        "TAIL_64": ("double", dyadic(tail, DYADIC_64_DEGREE, 64)),
        "CENTER_64": ("double", dyadic(center, DYADIC_64_DEGREE, 64)),
    }
    consts = {
        "TN2_32_INTERVALS": TN2_32_INTERVALS, "TN2_64_MAIN": TN2_64_MAIN,
        "TN2_64_SUB": TN2_64_SUB, "DYADIC_SUB_BITS": DYADIC_SUB_BITS,
        "DYADIC_EXP_MIN": DYADIC_EXP_MIN, "DYADIC_COUNT": DYADIC_COUNT,
    }
    # The transforms' codes (the kernel's `kind` argument), one source for both languages.
    kinds = {"uniform": 0, "normal": 1, "truncated_normal": 2, "truncated_general": 3,
             "uniform_int": 4}
    digest = hashlib.sha256(repr((consts, [t[1] for t in tables.values()])).encode())
    tables_id = digest.hexdigest()[:16]
    head = ("Generated by tools/make_tables.py: do not edit. Coefficient tables of the "
            "stream v2 inverse CDFs (docs/stream.md section 5), highest degree first.")
    py = [f'"""{head}"""', "", f'TABLES_ID = "{tables_id}"']
    py += [f"{k} = {v}" for k, v in consts.items()]
    py.append(f"KIND_CODES = {kinds!r}")
    h = [f"/* {head} */", f'#define FK_TABLES_ID "{tables_id}"']
    h += [f"#define FK_{k} {v}" for k, v in consts.items()]
    h.append("enum { " + ", ".join(f"FK_KIND_{k.upper()} = {v}" for k, v in kinds.items())
             + " };")
    for name, (ctype, rows) in tables.items():
        py.append(_py_table(name, rows))
        h.append(_c_table("fk_" + name.lower() + "_table", ctype, rows))
    with open(os.path.join(root, "fanin", "stream", "_tables.py"), "w") as f:
        f.write("\n".join(py) + "\n")
    with open(os.path.join(root, "fanin", "stream", "_tables.h"), "w") as f:
        f.write("\n".join(h) + "\n")
    print("tables", tables_id, file=sys.stderr)


if __name__ == "__main__":
    main()
