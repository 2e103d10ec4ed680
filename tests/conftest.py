"""Shared fixtures: every stream-backed test runs on the kernel and the reference."""

import os

import pytest

os.environ.setdefault("FANIN_NO_KERNEL_WARNING", "1")

from fanin import stream  # noqa: E402


@pytest.fixture(params=["kernel", "reference"])
def backend(request, monkeypatch):
    """Run the test with the compiled kernel, then with the NumPy reference."""
    if request.param == "kernel" and stream._kernel is None:
        pytest.skip("compiled kernel not built")
    monkeypatch.setattr(stream, "_use_kernel", request.param == "kernel")
    return request.param
