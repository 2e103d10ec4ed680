"""fanin's global settings, and the one way they are set and restored.

Four settings exist, each owned by one module: the default float dtype
(:func:`fanin.set_floatx`), the global seed (:func:`fanin.set_random_seed`), the
backend that fills numpy arrays (:func:`fanin.stream.set_backend`) and the kernel's
thread count (:func:`fanin.set_num_threads`). Each setter returns a
:class:`fanin.restore.Restore`:
ignore it, or use it as a context manager that puts the previous value back. This
module takes and puts back all four at once (the test suite does, around every test).

>>> import fanin
>>> saved = snapshot()
>>> _ = fanin.set_floatx("float16"), fanin.set_random_seed(3)
>>> restore(saved)
>>> fanin.floatx()
'float32'
"""

from __future__ import annotations


def snapshot():
    """Every global setting, for :func:`restore` (the test suite uses this)."""
    from fanin import dtypes, seeds, _threads, stream
    return (dtypes.floatx(), seeds.get_state(), stream.get_backend(),
            _threads.get_num_threads())


def restore(state) -> None:
    """Put back the settings of a :func:`snapshot`."""
    from fanin import dtypes, seeds, _threads, stream
    floatx, seed_state, backend, threads = state
    dtypes.set_floatx(floatx)
    seeds.set_state(seed_state)
    stream.set_backend(backend)
    _threads.set_num_threads(threads)
