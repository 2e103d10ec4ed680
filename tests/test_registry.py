"""The registry is the one list of classes: the namespace, get and serialize read it."""

import inspect

import pytest

import fanin
from fanin import registry


def test_the_namespace_is_the_registry():
    for name, cls in registry.CLASSES.items():
        assert getattr(fanin, name) is cls
        assert getattr(fanin, registry.snake_name(name)) is cls  # the same class object
        assert name in fanin.__all__ and registry.snake_name(name) in fanin.__all__
    public = {n for n, v in vars(fanin).items()
              if inspect.isclass(v) and issubclass(v, fanin.Initializer) and n[0].isupper()}
    assert public - set(registry.CLASSES) == {"Initializer", "StreamInitializer"}


def test_every_name_get_accepts_comes_from_the_registry():
    for identifier, cls in registry.NAMES.items():
        assert type(fanin.get(identifier)) is cls
    assert {"zero", "one", "uniform", "normal", "IdentityInitializer",
            "OrthogonalInitializer", "LecunNormalV2"} <= set(registry.NAMES)


@pytest.mark.parametrize("cls", list(registry.CLASSES.values()), ids=lambda c: c.__name__)
def test_every_class_declares_its_kind_and_round_trips(cls):
    assert cls.kind in ("random", "constant", "matrix")
    assert cls.dtype_kind in ("float", "real", "numeric")
    init = cls()
    for style in ("keras2", "keras3"):
        again = fanin.deserialize(fanin.serialize(init, style))
        assert type(again) is cls and again.get_config() == init.get_config()


def test_a_name_can_be_registered_once():
    with pytest.raises(ValueError, match="already taken"):
        registry.register("lecun_normal")(type("Impostor", (fanin.Initializer,), {}))
