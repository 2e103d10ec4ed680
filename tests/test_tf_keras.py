"""fanin in tf_keras (legacy Keras 2, what ``tf.keras`` is with TF_USE_LEGACY_KERAS=1).

Every check runs in a child process (this file run as a script) with real
TensorFlow on two logical CPU devices (for DTensor); a second fresh process
loads the models the first saved (``.keras``, SavedModel, ``.h5``). The pytest
process never imports TensorFlow. All tests are slow (TensorFlow starts in
seconds, not milliseconds).
"""

from __future__ import annotations

import importlib.util
import sys
import warnings
from pathlib import Path

import pytest

if __name__ != "__main__":
    if importlib.util.find_spec("tf_keras") is None or importlib.util.find_spec(
            "tensorflow") is None:
        pytest.skip("tensorflow and tf_keras are not installed", allow_module_level=True)

from _checks import (ROOT, collect, outcome,  # noqa: E402
                     registry, run_checks, same_bits, spawn, std_tolerance, truncated_kurtosis)

pytestmark = pytest.mark.slow

check, CHECKS = registry()
load_check, LOADS = registry()

# --------------------------------------------------------------------------- #
# Checks, run in the child process
# --------------------------------------------------------------------------- #


def _built(layer, input_shape):
    layer.build(input_shape)
    return layer


def _takes_seed(cls):
    import inspect
    return "seed" in inspect.signature(cls).parameters


def _class_names():
    import fanin
    return list(fanin.registry.CLASSES)


def _make(cls, seed=7):
    return cls(seed=seed) if _takes_seed(cls) else cls()


@check
def reference_page_examples(ctx):
    """The page's two examples, verbatim: tf_keras for tf.keras, fanin for tf.keras.initializers."""
    import fanin
    import tf_keras
    # Standalone usage:
    initializer = fanin.LecunNormal()
    values = initializer(shape=(2, 2))
    # Usage in a Keras layer:
    initializer = fanin.LecunNormal()
    layer = tf_keras.layers.Dense(3, kernel_initializer=initializer)
    assert values.shape == (2, 2)
    assert isinstance(initializer, tf_keras.initializers.Initializer)
    assert tuple(_built(layer, (None, 5)).kernel.shape) == (5, 3)
    assert layer.kernel_initializer is initializer


@check
def classes_are_tf_keras_initializers(ctx):
    import fanin
    import fanin.tf_keras
    import tf_keras
    for name in _class_names():
        init = _make(getattr(fanin, name))
        assert type(init) is getattr(fanin.tf_keras, name), (name, type(init))
        assert isinstance(init, getattr(fanin, name))
        assert isinstance(init, tf_keras.initializers.Initializer)
        assert tf_keras.initializers.get(init) is init
        early = ctx["early"][name]  # created before tf_keras was imported
        assert type(early) is getattr(fanin, name), (name, type(early))
        same_bits(init((3, 3)), early((3, 3)))


@check
def serialization(ctx):
    import fanin
    import fanin.tf_keras
    import tf_keras
    for name in _class_names():
        init = _make(getattr(fanin, name), seed=3)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # "may lead to improper serialization"
            config = tf_keras.initializers.serialize(init)
        assert config["registered_name"] == f"fanin>{name}", config
        assert config["config"] == init.get_config(), config
        again = tf_keras.initializers.deserialize(config)
        assert type(again) is getattr(fanin.tf_keras, name) and \
            again.get_config() == init.get_config(), (name, again)
        assert tf_keras.initializers.get(config).get_config() == init.get_config()
        again = fanin.deserialize({"class_name": name, "config": config["config"]})
        assert again.get_config() == init.get_config()
    assert tf_keras.saving.get_registered_object("fanin>LecunNormal") is fanin.tf_keras.LecunNormal
    # a layer config round trip starts the initializer again at call 0
    layer = _built(tf_keras.layers.Dense(3, kernel_initializer=fanin.LecunNormal(seed=6)),
                   (None, 4))
    clone = tf_keras.layers.Dense.from_config(layer.get_config())
    assert type(clone.kernel_initializer) is fanin.tf_keras.LecunNormal
    same_bits(_built(clone, (None, 4)).kernel.numpy(), layer.kernel.numpy())


@check
def keras3_layers_too(ctx):
    """TensorFlow loads Keras 3 as well: the same objects are Keras 3 initializers.

    A Keras 3 MultiHeadAttention in this process gives them its fans (std within
    sampling error of sqrt(1 / 32), see tests/_checks.py), and Keras 3 serializes
    them by fanin's name.
    """
    import math
    import sys

    import fanin
    import tf_keras
    keras = sys.modules["keras"]  # imported by TensorFlow
    init = fanin.LecunNormal(seed=0)
    assert isinstance(init, tf_keras.initializers.Initializer)
    assert isinstance(init, keras.initializers.VarianceScaling)
    config = keras.saving.serialize_keras_object(init)
    assert config["registered_name"] == "fanin>LecunNormal", config
    assert type(keras.saving.deserialize_keras_object(config)) is type(init)
    mha = keras.layers.MultiHeadAttention(8, 16, kernel_initializer=init)
    mha.build((None, 10, 32), (None, 10, 32))
    kernel = keras.ops.convert_to_numpy(mha.query_dense.kernel)
    sigma = math.sqrt(1 / 32)
    assert abs(kernel.std() - sigma) < std_tolerance(sigma, kernel.size, truncated_kurtosis()), \
        kernel.std()


@check
def layer_values_and_dtypes(ctx):
    import fanin
    import tf_keras
    layer = _built(tf_keras.layers.Conv2D(4, 3, kernel_initializer=fanin.HeNormal(seed=9),
                                          bias_initializer=fanin.Constant(0.5)), (None, 8, 8, 2))
    same_bits(layer.kernel.numpy(), fanin.HeNormal(seed=9)((3, 3, 2, 4)))
    same_bits(layer.bias.numpy(), fanin.Constant(0.5)((4,)))
    for policy, var_dtype in (("float32", "float32"), ("float16", "float16"),
                              ("float64", "float64"), ("mixed_float16", "float32"),
                              ("mixed_bfloat16", "float32"), ("bfloat16", "bfloat16")):
        layer = _built(tf_keras.layers.Dense(3, kernel_initializer=fanin.LecunNormal(seed=8),
                                             dtype=policy), (None, 4))
        assert layer.kernel.dtype.name == var_dtype, (policy, layer.kernel.dtype)
        same_bits(layer.kernel.numpy(), fanin.LecunNormal(seed=8)((4, 3), var_dtype))


@check
def partitions(ctx):
    """tf_keras's partition keywords pass through: blocks of the full tensor."""
    import fanin
    init = fanin.LecunNormal(seed=3)
    block = init((6, 4), partition_shape=(3, 4), partition_offset=(3, 0))
    same_bits(block, fanin.LecunNormal(seed=3)((6, 4))[3:])


def _dtensor_mesh():
    from tensorflow.experimental import dtensor
    return dtensor, dtensor.create_mesh([("x", 2)], devices=["CPU:0", "CPU:1"])


@check
def dtensor_layout(ctx):
    """A DTensor layout gives the unsharded tensor's values, one block per device."""
    import numpy as np

    import fanin
    dtensor, mesh = _dtensor_mesh()
    cases = [(fanin.LecunNormal(seed=4), (4, 6), ["unsharded", "x"]),
             (fanin.RandomUniform(seed=5), (8, 3), ["x", "unsharded"]),
             (fanin.Zeros(), (6,), ["x"]),
             (fanin.GlorotUniform(seed=6), (4, 6), ["unsharded", "unsharded"])]
    for init, shape, specs in cases:
        layout = dtensor.Layout(specs, mesh)
        value = init(shape, layout=layout)
        full = fanin.get(fanin.serialize(init))(shape)  # call 0 of a fresh copy
        parts = [p.numpy() for p in dtensor.unpack(value)]
        if "x" in specs:
            axis = specs.index("x")
            same_bits(np.concatenate(parts, axis=axis), full)
        else:
            for part in parts:
                same_bits(part, full)
        assert dtensor.fetch_layout(value) == layout
    try:
        fanin.LecunNormal(seed=1)((5, 2), layout=dtensor.Layout(["x", "unsharded"], mesh))
    except ValueError as err:
        assert "unequal" in str(err), err
    else:
        raise AssertionError("an uneven split did not raise")


@check
def dtensor_layout_map(ctx):
    """tf_keras's LayoutMap passes layout= to fanin's initializers; values unchanged."""
    import fanin
    import tf_keras
    dtensor, mesh = _dtensor_mesh()
    layout_map = tf_keras.dtensor.experimental.LayoutMap(mesh=mesh)
    layout_map["dense.*kernel"] = dtensor.Layout(["unsharded", "x"], mesh)
    layout_map["dense.*bias"] = dtensor.Layout(["x"], mesh)
    tf_keras.utils.set_random_seed(0)  # tf_keras insists under DTensor
    with layout_map.scope():
        model = tf_keras.Sequential([tf_keras.layers.Dense(
            4, kernel_initializer=fanin.LecunNormal(seed=2),
            bias_initializer=fanin.Constant(0.25), name="dense")])
        model.build((None, 6))
    kernel = model.layers[0].kernel
    assert dtensor.fetch_layout(kernel).sharding_specs == ["unsharded", "x"]
    full = dtensor.relayout(kernel, dtensor.Layout.replicated(mesh, 2))
    same_bits(dtensor.unpack(full)[0].numpy(), fanin.LecunNormal(seed=2)((6, 4)))


@check
def train_one_step(ctx):
    import numpy as np

    import fanin
    import tf_keras
    model = tf_keras.Sequential([
        tf_keras.Input((4,)),
        tf_keras.layers.Dense(8, activation="selu", kernel_initializer=fanin.LecunNormal(seed=0)),
        tf_keras.layers.Dense(1, kernel_initializer=fanin.LecunNormal(seed=1))])
    before = model.layers[0].kernel.numpy().copy()
    model.compile(optimizer=tf_keras.optimizers.SGD(0.1), loss="mse")
    x = fanin.RandomNormal(stddev=1.0, seed=10)((16, 4))
    history = model.fit(x, x.sum(axis=1, keepdims=True), batch_size=16, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert not np.array_equal(model.layers[0].kernel.numpy(), before)


def _unseeded_weights(seeder):
    import fanin
    import tf_keras
    seeder(1)
    model = tf_keras.Sequential([tf_keras.Input((4,)), tf_keras.layers.Dense(
        3, kernel_initializer=fanin.LecunNormal(), bias_initializer=fanin.RandomUniform()),
        tf_keras.layers.Dense(2, kernel_initializer="lecun_normal")])
    return [w.numpy().tobytes() for w in model.weights]


@check
def global_seed(ctx):
    """Unseeded fanin initializers follow tf_keras's global seeding, as tf_keras's own do."""
    import tensorflow as tf
    import tf_keras
    first = _unseeded_weights(tf_keras.utils.set_random_seed)
    second = _unseeded_weights(tf_keras.utils.set_random_seed)
    assert first[2] == second[2], "tf_keras's own lecun_normal is not reproducible"
    if first[:2] != second[:2]:
        raise AssertionError("tf_keras.utils.set_random_seed did not fix fanin's weights")
    # tf.random.set_seed alone fixes neither tf_keras's own unseeded initializers nor fanin's
    # (tf_keras draws their seeds from Python's random, which it does not seed)
    first = _unseeded_weights(tf.random.set_seed)
    second = _unseeded_weights(tf.random.set_seed)
    assert first[2] != second[2] and first[0] != second[0]


@check
def scalar_tensor_params(ctx):
    """TF scalar tensors as parameters; configs hold Python floats."""
    import tensorflow as tf

    import fanin
    got = fanin.RandomNormal(tf.constant(0.5), tf.constant(2.0, tf.float64), seed=0)
    scaled = fanin.VarianceScaling(tf.constant(2.0), seed=1)
    assert got.get_config() == {"mean": 0.5, "stddev": 2.0, "seed": 0}, got.get_config()
    assert type(got.get_config()["stddev"]) is float
    same_bits(got((3, 3)), fanin.RandomNormal(0.5, 2.0, seed=0)((3, 3)))
    assert scaled.get_config()["scale"] == 2.0


@check
def integer_random_uniform(ctx):
    """An integer weight from RandomUniform: uniform integers in [minval, maxval)."""
    import numpy as np
    import tf_keras

    import fanin
    layer = tf_keras.layers.Layer()
    ref = fanin.RandomUniform(-3, 4, seed=1)((500,), "int32")
    weight = layer.add_weight("w", shape=(500,), dtype="int32", trainable=False,
                              initializer=fanin.RandomUniform(-3, 4, seed=1))
    same_bits(weight.numpy(), ref)
    assert set(np.unique(ref).tolist()) == set(range(-3, 4))


@check
def doctests(ctx):
    import doctest

    import fanin.tf_keras
    result = doctest.testmod(fanin.tf_keras, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted >= 6, result


def _saved_model():
    import fanin
    import fanin.tf_keras
    import tf_keras
    inputs = tf_keras.Input((6, 6, 2))
    x = tf_keras.layers.Conv2D(3, 3, name="conv", kernel_initializer=fanin.HeNormal(seed=21),
                               bias_initializer=fanin.Constant(0.125))(inputs)
    x = tf_keras.layers.Flatten()(x)
    x = tf_keras.layers.Dense(5, name="lecun", kernel_initializer=fanin.LecunNormal(seed=11),
                              bias_initializer=fanin.RandomNormal(0.0, 0.01, seed=3))(x)
    x = tf_keras.layers.Dense(4, name="big_seed", kernel_initializer=fanin.VarianceScaling(
        2.0, "fan_avg", "uniform", seed=2**70))(x)
    x = tf_keras.layers.Dense(4, name="orth", kernel_initializer=fanin.Orthogonal(0.5, seed=1))(x)
    outputs = tf_keras.layers.Dense(2, name="unseeded", kernel_initializer=fanin.GlorotUniform())(x)
    return tf_keras.Model(inputs, outputs)


FORMATS = {"keras": "model.keras", "savedmodel": "model_savedmodel", "h5": "model.h5"}


@check
def save_model(ctx):
    import json

    import numpy as np
    import tf_keras

    import fanin
    model = _saved_model()
    expected = {layer.name: {attr: tf_keras.initializers.serialize(getattr(layer, attr))
                             for attr in ("kernel_initializer", "bias_initializer")}
                for layer in model.layers if hasattr(layer, "kernel_initializer")}
    for kind, name in FORMATS.items():
        model.save(Path(ctx["tmp"], name), **({"save_format": "tf"} if kind == "savedmodel" else {}))
    Path(ctx["tmp"], "expected.json").write_text(json.dumps(expected))
    # seeds tf_keras's own initializers accept too, for the fallback without custom_objects
    portable = tf_keras.Sequential([tf_keras.Input((3,)), tf_keras.layers.Dense(
        2, name="lecun", kernel_initializer=fanin.LecunNormal(seed=11))])
    portable.save(Path(ctx["tmp"], "portable.h5"))
    np.savez(Path(ctx["tmp"], "weights.npz"), *[w.numpy() for w in model.weights])


def _check_loaded(ctx, kind, **load_kwargs):
    import json

    import numpy as np
    import tf_keras

    import fanin
    import fanin.tf_keras
    model = tf_keras.models.load_model(Path(ctx["tmp"], FORMATS[kind]), **load_kwargs)
    saved = np.load(Path(ctx["tmp"], "weights.npz"))
    for i, w in enumerate(model.weights):
        same_bits(w.numpy(), saved[f"arr_{i}"])
    for name, configs in json.loads(Path(ctx["tmp"], "expected.json").read_text()).items():
        layer = model.get_layer(name)
        for attr, config in configs.items():
            init = getattr(layer, attr)
            assert init.get_config() == config["config"], (kind, name, init.get_config(), config)
            if not (config.get("registered_name") or "").startswith("fanin>"):
                # a layer's default initializer, tf_keras's own; .h5 names classes by their
                # bare names, so custom_objects() makes them fanin's (documented)
                module = "fanin." if kind == "h5" else "tf_keras."
                assert type(init).__module__.startswith(module), (kind, name, attr, init)
                continue
            assert type(init).__module__ == "fanin.tf_keras", (kind, name, attr, type(init))
            assert isinstance(init, getattr(fanin, config["class_name"])), (kind, name, init)
    # re-initialization (clone_model: call 0 of each seed) reproduces the saved weights
    cloned = tf_keras.models.clone_model(model)
    for layer in cloned.layers:
        if hasattr(layer, "kernel") and layer.name != "unseeded":
            same_bits(layer.kernel.numpy(), model.get_layer(layer.name).kernel.numpy())


@load_check
def load_keras(ctx):
    _check_loaded(ctx, "keras")


@load_check
def load_savedmodel(ctx):
    _check_loaded(ctx, "savedmodel")


@load_check
def load_h5_with_custom_objects(ctx):
    import fanin.tf_keras
    _check_loaded(ctx, "h5", custom_objects=fanin.tf_keras.custom_objects())


@load_check
def load_h5_without_custom_objects(ctx):
    """Documented: .h5 without custom_objects() gives tf_keras's own classes."""
    import tf_keras
    model = tf_keras.models.load_model(Path(ctx["tmp"], "portable.h5"))
    init = model.get_layer("lecun").kernel_initializer
    assert type(init).__module__.startswith("tf_keras."), type(init)
    assert init.get_config()["seed"] == 11


def _child(mode, tmp):
    import fanin  # before TensorFlow: these are plain fanin objects
    early = {name: _make(getattr(fanin, name)) for name in _class_names()}
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import tf_keras  # noqa: F401  (then `import fanin` has run first: the other order)
    run_checks(CHECKS if mode == "checks" else LOADS, {"tmp": tmp, "early": early},
               Path(tmp, f"results_{mode}.json"))


# --------------------------------------------------------------------------- #
# The pytest side
# --------------------------------------------------------------------------- #

def _spawn(mode, tmp):
    proc = spawn([__file__, mode, tmp], tmp, KERAS_BACKEND="tensorflow")
    return proc, Path(tmp, f"results_{mode}.json")


@pytest.fixture(scope="module")
def tf_keras_results(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tf_keras")
    results = collect({"checks": _spawn("checks", tmp)})
    results.update(collect({"load": _spawn("load", tmp)}))
    return results


@pytest.mark.parametrize("name", [*CHECKS])
def test_tf_keras(tf_keras_results, name):
    outcome(tf_keras_results, "checks", name)


@pytest.mark.parametrize("name", [*LOADS])
def test_load_in_fresh_process(tf_keras_results, name):
    outcome(tf_keras_results, "load", name)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    _child(sys.argv[1], sys.argv[2])
