"""The compiled kernel (fanin.stream._kernel) against the NumPy reference, bit for bit.

Skipped when the extension is not built, except ``test_kernel_is_built``, which fails
when ``FANIN_REQUIRE_KERNEL=1`` is set so that CI catches a broken build.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from fanin import stream
from _fills import fill as sfill, fill_reference as sfill_reference  # noqa: E402

try:
    from fanin.stream import _kernel
except ImportError:  # pragma: no cover - exercised when the build is broken
    _kernel = None

needs_kernel = pytest.mark.skipif(_kernel is None, reason="fanin.stream._kernel is not built")

# The reference warns when a float16 bound or value overflows to inf (expected here).
pytestmark = pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")

DTYPES = {"float16": np.float16, "bfloat16": np.uint16, "float32": np.float32,
          "float64": np.float64}
UINT = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}
# truncated_normal: Keras' +-2 (its own tables); the others: the general path
BOUNDS = {"truncated_normal": (-2.0, 2.0), "tn_straddle": (-0.3, 2.5), "tn_tail": (2.0, 3.0),
          "tn_far": (-6.0, -5.5), "tn_narrow": (-0.1, 0.1), "tn_wide": (-100.0, 100.0)}
KINDS = ("uniform", "normal") + tuple(BOUNDS)


def bits(a):
    return np.ascontiguousarray(a).reshape(-1).view(UINT[a.dtype.itemsize])


def same_bits(a, b):
    return np.array_equal(bits(a), bits(b))


def make_dist(kind, loc, scale):
    if kind == "uniform":  # a negative scale flips the interval
        return stream.uniform(min(loc, loc + scale), max(loc, loc + scale))
    if kind == "normal":
        return stream.normal(loc, scale)
    return stream.truncated_normal(loc, abs(scale), *BOUNDS[kind])


def kfill(out, seed, call, dist, *, starts=None, row_len=None, fmt=None, threads=None):
    """stream.fill's kernel path, with an explicit thread count."""
    fmt = fmt or out.dtype.name
    flat = stream.backends.check_out(out, fmt)
    starts_arr = (np.zeros(1, np.uint64) if starts is None
                  else np.ascontiguousarray(starts, dtype=np.uint64).reshape(-1))
    row_len = out.size if row_len is None else int(row_len)
    stream.plans.check_rows(starts_arr, row_len, flat.size)
    code, params, ilow, nm1 = stream.kernel_args(dist, fmt)
    _kernel.fill(flat, fmt, stream.seed_to_key(seed), int(call) & stream.spec.MASK64,
                 code, params, ilow, nm1, starts_arr, row_len, threads=threads)


def ref(shape, fmt, seed, call, dist, **kw):
    b = np.empty(shape, DTYPES[fmt])
    sfill_reference(b, seed, call, dist, fmt=fmt, **kw)
    return b


def check(shape, fmt, seed, call, dist, threads=None, **kw):
    a = np.full(shape, 7, DTYPES[fmt])
    kfill(a, seed, call, dist, fmt=fmt, threads=threads, **kw)
    b = ref(shape, fmt, seed, call, dist, **kw)
    if not same_bits(a, b):
        bad = np.flatnonzero(bits(a) != bits(b))
        pytest.fail(f"{fmt} {dist} seed={seed} call={call} {kw}: {bad.size} elements "
                    f"differ, first at {bad[:5]}: kernel {bits(a)[bad[:3]]} vs reference "
                    f"{bits(b)[bad[:3]]}")


def test_kernel_is_built():
    if os.environ.get("FANIN_REQUIRE_KERNEL", "") not in ("", "0") and _kernel is None:
        pytest.fail("FANIN_REQUIRE_KERNEL is set but fanin.stream._kernel cannot be imported: "
                    "the C extension failed to build")


@needs_kernel
def test_stream_fill_uses_kernel():
    stream.set_backend("kernel")  # the autouse fixture restores the backend
    assert stream.kernel_available() and stream.using_kernel()
    assert _kernel.isa() in ("avx512", "avx2", "generic")
    a = np.empty((3, 3), np.float32)
    sfill(a, 5, 1, stream.truncated_normal(0.0, 0.1))
    assert same_bits(a, ref((3, 3), "float32", 5, 1, stream.truncated_normal(0.0, 0.1)))


@needs_kernel
def test_philox_known_answer_through_uniform():
    # counter (0, 0, 0, 0), key (0, 0): element i of (seed 0, call 0) is lane i.
    words = [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]
    a = np.empty(4, np.float32)
    kfill(a, 0, 0, stream.uniform(0.0, 1.0))
    assert [int(x * 2.0**24) for x in a] == [w >> 8 for w in words]
    d = np.empty(2, np.float64)
    kfill(d, 0, 0, stream.uniform(0.0, 1.0))
    want = [((words[2 * i + 1] << 21) | (words[2 * i] >> 11)) for i in range(2)]
    assert [int(x * 2.0**53) for x in d] == want


SIZES = [1, 2, 3, 4, 5, 9, 31, 32, 33, 63, 64, 65, 127, 128, 129, 1000, 4099]
SEEDS = [0, 1, 2**64 - 1, 2**32, 123456789, -7, 2**70 + 3]
CALLS = [0, 1, 2**32 - 1, 2**32, 2**63 + 5, 2**64 - 1]
LOC_SCALE = [(0.0, 1.0), (0.25, 0.05), (-3.0, 2.5), (1e-6, 3e-6), (0.0, 1e-7),
             (0.0, 2.0**-20), (100.0, 30.0), (-0.0, 1.0), (0.0, -1.0)]


@needs_kernel
@pytest.mark.parametrize("fmt", list(DTYPES))
@pytest.mark.parametrize("kind", KINDS)
def test_flat_fills_match_reference(fmt, kind):
    rng = np.random.default_rng([7, len(fmt), len(kind)])
    for i, n in enumerate(SIZES):
        seed = SEEDS[i % len(SEEDS)]
        call = CALLS[(i * 5) % len(CALLS)]
        loc, scale = LOC_SCALE[i % len(LOC_SCALE)]
        check(n, fmt, seed, call, make_dist(kind, loc, scale))
    for _ in range(6):
        n = int(rng.integers(1, 3000))
        loc, scale = LOC_SCALE[int(rng.integers(len(LOC_SCALE)))]
        check(n, fmt, int(rng.integers(0, 2**63)) * 2 + 1, int(rng.integers(0, 2**40)),
              make_dist(kind, loc, scale))


@needs_kernel
@pytest.mark.parametrize("fmt", list(DTYPES))
@pytest.mark.parametrize("kind", KINDS)
def test_row_layouts_match_reference(fmt, kind):
    """Partitions: rows at arbitrary stream offsets, misaligned lanes, rows that
    continue each other, huge element indices."""
    rng = np.random.default_rng([11, len(fmt), len(kind)])
    top = stream.MAX_INDEX
    for trial in range(8):
        row_len = int(rng.choice([1, 2, 3, 5, 16, 63, 64, 65, 100, 257]))
        nrows = int(rng.integers(1, 40))
        if trial % 3 == 0:  # one contiguous run split into rows (merged by the kernel)
            s0 = int(rng.integers(0, 10**6))
            starts = s0 + row_len * np.arange(nrows, dtype=np.uint64)
        elif trial % 3 == 1:  # a tile of a bigger matrix
            cols = row_len + int(rng.integers(0, 50))
            s0 = int(rng.integers(0, 10**9))
            starts = s0 + cols * np.arange(nrows, dtype=np.uint64)
        else:  # anywhere, including the top of the index range
            starts = rng.integers(0, top - row_len, size=nrows, dtype=np.uint64,
                                  endpoint=False)
            starts[0] = top - row_len
            starts[-1] = 0
        loc, scale = LOC_SCALE[trial % len(LOC_SCALE)]
        check((nrows, row_len), fmt, int(rng.integers(0, 2**64, dtype=np.uint64)),
              CALLS[trial % len(CALLS)], make_dist(kind, loc, scale),
              starts=starts, row_len=row_len)


@needs_kernel
@pytest.mark.parametrize("fmt", ["float32", "bfloat16", "float16"])
@pytest.mark.parametrize("kind", KINDS)
def test_short_scattered_rows_match_reference(fmt, kind):
    """Rows shorter than a batch at scattered starts, each computing only the groups of
    8 blocks it needs (the AVX-512 head of a batch): row lengths around every group
    boundary (32, 64, 96 words) and the scalar and whole-batch limits, at every lane
    of a Philox block and near the top of the index range."""
    rng = np.random.default_rng([13, len(fmt), len(kind)])
    lengths = [15, 16, 17, 31, 32, 33, 63, 64, 65, 95, 96, 97, 127, 128]
    for trial, row_len in enumerate(lengths):
        nrows = 9
        starts = rng.integers(0, stream.MAX_INDEX - row_len, size=nrows, dtype=np.uint64)
        starts = starts - starts % np.uint64(4) + np.arange(nrows, dtype=np.uint64) % 4  # every lane
        starts[-1] = stream.MAX_INDEX - row_len
        loc, scale = LOC_SCALE[trial % len(LOC_SCALE)]
        check((nrows, row_len), fmt, int(rng.integers(0, 2**64, dtype=np.uint64)),
              CALLS[trial % len(CALLS)], make_dist(kind, loc, scale),
              starts=starts, row_len=row_len)


@needs_kernel
@pytest.mark.parametrize("fmt", list(DTYPES))
def test_large_fill_crosses_chunks_and_threads(fmt):
    """Sizes past the reference's 65536-element chunk and the kernel's thread chunks,
    with every thread count giving the same bits."""
    n = 3 * 65536 + 12345
    dist = stream.truncated_normal(0.1, 0.02) if fmt != "float16" else stream.normal(0, 1e-5)
    want = ref(n, fmt, 42, 3, dist)
    for threads in (1, 2, 3, 7):
        a = np.empty(n, DTYPES[fmt])
        kfill(a, 42, 3, dist, fmt=fmt, threads=threads)
        assert same_bits(a, want), threads
    # rows, some short and misaligned, across thread chunk boundaries
    row_len = 1031
    starts = (np.arange(300, dtype=np.uint64) * np.uint64(1500)) + np.uint64(3)
    want = ref((300, row_len), fmt, 9, 2**63 + 5, dist, starts=starts, row_len=row_len)
    for threads in (1, 2, 3, 7):
        a = np.empty((300, row_len), DTYPES[fmt])
        kfill(a, 9, 2**63 + 5, dist, fmt=fmt, threads=threads, starts=starts,
              row_len=row_len)
        assert same_bits(a, want), threads


@needs_kernel
@pytest.mark.parametrize("fmt", list(DTYPES))
def test_block_counter_carries_into_high_word(fmt):
    """Blocks 2**32 - 5 ... 2**32 + 60: the low counter word wraps inside a batch."""
    per = 2 if fmt == "float64" else 1
    for k in range(2, 40):
        for base in (2**32, 2**33, 2**59 - 2**31):
            start = (base * 4 - 4 * k - 1) // per
            check(300, fmt, 77, 5, stream.normal(0.0, 1.0), starts=[start], row_len=300)


@pytest.mark.parametrize("fmt", ["float32", "bfloat16", "float64"])
def test_rows_reaching_the_top_of_the_index_range(backend, fmt):
    """The stream indexes elements below 2**62: the last ones work, beyond is refused."""
    top = stream.MAX_INDEX
    row_len = 40000
    starts = np.array([top - row_len, 5], np.uint64)
    dist = stream.normal(0.0, 1.0)
    a = np.empty((2, row_len), DTYPES[fmt])
    sfill(a, 3, 4, dist, fmt=fmt, starts=starts, row_len=row_len)
    assert same_bits(a, ref((2, row_len), fmt, 3, 4, dist, starts=starts, row_len=row_len))
    with pytest.raises(ValueError, match="2\\*\\*62"):
        sfill(a, 3, 4, dist, fmt=fmt, starts=starts + np.uint64(1), row_len=row_len)


@needs_kernel
@pytest.mark.parametrize("kind", KINDS)
def test_thread_counts_agree_on_big_fill(kind):
    n = 2_000_003
    dist = make_dist(kind, 0.0, 0.5)
    outs = []
    for threads in (1, 2, 3, 7):
        a = np.empty(n, np.float32)
        kfill(a, 2**64 - 1, 17, dist, threads=threads)
        outs.append(a)
    for a in outs[1:]:
        assert same_bits(a, outs[0])
    # spot-check a window against the reference through the starts interface
    w = ref(5000, "float32", 2**64 - 1, 17, dist, starts=[n - 5000], row_len=5000)
    assert same_bits(outs[0][-5000:], w)


def _transform_ref(words, fmt, dist):
    lo, hi = stream.clamp_bounds(dist, fmt)
    per = stream.words_per_element(fmt)
    out = np.empty(words.size // per, DTYPES.get(fmt, fmt))
    step = 1 << 16
    for s in range(0, out.size, step):
        w = words[s * per:(s + step) * per].astype(np.uint64)
        stream.numpy.store(stream.numpy.values(w, dist, fmt), out[s:s + step], fmt, (lo, hi))
    return out


def _chosen_words(per):
    """Words where the transforms are hardest: every low and high pattern of the
    fields (sign, region, interval bits; the 30 / 62-bit fractions near 0 and their
    top, which the int -> float conversion rounds up to 1/2), plus random ones."""
    rng = np.random.default_rng(3)
    edge = np.concatenate([np.arange(4096), 2**30 - 1 - np.arange(4096)]).astype(np.uint64)
    if per == 1:
        tops = np.arange(4, dtype=np.uint64) << np.uint64(30)
        w = (tops[:, None] | edge[None, :]).reshape(-1)
        return np.concatenate([w.astype(np.uint32), rng.integers(0, 2**32, 60000, np.uint32),
                               np.arange(0, 2**32, 65537, dtype=np.uint64).astype(np.uint32)])
    r = np.concatenate([(np.arange(4, dtype=np.uint64) << np.uint64(62))[:, None]
                        | np.concatenate([edge, np.uint64(2**62 - 1) - edge,
                                          edge << np.uint64(4), edge << np.uint64(32)])[None, :]
                        ]).reshape(-1)
    r = np.concatenate([r, rng.integers(0, 2**64 - 1, 40000, np.uint64, endpoint=True)])
    words = np.empty((r.size, per), np.uint32)
    words[:, 0] = (r & np.uint64(0xFFFFFFFF)).astype(np.uint32)
    words[:, 1] = (r >> np.uint64(32)).astype(np.uint32)
    if per == 4:
        words[:, 2:] = words[:, :2] ^ np.uint32(0x5555AAAA)
    return words.reshape(-1)


@needs_kernel
@pytest.mark.parametrize("fmt", list(DTYPES))
@pytest.mark.parametrize("kind", KINDS)
def test_transform_on_chosen_words(fmt, kind):
    """The transforms on words at the edges of every bit field."""
    words = _chosen_words(stream.words_per_element(fmt))
    for loc, scale in [(0.0, 1.0), (0.0, 3e-6), (-1e-5, 2e-7), (0.5, 70000.0), (2.0, -0.5)]:
        dist = make_dist(kind, loc, scale)
        if fmt == "float16" and abs(loc) + 7 * abs(scale) > 65504:
            continue  # support beyond float16's range (refused by clamp_bounds)
        code, params, ilow, nm1 = stream.kernel_args(dist, fmt)
        a = np.empty(words.size // stream.words_per_element(fmt), DTYPES[fmt])
        _kernel._transform_words(words, a, fmt, code, params, ilow, nm1)
        b = _transform_ref(words, fmt, dist)
        assert same_bits(a, b), (loc, scale)


INT_RANGES = [(0, 7), (-3, 100), (0, 2**8), (-2**7, 2**7), (0, 2**16 - 1), (-2**31, 2**31),
              (0, 2**32), (5, 2**32 - 7), (-2**63, 2**63 - 1), (0, 2**64), (2**40, 2**40 + 3)]


@needs_kernel
@pytest.mark.parametrize("fmt", stream.INT_FORMATS)
def test_uniform_int_matches_reference(fmt):
    info = np.iinfo(fmt)
    for lo, hi in INT_RANGES:
        if lo < int(info.min) or hi - 1 > int(info.max):
            continue
        dist = stream.uniform_int(lo, hi)
        words = _chosen_words(stream.words_per_element(fmt))
        code, params, ilow, nm1 = stream.kernel_args(dist, fmt)
        a = np.empty(words.size // stream.words_per_element(fmt), fmt)
        _kernel._transform_words(words, a, fmt, code, params, ilow, nm1)
        assert np.array_equal(a, _transform_ref(words, fmt, dist)), (lo, hi)
        for n in (1, 3, 17, 1000):
            got, want = np.empty(n, fmt), np.empty(n, fmt)
            kfill(got, 9, 4, dist)
            sfill_reference(want, 9, 4, dist)
            assert np.array_equal(got, want), (lo, hi, n)
        starts = np.array([3, 2**40 + 1, 2**61], np.uint64)
        got, want = np.empty((3, 5), fmt), np.empty((3, 5), fmt)
        kfill(got, 9, 4, dist, starts=starts, row_len=5)
        sfill_reference(want, 9, 4, dist, starts=starts, row_len=5)
        assert np.array_equal(got, want), (lo, hi)


@needs_kernel
def test_ml_dtypes_bfloat16_out():
    ml_dtypes = pytest.importorskip("ml_dtypes")
    a = np.empty((7, 9), ml_dtypes.bfloat16)
    dist = stream.truncated_normal(0.0, 0.2)
    kfill(a, 1, 2, dist, fmt="bfloat16")
    assert np.array_equal(a.view(np.uint16), ref((7, 9), "bfloat16", 1, 2, dist))


@needs_kernel
def test_bad_arguments():
    st = np.zeros(1, np.uint64)
    a = np.empty(10, np.float32)
    p = stream.kernel_args(stream.uniform(0.0, 1.0), "float32")[1]

    def fill(out=a, fmt="float32", key=0, call=0, kind=0, params=p, starts=st, row_len=10,
             **kw):
        _kernel.fill(out, fmt, key, call, kind, params, 0, 0, starts, row_len, **kw)

    with pytest.raises(TypeError):
        fill(fmt="float64")
    with pytest.raises(ValueError):
        fill(fmt="float8")
    with pytest.raises(ValueError):
        fill(kind=5)
    with pytest.raises(ValueError):
        fill(kind=4)  # uniform_int into a float format
    with pytest.raises(ValueError):
        fill(out=np.empty(10, np.int32), fmt="int32", kind=0)
    with pytest.raises(TypeError):
        fill(params=p[:4].copy())
    with pytest.raises(TypeError):
        fill(params=p.astype(np.float32))
    with pytest.raises(ValueError):
        fill(key=-1)
    with pytest.raises(ValueError):
        fill(call=2**64)
    with pytest.raises(ValueError):
        fill(row_len=9)
    with pytest.raises(ValueError):
        fill(out=a[::2], row_len=5)
    with pytest.raises(TypeError):
        fill(starts=st.astype(np.int64))
    with pytest.raises(ValueError):
        fill(threads=0)
    with pytest.raises(TypeError):
        fill(bogus=1)
    with pytest.raises(TypeError):
        _kernel.fill(a, "float32", 0, 0, 0, p, 0, 0, st)
    ro = np.empty(10, np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError):
        fill(out=ro)
    fill(out=np.empty(0, np.float32), starts=np.zeros(0, np.uint64), row_len=5)


@needs_kernel
def test_kernel_of_another_stream_version_is_refused(monkeypatch):
    """A stale build (another STREAM_VERSION or other tables) must not be used."""
    import types

    for version, tables in [(1, stream.spec.TABLES_ID), (2, "0" * 16)]:
        fake = types.SimpleNamespace(STREAM_VERSION=version, TABLES_ID=tables)
        monkeypatch.setitem(sys.modules, "fanin.stream._kernel", fake)
        monkeypatch.setattr(sys.modules["fanin.stream"], "_kernel", fake, raising=False)
        with pytest.warns(RuntimeWarning, match="rebuild"):
            assert stream.kernel.load() is None
    monkeypatch.undo()
    assert stream.kernel.load() is _kernel
    assert (_kernel.STREAM_VERSION, _kernel.TABLES_ID) == (stream.STREAM_VERSION,
                                                         stream.spec.TABLES_ID)


def _supported_isas():
    """The ISA variants this CPU runs (FANIN_KERNEL_ISA can only lower the choice)."""
    best = _kernel.isa() if _kernel is not None else "generic"
    order = ["generic", "avx2", "avx512"]
    return order[:order.index(best) + 1]


ISA_CHECK = """
import numpy as np, sys
from fanin import stream
from fanin.stream import _kernel
assert _kernel.isa() == sys.argv[1], _kernel.isa()
sys.argv = sys.argv[:1]
import test_kernel as t
for fmt in t.DTYPES:
    for kind in t.KINDS:
        t.check(1000, fmt, 5, 2**33 + 1, t.make_dist(kind, 0.5, 2.0))
        t.check((7, 65), fmt, 6, 1, t.make_dist(kind, 0.0, 1.0),
                starts=np.array([1, 2**40, 70, 3, 2**61, 9, 0], np.uint64), row_len=65)
        t.test_transform_on_chosen_words(fmt, kind)
        if fmt != "float64":  # rows needing the head of a batch only
            t.test_short_scattered_rows_match_reference(fmt, kind)
for fmt in stream.INT_FORMATS:
    t.test_uniform_int_matches_reference(fmt)
print("ok")
"""


@needs_kernel
@pytest.mark.slow
@pytest.mark.parametrize("isa", ["generic", "avx2", "avx512"])
def test_every_isa_variant_matches_reference(isa):
    """Each instruction-set variant, forced in a fresh process, against the reference."""
    _check_in_child(isa, ISA_CHECK)


def _check_in_child(isa, check):
    """Run check (test code ending in print("ok")) in a child forced to variant isa."""
    if isa not in _supported_isas():
        pytest.skip(f"this CPU does not run the {isa} variant")
    here = os.path.dirname(os.path.abspath(__file__))
    code = f"import sys; sys.path.insert(0, {here!r}); sys.argv = ['x', {isa!r}]\n" + check
    r = _run(code, {"FANIN_KERNEL_ISA": isa}, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.strip().endswith("ok")


@needs_kernel
def test_num_threads_setting():
    from fanin import _threads

    before = _threads.get_num_threads()
    with _threads.set_num_threads(3):
        assert _threads.get_num_threads() == 3 == _kernel.get_num_threads()
        with pytest.raises(ValueError):
            _threads.set_num_threads(0)
        _threads.set_num_threads(5000)  # capped, and the getter says so
        assert _threads.get_num_threads() == _threads.MAX_THREADS == _kernel.get_num_threads()
        _threads.set_num_threads(2**70)
        assert _threads.get_num_threads() == _threads.MAX_THREADS
        _threads.set_num_threads(None)
        assert _threads.get_num_threads() == len(os.sched_getaffinity(0))
    assert _threads.get_num_threads() == before


def _run(code, env_extra, timeout=60):
    env = dict(os.environ)
    env.update(env_extra)
    env["PYTHONPATH"] = os.pathsep.join(
        [os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(stream.__file__))))]
        + [p for p in [env.get("PYTHONPATH")] if p])
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow  # a child interpreter
@needs_kernel
def test_env_var_sets_thread_count():
    r = _run("from fanin import _threads; from fanin.stream import _kernel; "
             "print(_threads.get_num_threads(), _kernel.get_num_threads())",
             {"FANIN_NUM_THREADS": "3"})
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["3", "3"]


INTERRUPT = """
import os, signal, threading, time
import numpy as np
from fanin import stream
# A child of a non-interactive shell may inherit SIGINT ignored: restore Python's handler.
signal.signal(signal.SIGINT, signal.default_int_handler)
n = 2**28  # 2 GiB of address space, well under a second of filling: a miss fails fast
a = np.empty(n, np.float64)
t_sig = []
def fire():
    time.sleep(0.1)
    t_sig.append(time.perf_counter())
    os.kill(os.getpid(), signal.SIGINT)
threading.Thread(target=fire, daemon=True).start()
t0 = time.perf_counter()
try:
    stream.fill(a, stream.plan(1, 0, stream.truncated_normal(0.0, 1.0), "float64", (n,)))
except KeyboardInterrupt:
    print("interrupted", time.perf_counter() - t_sig[0])
else:
    print("finished", time.perf_counter() - t0)
del a
p = stream.plan(1, 0, stream.normal(0.0, 1.0), "float32", (3, 3))
b, c = np.empty((3, 3), np.float32), np.empty((3, 3), np.float32)
stream.fill(b, p)
with stream.set_backend("reference"):
    stream.fill(c, p)
print("after", bool(np.array_equal(b.view(np.uint32), c.view(np.uint32))))
"""


@pytest.mark.slow  # child interpreters, signals
@needs_kernel
@pytest.mark.parametrize("threads", ["1", "2"])
def test_fill_can_be_interrupted(threads):
    r = _run(INTERRUPT, {"FANIN_NUM_THREADS": threads, "FANIN_REFERENCE": "0"})
    assert r.returncode == 0, r.stderr
    lines = r.stdout.split("\n")
    first = lines[0].split()
    assert first[0] == "interrupted", r.stdout
    assert float(first[1]) < 1.0, r.stdout
    assert "after True" in r.stdout


# --------------------------------------------------------------------------- #
# new(): allocation and fill in one call; philox_words: Philox alone
# --------------------------------------------------------------------------- #

NEW_SHAPES = [(), (0,), (1,), (3, 3), (2, 0, 4), (7, 65), (1000,), (4, 4, 3, 3)]


@needs_kernel
@pytest.mark.parametrize("fmt", list(DTYPES))
@pytest.mark.parametrize("kind", KINDS)
def test_new_matches_reference(fmt, kind):
    """new(shape, ...) holds elements 0, 1, ... of (key, call), like fill into np.empty."""
    dist = make_dist(kind, 0.25, 1.5)
    code, params, ilow, nm1 = stream.kernel_args(dist, fmt)
    for shape in NEW_SHAPES:
        a = _kernel.new(shape, fmt, 11, 2**40 + 3, code, params, ilow, nm1)
        assert a.shape == shape and a.dtype == DTYPES[fmt] and a.flags.c_contiguous
        assert same_bits(a, ref(shape, fmt, 11, 2**40 + 3, dist)), shape
    assert _kernel.new(9, fmt, 11, 1, code, params, ilow, nm1, threads=2).shape == (9,)


@needs_kernel
@pytest.mark.parametrize("fmt", stream.INT_FORMATS)
def test_new_integer_formats(fmt):
    dist = stream.uniform_int(-3, 100)
    code, params, ilow, nm1 = stream.kernel_args(dist, fmt)
    a = _kernel.new((5, 7), fmt, 2, 9, code, params, ilow, nm1)
    b = np.empty((5, 7), a.dtype)
    kfill(b, 2, 9, dist, fmt=fmt)
    assert a.dtype == np.dtype(fmt) and np.array_equal(a, b)


@needs_kernel
def test_new_bad_arguments():
    code, params, ilow, nm1 = stream.kernel_args(stream.normal(0.0, 1.0), "float32")
    with pytest.raises(ValueError):
        _kernel.new((-1, 3), "float32", 0, 0, code, params, ilow, nm1)
    with pytest.raises(TypeError):
        _kernel.new("3", "float32", 0, 0, code, params, ilow, nm1)
    with pytest.raises(ValueError):
        _kernel.new(3, "float8", 0, 0, code, params, ilow, nm1)
    with pytest.raises(ValueError):
        _kernel.new(3, "int32", 0, 0, code, params, ilow, nm1)  # a float kind
    with pytest.raises(ValueError):
        _kernel.new(3, "float32", 0, 0, code, params, ilow, nm1, threads=0)
    with pytest.raises(TypeError):
        _kernel.new(3, "float32", 0, 0, code, params, ilow, nm1, bogus=1)
    with pytest.raises(TypeError):
        _kernel.new(3, "float32", 0, 0, code, params, ilow)
    for bad in (">f4", object, np.float64, "S4"):
        with pytest.raises(TypeError):
            _kernel.new(3, "float32", 0, 0, code, params, ilow, nm1, dtype=bad)


@needs_kernel
def test_new_with_a_dtype():
    """dtype= gives the array that type (bfloat16's bits under ml_dtypes' type, say)."""
    code, params, ilow, nm1 = stream.kernel_args(stream.normal(0.5, 2.0), "bfloat16")
    a = _kernel.new((4, 5), "bfloat16", 3, 8, code, params, ilow, nm1)
    for dt in (np.uint16, np.int16, np.float16, np.dtype("V2")):
        b = _kernel.new((4, 5), "bfloat16", 3, 8, code, params, ilow, nm1, dtype=dt)
        assert b.dtype == np.dtype(dt) and b.shape == (4, 5)
        assert np.array_equal(b.view(np.uint16), a)


def _philox_reference(key, call, block, nblocks):
    blocks = (np.uint64(block) + np.arange(nblocks, dtype=np.uint64))  # wraps mod 2**64
    c0, c1 = blocks & np.uint64(0xFFFFFFFF), blocks >> np.uint64(32)
    words = stream.philox4x32((c0, c1, np.full_like(c0, call & 0xFFFFFFFF),
                               np.full_like(c0, call >> 32)), (key & 0xFFFFFFFF, key >> 32))
    return np.stack(words, axis=-1).reshape(-1).astype(np.uint32)


PHILOX_BLOCKS = [0, 5, 2**32 - 7, 2**32 - 40, 2**33 - 1, 2**64 - 9, 2**64 - 32]


@needs_kernel
def test_philox_words_match_reference():
    """Philox alone, with block counters whose low word (or all 64 bits) wraps in a batch."""
    w = np.empty(2 * 128, np.uint32)
    for key, call in [(0, 0), (2**64 - 1, 2**63 + 5), (123456789, 2**32)]:
        for block in PHILOX_BLOCKS:
            _kernel.philox_words(w, key, call, block)
            assert np.array_equal(w, _philox_reference(key, call, block, 64)), (key, call, block)
    _kernel.philox_words(w[:4].copy()[:0], 0, 0, 0)  # nothing to do
    with pytest.raises(ValueError):
        _kernel.philox_words(np.empty(100, np.uint32), 0, 0, 0)


@needs_kernel
@pytest.mark.parametrize("fmt", list(DTYPES) + ["int64", "uint16"])
def test_unaligned_outputs(fmt):
    """Outputs at every byte offset within a vector: stores of any alignment."""
    isz = np.dtype(DTYPES.get(fmt, fmt)).itemsize
    kinds = KINDS if fmt in DTYPES else ("int",)
    for kind in kinds:
        dist = stream.uniform_int(-5, 1000) if kind == "int" else make_dist(kind, 0.5, 2.0)
        for offset in (1, isz - 1, 3, 17, 63):
            for n in (5, 200, 1000):
                buf = np.zeros(n * isz + 64, np.uint8)
                a = np.ndarray((n,), DTYPES.get(fmt, fmt), buffer=buf, offset=offset)
                kfill(a, 9, 4, dist, fmt=fmt)
                b = np.empty(n, a.dtype)
                if kind == "int":
                    kfill(b, 9, 4, dist, fmt=fmt)
                else:
                    b = ref(n, fmt, 9, 4, dist)
                assert same_bits(a, b), (kind, offset, n)
                assert not buf[:offset].any() and not buf[offset + n * isz:].any()


NEW_ISA_CHECK = """
import sys
import numpy as np
from fanin.stream import _kernel
assert _kernel.isa() == sys.argv[1], _kernel.isa()
sys.argv = sys.argv[:1]
import test_kernel as t
t.test_philox_words_match_reference()
for fmt in t.DTYPES:
    for kind in t.KINDS:
        t.test_new_matches_reference(fmt, kind)
    t.test_block_counter_carries_into_high_word(fmt)
    t.test_unaligned_outputs(fmt)
print("ok")
"""


@needs_kernel
@pytest.mark.slow
@pytest.mark.parametrize("isa", ["generic", "avx2", "avx512"])
def test_every_isa_variant_philox_and_new(isa):
    """Philox alone, new() and block counters that wrap, per forced ISA variant."""
    _check_in_child(isa, NEW_ISA_CHECK)


# fill_columns: the rows written transposed (a torch-layout weight from its Keras draw).
# Shapes cover the kernel's cases: long rows cut into pieces, short rows many to a
# pass, rows that continue each other (one run), partial 16 x 16 tiles, and enough
# elements for several threads; rows shorter than 16 (a column copied, pairs split,
# gathers) with and without a remainder past the last full vector.
COLUMN_SHAPES = [(1, 1), (3, 5), (17, 1), (16, 16), (33, 100), (100, 3), (5000, 2),
                 (40, 4096), (2048, 17), (300, 1000), (2, 40000), (1000, 1), (333, 2),
                 (70001, 2), (4100, 5), (601, 15), (40, 16)]


def kfill_columns(out, seed, call, dist, fmt, starts, row_len, threads=None):
    code, params, ilow, nm1 = stream.kernel_args(dist, fmt)
    _kernel.fill_columns(out, fmt, stream.seed_to_key(seed), call, code, params, ilow, nm1,
                         starts, row_len, threads=threads)


def check_columns(fmt, kind, rng, threads=None):
    for nrows, row_len in COLUMN_SHAPES:
        layout = rng.integers(4)
        if layout == 0:  # whole rows of one tensor: they continue each other
            starts = np.arange(nrows, dtype=np.uint64) * np.uint64(row_len)
        elif layout == 3:  # the same, given by the first row's start alone
            first = int(rng.integers(0, 1 << 40))
            starts = np.arange(nrows, dtype=np.uint64) * np.uint64(row_len) + np.uint64(first)
        elif layout == 1:  # a conv kernel's rows, in the torch order
            starts = (np.arange(nrows, dtype=np.uint64) * np.uint64(row_len))[
                rng.permutation(nrows)]
        else:  # anywhere in the index range
            starts = rng.integers(0, stream.MAX_INDEX - row_len, nrows, dtype=np.uint64)
        dist = make_dist(kind, 0.5, 2.0)
        rows = ref((nrows, row_len), fmt, 9, 4, dist, starts=starts, row_len=row_len)
        pad = int(rng.integers(0, 3))  # a column block of a wider array: rows ld apart
        wide = np.full((row_len, nrows + 2 * pad), 7, DTYPES[fmt])
        kfill_columns(wide[:, pad:pad + nrows], 9, 4, dist, fmt,
                      first if layout == 3 else starts, row_len, threads)
        assert same_bits(wide[:, pad:pad + nrows], rows.T), (fmt, kind, nrows, row_len, layout)
        assert (bits(wide[:, :pad]) == bits(np.full(1, 7, DTYPES[fmt]))[0]).all()
        assert (bits(wide[:, pad + nrows:]) == bits(np.full(1, 7, DTYPES[fmt]))[0]).all()


@needs_kernel
@pytest.mark.parametrize("fmt", list(DTYPES))
@pytest.mark.parametrize("kind", ["uniform", "normal", "truncated_normal", "tn_tail"])
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_fill_columns_is_the_transposed_fill(fmt, kind, threads):
    check_columns(fmt, kind, np.random.default_rng([len(fmt), len(kind), threads]), threads)


@needs_kernel
@pytest.mark.parametrize("fmt", stream.INT_FORMATS)
def test_fill_columns_integer_formats(fmt):
    """Integer formats (1 to 8 bytes, 2 or 4 words an element) through the same passes:
    rows apart from each other, and continuing rows given by one int start."""
    dist = stream.uniform_int(-3, 100) if fmt.startswith("int") else stream.uniform_int(0, 200)
    for nrows, row_len in COLUMN_SHAPES:
        for starts in (np.arange(nrows, dtype=np.uint64) * np.uint64(3 * row_len), 12):
            rows = np.empty((nrows, row_len), fmt)
            with stream.set_backend("reference"):
                stream.fill_rows(rows, 9, 4, dist, fmt, starts, row_len)
            out = np.full((row_len, nrows), 7, fmt)
            kfill_columns(out, 9, 4, dist, fmt, starts, row_len)
            assert np.array_equal(out, rows.T), (fmt, nrows, row_len, type(starts))


@needs_kernel
def test_fill_columns_bad_arguments():
    code, params, ilow, nm1 = stream.kernel_args(stream.normal(0.0, 1.0), "float32")
    starts = np.arange(4, dtype=np.uint64) * np.uint64(3)
    args = ("float32", 1, 0, code, params, ilow, nm1, starts, 3)
    with pytest.raises(ValueError, match="shape"):
        _kernel.fill_columns(np.empty((4, 3), np.float32), *args)  # the rows' shape
    with pytest.raises(ValueError, match="contiguous"):
        _kernel.fill_columns(np.empty((3, 8), np.float32)[:, ::2], *args)
    with pytest.raises(ValueError, match="overlapping"):
        _kernel.fill_columns(np.lib.stride_tricks.as_strided(
            np.empty(8, np.float32), (3, 4), (4, 4)), *args)
    ro = np.empty((3, 4), np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="writable"):
        _kernel.fill_columns(ro, *args)
    with pytest.raises(TypeError, match="itemsize"):
        _kernel.fill_columns(np.empty((3, 4), np.float64), *args)
    int_args = args[:7]
    for first in (-1, 2**62 - 11, 2**64):  # an int start: every index below 2**62
        with pytest.raises(ValueError, match="2\\*\\*62"):
            _kernel.fill_columns(np.empty((3, 4), np.float32), *int_args, first, 3)
    with pytest.raises(TypeError, match="starts"):
        _kernel.fill_columns(np.empty((3, 4), np.float32), *int_args, 1.5, 3)
    for fill in (stream.fill_columns,):  # the validated entry, same rules, clear errors
        with pytest.raises(ValueError, match="shape"):
            fill(np.empty((4, 3), np.float32), 1, 0, stream.normal(0.0, 1.0), "float32",
                 starts, 3)
        with pytest.raises(TypeError, match="dtype"):
            fill(np.empty((3, 4), np.int32), 1, 0, stream.normal(0.0, 1.0), "float32",
                 starts, 3)
        with pytest.raises(ValueError, match="2\\*\\*62"):
            fill(np.empty((3, 4), np.float32), 1, 0, stream.normal(0.0, 1.0), "float32",
                 2**62 - 11, 3)
        with pytest.raises(TypeError, match="starts"):
            fill(np.empty((3, 4), np.float32), 1, 0, stream.normal(0.0, 1.0), "float32",
                 np.int64(0), 3)


@needs_kernel
@pytest.mark.slow
@pytest.mark.parametrize("isa", ["generic", "avx2", "avx512"])
def test_every_isa_variant_fill_columns(isa):
    """The transposing tiles are per ISA (AVX-512 shuffles): each against the reference."""
    _check_in_child(isa, """
import numpy as np
import test_kernel as t
for fmt in t.DTYPES:
    t.check_columns(fmt, "normal", np.random.default_rng(len(fmt)), threads=2)
for fmt in t.stream.INT_FORMATS:
    t.test_fill_columns_integer_formats(fmt)
print("ok")
""")
