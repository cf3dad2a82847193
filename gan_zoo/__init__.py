"""gan_zoo: a TensorFlow/Keras model zoo of GANs.

    import gan_zoo
    run = gan_zoo.train("maxout_cgan", dataset="fashion_mnist", epochs=3)
    run.show()
    generator = run.export("export/maxout_cgan")
    images = generator.generate(labels=["shirt", "bag"], num_per_label=8)

The API is in gan_zoo/api.py (train, open_run, load: an export or load(pretrained=NAME)); the command line is
`gan-zoo train|export|generate|eval|plot|explore` (gan_zoo/cli/console.py). Importing gan_zoo
loads nothing heavy: TensorFlow comes with the first call.
"""
__version__ = "0.1.0"
__all__ = ["train", "open_run", "load", "Run", "Generator", "__version__"]


def __getattr__(name):
    if name == "train":  # the gan_zoo.train module, which is callable: gan_zoo.api.train
        import importlib
        return importlib.import_module("gan_zoo.train")
    if name in ("open_run", "load", "Run", "Generator"):
        from gan_zoo import api
        return getattr(api, name)
    raise AttributeError(f"module 'gan_zoo' has no attribute {name!r}")
