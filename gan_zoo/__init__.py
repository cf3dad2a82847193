"""gan_zoo: a TensorFlow/Keras model zoo of GANs. Entry points: gan_zoo.train, .export, .generate."""
__version__ = "0.1.0"
