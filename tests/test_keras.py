"""fanin in Keras 3: layers, values, dtype policies, training, save/load, conversions.

Keras fixes its backend per process, so every check runs in a child process
(this file run as a script) with ``KERAS_BACKEND`` set, one process per backend
running all checks, then fresh processes that load the saved models, and fresh
processes for the import orders of "registration without ceremony". The pytest
process itself never imports Keras. Backends run when installed: jax, torch,
tensorflow (marked slow: TensorFlow takes seconds to import), and numpy;
``FANIN_KERAS_BACKENDS=jax,numpy`` restricts them.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

if __name__ != "__main__":
    if importlib.util.find_spec("keras") is None:
        pytest.skip("keras is not installed", allow_module_level=True)

# Keras runs in child processes (one per backend; ~100 s of setup on 2 cores): the CI
# tier, not the dev loop.
pytestmark = pytest.mark.slow

from _checks import (ROOT, Skip, collect, outcome,  # noqa: E402
                     registry, run_checks, same_bits, spawn, std_tolerance, truncated_kurtosis)

BACKENDS = [b for b, mod in (("jax", "jax"), ("torch", "torch"), ("tensorflow", "tensorflow"),
                             ("numpy", "numpy"))
            if importlib.util.find_spec(mod) is not None
            and b in os.environ.get("FANIN_KERAS_BACKENDS", b).split(",")]
# TensorFlow's backend is slow to start: its tests are marked slow.
BACKEND_PARAMS = [pytest.param(b, marks=pytest.mark.slow) if b == "tensorflow" else b
                  for b in BACKENDS]

# --------------------------------------------------------------------------- #
# Checks, run in the child process (keras imported there only)
# --------------------------------------------------------------------------- #

check, CHECKS = registry()


def _np(x):
    import keras
    return keras.ops.convert_to_numpy(x)


def _takes_seed(cls):
    import inspect
    return "seed" in inspect.signature(cls).parameters


def _built(layer, input_shape):
    layer.build(input_shape)
    return layer


@check
def reference_page_examples(ctx):
    import keras

    import fanin
    # Standalone usage:
    initializer = fanin.LecunNormal()
    values = initializer(shape=(2, 2))
    assert values.shape == (2, 2)
    # Usage in a Keras layer, as written on the page:
    initializer = fanin.LecunNormal()
    layer = keras.layers.Dense(3, kernel_initializer=initializer)
    layer.build((None, 5))
    assert tuple(layer.kernel.shape) == (5, 3)
    # and its snake-case alias, and the Keras-side class
    for init in (fanin.lecun_normal(), __import__("fanin.keras").keras.LecunNormal()):
        layer = keras.layers.Dense(3, kernel_initializer=init)
        assert tuple(_built(layer, (None, 5)).kernel.shape) == (5, 3)


@check
def dense_values(ctx):
    import keras
    import numpy as np

    import fanin
    layer = _built(keras.layers.Dense(3, kernel_initializer=fanin.LecunNormal(seed=5)),
                   (None, 7))
    same_bits(_np(layer.kernel), fanin.LecunNormal(seed=5)((7, 3)))
    same_bits(_np(layer.bias), np.zeros(3, np.float32))
    assert isinstance(layer.kernel_initializer, fanin.LecunNormal)


@check
def conv2d_values(ctx):
    import keras

    import fanin
    import fanin.keras
    layer = _built(keras.layers.Conv2D(4, 3, kernel_initializer=fanin.LecunNormal(seed=9),
                                       bias_initializer=fanin.Constant(0.5)),
                   (None, 8, 8, 2))
    same_bits(_np(layer.kernel), fanin.LecunNormal(seed=9)((3, 3, 2, 4)))
    same_bits(_np(layer.bias), fanin.Constant(0.5)((4,)))
    layer = _built(keras.layers.Conv2D(6, (2, 3), kernel_initializer=fanin.keras.HeNormal(seed=1)),
                   (None, 5, 5, 3))
    same_bits(_np(layer.kernel), fanin.HeNormal(seed=1)((2, 3, 3, 6)))


@check
def embedding_values(ctx):
    import keras

    import fanin
    layer = _built(keras.layers.Embedding(10, 4, embeddings_initializer=fanin.RandomUniform(
        -1.0, 1.0, seed=2)), (None, 6))
    same_bits(_np(layer.embeddings), fanin.RandomUniform(-1.0, 1.0, seed=2)((10, 4)))


@check
def call_index_and_seeds(ctx):
    import keras

    import fanin
    # one instance shared by two layers: Keras calls it once per weight, in order
    shared = fanin.LecunNormal(seed=3)
    a = _built(keras.layers.Dense(3, kernel_initializer=shared), (None, 4))
    b = _built(keras.layers.Dense(5, kernel_initializer=shared), (None, 3))
    ref = fanin.LecunNormal(seed=3)
    same_bits(_np(a.kernel), ref((4, 3)))
    same_bits(_np(b.kernel), ref((3, 5)))
    # two instances with the same seed: the same kernel
    c = _built(keras.layers.Dense(3, kernel_initializer=fanin.LecunNormal(seed=3)), (None, 4))
    d = _built(keras.layers.Dense(3, kernel_initializer=fanin.LecunNormal(seed=3)), (None, 4))
    same_bits(_np(c.kernel), _np(d.kernel))
    same_bits(_np(c.kernel), _np(a.kernel))


@check
def every_class_in_a_layer(ctx):
    import keras

    import fanin
    import fanin.keras
    for name in fanin.keras.CLASSES:
        if name == "Initializer":
            continue
        for make in (getattr(fanin, name), getattr(fanin.keras, name)):
            kwargs = {"seed": 4} if _takes_seed(make) else {}
            matrix_only = name in ("Identity", "Orthogonal")
            layer = _built(keras.layers.Dense(
                3, kernel_initializer=make(**kwargs),
                bias_initializer="zeros" if matrix_only else make(**kwargs)), (None, 3))
            same_bits(_np(layer.kernel), make(**kwargs)((3, 3)))
            if not matrix_only:
                same_bits(_np(layer.bias), make(**kwargs)((3,)))


@check
def dtype_policies(ctx):
    import keras

    import fanin
    import fanin.keras
    for policy, var_dtype in (("float32", "float32"), ("float16", "float16"),
                              ("bfloat16", "bfloat16"), ("float64", "float64"),
                              ("mixed_float16", "float32"), ("mixed_bfloat16", "float32")):
        for init in (fanin.LecunNormal(seed=8), fanin.keras.LecunNormal(seed=8)):
            layer = keras.layers.Dense(3, kernel_initializer=init, dtype=policy)
            layer.build((None, 4))
            got = keras.backend.standardize_dtype(layer.kernel.dtype)
            # JAX without x64 (and Keras's numpy backend with it) makes float64 float32
            assert got == var_dtype or (var_dtype, got) == ("float64", "float32"), (policy, got)
            kernel, ref = _np(layer.kernel), fanin.LecunNormal(seed=8)((4, 3), got)
            if kernel.dtype != ref.dtype:  # JAX without x64 stores float64 as float32
                assert got == "float64" and kernel.dtype.name == "float32", kernel.dtype
                ref = ref.astype(kernel.dtype)
            same_bits(kernel, ref)
        if policy != "float64":  # a forward pass in the compute dtype
            out = layer(keras.ops.ones((2, 4), dtype=layer.compute_dtype))
            assert keras.backend.standardize_dtype(out.dtype) == layer.compute_dtype
    # a bfloat16 global policy
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        layer = _built(keras.layers.Dense(2, kernel_initializer=fanin.HeNormal(seed=1)), (None, 2))
        same_bits(_np(layer.kernel), fanin.HeNormal(seed=1)((2, 2)))
    finally:
        keras.config.set_dtype_policy("float32")


@check
def train_one_step(ctx):
    if ctx["backend"] == "numpy":
        raise Skip("the numpy backend cannot train")
    import keras
    import numpy as np

    import fanin
    import fanin.keras
    model = keras.Sequential([
        keras.Input((4,)),
        keras.layers.Dense(8, activation="selu", kernel_initializer=fanin.LecunNormal(seed=0)),
        keras.layers.Dense(1, kernel_initializer=fanin.keras.LecunNormal(seed=1)),
    ])
    before = _np(model.layers[0].kernel).copy()
    same_bits(before, fanin.LecunNormal(seed=0)((4, 8)))
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    x = fanin.RandomNormal(stddev=1.0, seed=10)((16, 4))
    y = x.sum(axis=1, keepdims=True)
    history = model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    loss = history.history["loss"][0]
    assert np.isfinite(loss), loss
    assert not np.array_equal(_np(model.layers[0].kernel), before)


@check
def jax_model_parallel(ctx):
    """Under a keras.distribution layout each device holds its block of the full tensor."""
    if ctx["backend"] != "jax":
        raise Skip("keras.distribution layouts are tested on the jax backend")
    import jax
    import keras
    import numpy as np

    import fanin
    import fanin.keras
    devices = jax.devices()
    assert len(devices) >= 2, devices  # the parent sets two host devices
    for count in (1, 2):
        mesh = keras.distribution.DeviceMesh((count,), ["model"], devices[:count])
        layout_map = keras.distribution.LayoutMap(mesh)
        layout_map[".*kernel"] = keras.distribution.TensorLayout([None, "model"])
        keras.distribution.set_distribution(keras.distribution.ModelParallel(layout_map=layout_map))
        try:
            # Keras-side classes take `layout`; a plain (early) instance is sharded by Keras
            for init in (fanin.LecunNormal(seed=3), fanin.keras.LecunNormal(seed=3),
                         ctx["early_lecun"].pop()):
                seed = init.get_config()["seed"]
                layer = _built(keras.layers.Dense(8, kernel_initializer=init), (None, 4))
                value = layer.kernel.value
                assert len(value.sharding.device_set) == count, value.sharding
                full = fanin.LecunNormal(seed=seed)((4, 8))
                same_bits(_np(layer.kernel), full)
                for shard in value.addressable_shards:
                    same_bits(np.asarray(shard.data), full[shard.index])
        finally:
            keras.distribution.set_distribution(None)


@check
def keras_serialization(ctx):
    import keras

    import fanin
    import fanin.keras
    config = keras.initializers.serialize(fanin.LecunNormal(seed=5))
    assert config["registered_name"] == "fanin>LecunNormal", config
    assert config["config"] == {"seed": 5}, config
    again = keras.initializers.deserialize(config)
    assert type(again) is fanin.keras.LecunNormal and again.get_config() == {"seed": 5}
    assert keras.initializers.get(config).get_config() == {"seed": 5}
    assert keras.saving.get_registered_object("fanin>LecunNormal") is fanin.keras.LecunNormal
    assert keras.saving.get_registered_name(fanin.LecunNormal) == "fanin>LecunNormal"
    wrapped = keras.initializers.serialize(fanin.keras.VarianceScaling(2.0, "fan_out", seed=1))
    assert wrapped["registered_name"] == "fanin>VarianceScaling"
    # layer config round trip: the initializer comes back as fanin, starting at call 0
    layer = _built(keras.layers.Dense(3, kernel_initializer=fanin.LecunNormal(seed=6)), (None, 4))
    clone = keras.layers.Dense.from_config(layer.get_config())
    assert isinstance(clone.kernel_initializer, fanin.LecunNormal)
    same_bits(_np(_built(clone, (None, 4)).kernel), _np(layer.kernel))
    # clone() (Keras API) and clone_model re-initialize to the same values
    assert clone.kernel_initializer.clone().get_config() == {"seed": 6}
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(
        3, kernel_initializer=fanin.GlorotUniform(seed=2))])
    cloned = keras.models.clone_model(model)
    same_bits(_np(cloned.layers[0].kernel), _np(model.layers[0].kernel))


@check
def from_keras_conversions(ctx):
    import inspect

    import keras

    import fanin
    import fanin.keras
    from fanin.keras import from_keras
    for name in fanin.keras.CLASSES:
        if name == "Initializer":
            continue
        kcls = getattr(keras.initializers, name)
        kwargs = {"seed": 3} if "seed" in inspect.signature(kcls).parameters else {}
        got = from_keras(kcls(**kwargs))
        # fanin's classes created while Keras is loaded are the Keras-side ones
        want = getattr(fanin.keras, name)
        assert type(got) is want and isinstance(got, getattr(fanin, name)), (name, type(got))
        assert got.get_config().get("seed") == kwargs.get("seed"), (name, got)
        assert type(from_keras(kcls)) is want
        assert type(from_keras(keras.initializers.serialize(kcls(**kwargs)))) is want
    cases = [
        (keras.initializers.VarianceScaling(2.0, "fan_out", "uniform", seed=4),
         fanin.VarianceScaling(2.0, "fan_out", "uniform", seed=4)),
        (keras.initializers.RandomNormal(1.0, 2.0, seed=5), fanin.RandomNormal(1.0, 2.0, seed=5)),
        (keras.initializers.TruncatedNormal(0.0, 0.5, seed=-1),
         fanin.TruncatedNormal(0.0, 0.5, seed=-1)),
        (keras.initializers.RandomUniform(-2.0, 3.0, seed=2**40),
         fanin.RandomUniform(-2.0, 3.0, seed=2**40)),
        (keras.initializers.Constant(3.0), fanin.Constant(3.0)),
        (keras.initializers.Identity(gain=2.0), fanin.Identity(gain=2.0)),
        (keras.initializers.Orthogonal(gain=0.5, seed=1), fanin.Orthogonal(gain=0.5, seed=1)),
        (keras.initializers.LecunNormal(seed=keras.random.SeedGenerator(9)),
         fanin.LecunNormal(seed=9)),
    ]
    if "input_axes" in inspect.signature(keras.initializers.LecunNormal).parameters:
        cases.append((keras.initializers.LecunNormal(seed=1, input_axes=[1], output_axes=[0]),
                      fanin.LecunNormal(seed=1, input_axes=[1], output_axes=[0])))
    for k, want in cases:
        got = from_keras(k)
        assert type(got) is type(want) and got.get_config() == want.get_config(), (got, want)
    assert type(from_keras("lecun_normal")) is fanin.keras.LecunNormal
    f = fanin.HeUniform(seed=1)
    assert from_keras(f) is f
    saved = keras.layers.Dense(2, kernel_initializer=fanin.LecunNormal(seed=12)).get_config()
    assert from_keras(saved["kernel_initializer"]).get_config() == {"seed": 12}
    # errors: unknown initializers
    bad = [keras.initializers.STFT(), {"module": None, "class_name": "LecunNormal",
                                       "config": {}, "registered_name": "mypkg>LecunNormal"},
           {"module": "mypkg.inits", "class_name": "LecunNormal", "config": {},
            "registered_name": None}, "no_such_initializer"]

    class MyInit(keras.initializers.Initializer):
        def __call__(self, shape, dtype=None):
            return keras.ops.zeros(shape)
    MyInit.__module__ = "mypkg.inits"
    bad.append(MyInit())
    for b in bad:
        try:
            from_keras(b)
        except ValueError:
            pass
        else:
            raise AssertionError(f"from_keras({b!r}) did not raise ValueError")
    # a SeedGenerator whose config is not a dict is a TypeError, not AttributeError
    for inner in (1, "x", [1], 2.5, True):
        try:
            from_keras({"class_name": "LecunNormal",
                        "config": {"seed": {"class_name": "SeedGenerator", "config": inner}}})
        except TypeError as err:
            assert "Cannot convert Keras seed" in str(err), err
        else:
            raise AssertionError(f"a SeedGenerator config of {inner!r} did not raise TypeError")
    for b in (3, lambda shape, dtype=None: None, object()):
        try:
            from_keras(b)
        except TypeError:
            pass
        else:
            raise AssertionError(f"from_keras({b!r}) did not raise TypeError")


@check
def to_keras_conversions(ctx):
    import keras

    import fanin
    import fanin.keras
    from fanin import _frameworks
    from fanin.keras import to_keras
    for name, early in ctx["early"].items():
        cls = getattr(fanin, name)
        assert type(early) is cls, (name, type(early))  # created before Keras was imported
        k = to_keras(early)
        assert type(k) is getattr(fanin.keras, name) and isinstance(k, cls), name
        assert isinstance(k, keras.initializers.Initializer)
        assert k.get_config() == early.get_config()
        assert keras.initializers.get(k) is k
        fresh = cls(seed=7) if _takes_seed(cls) else cls()
        assert type(fresh) is type(k) and to_keras(fresh) is fresh  # already Keras-side
        assert _frameworks.core_class(type(k)) is cls
        same_bits(k((3, 3)), fresh((3, 3)))
    # an unseeded instance keeps the seed it drew; the copy starts at call 0
    early = ctx["early_unseeded"]
    first = early((5, 4))
    same_bits(to_keras(early)((5, 4)), first)
    kk = keras.initializers.LecunNormal(seed=1)
    assert to_keras(kk) is kk
    assert type(to_keras("he_uniform")) is fanin.keras.HeUniform
    assert type(to_keras({"class_name": "LecunNormal", "config": {"seed": 2}})) is \
        fanin.keras.LecunNormal
    assert type(to_keras(fanin.Orthogonal)) is fanin.keras.Orthogonal

    class Mine(fanin.LecunNormal):
        pass
    mine = Mine(seed=1)
    assert type(mine) is Mine and to_keras(mine) is mine  # users' subclasses are theirs

    class MineK(fanin.keras.LecunNormal):
        pass
    assert _frameworks.core_class(MineK) is MineK
    try:
        to_keras(3)
    except TypeError:
        pass
    else:
        raise AssertionError("to_keras(3) did not raise")


@check
def early_instances_in_layers(ctx):
    """Plain fanin objects (created before Keras was imported) work in layers and save."""
    import keras

    import fanin.keras  # noqa: F401  (the documented way for this import order)
    early = ctx["early_lecun"].pop()
    assert type(early) is fanin.LecunNormal
    layer = _built(keras.layers.Dense(3, kernel_initializer=early), (None, 4))
    same_bits(_np(layer.kernel), fanin.LecunNormal(seed=7)((4, 3)))
    config = keras.initializers.serialize(ctx["early"]["HeUniform"])
    assert config["registered_name"] == "fanin>HeUniform", config
    assert type(keras.initializers.deserialize(config)) is fanin.keras.HeUniform


def _attention_kernels(initializer):
    """{name: (kernel, fan_in)} of a MultiHeadAttention(8 heads, key_dim 16) on 32 features."""
    import keras
    mha = keras.layers.MultiHeadAttention(8, 16, kernel_initializer=initializer)
    mha.build((None, 10, 32), (None, 10, 32))
    kernels = {name: (_np(getattr(mha, f"_{name}_dense").kernel), 32)
               for name in ("query", "key", "value")}
    kernels["output"] = (_np(mha._output_dense.kernel), 8 * 16)  # (heads, key_dim, features)
    return kernels


@check
def attention_fans(ctx):
    """MHA kernels get Keras 3.15's fans (EinsumDense axes) with fanin's LeCun normal.

    Their std must be within sampling error of sqrt(1 / fan_in), as with stock
    "lecun_normal"; Keras 2's rank-3 fans would give 0.063 instead of 0.177.
    """
    import keras

    import fanin
    import fanin.keras
    kurtosis = truncated_kurtosis(2.0)
    stock = _attention_kernels(keras.initializers.LecunNormal(seed=0))
    for init in (fanin.LecunNormal(seed=0), fanin.LecunNormal(), fanin.keras.LecunNormal(seed=1),
                 "fanin>LecunNormal"):
        for name, (kernel, fan_in) in _attention_kernels(init).items():
            sigma, n = math.sqrt(1 / fan_in), kernel.size
            tol = std_tolerance(sigma, n, kurtosis)
            assert abs(kernel.std() - sigma) < tol, (init, name, kernel.shape, kernel.std(), sigma)
            ref = stock[name][0]
            assert ref.shape == kernel.shape and abs(ref.std() - sigma) < tol, (name, ref.std())
            # two independent estimates: the difference has sqrt(2) times the error
            assert abs(kernel.std() - ref.std()) < math.sqrt(2) * tol, (name, kernel.std(), ref.std())
    # an EinsumDense kernel gets the same fans as Keras's own initializer gives it
    dense = keras.layers.EinsumDense("ab,bcd->acd", (4, 64), kernel_initializer=fanin.LecunNormal(
        seed=2))
    kernel = _np(_built(dense, (None, 256)).kernel)  # (256, 4, 64): fan_in 256
    sigma = math.sqrt(1 / 256)
    assert abs(kernel.std() - sigma) < std_tolerance(sigma, kernel.size, kurtosis), kernel.std()
    # the layer keeps the user's initializer; the axes go to a copy for the build
    assert dense.kernel_initializer.get_config() == {"seed": 2}


@check
def overlapping_axes(ctx):
    """Axes may share receptive-field axes, as Keras 3.15 accepts (PyTorch conv layout)."""
    import keras

    import fanin
    axes = {"input_axes": [1, 2, 3], "output_axes": [0, 2, 3]}
    keras.initializers.LecunNormal(seed=1, **axes)((64, 32, 3, 3))  # Keras accepts it
    init = fanin.LecunNormal(seed=1, **axes)
    init.fans((64, 32, 3, 3))
    assert init.fans((64, 32, 3, 3)) == (32 * 3 * 3, 64 * 3 * 3)
    assert init((64, 32, 3, 3)).shape == (64, 32, 3, 3)
    assert fanin.LecunNormal.from_config(init.get_config()).get_config() == init.get_config()


@check
def global_seed(ctx):
    """keras.utils.set_random_seed makes unseeded fanin initializers reproducible."""
    import keras

    import fanin

    def model_weights():
        keras.utils.set_random_seed(1)
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(
            3, kernel_initializer=fanin.LecunNormal(), bias_initializer=fanin.RandomUniform())])
        return [_np(w) for w in model.weights]

    first, second = model_weights(), model_weights()
    if not all(a.tobytes() == b.tobytes() for a, b in zip(first, second)):
        raise AssertionError("keras.utils.set_random_seed did not fix unseeded fanin weights")
    # fanin.set_random_seed keeps working, and wins over Python's random
    fanin.set_random_seed(5)
    a = fanin.LecunNormal()((3, 3))
    fanin.set_random_seed(5)
    keras.utils.set_random_seed(99)
    same_bits(fanin.LecunNormal()((3, 3)), a)


@check
def scalar_tensor_params(ctx):
    """Parameters may be 0-d tensors of the backend; configs hold Python floats."""
    import keras

    import fanin
    t = keras.ops.convert_to_tensor
    made = [(fanin.RandomNormal(t(0.5), t(2.0), seed=0), fanin.RandomNormal(0.5, 2.0, seed=0)),
            (fanin.RandomUniform(t(-1.0), t(3.0), seed=1), fanin.RandomUniform(-1.0, 3.0, seed=1)),
            (fanin.VarianceScaling(t(2.0), seed=2), fanin.VarianceScaling(2.0, seed=2)),
            (fanin.Constant(t(1.5)), fanin.Constant(1.5)),
            (fanin.Orthogonal(t(0.5), seed=3), fanin.Orthogonal(0.5, seed=3))]
    for got, want in made:
        config = got.get_config()
        if not all(type(v) in (float, int, str, type(None)) for v in config.values()):
            raise AssertionError(config)
        assert config == want.get_config(), (config, want.get_config())
        same_bits(got((4, 4)), want((4, 4)))


@check
def integer_random_uniform(ctx):
    """RandomUniform fills integer variables with uniform integers in [minval, maxval)."""
    import keras
    import numpy as np

    import fanin
    init = fanin.RandomUniform(0, 10, seed=1)
    ref = fanin.RandomUniform(0, 10, seed=1)((2000,), "int32")
    variable = keras.Variable(initializer=init, shape=(2000,), dtype="int32", trainable=False)
    values = _np(variable)
    same_bits(values, ref)
    assert values.min() >= 0 and values.max() < 10, (values.min(), values.max())
    assert set(np.unique(values).tolist()) == set(range(10))


def _seeded_classes():
    import fanin
    return sorted(name for name, cls in fanin.registry.CLASSES.items() if _takes_seed(cls))


@check
def seed_generator_seeds(ctx):
    """seed=keras.random.SeedGenerator(s), as Keras's own initializers take it: call k
    is fanin's stream of seed s at call index k of the generator's counter."""
    import keras
    from hypothesis import given, settings
    from hypothesis import strategies as st

    import fanin
    import fanin.keras

    @settings(max_examples=15, deadline=None, derandomize=True)
    @given(name=st.sampled_from(_seeded_classes()), seed=st.integers(0, 2**31 - 1),
           calls=st.integers(1, 3), shared=st.booleans())
    def property_(name, seed, calls, shared):
        generator = keras.random.SeedGenerator(seed)
        init = getattr(fanin.keras, name)(seed=generator)
        twin = fanin.registry.CLASSES[name](seed=seed)
        for _ in range(calls):
            same_bits(init((3, 4)), twin((3, 4)))
        if shared:  # a second initializer on the same generator continues its counter
            other = getattr(fanin.keras, name)(seed=generator)
            same_bits(other((3, 4)), twin((3, 4)))
        config = init.get_config()
        assert config["seed"] == keras.saving.serialize_keras_object(generator), config
        again = getattr(fanin.keras, name).from_config(config)  # a new generator, as Keras
        same_bits(again((3, 4)), fanin.registry.CLASSES[name](seed=seed)((3, 4)))

    property_()
    # the reported example, and the config Keras's own class writes
    init = fanin.keras.VarianceScaling(seed=keras.random.SeedGenerator(1))
    theirs = keras.initializers.VarianceScaling(seed=keras.random.SeedGenerator(1))
    ours_seed, their_seed = init.get_config()["seed"], theirs.get_config()["seed"]
    assert ours_seed["class_name"] == their_seed["class_name"] == "SeedGenerator"
    assert ours_seed["config"]["seed"] == their_seed["config"]["seed"] == 1
    back = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(init))
    assert type(back) is fanin.keras.VarianceScaling, type(back)
    same_bits(back((5, 2)), fanin.VarianceScaling(seed=1)((5, 2)))
    layer = _built(keras.layers.Dense(3, kernel_initializer=fanin.keras.GlorotUniform(
        seed=keras.random.SeedGenerator(3))), (None, 4))
    same_bits(_np(layer.kernel), fanin.GlorotUniform(seed=3)((4, 3)))
    for bad in ("7", 1.5):  # other seeds are refused as before
        try:
            fanin.keras.LecunNormal(seed=bad)
        except TypeError:
            continue
        raise AssertionError(f"seed={bad!r} accepted")


@check
def doctests(ctx):
    import doctest

    import fanin.keras
    result = doctest.testmod(fanin.keras, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted >= 8, result


def _saved_model(portable=False):
    """A model whose initializers cover plain, Keras-side and converted fanin ones.

    ``portable``: only seeds Keras's own initializers accept too (0 <= seed < 2**32),
    so that the model also loads where fanin.keras is not imported.
    """
    import keras

    import fanin
    import fanin.keras
    if portable:
        inputs = keras.Input((3,))
        x = keras.layers.Dense(4, name="lecun", kernel_initializer=fanin.LecunNormal(seed=11),
                               bias_initializer=fanin.Constant(0.125))(inputs)
        outputs = keras.layers.Dense(2, name="wrapped", kernel_initializer=fanin.keras.HeUniform(
            seed=5), bias_initializer=fanin.keras.RandomNormal(0.0, 0.01, seed=3))(x)
        return keras.Model(inputs, outputs)
    inputs = keras.Input((6, 6, 2))
    x = keras.layers.Conv2D(3, 3, name="conv", kernel_initializer=fanin.HeNormal(seed=21),
                            bias_initializer=fanin.Constant(0.125))(inputs)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(5, name="lecun", activation="selu",
                           kernel_initializer=fanin.LecunNormal(seed=11))(x)
    x = keras.layers.Dense(4, name="wrapped", kernel_initializer=fanin.keras.HeUniform(seed=-5),
                           bias_initializer=fanin.keras.RandomNormal(0.0, 0.01, seed=3))(x)
    x = keras.layers.Dense(4, name="big_seed", kernel_initializer=fanin.VarianceScaling(
        2.0, "fan_avg", "uniform", seed=2**70))(x)
    x = keras.layers.Dense(4, name="orth", kernel_initializer=fanin.keras.to_keras(
        fanin.Orthogonal(gain=0.5, seed=1)))(x)
    outputs = keras.layers.Dense(2, name="unseeded_glorot",
                                 kernel_initializer=fanin.GlorotUniform())(x)
    return keras.Model(inputs, outputs)


@check
def save_model(ctx):
    import keras
    import numpy as np

    import fanin.keras  # noqa: F401  (registers fanin's classes before saving)
    for kind in ("model", "portable"):
        model = _saved_model(portable=kind == "portable")
        stem = Path(ctx["tmp"], f"{kind}_{ctx['backend']}")
        model.save(stem.with_suffix(".keras"))
        expected = {}
        for layer in model.layers:
            if hasattr(layer, "kernel_initializer"):
                expected[layer.name] = {
                    "kernel_initializer": keras.initializers.serialize(layer.kernel_initializer),
                    "bias_initializer": keras.initializers.serialize(layer.bias_initializer)}
        stem.with_suffix(".json").write_text(json.dumps(expected))
        np.savez(stem.with_suffix(".npz"),
                 **{f"w{i}": _np(w) for i, w in enumerate(model.weights)})


def _load_checks(ctx, with_import):
    import keras
    import numpy as np
    kinds = ("model", "portable") if with_import else ("portable",)
    files = sorted(p for kind in kinds for p in Path(ctx["tmp"]).glob(f"{kind}_*.keras"))
    assert files, "no saved model to load"
    for path in files:
        if with_import:
            import fanin
            import fanin.keras
        model = keras.models.load_model(path)  # no custom_objects
        expected = json.loads(path.with_suffix(".json").read_text())
        saved = np.load(path.with_suffix(".npz"))
        for i, w in enumerate(model.weights):
            same_bits(_np(w), saved[f"w{i}"])
        for name, configs in expected.items():
            layer = model.get_layer(name)
            for attr, config in configs.items():
                init = getattr(layer, attr)
                got = keras.initializers.serialize(init)
                if with_import:
                    assert got["config"] == config["config"], (path.name, name, got, config)
                    assert got["registered_name"] == config["registered_name"], (got, config)
                    if (config["registered_name"] or "").startswith("fanin>"):
                        assert isinstance(init, fanin.Initializer), (name, attr, init)
                        assert type(init).__module__ == "fanin.keras"
                else:  # documented fallback: Keras's own class of the same name and config
                    assert type(init).__module__.startswith("keras."), (name, attr, init)
                    assert type(init).__name__ == config["class_name"]
                    assert got["config"].get("seed") == config["config"].get("seed")
            if with_import and name != "unseeded_glorot":
                # re-initialization reproduces the saved kernel (call 0 of the seed)
                again = layer.kernel_initializer.clone()
                same_bits(again(tuple(layer.kernel.shape), layer.kernel.dtype),
                           _np(layer.kernel))
        if with_import:
            cloned = keras.models.clone_model(model)
            for layer in cloned.layers:
                if layer.name in expected and layer.name != "unseeded_glorot":
                    same_bits(_np(layer.kernel), _np(model.get_layer(layer.name).kernel))


def load_without_import(ctx):
    _load_checks(ctx, with_import=False)
    assert "fanin" not in sys.modules and "fanin.keras" not in sys.modules


def load_with_import(ctx):
    _load_checks(ctx, with_import=True)


LOADS = {"load_without_import": load_without_import, "load_with_import": load_with_import}


def _child(mode, tmp):
    backend = os.environ["KERAS_BACKEND"]
    if mode == "load":  # a fresh process loads without importing fanin, then with it
        run_checks(LOADS, {"backend": backend, "tmp": tmp},
                   Path(tmp, f"results_{mode}_{backend}.json"))
        return
    import fanin
    # fanin initializers created before Keras was imported: plain fanin classes
    ctx = {"backend": backend, "tmp": tmp,
           "early": {name: cls(seed=7) if _takes_seed(cls) else cls()
                     for name, cls in fanin.registry.CLASSES.items()},
           "early_lecun": [fanin.LecunNormal(seed=7) for _ in range(4)],  # one per use
           "early_unseeded": fanin.LecunNormal()}
    run_checks(dict(CHECKS, save_model=save_model), ctx,
               Path(tmp, f"results_{mode}_{backend}.json"))


# --------------------------------------------------------------------------- #
# The pytest side
# --------------------------------------------------------------------------- #

def _spawn(mode, backend, tmp):
    proc = spawn([__file__, mode, tmp], tmp, KERAS_BACKEND=backend,
                 XLA_FLAGS="--xla_force_host_platform_device_count=2")
    return proc, Path(tmp, f"results_{mode}_{backend}.json")


@pytest.fixture(scope="module")
def keras_results(tmp_path_factory, request):
    """Run all checks on every backend selected, then load the saved models in fresh processes."""
    tmp = tmp_path_factory.mktemp("keras")
    backends = [b for b in BACKENDS if b != "tensorflow" or _slow_selected(request)]
    results = collect({("checks", b): _spawn("checks", b, tmp) for b in backends})
    results.update(collect({("load", b): _spawn("load", b, tmp) for b in backends}))
    return results


def _slow_selected(request):
    """Whether slow tests are selected (``-m "not slow"`` deselects TensorFlow)."""
    markexpr = request.config.getoption("markexpr", "") or ""
    return "not slow" not in markexpr


@pytest.mark.parametrize("backend", BACKEND_PARAMS)
@pytest.mark.parametrize("name", [*CHECKS, "save_model"])
def test_keras(keras_results, backend, name):
    outcome(keras_results, ("checks", backend), name)


@pytest.mark.parametrize("backend", BACKEND_PARAMS)
@pytest.mark.parametrize("name", [*LOADS])
def test_load_in_fresh_process(keras_results, backend, name):
    """Loads every backend's saved model (so also across backends), no custom_objects."""
    outcome(keras_results, ("load", backend), name)


_SAVE = """
import sys
{imports}
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(
    3, kernel_initializer=fanin.LecunNormal(seed=1), bias_initializer=fanin.Constant(0.5))])
model.save(sys.argv[1])
"""

_LOAD = """
import sys
{imports}
layer = keras.models.load_model(sys.argv[1]).layers[0]
assert type(layer.kernel_initializer) is fanin.keras.LecunNormal, type(layer.kernel_initializer)
assert layer.kernel_initializer.get_config() == {"seed": 1}
assert type(layer.bias_initializer) is fanin.keras.Constant, type(layer.bias_initializer)
"""


def _run_all(scripts, tmp):
    procs = {name: spawn(["-c", code, *args], tmp, KERAS_BACKEND=BACKENDS[0])
             for name, (code, args) in scripts.items()}
    for name, proc in procs.items():
        output, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0, f"{name}:\n{output[-3000:]}"


@pytest.mark.slow
def test_registration_without_ceremony(tmp_path):
    """Plain fanin initializers save with fanin's names in either import order, no
    ``import fanin.keras``; both ``import keras, fanin`` and ``import fanin, keras``
    load them back as fanin's classes (fanin registers itself when Keras arrives)."""
    orders = {"keras_first": "import keras, fanin", "fanin_first": "import fanin, keras"}
    _run_all({order: (_SAVE.format(imports=imports), [tmp_path / f"{order}.keras", order])
              for order, imports in orders.items()}, tmp_path)
    for order in orders:
        with zipfile.ZipFile(tmp_path / f"{order}.keras") as archive:
            config = json.loads(archive.read("config.json"))
        layer = config["config"]["layers"][-1]["config"]
        for key in ("kernel_initializer", "bias_initializer"):
            assert layer[key]["registered_name"].startswith("fanin>"), (order, layer[key])
    # and load back in either import order, with no fanin initializer created first
    _run_all({f"load_{order}_{load}": (_LOAD.replace("{imports}", imports),
                                       [tmp_path / f"{order}.keras"])
              for order in orders for load, imports in orders.items()}, tmp_path)


def test_import_fanin_does_not_import_keras():
    code = "import sys, fanin; assert 'keras' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=str(ROOT),
                   env=dict(os.environ, FANIN_NO_KERNEL_WARNING="1"))


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    _child(sys.argv[1], sys.argv[2])
