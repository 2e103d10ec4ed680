"""Shared fixtures: every stream-backed test runs on the kernel and the reference (the
root conftest.py restores fanin's global settings after every test)."""

import os

import pytest

os.environ.setdefault("FANIN_NO_KERNEL_WARNING", "1")

from fanin import stream  # noqa: E402


@pytest.fixture(params=["kernel", "reference"])
def backend(request):
    """Run the test with the compiled kernel, then with the NumPy reference."""
    if request.param == "kernel" and not stream.kernel_available():
        pytest.skip("compiled kernel not built")
    with stream.set_backend(request.param):
        yield request.param
