"""gan_zoo: a TensorFlow/Keras model zoo of GANs.

    import gan_zoo
    run = gan_zoo.train("maxout_cgan", dataset="fashion_mnist", epochs=3)
    run.show()
    generator = run.export("export/maxout_cgan")
    images = generator.generate(labels=["shirt", "bag"], num_per_label=8)

The API is in gan_zoo/api.py (train, open_run, load: an export or load(pretrained=NAME)); the
Keras way in gan_zoo/fit (GAN: a keras.Model for compile() and fit(); build: a model's G and D)
and gan_zoo/parts.py (losses, layers, DiffAugment, EMA, metrics); the command line is
`gan-zoo train|export|generate|eval|plot|explore` (gan_zoo/cli/console.py). Importing gan_zoo
loads nothing heavy: TensorFlow comes with the first call. The zoo's layers are registered
with Keras once Keras is imported, so its `.keras` files load with keras.saving.load_model.
"""
from gan_zoo.keras_registration import register_when_keras_is_imported

__version__ = "0.1.0"
__all__ = ["train", "open_run", "load", "Run", "Generator", "GAN", "build", "__version__"]

register_when_keras_is_imported()


def __getattr__(name):
    if name == "train":  # the gan_zoo.train module, which is callable: gan_zoo.api.train
        import importlib
        return importlib.import_module("gan_zoo.train")
    if name in ("open_run", "load", "Run", "Generator"):
        from gan_zoo import api
        return getattr(api, name)
    if name in ("fit", "parts", "data"):  # subpackages reached as attributes: gan_zoo.fit.Scores
        import importlib
        return importlib.import_module(f"gan_zoo.{name}")
    if name in ("GAN", "build"):
        from gan_zoo import fit
        return getattr(fit, name)
    raise AttributeError(f"module 'gan_zoo' has no attribute {name!r}")
