"""Shared fixtures: every stream-backed test runs on the kernel and the reference."""

import os

import pytest

os.environ.setdefault("FANIN_NO_KERNEL_WARNING", "1")

from fanin import stream  # noqa: E402


@pytest.fixture(params=["kernel", "reference"])
def backend(request, monkeypatch):
    """Run the test with the compiled kernel, then with the NumPy reference."""
    if request.param == "kernel":
        if stream._kernel is None:
            pytest.skip("compiled kernel not built")
        monkeypatch.setenv("FANIN_REFERENCE", "0")
    else:
        monkeypatch.setenv("FANIN_REFERENCE", "1")
    return request.param
