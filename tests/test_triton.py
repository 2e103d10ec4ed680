"""The fused Triton kernel (fanin.stream.triton) against the NumPy reference, bit for bit.

The kernel runs in Triton's interpreter on the CPU (TRITON_INTERPRET=1 while the module
defines its kernel), which executes the kernel's own operations with NumPy: the same
text a GPU compiles. That the GPU keeps each operation's rounding (no fused
multiply-add) is checked on the kernel compiled for an sm_90 GPU, in a child process.
With ``FANIN_REQUIRE_TRITON=1`` (CI) a missing triton fails instead of skipping.
"""

import importlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st


import fanin  # noqa: E402
from fanin import stream  # noqa: E402
from fanin.stream import numpy as sn  # noqa: E402
import test_stream as T  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _interpreted_module():
    """fanin.stream.triton with its kernel interpreted. Triton reads TRITON_INTERPRET
    when the module defines its kernel, so a module imported earlier without it (for
    its doctests) is imported again; the variable is restored afterwards."""
    saved = os.environ.get("TRITON_INTERPRET")
    os.environ["TRITON_INTERPRET"] = "1"
    try:
        module = importlib.import_module("fanin.stream.triton")
        if not module.available("cpu"):
            module = importlib.reload(module)
    finally:
        if saved is None:
            del os.environ["TRITON_INTERPRET"]
        else:
            os.environ["TRITON_INTERPRET"] = saved
    return module


if os.environ.get("FANIN_REQUIRE_TRITON", "") not in ("", "0"):
    import triton  # noqa: F401  (fails the run: CI installs triton)
pytest.importorskip("triton")
torch = pytest.importorskip("torch")
ft = _interpreted_module()

FLOATS = ("float32", "float16", "bfloat16", "float64")
STORAGE = {"bfloat16": np.uint16}
TORCH = {name: getattr(torch, name) for name in stream.FORMATS}
DISTS = [stream.uniform(-1.0, 3.0), stream.normal(0.5, 2.0), stream.normal(-3.0, 1e-3),
         stream.truncated_normal(0.0, 1.0), stream.truncated_normal(-0.0, 0.3),
         stream.truncated_normal(7.0, 0.01), stream.truncated_normal(0.0, 1.0, 2.0, 3.0),
         stream.truncated_normal(0.1, 1.5, -6.0, -5.5),
         stream.truncated_normal(0.0, 1.0, -0.1, 0.1),
         stream.truncated_normal(1.0, 0.5, -0.3, 2.5),
         stream.truncated_normal(0.0, 0.02, -100.0, 100.0),
         stream.truncated_normal(0.0, 1e-9)]  # clamp bounds +-0 in float16
INT_CASES = [("int8", -100, 100), ("int8", -128, 128), ("uint8", 0, 256), ("uint8", 3, 4),
             ("int16", -5, 1000), ("uint16", 0, 65536), ("int32", -2**31, 2**31),
             ("uint32", 7, 2**32 - 3), ("uint32", 0, 2**32), ("int64", -2**63, 2**63),
             ("int64", -7, 2**40 + 3), ("uint64", 0, 2**64), ("uint64", 3, 2**64 - 7),
             ("uint64", 2**63, 2**63 + 2**33 + 1)]


def _storage(fmt):
    return STORAGE.get(fmt, fmt)


def _rows(fill_rows, dist, fmt, starts, row_len, key=11, call=2**63 + 3):
    out = np.empty(len(starts) * row_len, _storage(fmt))
    fill_rows(out, key, call, dist, fmt, np.asarray(starts, np.uint64), row_len)
    return out.view(f"u{out.itemsize}")


def _same_as_reference(dist, fmt, starts, row_len, key=11, call=2**63 + 3):
    want = _rows(stream.fill_reference_rows, dist, fmt, starts, row_len, key, call)
    got = _rows(ft.fill_rows, dist, fmt, starts, row_len, key, call)
    bad = np.flatnonzero(got != want)
    assert bad.size == 0, (f"{bad.size} of {want.size} differ, first at {bad[:5].tolist()}: "
                           f"{got[bad[:5]].tolist()} != {want[bad[:5]].tolist()}")


# --------------------------------------------------------------------------- #
# Bits: the reference's, for every distribution, format and row layout
# --------------------------------------------------------------------------- #


def test_runs_interpreted_on_the_cpu():
    assert ft.available("cpu") and ft.available() and not ft.available("meta")


@pytest.mark.parametrize("kind,fmt", sorted(T.GOLDEN))
def test_golden_values(kind, fmt):
    got = [int(x) for start in (0, 2**40 + 1)
           for x in _rows(ft.fill_rows, T.DISTS[kind], fmt, [start], 4, 20261129, 3)]
    assert got == list(T.GOLDEN[kind, fmt])


@pytest.mark.parametrize("fmt,lo,hi", sorted(T.GOLDEN_INT))
def test_golden_values_uniform_int(fmt, lo, hi):
    got = [int(x) for start in (0, 2**40 + 1) for x in
           _rows(ft.fill_rows, stream.uniform_int(lo, hi), fmt, [start], 4, 20261129, 3)
           .view(fmt)]
    assert got == list(T.GOLDEN_INT[fmt, lo, hi])


@pytest.mark.parametrize("fmt", FLOATS)
@pytest.mark.parametrize("dist", DISTS, ids=lambda d: f"{d.kind}{d.lower},{d.upper}")
def test_every_distribution_and_format(fmt, dist):
    try:
        stream.clamp_bounds(dist, fmt)
    except ValueError:
        pytest.skip("no value of this format lies inside the support")
    # rows at every lane, one near the index limit; 1501 elements: two programs a row
    _same_as_reference(dist, fmt, [5, 2**40 + 3, 78, 2**62 - 1502], 1501)


@pytest.mark.parametrize("fmt,lo,hi", INT_CASES)
def test_uniform_int_every_format(fmt, lo, hi):
    _same_as_reference(stream.uniform_int(lo, hi), fmt, [0, 3, 2**61 + 1, 2**62 - 700], 699)


def _dists():
    floats = st.floats(-1e3, 1e3, allow_nan=False, allow_subnormal=False)
    scale = st.floats(1e-6, 1e2)
    bounds = st.tuples(st.floats(-9.0, 8.5), st.floats(0.05, 6.0)).map(
        lambda t: (t[0], min(t[0] + t[1], 9.0)))
    return st.one_of(
        st.builds(lambda a, w: stream.uniform(a, a + w), floats, scale),
        st.builds(stream.normal, floats, scale),
        st.builds(stream.truncated_normal, floats, scale),
        st.builds(lambda m, s, b: stream.truncated_normal(m, s, *b), floats, scale, bounds))


# Words at the transforms' edges: zero, all ones, each sign / region / interval bit
# alone and around it, the largest fraction (tau -> 1), the smallest (tau = 0).
EDGE_WORDS = sorted({0, 1, 2, 31, 32, 0x3F, 0xFFFFFFE0, 0x3FFFFFFF, 0x40000000, 0x40000001,
                     0x7FFFFFFF, 0x7FFFFFE0, 0x80000000, 0x80000001, 0x8000001F, 0xBFFFFFFF,
                     0xC0000000, 0xC0000001, 0xFFFFFFFF, 0xFFFFFF00, 0x000000FF, 0x00FFFFFF})


def _edge_words(fmt):
    """Every edge word (32-bit formats) or every ordered pair of them (64-bit: L, H),
    padded to a power of two with the first."""
    e = np.array(EDGE_WORDS, np.uint64)
    if stream.words_per_element(fmt) == 1:
        w = e
    else:
        lo, hi = np.meshgrid(e, e, indexing="ij")
        pairs = np.stack([lo.reshape(-1), hi.reshape(-1)], axis=1)
        w = np.concatenate([pairs] * (stream.words_per_element(fmt) // 2), axis=1).reshape(-1)
    n = 1 << max(2, (w.size - 1).bit_length())
    return np.concatenate([w, np.full(n - w.size, w[0], np.uint64)])


@pytest.mark.parametrize("fmt", FLOATS)
@pytest.mark.parametrize("dist", DISTS, ids=lambda d: f"{d.kind}{d.loc},{d.lower},{d.upper}")
def test_edge_words(fmt, dist):
    """The kernel's transform on chosen words (its test hook) against the reference's
    transforms on the same words: -0 and the clamp's edges included."""
    try:
        bounds = stream.clamp_bounds(dist, fmt)
    except ValueError:
        pytest.skip("no value of this format lies inside the support")
    w = _edge_words(fmt)
    want = np.empty(w.size // stream.words_per_element(fmt), _storage(fmt))
    sn.store(sn.values(w, dist, fmt), want, fmt, bounds)
    got = ft._transform_words(w, dist, fmt)
    assert np.array_equal(got, want.view(got.dtype))


@pytest.mark.parametrize("fmt,lo,hi", INT_CASES)
def test_edge_words_uniform_int(fmt, lo, hi):
    w = _edge_words(fmt)
    dist = stream.uniform_int(lo, hi)
    want = sn.values(w, dist, fmt)
    assert np.array_equal(ft._transform_words(w, dist, fmt), want.view(f"u{want.itemsize}"))


@given(dist=_dists(), fmt=st.sampled_from(FLOATS), key=st.integers(0, 2**64 - 1),
       call=st.integers(0, 2**64 - 1),
       starts=st.lists(st.integers(0, 2**62 - 3000), min_size=1, max_size=5),
       row_len=st.integers(0, 600))
@settings(max_examples=40, deadline=None, derandomize=True)
def test_any_rows_any_distribution(dist, fmt, key, call, starts, row_len):
    try:
        stream.clamp_bounds(dist, fmt)
    except ValueError:
        return  # refused before any backend runs
    _same_as_reference(dist, fmt, starts, row_len, key, call)


@given(case=st.sampled_from(INT_CASES), key=st.integers(0, 2**64 - 1),
       starts=st.lists(st.integers(0, 2**62 - 3000), min_size=1, max_size=4),
       row_len=st.integers(1, 300))
@settings(max_examples=15, deadline=None, derandomize=True)
def test_any_rows_uniform_int(case, key, starts, row_len):
    fmt, lo, hi = case
    _same_as_reference(stream.uniform_int(lo, hi), fmt, starts, row_len, key, 5)


@st.composite
def _blocks(draw):
    """A full shape (up to 3 axes, a few thousand elements) and a block of it."""
    shape = tuple(draw(st.lists(st.integers(0, 17), min_size=0, max_size=3)))
    offset = tuple(draw(st.integers(0, d)) for d in shape)
    block = tuple(draw(st.integers(0, d - o)) for d, o in zip(shape, offset))
    return shape, offset, block


@given(geometry=_blocks(), dist=st.sampled_from(DISTS[:4] + DISTS[6:7]),
       fmt=st.sampled_from(FLOATS), seed=st.integers(-2**63, 2**64 - 1),
       call=st.integers(0, 2**64 - 1))
@settings(max_examples=30, deadline=None, derandomize=True)
def test_fill_tensor_is_the_reference_block(geometry, dist, fmt, seed, call):
    shape, offset, block = geometry
    p = stream.plan(stream.seed_to_key(seed), call, dist, fmt, shape, offset, block)
    want = np.empty(block, _storage(fmt))
    with stream.set_backend("reference"):
        stream.fill(want, p)
    got = ft.fill_tensor(torch.empty(block, dtype=TORCH[fmt]), p)
    assert got.shape == block
    bits = got.view({2: torch.int16, 4: torch.int32, 8: torch.int64}[got.element_size()])
    assert np.array_equal(bits.numpy().view(want.dtype), want)


def test_many_programs_and_pieces(monkeypatch):
    """Small programs and launches (private sizes shrunk): rows split across programs,
    across launches, and many rows per launch give the same bits."""
    monkeypatch.setattr(ft, "_BLOCKS", 8)
    monkeypatch.setattr(ft, "_PIECE", 100)
    monkeypatch.setattr(ft, "_MAX_PROGRAMS", 3)
    for fmt, dist in (("float32", DISTS[1]), ("float64", DISTS[6]), ("bfloat16", DISTS[3])):
        _same_as_reference(dist, fmt, [1, 2**33 + 2, 7], 333)  # rows longer than a piece
        _same_as_reference(dist, fmt, list(range(0, 300, 10)), 9)  # rows grouped
    _same_as_reference(stream.uniform_int(-3, 2**50), "int64", [2, 9, 2**40], 150)


def test_empty_fills_write_nothing():
    _same_as_reference(DISTS[0], "float32", [], 5)
    out = np.zeros(0, np.float32)
    ft.fill_rows(out, 1, 0, DISTS[0], "float32", np.array([3], np.uint64), 0)
    t = torch.empty(0, 4)
    assert ft.fill_tensor(t, stream.plan(1, 0, DISTS[0], "float32", (3, 4), (1, 0),
                                         (0, 4))) is t


# --------------------------------------------------------------------------- #
# fill_tensor's checks: a clear error, and nothing written
# --------------------------------------------------------------------------- #

PLAN = stream.plan(3, 0, stream.normal(0.0, 1.0), "float32", (4, 6))


@pytest.mark.parametrize("out,plan,error,match", [
    (np.zeros((4, 6), np.float32), PLAN, TypeError, "torch.Tensor"),
    (torch.zeros(4, 6), "plan", TypeError, "Plan"),
    (torch.zeros(4, 6, dtype=torch.float64), PLAN, ValueError, "dtype"),
    (torch.zeros(4, 6, dtype=torch.int32), PLAN, ValueError, "dtype"),
    (torch.zeros(5, 6), PLAN, ValueError, "elements"),
    (torch.zeros(6, 4).t(), PLAN, ValueError, "contiguous"),
    (torch.zeros(4, 6, device="meta"), PLAN, RuntimeError, "cannot run on meta"),
])
def test_fill_tensor_refuses_bad_arguments(out, plan, error, match):
    before = out.clone() if isinstance(out, torch.Tensor) and not out.is_meta else None
    with pytest.raises(error, match=match):
        ft.fill_tensor(out, plan)
    if before is not None:
        assert torch.equal(out, before)


def test_fill_tensor_fills_a_parameter_in_place():
    w = torch.nn.Parameter(torch.zeros(6, 5))
    assert ft.fill_tensor(w, stream.plan(4, 1, DISTS[3], "float32", (6, 5))) is w
    want = np.empty((6, 5), np.float32)
    stream.fill(want, stream.plan(4, 1, DISTS[3], "float32", (6, 5)))
    assert np.array_equal(w.detach().numpy(), want) and w.requires_grad


def test_fill_tensor_fills_an_int_tensor_and_a_block():
    p = stream.plan(9, 1, stream.uniform_int(5, 2**64 - 9), "uint64", (5, 7), (1, 2), (3, 4))
    want = np.empty((3, 4), np.uint64)
    stream.fill(want, p)
    got = ft.fill_tensor(torch.empty(3, 4, dtype=torch.uint64), p)
    assert np.array_equal(got.view(torch.int64).numpy().view(np.uint64), want)


# --------------------------------------------------------------------------- #
# The backend: every numpy fill through the kernel
# --------------------------------------------------------------------------- #


def test_selected_backend_fills_every_public_path():
    def values():
        out = [fanin.LecunNormal(seed=5)((31, 17), "float32"),
               fanin.GlorotUniform(seed=6)((8, 9), "bfloat16"),
               fanin.TruncatedNormal(0.5, 2.0, seed=7)((3, 5, 7), "float16"),
               fanin.RandomNormal(seed=8)((40,), "float64"),
               fanin.HeUniform(seed=9).draw((6, 10), "float32").block((2, 3), (3, 5))]
        a = np.empty((6, 4), np.float64)
        stream.fill(a, stream.plan(1, 2, DISTS[7], "float64", (9, 8), (2, 4), (6, 4)))
        return out + [a]

    want = values()
    with stream.set_backend("triton"):
        assert stream.get_backend() == "triton" and not stream.using_kernel()
        got = values()
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and np.array_equal(g.view(f"u{g.itemsize}"),
                                                     w.view(f"u{w.itemsize}"))


CHILD = r"""
import numpy as np
import fanin, fanin.torch
from fanin import stream
import torch

assert stream.get_backend() == "triton", stream.get_backend()

def bits(a):
    a = a.numpy() if isinstance(a, torch.Tensor) else np.asarray(a)
    return a.view(f"u{a.itemsize}").tolist()

def everything():
    r = {}
    for name in ("LecunNormal", "LecunUniform", "GlorotNormal", "GlorotUniform",
                 "HeNormal", "HeUniform", "RandomNormal", "RandomUniform", "TruncatedNormal"):
        for fmt in ("float32", "bfloat16", "float16", "float64"):
            r[name, fmt] = bits(getattr(fanin, name)(seed=3)((12, 7), fmt))
    d = fanin.VarianceScaling(2.0, "fan_avg", "truncated_normal", seed=4).draw((9, 5, 6))
    r["block"] = bits(d.block((2, 1, 3), (4, 3, 2)))
    out = np.empty((4, 3, 2), np.float32)
    d.fill(out, (3, 2, 1))
    r["draw.fill"] = bits(out)
    p = stream.plan(2**64 - 1, 5, stream.truncated_normal(0.0, 1.0, -1.0, 0.5), "float64",
                    (10, 11), (3, 2), (5, 7))
    out = np.empty((5, 7), np.float64)
    stream.fill(out, p)
    r["fill"] = bits(out)
    out = np.empty(3 * 50, np.int16)
    stream.fill_rows(out, 7, 1, stream.uniform_int(-300, 301), "int16",
                     np.array([4, 2**50, 9], np.uint64), 50)
    r["fill_rows"] = bits(out)
    r["torch"] = bits(fanin.torch.trunc_normal_(torch.empty(20, 6), std=0.2, seed=1))
    t = fanin.torch.lecun_normal_(torch.empty(5, 8, dtype=torch.bfloat16), seed=2)
    r["torch bf16"] = bits(t.view(torch.int16))
    return r

got = everything()
with stream.set_backend("kernel" if stream.kernel_available() else "reference"):
    want = everything()
bad = [k for k in want if got[k] != want[k]]
assert not bad, bad
print("ok", len(want))
"""


@pytest.mark.slow
def test_fanin_backend_triton_in_a_child():
    env = dict(os.environ, FANIN_BACKEND="triton", TRITON_INTERPRET="1",
               PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    run = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True,
                         text=True, timeout=600, cwd=ROOT)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.startswith("ok ")


@pytest.mark.slow
def test_fanin_backend_triton_without_a_device_is_refused():
    if torch.cuda.is_available():
        pytest.skip("a CUDA device serves the compiled kernel here")
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env.update(FANIN_BACKEND="triton",
               PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    run = subprocess.run([sys.executable, "-c", "import fanin"], env=env,
                         capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert run.returncode != 0 and "TRITON_INTERPRET=1" in run.stderr, run.stderr[-2000:]
    code = ("from fanin import stream\n"
            "try:\n    stream.set_backend('triton')\n"
            "except RuntimeError as e:\n    print('refused', stream.get_backend(), e)")
    env.pop("FANIN_BACKEND")
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, timeout=300, cwd=ROOT)
    assert run.stdout.startswith("refused kernel") or run.stdout.startswith(
        "refused reference"), run.stdout + run.stderr[-2000:]


# --------------------------------------------------------------------------- #
# The compiled kernel: no fused multiply-add in its machine code
# --------------------------------------------------------------------------- #


@pytest.mark.slow
def test_compiled_kernel_has_no_fused_multiply_add():
    """SASS for sm_90 from Triton's bundled ptxas (no GPU needed). Fanin's launches
    (contraction off) hold separate FMUL/FADD (DMUL/DADD); the canary: the same kernel
    compiled with contraction on holds FFMA/DFMA, so the check would see one. HFMA2
    is not counted: ptxas uses it to move constants (fanin has no half arithmetic)."""
    import triton.backends
    if "nvidia" not in triton.backends.backends:
        pytest.skip("this triton has no NVIDIA backend to compile for")
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env["PYTHONPATH"] = ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")
    run = subprocess.run([sys.executable, os.path.join(ROOT, "tests", "triton_sass_check.py")],
                         env=env, capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert run.returncode == 0, run.stderr[-3000:]
    counts = json.loads(run.stdout.strip().splitlines()[-1])
    for label, c in counts.items():
        fused = c.get("FFMA", 0) + c.get("DFMA", 0) + c["ptx_fma"]
        if c["fused"]:
            assert fused > 0, f"{label}: contraction on, yet no FMA: the canary is dead"
        else:
            assert fused == 0, f"{label}: fused multiply-adds with contraction off: {c}"
            if not label.startswith("uniform_int"):
                assert c.get("FMUL", 0) + c.get("DMUL", 0) > 0, label
