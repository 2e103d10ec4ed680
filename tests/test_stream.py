"""The stream: Philox known answers, golden values, position stability, rounding."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fanin import stream
from _fills import fill as sfill, fill_reference as sfill_reference  # noqa: E402
import _dists  # noqa: E402

# Random123's known-answer tests for Philox4x32-10 (kat_vectors).
KATS = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
]


@pytest.mark.parametrize("counter,key,expected", KATS)
def test_philox_known_answers(counter, key, expected):
    assert tuple(int(w) for w in stream.philox4x32(counter, key)) == expected


def test_philox_vectorized_matches_scalar():
    ctr = np.arange(10, dtype=np.uint64)
    vec = stream.philox4x32((ctr, ctr * 3, ctr + 7, ctr ^ 5), (123, 456))
    for i in range(10):
        one = stream.philox4x32((i, i * 3, i + 7, i ^ 5), (123, 456))
        assert [int(v[i]) for v in vec] == [int(w) for w in one]


# Stream v2 pinned: seed 20261129, call 3, elements 0..3 and 2**40+1..2**40+4, as
# raw bits, computed by the reference when v2 was fixed. A change here is a new
# stream version, never a silent change. The kernel and torch ops are checked
# against the same numbers (tests/test_kernel.py, tests/test_torch_stream.py).
GOLDEN = {
    ('uniform', 'float16'): (0x409e, 0x3d81, 0xba66, 0x4139, 0x26c4, 0x40f5, 0x3049, 0xa27d),
    ('uniform', 'bfloat16'): (0x4014, 0x3fb0, 0xbf4d, 0x4027, 0x3cd9, 0x401f, 0x3e09, 0xbc50),
    ('uniform', 'float32'): (0x4013b691, 0x3fb01614, 0xbf4ccff4, 0x402712a3, 0x3cd89000, 0x401e9cd5, 0x3e091d00, 0xbc4fab00),
    ('uniform', 'float64'): (0x3ff602c29274eda4, 0x4004e25477e19980, 0x40066f6bec88d2b1, 0xbfe1290793b02da8, 0xbfda8136ae013218, 0x3fe37fa1553fa960, 0x3fe74ef0a2b8bfd0, 0x3ffa078d852d0412),
    ('normal', 'float16'): (0xc0b4, 0x2655, 0x3a03, 0xbe34, 0x4575, 0xbf6b, 0x442a, 0x3f51),
    ('normal', 'bfloat16'): (0xc016, 0x3ccb, 0x3f40, 0xbfc6, 0x40af, 0xbfed, 0x4085, 0x3fea),
    ('normal', 'float32'): (0xc0167734, 0x3cca9080, 0x3f4052b7, 0xbfc6753e, 0x40ae94f9, 0xbfed5584, 0x40853fa8, 0x3fea2009),
    ('normal', 'float64'): (0x3f9952101b744930, 0xbff8cea7c35d1da0, 0xbff2ce63d5eb0ecf, 0x3ff16f3039cd85d8, 0x3ff406861c6f2e88, 0x40046c774ef83882, 0x400284ba37862020, 0xbfd3a5fecdb0db2c),
    ('truncated_normal', 'float16'): (0xb152, 0xb58b, 0x3cbc, 0xbf39, 0x3888, 0xa9dd, 0x3e8f, 0x2a98),
    ('truncated_normal', 'bfloat16'): (0xbe2a, 0xbeb1, 0x3f97, 0xbfe7, 0x3f11, 0xbd3c, 0x3fd2, 0x3d53),
    ('truncated_normal', 'float32'): (0xbe2a39b1, 0xbeb1672e, 0x3f977f38, 0xbfe71d10, 0x3f110f58, 0xbd3bae93, 0x3fd1eb73, 0x3d5309d4),
    ('truncated_normal', 'float64'): (0xbfd5f855feb10dcf, 0xbfe8e33d2bd6ad62, 0xbff6edf65c9286fd, 0x3ffb60d7aa4b7ed4, 0x3fd529de1c7a5c54, 0x3fe2d3846deacf16, 0x3fe15b17644aada3, 0xbfd0faff954de6b1),
    ('truncated_normal[2,3]', 'float16'): (0x4134, 0x411a, 0x4015, 0x40d4, 0x4003, 0x40f9, 0x400e, 0x4081),
    ('truncated_normal[2,3]', 'bfloat16'): (0x4026, 0x4023, 0x4003, 0x401b, 0x4001, 0x401f, 0x4002, 0x4010),
    ('truncated_normal[2,3]', 'float32'): (0x40267913, 0x402344b8, 0x4002a49f, 0x401a841a, 0x4000564a, 0x401f12dd, 0x4001becc, 0x40101413),
    ('truncated_normal[2,3]', 'float64'): (0x40046896e6372dec, 0x400350835ec1c14e, 0x40029fa93f1c059a, 0x4000d05ce243fc7c, 0x40010f700c54332c, 0x40011c0b93c3e8c0, 0x40015eb5e6a4c657, 0x400340219b0b77e9),
    ('truncated_normal[-0.3,2.5]', 'float16'): (0x3e8f, 0x3e57, 0x3b6e, 0x3dbc, 0x3ae2, 0x3e0d, 0x3b39, 0x3cf5),
    ('truncated_normal[-0.3,2.5]', 'bfloat16'): (0x3fd2, 0x3fcb, 0x3f6e, 0x3fb7, 0x3f5c, 0x3fc2, 0x3f67, 0x3f9f),
    ('truncated_normal[-0.3,2.5]', 'float32'): (0x3fd1de0c, 0x3fcad861, 0x3f6dba64, 0x3fb77f0d, 0x3f5c4e23, 0x3fc1a5df, 0x3f672728, 0x3f9ea96a),
    ('truncated_normal[-0.3,2.5]', 'float64'): (0x3ff95b0c1ccc890b, 0x3ff6efe1a4770345, 0x3ff556f7c13269f9, 0x3ff07ae4197b9643, 0x3ff13bcf20f532fc, 0x3ff161262ca3434a, 0x3ff220b134e20ba2, 0x3ff6cad3bfdf422c),
}
GOLDEN_INT = {
    ('int8', -100, 100): (18, 80, 90, -77, -71, -20, -14, 31),
    ('uint8', 0, 256): (152, 231, 243, 29, 37, 102, 110, 168),
    ('int32', -2147483648, 2147483648): (403376713, 1729274815, 1937465188, -1649545000, -1518417583, -419478870, -291643067, 673068564),
    ('uint32', 7, 4294967293): (2550860362, 3876758461, 4084948833, 497938654, 629066071, 1728004781, 1855840584, 2820552213),
    ('int64', -9223372036854775808, 9223372036854775808): (7427178776436147129, -7084741825601948593, 2823581087719806142, 6053393103345268644, 6719939092979644722, 8188260458047180118, -1027017557747556239, -4355647709263631935),
    ('uint64', 0, 18446744073709551616): (16650550813290922937, 2138630211252827215, 12046953124574581950, 15276765140200044452, 15943311129834420530, 17411632494901955926, 8196354479107219569, 4867724327591143873),
    ('int16', -5, 3): (-1, 2, 2, -5, -4, -2, -2, 0),
    ('uint16', 0, 1000): (593, 902, 951, 115, 146, 402, 432, 656),
}
DISTS = _dists.GOLDEN
UINT = {"float16": np.uint16, "bfloat16": np.uint16, "float32": np.uint32,
        "float64": np.uint64}
FLOAT = {"float16": np.float16, "bfloat16": np.uint16, "float32": np.float32,
         "float64": np.float64}


def _bits(fmt, kind, starts, row_len, seed=20261129, call=3, dist=None):
    out = np.empty(len(starts) * row_len, FLOAT.get(fmt, fmt))
    sfill(out, seed, call, dist or DISTS[kind], starts=starts, row_len=row_len, fmt=fmt)
    return out.view(UINT[fmt]) if fmt in UINT else out


@pytest.mark.parametrize("kind,fmt", sorted(GOLDEN))
def test_golden_values(backend, kind, fmt):
    got = np.concatenate([_bits(fmt, kind, [0], 4), _bits(fmt, kind, [2**40 + 1], 4)])
    assert [int(x) for x in got] == list(GOLDEN[kind, fmt])


@pytest.mark.parametrize("fmt,lo,hi", sorted(GOLDEN_INT))
def test_golden_values_uniform_int(backend, fmt, lo, hi):
    d = stream.uniform_int(lo, hi)
    got = np.concatenate([_bits(fmt, None, [0], 4, dist=d), _bits(fmt, None, [2**40 + 1], 4, dist=d)])
    assert [int(x) for x in got] == list(GOLDEN_INT[fmt, lo, hi])


def test_version_matches_the_specification():
    """The golden values pin one stream version; the spec's title names it."""
    from pathlib import Path
    spec = (Path(__file__).parents[1] / "docs" / "stream.md").read_text()
    title = spec.splitlines()[0]
    assert title == f"# The fanin stream, version {stream.STREAM_VERSION}"


@pytest.mark.parametrize("fmt", stream.FLOAT_FORMATS)
@pytest.mark.parametrize("kind", sorted(DISTS))
def test_position_stable_across_layouts(backend, fmt, kind):
    """Any split of the index range gives the same values: chunks, rows, offsets."""
    n = (1 << 16) * 2 + 37  # crosses the reference's chunk boundary
    whole = _bits(fmt, kind, [0], n, seed=99, call=1)
    rng = np.random.default_rng(0)
    for _ in range(5):
        row_len = int(rng.integers(1, 300))
        starts = np.sort(rng.choice(n - row_len, size=20, replace=False)).astype(np.uint64)
        got = _bits(fmt, kind, starts, row_len, seed=99, call=1).reshape(20, row_len)
        want = np.stack([whole[int(s):int(s) + row_len] for s in starts])
        assert np.array_equal(got, want)


def test_calls_and_seeds_change_values(backend):
    d = stream.truncated_normal(0.0, 1.0)
    base = np.empty(64, np.float32)
    sfill(base, 1, 0, d)
    for seed, call in [(2, 0), (1, 1), (1 + 2**32, 0), (1, 2**32)]:
        other = np.empty(64, np.float32)
        sfill(other, seed, call, d)
        assert not np.array_equal(base, other)


def test_seed_mapping_is_mod_2_64():
    assert stream.seed_to_key(-1) == 2**64 - 1
    assert stream.seed_to_key(2**64 + 5) == 5
    a, b = np.empty(8, np.float32), np.empty(8, np.float32)
    sfill_reference(a, -1, 0, DISTS["normal"])
    sfill_reference(b, 2**64 - 1, 0, DISTS["normal"])
    assert np.array_equal(a, b)


@pytest.mark.parametrize("fmt", ["float16", "bfloat16", "float32", "float64"])
def test_truncated_values_strictly_inside_after_rounding(backend, fmt):
    # scale chosen so that 2*scale is exactly representable: rounding lands on it
    dist = stream.truncated_normal(0.0, 0.5)
    out = np.empty(1 << 18, FLOAT[fmt])
    sfill(out, 3, 0, dist, fmt=fmt)
    vals = (out.view(np.uint16).astype(np.uint32) << 16).view(np.float32) \
        if fmt == "bfloat16" else out
    assert np.abs(vals).max() < 1.0
    lo, hi = stream.clamp_bounds(dist, fmt)
    assert hi < 1.0 and lo == -hi
    # the clamp is the largest value of the format below the bound 1.0 ...
    below = {"float16": 1 - 2.0**-11, "bfloat16": 1 - 2.0**-8, "float32": 1 - 2.0**-24,
             "float64": 1 - 2.0**-53}[fmt]
    assert hi == below
    # ... and in the half formats, whose last step below 1.0 is wide (2**-11, 2**-8),
    # some of 2**18 draws round onto it (in float32 / float64 almost none could)
    if fmt in ("float16", "bfloat16"):
        assert (vals == hi).any()


@pytest.mark.parametrize("fmt", ["float16", "bfloat16"])
def test_half_formats_are_rounded_float32(backend, fmt):
    ml_dtypes = pytest.importorskip("ml_dtypes")
    dist = stream.normal(0.0, 3.0)
    f32 = np.empty(10000, np.float32)
    sfill(f32, 8, 2, dist)
    half = np.empty(10000, FLOAT[fmt])
    sfill(half, 8, 2, dist, fmt=fmt)
    target = np.float16 if fmt == "float16" else ml_dtypes.bfloat16
    assert np.array_equal(f32.astype(target).view(np.uint16), half.view(np.uint16))


def test_uniform_keeps_half_open_interval(backend):
    d = stream.uniform(0.0, 1.0)
    for fmt in ("float16", "bfloat16"):
        out = np.empty(1 << 16, FLOAT[fmt])
        sfill(out, 1, 0, d, fmt=fmt)
        vals = (out.view(np.uint16).astype(np.uint32) << 16).view(np.float32) \
            if fmt == "bfloat16" else out.astype(np.float32)
        assert vals.min() >= 0.0 and vals.max() < 1.0


def test_clamp_bounds_degenerate_uniform():
    assert stream.clamp_bounds(stream.uniform(2.0, 2.0), "float32") == (2.0, 2.0)


def test_fill_rejects_bad_outputs():
    d = stream.normal(0.0, 1.0)
    with pytest.raises(TypeError, match="dtype complex64"):
        sfill(np.empty(3, np.complex64), 0, 0, d)
    with pytest.raises(ValueError, match="floating-point format"):
        sfill(np.empty(3, np.int32), 0, 0, d)
    with pytest.raises(ValueError, match="integer format"):
        sfill(np.empty(3, np.float32), 0, 0, stream.uniform_int(0, 5))
    with pytest.raises(ValueError, match="does not fit int8"):
        sfill(np.empty(3, np.int8), 0, 0, stream.uniform_int(0, 300))
    with pytest.raises(ValueError, match="C-contiguous"):
        sfill(np.empty((4, 4), np.float32)[:, ::2], 0, 0, d)
    ro = np.empty(3, np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        sfill(ro, 0, 0, d)
    with pytest.raises(ValueError, match="rows"):
        sfill(np.empty(6, np.float32), 0, 0, d, starts=[0, 10], row_len=2)
    with pytest.raises(TypeError, match="numpy.ndarray"):
        sfill_reference([1.0, 2.0], 0, 0, d, fmt="float32")


def test_constructors_reject_bad_parameters():
    with pytest.raises(ValueError, match="lower < upper"):
        stream.truncated_normal(0.0, 1.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="finite"):
        stream.truncated_normal(0.0, 1.0, -np.inf, 0.0)
    with pytest.raises(ValueError, match="beyond 9"):
        stream.truncated_normal(0.0, 1.0, 10.0, 11.0)
    with pytest.raises(ValueError, match="too far"):
        stream.truncated_normal(0.0, 1.0, 8.9, 100.0)
    with pytest.raises(ValueError, match="minval < maxval"):
        stream.uniform_int(3, 3)
    with pytest.raises(ValueError, match="2\\*\\*64"):
        stream.uniform_int(-1, 2**64)
    with pytest.raises(TypeError, match="integer"):
        stream.uniform_int(0.5, 3)
    # a bound past 9 stddev is fine while the clipped support keeps its mass
    assert stream.truncated_normal(0.0, 0.02, -100.0, 100.0).high == 2.0


def test_keras_truncated_normal_is_the_table_path():
    """Explicit +-2 bounds are the Keras distribution itself (the same values)."""
    a, b = np.empty(100, np.float32), np.empty(100, np.float32)
    sfill_reference(a, 4, 0, stream.truncated_normal(0.3, 2.0))
    sfill_reference(b, 4, 0, stream.truncated_normal(0.3, 2.0, -2.0, 2.0))
    assert np.array_equal(a, b)
    assert stream.kind_code(stream.truncated_normal(0.0, 1.0, -2.0, 2.0)) == 2
    assert stream.kind_code(stream.truncated_normal(0.0, 1.0, -2.0, 2.5)) == 3


def test_negative_zero_survives_a_zero_clamp(backend):
    """F12: with both clamp bounds +-0 (a support narrower than float16's smallest
    subnormal at 0), every backend writes exactly the rounded values, -0 included."""
    d = stream.truncated_normal(0.0, 1e-9)
    out = np.empty(1000, np.float16)
    sfill(out, 0, 0, d)
    lo, hi = stream.clamp_bounds(d, "float16")
    assert lo == hi == 0.0
    bits = set(out.view(np.uint16).tolist())
    assert bits == {0x0000, 0x8000}


def test_uniform_int_covers_range_and_power_of_two_is_exact(backend):
    for fmt, lo, hi in [("int8", -128, 128), ("uint8", 0, 5), ("int64", -3, 4),
                        ("uint16", 0, 2**16), ("int32", -2**31, -2**31 + 2)]:
        out = np.empty(4096, fmt)
        sfill(out, 1, 2, stream.uniform_int(lo, hi))
        assert out.min() >= lo and out.max() < hi
        assert len(np.unique(out)) == min(hi - lo, 4096) or hi - lo > 256
    # a power-of-two range is the top bits of the element's last word: exact
    out = np.empty(64, np.uint8)
    sfill(out, 1, 2, stream.uniform_int(0, 256))
    words = stream.numpy.row_words(1, 2, np.zeros(1, np.uint64), 128)[0]
    assert np.array_equal(out, (words[1::2] >> np.uint64(24)).astype(np.uint8))


@settings(max_examples=60, deadline=None)
@given(lower=st.floats(-12.0, 8.5), width=st.floats(1e-6, 20.0),
       mean=st.floats(-1e3, 1e3), stddev=st.floats(1e-6, 1e3),
       fmt=st.sampled_from(stream.FLOAT_FORMATS), seed=st.integers(0, 2**64 - 1))
def test_truncated_general_never_on_or_outside_a_bound(lower, width, mean, stddev, fmt, seed):
    """Property: for any bounds, mean, stddev and format, every value lies strictly
    inside (mean + lower stddev, mean + upper stddev), in the kernel and the reference."""
    upper = lower + width
    try:
        d = stream.truncated_normal(mean, stddev, lower, upper)
        stream.clamp_bounds(d, fmt)
    except ValueError:  # too far in a tail, or no value of fmt inside the support
        return
    for name in ("kernel", "reference") if stream.kernel_available() else ("reference",):
        out = np.empty(2000, FLOAT[fmt])
        with stream.set_backend(name):
            sfill(out, seed, 0, d, fmt=fmt)
        vals = (out.view(np.uint16).astype(np.uint32) << 16).view(np.float32) \
            if fmt == "bfloat16" else out
        vals = vals.astype(np.float64)
        assert (vals > d.low).all() and (vals < d.high).all(), (name, vals.min(), vals.max())


@pytest.mark.parametrize("fmt", ["bfloat16", "float32", "float64", "int16"])
@pytest.mark.parametrize("nrows,row_len", [(1, 7), (333, 2), (70001, 2), (50, 300)])
def test_rows_from_one_int_start_are_the_continuing_rows(fmt, nrows, row_len, backend):
    """fill_columns and fill_rows take one int start for rows that continue each other:
    the same bits as the explicit starts, on every backend."""
    dist = stream.uniform_int(-50, 50) if fmt == "int16" else stream.normal(0.5, 2.0)
    dtype = np.uint16 if fmt == "bfloat16" else fmt
    first = 12345
    starts = np.arange(nrows, dtype=np.uint64) * np.uint64(row_len) + np.uint64(first)
    explicit, given = (np.empty((row_len, nrows), dtype) for _ in range(2))
    stream.fill_columns(explicit, 3, 1, dist, fmt, starts, row_len)
    stream.fill_columns(given, 3, 1, dist, fmt, first, row_len)
    assert (explicit.view(np.uint8) == given.view(np.uint8)).all()
    rows = np.empty((nrows, row_len), dtype)
    stream.fill_rows(rows, 3, 1, dist, fmt, first, row_len)
    assert (np.ascontiguousarray(rows.T).view(np.uint8) == given.view(np.uint8)).all()
