"""Root pytest configuration: doctests of framework adapters need their framework."""

import importlib.util
import os

# Keras 3 fixes its backend at first import; TensorFlow (its default) is not a
# test dependency. Subprocess tests set KERAS_BACKEND themselves.
os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("FANIN_NO_KERNEL_WARNING", "1")

collect_ignore = []
if importlib.util.find_spec("keras") is None:
    collect_ignore.append("fanin/keras.py")
if importlib.util.find_spec("torch") is None:
    collect_ignore += ["fanin/torch.py", "fanin/_torch_stream.py"]
