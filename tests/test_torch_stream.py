"""The torch-ops stream (fanin.stream.torch) against the NumPy reference, bit for bit."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from fanin import stream  # noqa: E402
from fanin.stream import torch as ts  # noqa: E402
from _fills import fill_reference  # noqa: E402
import _dists  # noqa: E402
import test_stream as T  # noqa: E402

TORCH = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32,
         "float64": torch.float64}
VIEW = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}


def _bits(t):
    return t.view(VIEW[t.element_size()]).numpy().view(f"u{t.element_size()}")


@pytest.mark.parametrize("kind,fmt", sorted(T.GOLDEN))
def test_golden_values(kind, fmt):
    got = []
    for start in (0, 2**40 + 1):
        t = torch.empty(4, dtype=TORCH[fmt])
        ts.fill_stream(t, 20261129, 3, T.DISTS[kind], starts=[start], row_len=4)
        got += [int(x) for x in _bits(t)]
    assert got == list(T.GOLDEN[kind, fmt])


@pytest.mark.parametrize("fmt,lo,hi", sorted(T.GOLDEN_INT))
def test_golden_values_uniform_int(fmt, lo, hi):
    got = []
    for start in (0, 2**40 + 1):
        t = torch.empty(4, dtype=getattr(torch, fmt))
        ts.fill_stream(t, 20261129, 3, stream.uniform_int(lo, hi), starts=[start], row_len=4)
        got += [int(x) for x in t.view(VIEW[t.element_size()]).numpy().astype(fmt)]
    assert got == list(T.GOLDEN_INT[fmt, lo, hi])


DISTS = list(_dists.ALL.values())


@pytest.mark.parametrize("fmt", list(TORCH))
@pytest.mark.parametrize("dist", DISTS, ids=list(_dists.ALL))
def test_every_distribution_matches_reference(fmt, dist):
    starts = np.array([5, 2**40 + 3, 77, 2**61], np.uint64)
    n = 3001
    want = np.empty(4 * n, T.FLOAT[fmt])
    try:
        fill_reference(want, 11, 2**63 + 3, dist, fmt=fmt, starts=starts, row_len=n)
    except ValueError:  # no value of fmt inside the support
        pytest.skip("support holds no value of this format")
    got = torch.empty(4 * n, dtype=TORCH[fmt])
    ts.fill_stream(got, 11, 2**63 + 3, dist, starts=starts, row_len=n, chunk=1000)
    assert np.array_equal(_bits(got), want.view(f"u{want.itemsize}"))


@pytest.mark.parametrize("fmt", [f for f in stream.INT_FORMATS if hasattr(torch, f)])
def test_uniform_int_matches_reference(fmt):
    info = np.iinfo(fmt)
    for lo, hi in [(0, 7), (int(info.min), int(info.max) + 1), (int(info.max) - 2, int(info.max) + 1)]:
        d = stream.uniform_int(lo, hi)
        want = np.empty(5000, fmt)
        fill_reference(want, 3, 1, d)
        got = torch.empty(5000, dtype=getattr(torch, fmt))
        ts.fill_stream(got, 3, 1, d)
        assert np.array_equal(got.view(VIEW[want.itemsize]).numpy().astype(fmt), want), (lo, hi)
