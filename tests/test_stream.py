"""The stream: Philox known answers, golden values, position stability, rounding."""

import numpy as np
import pytest
from scipy import special

from fanin import stream
from _fills import fill as sfill, fill_reference as sfill_reference  # noqa: E402

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


# Stream v1 pinned: seed 20261129, call 3, elements 0..3 and 2**40+1..2**40+4, as
# raw bits. A change here is a new stream version, never a silent change.
GOLDEN = {
    ("uniform", "float16"): (0x409e, 0x3d81, 0xba66, 0x4139,
                             0x26c4, 0x40f5, 0x3049, 0xa27d),
    ("uniform", "bfloat16"): (0x4014, 0x3fb0, 0xbf4d, 0x4027,
                              0x3cd9, 0x401f, 0x3e09, 0xbc50),
    ("uniform", "float32"): (0x4013b691, 0x3fb01614, 0xbf4ccff4, 0x402712a3,
                             0x3cd89000, 0x401e9cd5, 0x3e091d00, 0xbc4fab00),
    ("uniform", "float64"): (0x3ff602c29274eda4, 0x4004e25477e19980, 0x40066f6bec88d2b1,
                             0xbfe1290793b02da8, 0xbfda8136ae013218, 0x3fe37fa1553fa960,
                             0x3fe74ef0a2b8bfd0, 0x3ffa078d852d0412),
    ("normal", "float16"): (0x40c5, 0x3bcd, 0xc194, 0x4230,
                            0xba76, 0x417f, 0xb929, 0xbaf4),
    ("normal", "bfloat16"): (0x4019, 0x3f7a, 0xc033, 0x4046,
                             0xbf4f, 0x4030, 0xbf25, 0xbf5e),
    ("normal", "float32"): (0x4018a05d, 0x3f79ab7e, 0xc0328e61, 0x4045f963,
                            0xbf4ec37e, 0x402fecb1, 0xbf252530, 0xbf5e7626),
    ("normal", "float64"): (0x3fef356f7f245db8, 0x4008bf2c5e8cb52f, 0x400e7d7248e50885,
                            0xbffe41f9ebf46fc6, 0xbff9a79fe0784e5e, 0x3f7600267897a9c0,
                            0x3fc436ca0f0a6980, 0x3ff4e97fb36c36cb),
    ("truncated_normal", "float16"): (0x3b16, 0x3341, 0xbde4, 0x3cca,
                                      0xb8f5, 0x3c32, 0xb859, 0xb930),
    ("truncated_normal", "bfloat16"): (0x3f63, 0x3e68, 0xbfbc, 0x3f99,
                                       0xbf1f, 0x3f86, 0xbf0b, 0xbf26),
    ("truncated_normal", "float32"): (0x3f62c0f4, 0x3e68124b, 0xbfbc75d8, 0x3f9930dd,
                                      0xbf1ead7b, 0x3f8630cc, 0xbf0b2f5e, 0xbf26001a),
    ("truncated_normal", "float64"): (0x3fcd024923ede0fa, 0x3ff3261bbc0e487b,
                                      0x3ff7ae7800295239, 0xbff1c441100e87f8,
                                      0xbfef7d20c61553ef, 0xbfce302da4cfa5cb,
                                      0xbfc4e343651b4327, 0x3fd8968afb942ace),
}
DISTS = {"uniform": stream.uniform(-1.0, 3.0), "normal": stream.normal(0.5, 2.0),
         "truncated_normal": stream.truncated_normal(0.0, 1.0)}
UINT = {"float16": np.uint16, "bfloat16": np.uint16, "float32": np.uint32,
        "float64": np.uint64}
FLOAT = {"float16": np.float16, "bfloat16": np.uint16, "float32": np.float32,
         "float64": np.float64}


def _bits(fmt, kind, starts, row_len, seed=20261129, call=3):
    out = np.empty(len(starts) * row_len, FLOAT[fmt])
    sfill(out, seed, call, DISTS[kind], starts=starts, row_len=row_len, fmt=fmt)
    return out.view(UINT[fmt])


@pytest.mark.parametrize("kind,fmt", sorted(GOLDEN))
def test_golden_values(backend, kind, fmt):
    got = np.concatenate([_bits(fmt, kind, [0], 4), _bits(fmt, kind, [2**40 + 1], 4)])
    assert [int(x) for x in got] == list(GOLDEN[kind, fmt])


def test_version_is_one():
    assert stream.STREAM_VERSION == 1


@pytest.mark.parametrize("fmt", stream.FORMATS)
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


def _inverse_cdf_exact(fmt, n, kind):
    """The exact value each element should approximate, from the same uniform bits."""
    key = stream.seed_to_key(5)
    words = stream._words(key, 0, np.zeros(1, np.uint64), n * (2 if fmt == "float64" else 1))[0]
    if fmt == "float64":  # integer arithmetic: 2j + 1 - 2**53 is exact in int64 only
        j = ((words[1::2] << np.uint64(21)) | (words[0::2] >> np.uint64(11))).astype(np.int64)
        v = (2 * j + 1 - 2**53).astype(np.float64) / 2.0**53
    else:
        j = (words >> np.uint64(8)).astype(np.int64)
        v = (2 * j + 1 - 2**24).astype(np.float64) / 2.0**24
    x = v * special.erf(np.sqrt(2)) if kind == "truncated_normal" else v
    return np.sqrt(2) * special.erfinv(x)


@pytest.mark.parametrize("fmt,eps,approx", [("float32", 2.0**-24, 4e-7),
                                             ("float64", 2.0**-53, 1e-13)])
@pytest.mark.parametrize("kind", ["normal", "truncated_normal"])
def test_transform_accuracy(fmt, eps, approx, kind):
    """The exact-arithmetic transform tracks scipy's erfinv to its precision.

    Allowed relative error per element: the approximation's own error (Giles:
    3.7e-7 for float32; for float64 6.6e-16 central, 5e-14 in the far tail)
    plus 40 roundings (the ~30 operations of log and Horner) amplified by the
    condition number of erfinv at x, x erfinv'(x) / erfinv(x), which grows like
    exp(z**2 / 2) in the tails.
    """
    n = 200_000
    got = np.empty(n, fmt)
    dist = stream.normal(0.0, 1.0) if kind == "normal" else stream.truncated_normal(0.0, 1.0)
    sfill_reference(got, 5, 0, dist)
    want = _inverse_cdf_exact(fmt, n, kind)
    y = want / np.sqrt(2)  # erfinv(x)
    cond = np.abs(special.erf(y)) * np.sqrt(np.pi) / 2 * np.exp(y * y) / np.abs(y)
    err = np.abs(got - want) / np.abs(want)
    assert (err <= approx + 40 * eps * cond).all()


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
    # the clamp is the largest value below the bound, so values do reach it
    assert (vals == hi).any() if fmt in ("float16", "bfloat16") else True


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
    with pytest.raises(TypeError, match="dtype int32"):
        sfill(np.empty(3, np.int32), 0, 0, d)
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
