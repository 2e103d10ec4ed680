"""Keras-side classes: fanin initializers that are also Keras initializers.

Keras only treats an initializer as its own when it is an instance of Keras's
classes: ``EinsumDense`` and ``MultiHeadAttention`` give their fans only to
subclasses of ``keras.initializers.VarianceScaling``, and tf_keras serializes
only subclasses of ``tf_keras.initializers.Initializer``. So when Keras is
loaded, creating a fanin initializer creates its Keras-side subclass
(``fanin.LecunNormal()`` gives a ``fanin.keras.LecunNormal``, still an instance
of ``fanin.LecunNormal``), the way ``pathlib.Path()`` gives a ``PosixPath``.

Nothing here imports a framework: the adapters are imported only once their
framework is in ``sys.modules``. Two entry points, called by the core:

- :func:`framework_class` from ``fanin.Initializer.__new__``;
- :func:`register_loaded` at the end of ``fanin/__init__.py`` (so that
  ``import keras, fanin`` registers fanin's classes before any model is loaded);
  it also installs :class:`RegisterOnImport`, so that ``import fanin, keras``
  registers them the moment Keras 3 has finished importing.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import threading
import warnings

# (framework module, fanin adapter module), in order of preference: TensorFlow
# imports Keras 3 as well, so a process that loaded tf_keras uses tf_keras.
ADAPTERS = (("tf_keras", "fanin.tf_keras"), ("keras", "fanin.keras"))


def _keras_major(module):
    version = str(getattr(module, "__version__", ""))
    head = version.split(".", 1)[0]
    return int(head) if head.isdigit() else 0


def loaded(framework):
    """Whether ``framework`` is imported and one fanin has an adapter for."""
    module = sys.modules.get(framework)
    if module is None:
        return False
    # Keras 2 under the name ``keras`` (TensorFlow <= 2.15) has no fanin.keras.
    return framework != "keras" or _keras_major(module) >= 3


def _adapter(module_name):
    module = sys.modules.get(module_name)
    return module if module is not None else importlib.import_module(module_name)


def framework_class(cls):
    """The class ``cls(...)`` instantiates: its Keras-side subclass if Keras is loaded.

    Only fanin's own classes are swapped (users' subclasses are theirs), and
    only while no adapter is still being imported.

    >>> import fanin
    >>> class Mine(fanin.LecunNormal):
    ...     pass
    >>> framework_class(Mine) is Mine
    True
    """
    for framework, module_name in ADAPTERS:
        if loaded(framework):
            table = getattr(_adapter(module_name), "KERAS_SIDE", None)
            return cls if table is None else table.get(cls, cls)
    return cls


def register_loaded():
    """Import the adapter (registering fanin's classes) of every loaded Keras, and
    watch for Keras 3 being imported later."""
    for framework, module_name in ADAPTERS:
        if loaded(framework):
            _adapter(module_name)
    if not loaded("keras") and not any(isinstance(f, RegisterOnImport) for f in sys.meta_path):
        sys.meta_path.insert(0, RegisterOnImport())


class _RegisteringLoader(importlib.abc.Loader):
    """Keras's own loader, plus the registration of fanin's classes once it has run."""

    def __init__(self, loader):
        self._loader = loader

    def __getattr__(self, name):  # resources, is_package, ...: Keras's loader answers
        return getattr(self._loader, name)

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        if loaded("keras"):
            try:
                _adapter("fanin.keras")
            except Exception as err:  # noqa: BLE001 - never break the user's import of Keras
                warnings.warn(f"fanin could not register its initializers with Keras "
                              f"({err!r}); import fanin.keras before loading models that "
                              "use them.", RuntimeWarning, stacklevel=2)


class RegisterOnImport(importlib.abc.MetaPathFinder):
    """Registers fanin's classes with Keras 3 as soon as ``import keras`` completes.

    Without it, a process that imported fanin first and then loads a ``.keras`` file
    before creating any fanin initializer would get Keras's own classes of the same
    names and configs, silently. Only the top-level ``keras`` import is wrapped;
    every other import passes through untouched.
    """

    _busy = threading.local()

    def find_spec(self, fullname, path, target=None):
        if fullname != "keras" or getattr(self._busy, "on", False):
            return None
        self._busy.on = True
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            self._busy.on = False
        if spec is None or spec.loader is None:
            return None
        spec.loader = _RegisteringLoader(spec.loader)
        return spec


def make_classes(module_name, core_classes, mixin, base, variance_base):
    """Keras-side classes for fanin's classes: ``{name: class}``, ``base`` included.

    Each is ``(mixin, fanin class, base)``; the variance-scaling family takes
    ``variance_base`` (a subclass of the framework's ``VarianceScaling``) instead
    of ``base``. ``mixin`` comes first so its ``__call__`` (the ``layout``
    keyword) wraps fanin's; fanin's methods come before the framework's.
    """
    variance = core_classes["VarianceScaling"]
    classes = {"Initializer": base}
    for name, core in core_classes.items():
        keras_base = variance_base if issubclass(core, variance) else base
        classes[name] = type(name, (mixin, core, keras_base), {
            "__module__": module_name, "__qualname__": name, "_fanin_class": core,
            "__doc__": f"``fanin.{name}`` as a Keras initializer: the same values and "
                       f"config, and an instance of the framework's initializer class."})
    return classes


def core_class(cls):
    """The fanin class that a Keras-side class stands for; any other class itself.

    For code that compares classes: ``fanin.serialize`` can treat
    ``fanin.keras.LecunNormal`` as the built-in ``LecunNormal``.

    >>> import fanin
    >>> core_class(fanin.LecunNormal) is fanin.LecunNormal
    True
    """
    while "_fanin_class" in cls.__dict__:  # tf_keras's classes stand on Keras 3's
        cls = cls.__dict__["_fanin_class"]
    return cls


def keras_side(classes, core_classes):
    """fanin class -> its Keras-side class (the table :func:`framework_class` reads)."""
    return {core: classes[name] for name, core in core_classes.items()}


def register(register_serializable, package, classes, core_classes, core_base):
    """Register fanin's classes, then the Keras-side ones, as ``"package>Name"``.

    Both serialize under the same name; loading gives the Keras-side class
    (registered last). ``register_serializable`` is the framework's
    ``saving.register_keras_serializable``; ``core_base`` is ``fanin.Initializer``
    (passed in: this module sits below the core and imports none of it).
    """
    for name, side in classes.items():
        add = register_serializable(package=package, name=name)
        add(core_classes.get(name, core_base))
        add(side)
