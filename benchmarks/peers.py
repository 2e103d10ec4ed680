"""What the benchmark measures: fanin, the memory limit and the framework peers.

Each implementation is a small class registered in ``IMPLS`` under its name. A class
imports its library in ``setup`` (inside the worker subprocess, so one library never
shares a process with another's measurement), records versions and threads in
``self.info``, and ``make(shape, dtype)`` returns a zero-argument callable that
allocates and initializes one tensor. ``Unavailable`` means "not installed / not
built here" and is reported as a skip.
"""

from __future__ import annotations

import importlib.util
import math
import os

TRUNC = 0.87962566103423978  # std of a standard normal truncated to [-2, 2]

SIZES = {  # label -> shape
    "1M": (1024, 1024),
    "16.8M": (4096, 4096),
    "268M": (16384, 16384),
}
DTYPES = ("float32", "float64", "bfloat16")
ITEMSIZE = {"float32": 4, "float64": 8, "bfloat16": 2}
SMALL_SHAPES = ((3, 3), (256,))
SEED = 1234


class Unavailable(Exception):
    """The implementation cannot run here (not installed, not built): a skip."""


def lecun_std(shape) -> float:
    """Pre-truncation std of LecunNormal: sqrt(1 / fan_in) / 0.8796 (Keras fans)."""
    if len(shape) == 0:
        fan_in = 1
    elif len(shape) <= 2:
        fan_in = shape[0]
    else:
        fan_in = shape[-2] * math.prod(shape[:-2])
    return math.sqrt(1.0 / max(1, fan_in)) / TRUNC


IMPLS: dict[str, type[Impl]] = {}


def register(cls):
    IMPLS[cls.name] = cls
    return cls


def create(name: str) -> Impl:
    """The implementation ``name``, set up (raises Unavailable when it cannot run)."""
    impl = IMPLS[name]()
    impl.setup()
    return impl


def peer_names() -> tuple[str, ...]:
    """The framework peers, in table order (fanin's reference and fill are not peers)."""
    return tuple(name for name, cls in IMPLS.items() if cls.is_peer)


class Impl:
    name = ""
    label = ""
    is_peer = False
    mem_factor = 1.5  # rough peak / output, for the free-memory guard only
    environ: dict[str, str] = {}  # environment the worker subprocess needs

    def __init__(self):
        self.info: dict = {}

    def setup(self) -> None:
        raise NotImplementedError

    def make(self, shape, dtype: str):
        raise NotImplementedError


def _import(module: str, what: str):
    try:
        return __import__(module, fromlist=["_"])
    except ImportError as e:
        raise Unavailable(f"{what} not installed ({e})") from None


@register
class Fill(Impl):
    """The memory limit: ``np.empty`` + ``fill`` (bfloat16: a uint16 buffer)."""

    name, label, mem_factor = "fill", "memory limit (np.empty+fill)", 1.2

    def setup(self):
        import numpy as np

        self.np = np
        self.info.update(threads=1, numpy=np.__version__)

    def make(self, shape, dtype):
        np, n = self.np, math.prod(shape)
        dt = np.uint16 if dtype == "bfloat16" else np.dtype(dtype)

        def f():
            a = np.empty(n, dt)
            a.fill(1)
            return a
        return f


@register
class Fanin(Impl):
    """``fanin.LecunNormal(seed)(shape, dtype)`` with the compiled kernel."""

    name, label, mem_factor = "fanin", "fanin (kernel)", 1.2
    reference = False

    def setup(self):
        import fanin
        from fanin import stream

        using = stream.using_kernel()  # built, and not switched off by FANIN_REFERENCE
        self.info.update(fanin_file=os.path.dirname(fanin.__file__),
                         kernel_built=stream.kernel_available(), kernel_used=using)
        if self.reference:
            if using:
                raise RuntimeError("FANIN_REFERENCE=1 did not disable the kernel")
            self.info["threads"] = 1
        else:
            if not using:
                raise Unavailable("fanin.stream._kernel not built (fanin would use the reference)")
            self.info["kernel_file"] = stream.kernel.KERNEL.__file__
            if hasattr(fanin, "get_num_threads"):
                self.info["threads"] = fanin.get_num_threads()
        self.init = fanin.LecunNormal(seed=SEED)

    def make(self, shape, dtype):
        init = self.init
        return lambda: init(shape, dtype)


@register
class FaninReference(Fanin):
    """The same call on fanin's NumPy reference stream (``FANIN_REFERENCE=1``)."""

    name, label, mem_factor = "fanin-ref", "fanin (NumPy reference)", 1.5
    reference = True
    environ = {"FANIN_REFERENCE": "1"}


@register
class NumpyRejection(Impl):
    """``Generator.standard_normal``, redraw |x| > 2 until none is left, scale."""

    name, label, is_peer, mem_factor = "numpy", "numpy rejection", True, 2.5

    def setup(self):
        import numpy as np

        self.np = np
        self.rng = np.random.default_rng(SEED)
        self.info.update(threads=1, numpy=np.__version__)

    def make(self, shape, dtype):
        np, rng = self.np, self.rng
        n, s = math.prod(shape), lecun_std(shape)
        gdt = np.float64 if dtype == "float64" else np.float32
        bf16 = _import("ml_dtypes", "ml_dtypes").bfloat16 if dtype == "bfloat16" else None

        def f():
            x = rng.standard_normal(n, dtype=gdt)
            bad = np.flatnonzero(np.abs(x) > 2.0)
            while bad.size:
                x[bad] = rng.standard_normal(bad.size, dtype=gdt)
                bad = bad[np.abs(x[bad]) > 2.0]
            x *= gdt(s)
            if bf16 is not None:
                x = x.astype(bf16)
            return x.reshape(shape)
        return f


class NumpyCall(NumpyRejection):
    """A per-call overhead reference: one Generator method, ``size=n``, float64."""

    is_peer, method = False, ""

    def make(self, shape, dtype):
        draw, n = getattr(self.rng, self.method), math.prod(shape)
        return lambda: draw(size=n)


@register
class NumpyStandardNormal(NumpyCall):
    name, label, method = ("np.standard_normal", "np Generator.standard_normal(n)",
                           "standard_normal")


@register
class NumpyNormal(NumpyCall):
    """The reference call in the small-call target's other wording."""

    name, label, method = "np.normal", "np Generator.normal(size=n)", "normal"


@register
class Torch(Impl):
    """``torch.empty`` + ``torch.nn.init.trunc_normal_`` with LeCun's std and bounds."""

    name, label, is_peer, mem_factor = "torch", "torch trunc_normal_", True, 4.0

    def setup(self):
        torch = _import("torch", "torch")
        torch.set_num_threads(os.cpu_count() or 1)
        self.torch = torch
        self.info.update(torch=torch.__version__, threads=torch.get_num_threads())
        self.tdt = {"float32": torch.float32, "float64": torch.float64,
                    "bfloat16": torch.bfloat16}

    def make(self, shape, dtype):
        torch, tdt, s = self.torch, self.tdt[dtype], lecun_std(shape)

        def f():
            t = torch.empty(shape, dtype=tdt)
            torch.nn.init.trunc_normal_(t, std=s, a=-2 * s, b=2 * s)
            return t
        return f


def _load_timm():
    """timm's lecun_normal_ and a note on how it was loaded."""
    errors = []
    for mod in ("timm.layers", "timm.models.layers"):
        try:
            m = __import__(mod, fromlist=["lecun_normal_"])
            return m.lecun_normal_, f"{mod}.lecun_normal_"
        except Exception as e:  # noqa: BLE001
            errors.append(f"{mod}: {type(e).__name__}: {e}")
    # timm's package __init__ imports torchvision, whose PyPI wheels are CUDA builds
    # that do not load beside torch's CPU build. weight_init.py itself needs only
    # torch: load that file alone so the real timm code is still measured.
    spec = importlib.util.find_spec("timm")  # locates the package without running it
    if spec is None or not spec.submodule_search_locations:
        raise Unavailable("timm not installed")
    path = os.path.join(list(spec.submodule_search_locations)[0], "layers", "weight_init.py")
    if not os.path.exists(path):
        raise Unavailable("; ".join(errors))
    s = importlib.util.spec_from_file_location("_timm_weight_init", path)
    m = importlib.util.module_from_spec(s)
    s.loader.exec_module(m)
    first = errors[0].split(": ", 1)[1] if errors else "?"
    return m.lecun_normal_, (f"timm/layers/weight_init.py loaded standalone "
                             f"(import timm.layers failed: {first[:120]})")


@register
class Timm(Torch):
    """``torch.empty`` + timm's ``lecun_normal_``."""

    name, label, is_peer, mem_factor = "timm", "timm lecun_normal_", True, 1.5

    def setup(self):
        super().setup()
        try:
            self.lecun_normal_, how = _load_timm()
        except ImportError as e:
            raise Unavailable(f"timm not installed ({e})") from None
        from importlib import metadata

        self.info.update(timm=metadata.version("timm"), loaded_as=how)

    def make(self, shape, dtype):
        torch, tdt, ln = self.torch, self.tdt[dtype], self.lecun_normal_

        def f():
            t = torch.empty(shape, dtype=tdt)
            ln(t)
            return t
        return f


@register
class Jax(Impl):
    """``jax.jit`` of ``jax.nn.initializers.lecun_normal()``, result ready."""

    name, label, is_peer, mem_factor = "jax", "jax lecun_normal (jit)", True, 4.0

    def setup(self):
        jax = _import("jax", "jax")
        jax.config.update("jax_enable_x64", True)  # float64 needs it (on for every dtype)
        import jax.numpy as jnp

        self.jax, self.jnp = jax, jnp
        self.key = jax.random.PRNGKey(SEED)
        self.info.update(jax=jax.__version__, devices=[str(d) for d in jax.devices()],
                         threads=f"XLA CPU pool ({os.cpu_count()} cores)",
                         XLA_FLAGS=os.environ.get("XLA_FLAGS", ""))
        self.jdt = {"float32": jnp.float32, "float64": jnp.float64,
                    "bfloat16": jnp.bfloat16}

    def make(self, shape, dtype):
        init, jdt = self.jax.nn.initializers.lecun_normal(), self.jdt[dtype]
        g = self.jax.jit(lambda key: init(key, shape, jdt))
        key = self.key  # one key for every call: the cost is the same, and timing is all
        return lambda: g(key).block_until_ready()


@register
class Tf(Impl):
    """Eager ``tf.random.truncated_normal`` with LeCun's std."""

    name, label, is_peer, mem_factor = "tf", "tf truncated_normal", True, 4.0
    environ = {"TF_CPP_MIN_LOG_LEVEL": "2"}

    def setup(self):
        tf = _import("tensorflow", "tensorflow")
        self.tf = tf
        intra = tf.config.threading.get_intra_op_parallelism_threads()
        self.info.update(tensorflow=tf.__version__,
                         threads=intra or f"default ({os.cpu_count()} cores)")
        self.tfdt = {"float32": tf.float32, "float64": tf.float64, "bfloat16": tf.bfloat16}

    def make(self, shape, dtype):
        tf, tdt, s = self.tf, self.tfdt[dtype], lecun_std(shape)
        return lambda: tf.random.truncated_normal(shape, stddev=s, dtype=tdt)
