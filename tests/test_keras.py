"""fanin in Keras 3: layers, values, dtype policies, training, save/load, conversions.

Keras fixes its backend per process, so every check runs in a child process
(this file run as a script) with ``KERAS_BACKEND`` set, one process per backend
running all checks, then fresh processes that load the saved models. The pytest
process itself never imports Keras. Backends run when installed: jax, torch
(numpy always, where Keras is installed).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import traceback
from pathlib import Path

import pytest

if __name__ != "__main__":
    if importlib.util.find_spec("keras") is None:
        pytest.skip("keras is not installed", allow_module_level=True)

ROOT = Path(__file__).resolve().parent.parent
BACKENDS = [b for b, mod in (("jax", "jax"), ("torch", "torch"), ("numpy", "numpy"))
            if importlib.util.find_spec(mod) is not None]
CHILD_TIMEOUT = 240

# --------------------------------------------------------------------------- #
# Checks, run in the child process (keras imported there only)
# --------------------------------------------------------------------------- #

CHECKS = {}


def check(fn):
    CHECKS[fn.__name__] = fn
    return fn


class Skip(Exception):
    """A check that does not apply to this backend."""


def _np(x):
    import keras
    return keras.ops.convert_to_numpy(x)


def _same_bits(a, b):
    import numpy as np
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape, (a.shape, b.shape)
    assert a.dtype == b.dtype, (a.dtype, b.dtype)
    assert a.tobytes() == b.tobytes(), "values differ"


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
    _same_bits(_np(layer.kernel), fanin.LecunNormal(seed=5)((7, 3)))
    _same_bits(_np(layer.bias), np.zeros(3, np.float32))
    assert isinstance(layer.kernel_initializer, fanin.LecunNormal)


@check
def conv2d_values(ctx):
    import keras

    import fanin
    import fanin.keras
    layer = _built(keras.layers.Conv2D(4, 3, kernel_initializer=fanin.LecunNormal(seed=9),
                                       bias_initializer=fanin.Constant(0.5)),
                   (None, 8, 8, 2))
    _same_bits(_np(layer.kernel), fanin.LecunNormal(seed=9)((3, 3, 2, 4)))
    _same_bits(_np(layer.bias), fanin.Constant(0.5)((4,)))
    layer = _built(keras.layers.Conv2D(6, (2, 3), kernel_initializer=fanin.keras.HeNormal(seed=1)),
                   (None, 5, 5, 3))
    _same_bits(_np(layer.kernel), fanin.HeNormal(seed=1)((2, 3, 3, 6)))


@check
def embedding_values(ctx):
    import keras

    import fanin
    layer = _built(keras.layers.Embedding(10, 4, embeddings_initializer=fanin.RandomUniform(
        -1.0, 1.0, seed=2)), (None, 6))
    _same_bits(_np(layer.embeddings), fanin.RandomUniform(-1.0, 1.0, seed=2)((10, 4)))


@check
def call_index_and_seeds(ctx):
    import keras

    import fanin
    # one instance shared by two layers: Keras calls it once per weight, in order
    shared = fanin.LecunNormal(seed=3)
    a = _built(keras.layers.Dense(3, kernel_initializer=shared), (None, 4))
    b = _built(keras.layers.Dense(5, kernel_initializer=shared), (None, 3))
    ref = fanin.LecunNormal(seed=3)
    _same_bits(_np(a.kernel), ref((4, 3)))
    _same_bits(_np(b.kernel), ref((3, 5)))
    # two instances with the same seed: the same kernel
    c = _built(keras.layers.Dense(3, kernel_initializer=fanin.LecunNormal(seed=3)), (None, 4))
    d = _built(keras.layers.Dense(3, kernel_initializer=fanin.LecunNormal(seed=3)), (None, 4))
    _same_bits(_np(c.kernel), _np(d.kernel))
    _same_bits(_np(c.kernel), _np(a.kernel))


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
            _same_bits(_np(layer.kernel), make(**kwargs)((3, 3)))
            if not matrix_only:
                _same_bits(_np(layer.bias), make(**kwargs)((3,)))


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
            _same_bits(kernel, ref)
        if policy != "float64":  # a forward pass in the compute dtype
            out = layer(keras.ops.ones((2, 4), dtype=layer.compute_dtype))
            assert keras.backend.standardize_dtype(out.dtype) == layer.compute_dtype
    # a bfloat16 global policy
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        layer = _built(keras.layers.Dense(2, kernel_initializer=fanin.HeNormal(seed=1)), (None, 2))
        _same_bits(_np(layer.kernel), fanin.HeNormal(seed=1)((2, 2)))
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
    _same_bits(before, fanin.LecunNormal(seed=0)((4, 8)))
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    x = fanin.RandomNormal(stddev=1.0, seed=10)((16, 4))
    y = x.sum(axis=1, keepdims=True)
    history = model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    loss = history.history["loss"][0]
    assert np.isfinite(loss), loss
    assert not np.array_equal(_np(model.layers[0].kernel), before)


@check
def jax_model_parallel(ctx):
    if ctx["backend"] != "jax":
        raise Skip("keras.distribution layouts are tested on the jax backend")
    import jax
    import keras

    import fanin
    import fanin.keras
    devices = jax.devices()
    assert len(devices) >= 2, devices  # the parent sets two host devices
    mesh = keras.distribution.DeviceMesh((2,), ["model"], devices[:2])
    layout_map = keras.distribution.LayoutMap(mesh)
    layout_map[".*kernel"] = keras.distribution.TensorLayout([None, "model"])
    keras.distribution.set_distribution(keras.distribution.ModelParallel(layout_map=layout_map))
    try:
        for init in (fanin.LecunNormal(seed=3), fanin.keras.LecunNormal(seed=3)):
            layer = _built(keras.layers.Dense(8, kernel_initializer=init), (None, 4))
            assert len(layer.kernel.value.sharding.device_set) == 2, layer.kernel.value.sharding
            _same_bits(_np(layer.kernel), fanin.LecunNormal(seed=3)((4, 8)))
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
    _same_bits(_np(_built(clone, (None, 4)).kernel), _np(layer.kernel))
    # clone() (Keras API) and clone_model re-initialize to the same values
    assert clone.kernel_initializer.clone().get_config() == {"seed": 6}
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(
        3, kernel_initializer=fanin.GlorotUniform(seed=2))])
    cloned = keras.models.clone_model(model)
    _same_bits(_np(cloned.layers[0].kernel), _np(model.layers[0].kernel))


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
        assert type(got) is getattr(fanin, name), (name, type(got))
        assert got.get_config().get("seed") == kwargs.get("seed"), (name, got)
        assert type(from_keras(kcls)) is getattr(fanin, name)
        assert type(from_keras(keras.initializers.serialize(kcls(**kwargs)))) is getattr(fanin, name)
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
    assert type(from_keras("lecun_normal")) is fanin.LecunNormal
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
    for b in (3, lambda shape, dtype=None: None, object()):
        try:
            from_keras(b)
        except TypeError:
            pass
        else:
            raise AssertionError(f"from_keras({b!r}) did not raise TypeError")


@check
def to_keras_conversions(ctx):
    import copy

    import keras

    import fanin
    import fanin.keras
    from fanin.keras import to_keras
    for name in fanin.keras.CLASSES:
        if name == "Initializer":
            continue
        cls = getattr(fanin, name)
        init = cls(seed=7) if _takes_seed(cls) else cls()
        k = to_keras(init)
        assert isinstance(k, keras.initializers.Initializer) and isinstance(k, cls), name
        assert type(k) is getattr(fanin.keras, name)
        assert k.get_config() == init.get_config()
        assert keras.initializers.get(k) is k
        _same_bits(k((3, 3)), copy.copy(init)((3, 3)))
    # an unseeded instance keeps the seed it drew: the same values
    init = fanin.LecunNormal()
    k = to_keras(init)
    _same_bits(k((5, 4)), init((5, 4)))
    # starts at call 0, like copy.copy
    init = fanin.LecunNormal(seed=1)
    init((2, 2))
    _same_bits(to_keras(init)((2, 2)), fanin.LecunNormal(seed=1)((2, 2)))
    kk = keras.initializers.LecunNormal(seed=1)
    assert to_keras(kk) is kk
    assert type(to_keras("he_uniform")) is fanin.keras.HeUniform
    assert type(to_keras({"class_name": "LecunNormal", "config": {"seed": 2}})) is \
        fanin.keras.LecunNormal
    assert type(to_keras(fanin.Orthogonal)) is fanin.keras.Orthogonal

    class Mine(fanin.LecunNormal):
        pass
    mine = Mine(seed=1)
    assert to_keras(mine) is mine
    try:
        to_keras(3)
    except TypeError:
        pass
    else:
        raise AssertionError("to_keras(3) did not raise")


@check
def doctests(ctx):
    import doctest

    import fanin.keras
    result = doctest.testmod(fanin.keras, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted >= 15, result


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
            _same_bits(_np(w), saved[f"w{i}"])
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
                _same_bits(again(tuple(layer.kernel.shape), layer.kernel.dtype),
                           _np(layer.kernel))
        if with_import:
            cloned = keras.models.clone_model(model)
            for layer in cloned.layers:
                if layer.name in expected and layer.name != "unseeded_glorot":
                    _same_bits(_np(layer.kernel), _np(model.get_layer(layer.name).kernel))


def load_without_import(ctx):
    _load_checks(ctx, with_import=False)
    assert "fanin" not in sys.modules and "fanin.keras" not in sys.modules


def load_with_import(ctx):
    _load_checks(ctx, with_import=True)


LOADS = {"load_without_import": load_without_import, "load_with_import": load_with_import}


def _child(mode, tmp):
    backend = os.environ["KERAS_BACKEND"]
    ctx = {"backend": backend, "tmp": tmp}
    # "load": a fresh process loads without importing fanin, then imports it and loads
    todo = dict(CHECKS, save_model=save_model) if mode == "checks" else LOADS
    results = {}
    for name, fn in todo.items():
        try:
            fn(ctx)
            results[name] = "ok"
        except Skip as err:
            results[name] = f"skip: {err}"
        except Exception:  # noqa: BLE001 - reported to the parent test
            results[name] = traceback.format_exc()
    Path(tmp, f"results_{mode}_{backend}.json").write_text(json.dumps(results))


# --------------------------------------------------------------------------- #
# The pytest side
# --------------------------------------------------------------------------- #

def _spawn(mode, backend, tmp):
    env = dict(os.environ, KERAS_BACKEND=backend, FANIN_NO_KERNEL_WARNING="1",
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT),
                                                        os.environ.get("PYTHONPATH")])),
               TF_CPP_MIN_LOG_LEVEL="3", JAX_PLATFORMS="cpu", CUDA_VISIBLE_DEVICES="",
               XLA_FLAGS="--xla_force_host_platform_device_count=2")
    return subprocess.Popen([sys.executable, "-W", "ignore", __file__, mode, str(tmp)],
                            env=env, cwd=str(tmp), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def _collect(procs, tmp):
    results = {}
    for (mode, backend), proc in procs.items():
        try:
            output, _ = proc.communicate(timeout=CHILD_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            output, _ = proc.communicate()
        path = Path(tmp, f"results_{mode}_{backend}.json")
        results[mode, backend] = (json.loads(path.read_text()) if path.exists()
                                  else {"__crash__": output[-4000:]})
    return results


@pytest.fixture(scope="module")
def keras_results(tmp_path_factory):
    """Run all checks on every backend, then load the saved models in fresh processes."""
    tmp = tmp_path_factory.mktemp("keras")
    results = _collect({("checks", b): _spawn("checks", b, tmp) for b in BACKENDS}, tmp)
    results.update(_collect({("load", b): _spawn("load", b, tmp) for b in BACKENDS}, tmp))
    return results


def _outcome(results, mode, backend, name):
    got = results[mode, backend]
    if "__crash__" in got:
        pytest.fail(f"the {backend} child process crashed:\n{got['__crash__']}")
    status = got.get(name, f"check {name} did not run")
    if status.startswith("skip: "):
        pytest.skip(status[6:])
    assert status == "ok", f"[{backend}] {name}:\n{status}"


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", [*CHECKS, "save_model"])
def test_keras(keras_results, backend, name):
    _outcome(keras_results, "checks", backend, name)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", [*LOADS])
def test_load_in_fresh_process(keras_results, backend, name):
    """Loads every backend's saved model (so also across backends), no custom_objects."""
    _outcome(keras_results, "load", backend, name)


def test_import_fanin_does_not_import_keras():
    code = "import sys, fanin; assert 'keras' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=str(ROOT),
                   env=dict(os.environ, FANIN_NO_KERNEL_WARNING="1"))


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    _child(sys.argv[1], sys.argv[2])
