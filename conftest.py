"""Root pytest configuration: doctests of framework adapters need their framework."""

import importlib.util
import os
import sys

# Keras 3 fixes its backend at first import; TensorFlow (its default) is not a
# test dependency. Subprocess tests set KERAS_BACKEND themselves.
os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("FANIN_NO_KERNEL_WARNING", "1")

import pytest  # noqa: E402

from fanin import _state  # noqa: E402


@pytest.fixture(autouse=True)
def _restore_global_settings():
    """floatx, the global seed, the backend and the thread count, as before each test
    and doctest: nothing a test changes leaks into the next."""
    saved = _state.snapshot()
    yield
    _state.restore(saved)


@pytest.fixture(autouse=True)
def _keras_stays_out_of_this_process():
    """Keras and tf_keras run in child processes only: once imported here, fanin's
    classes would create Keras-side subclasses in every later test."""
    yield
    loaded = [m for m in ("keras", "tf_keras") if m in sys.modules]
    assert not loaded, f"this test imported {loaded} into the pytest process; use a child"


collect_ignore = []
# Keras and TensorFlow are imported only in the child processes of tests/test_keras.py
# and tests/test_tf_keras.py, which also run these modules' doctests: once Keras is
# imported, fanin's classes create their Keras-side subclasses (fanin/_frameworks.py).
collect_ignore += ["fanin/keras.py", "fanin/tf_keras.py"]
if importlib.util.find_spec("torch") is None:
    collect_ignore += ["fanin/torch.py", "fanin/stream/torch.py", "fanin/_torch_dtensor.py"]
if importlib.util.find_spec("dask") is None:
    collect_ignore += ["fanin/dask.py"]
if importlib.util.find_spec("jax") is None:
    collect_ignore += ["fanin/jax.py", "fanin/stream/jax.py"]
if importlib.util.find_spec("jax") is None:
    # a test's child program, not a test module; --doctest-modules would import it
    collect_ignore += ["tests/jax_sharding_check.py"]
if importlib.util.find_spec("triton") is None:
    collect_ignore += ["fanin/stream/triton.py"]
