"""The zoo's layers registered with Keras whenever both are imported, so
`keras.saving.load_model("generator.keras")` needs no `custom_objects` after `import gan_zoo`.

`import gan_zoo` loads nothing heavy (the command line's --help answers at once), so it cannot
import its layers (they need Keras, and Keras TensorFlow) up front. Instead: when Keras is
already imported, the layers are registered at once; otherwise a finder waits for Keras' own
import to end and registers them then. While a gan_zoo module is itself part-way through its
import (it imported Keras), registering would re-enter it, so that waits for the next import
after it; gan_zoo's own loaders of `.keras` files import the layers themselves anyway.
"""
import importlib.abc
import importlib.machinery
import sys

LAYERS_MODULE = "gan_zoo.models.serializable"


def register_when_keras_is_imported():
    if "keras" in sys.modules and not _keras_initializing():
        _register()
    elif not any(isinstance(f, _AfterKeras) for f in sys.meta_path):
        sys.meta_path.insert(0, _AfterKeras())


class _AfterKeras(importlib.abc.MetaPathFinder):
    """Finds nothing itself: wraps Keras' loader so the layers are registered after it runs."""

    def __init__(self):
        self.waiting = False

    def find_spec(self, name, path=None, target=None):
        if name == "keras" and "keras" not in sys.modules:
            spec = importlib.machinery.PathFinder.find_spec(name, path)
            if spec is not None and spec.loader is not None and hasattr(spec.loader, "exec_module"):
                run_keras = spec.loader.exec_module

                def exec_module(module):
                    run_keras(module)
                    self.waiting = True
                    self._try()
                spec.loader.exec_module = exec_module
                return spec
        elif self.waiting:
            self._try()
        return None

    def _try(self):
        if _gan_zoo_initializing():
            return
        self.waiting = False
        if self in sys.meta_path:
            sys.meta_path.remove(self)
        _register()


def _register():
    try:
        importlib.import_module(LAYERS_MODULE)
    except ImportError:  # never in the way of importing Keras itself
        pass


def _initializing(module):
    return bool(getattr(getattr(module, "__spec__", None), "_initializing", False))


def _keras_initializing():
    return _initializing(sys.modules.get("keras"))


def _gan_zoo_initializing():
    return any(name.startswith("gan_zoo.") and _initializing(module)
               for name, module in list(sys.modules.items()))
