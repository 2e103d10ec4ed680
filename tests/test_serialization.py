"""get / serialize / deserialize: both Keras formats; configs never import or run code."""

import json
import sys

import numpy as np
import pytest

import fanin


@pytest.mark.parametrize("init", [
    fanin.LecunNormal(seed=3), fanin.VarianceScaling(0.5, "fan_avg", "uniform", seed=2),
    fanin.RandomNormal(0.0, 0.1), fanin.Constant(2.5), fanin.Zeros(), fanin.Orthogonal(1.5, seed=1),
    fanin.HeNormal(seed=1, input_axes=[1], output_axes=[0])], ids=repr)
@pytest.mark.parametrize("fmt", ["keras2", "keras3"])
def test_round_trip(init, fmt):
    config = fanin.serialize(init, fmt)
    json.dumps(config)
    again = fanin.deserialize(config)
    assert type(again) is type(init) and again.get_config() == init.get_config()
    assert fanin.get(json.dumps(config)).get_config() == init.get_config()


def test_formats():
    assert fanin.serialize(fanin.LecunNormal(seed=1)) == {
        "class_name": "LecunNormal", "config": {"seed": 1}}
    assert fanin.serialize(fanin.LecunNormal(seed=1), "keras3") == {
        "module": "keras.initializers", "class_name": "LecunNormal",
        "config": {"seed": 1}, "registered_name": None}
    with pytest.raises(ValueError, match="format"):
        fanin.serialize(fanin.LecunNormal(), "yaml")
    with pytest.raises(TypeError):
        fanin.serialize("lecun_normal")


@pytest.mark.parametrize("name,cls", [
    ("lecun_normal", fanin.LecunNormal), ("LecunNormal", fanin.LecunNormal),
    ("normal", fanin.RandomNormal), ("uniform", fanin.RandomUniform),
    ("random_normal", fanin.RandomNormal), ("zero", fanin.Zeros), ("one", fanin.Ones),
    ("glorot_uniform", fanin.GlorotUniform), ("he_normal", fanin.HeNormal),
    ("truncated_normal", fanin.TruncatedNormal), ("orthogonal", fanin.Orthogonal),
    ("identity", fanin.Identity), ("VarianceScaling", fanin.VarianceScaling),
    ("RandomNormalV2", fanin.RandomNormal)])
def test_string_identifiers(name, cls):
    assert type(fanin.get(name)) is cls


def test_get_other_identifiers():
    init = fanin.HeUniform(seed=1)
    assert fanin.get(init) is init
    assert fanin.get(None) is None
    assert type(fanin.get(fanin.LecunNormal)) is fanin.LecunNormal

    def my_init(shape, dtype=None):
        return np.zeros(shape)
    assert fanin.get(my_init) is my_init
    for bad in (3, 2.5, ["lecun_normal"], object()):
        with pytest.raises(ValueError, match="Could not interpret initializer identifier"):
            fanin.get(bad)
    with pytest.raises(ValueError, match="Could not interpret"):
        fanin.get("{not json")


def test_keras3_config_of_real_keras_layer_shape():
    """A config as Keras 3 writes it inside a layer config."""
    config = {"module": "keras.initializers", "class_name": "GlorotUniform",
              "config": {"seed": None}, "registered_name": None}
    assert type(fanin.deserialize(config)) is fanin.GlorotUniform


def test_unknown_names_and_custom_objects():
    with pytest.raises(ValueError, match="Unknown initializer: 'Mystery'"):
        fanin.get("Mystery")

    class Mystery(fanin.Initializer):
        def __call__(self, shape, dtype=None, **kwargs):
            return np.ones(shape)
    got = fanin.get("Mystery", custom_objects={"Mystery": Mystery})
    assert isinstance(got, Mystery)
    got = fanin.deserialize({"module": "mine", "class_name": "Mystery", "config": {},
                             "registered_name": "pkg>Mystery"},
                            custom_objects={"pkg>Mystery": Mystery})
    assert isinstance(got, Mystery)


def test_configs_never_import_or_execute():
    """A config names a module and a callable: neither is imported or called."""
    assert "fanin_test_never_imported" not in sys.modules
    evil = {"module": "fanin_test_never_imported", "class_name": "system",
            "config": {"command": "echo hacked"}, "registered_name": "os>system"}
    with pytest.raises(ValueError, match="Unknown initializer"):
        fanin.deserialize(evil)
    assert "fanin_test_never_imported" not in sys.modules
    for name in ("os.system", "builtins.eval", "__import__", "eval", "Initializer.__subclasses__"):
        with pytest.raises(ValueError):
            fanin.get(name)
    # a known class with a module it does not live in: the module is ignored, not imported
    cfg = {"module": "fanin_test_never_imported", "class_name": "LecunNormal",
           "config": {"seed": 1}, "registered_name": None}
    assert type(fanin.deserialize(cfg)) is fanin.LecunNormal
    assert "fanin_test_never_imported" not in sys.modules


@pytest.mark.parametrize("config,exc,match", [
    ([1, 2], TypeError, "dict"),
    ({"config": {}}, ValueError, "class_name"),
    ({"class_name": 3, "config": {}}, TypeError, "class_name"),
    ({"class_name": "LecunNormal", "config": [1]}, TypeError, "config"),
    ({"class_name": "LecunNormal", "config": {"seed": 1}, "evil": 1}, ValueError, "unexpected keys"),
    ({"class_name": "LecunNormal", "config": {"seed": "x"}}, TypeError, "seed"),
    ({"class_name": "LecunNormal", "config": {"sed": 1}}, TypeError, "sed"),
    ({"class_name": "VarianceScaling", "config": {"mode": "x"}}, ValueError, "mode")])
def test_malformed_configs(config, exc, match):
    with pytest.raises(exc, match=match):
        fanin.deserialize(config)


def test_deserialize_does_not_mutate_its_argument():
    config = {"class_name": "LecunNormal", "config": {"seed": 5, "dtype": "float32"}}
    before = json.dumps(config, sort_keys=True)
    fanin.deserialize(config)
    assert json.dumps(config, sort_keys=True) == before
