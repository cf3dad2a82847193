"""FID and KID in InceptionV3's feature space (the published numbers' space), when its
ImageNet weights are on the machine; nothing here downloads them.

The weights are keras' `inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5`: pass
--inception_weights=PATH, or have keras' cache hold them ($KERAS_HOME/models, default
~/.keras/models; one `keras.applications.InceptionV3(include_top=False)` online puts them
there). Keras' InceptionV3 is not the TF1 graph that published FIDs used, so these are
comparable between runs of this project, not with papers' tables to the decimal.
"""
import os

import numpy as np
import tensorflow as tf

from gan_zoo.errors import UserError

WEIGHTS_FILE = "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"
SIZE = 299


def missing_message():
    return (f"FID / KID in Inception's feature space: skipped, no InceptionV3 weights on this "
            f"machine (looked for {keras_cache()}). Pass --inception_weights=PATH to a copy, "
            f"or run `keras.applications.InceptionV3(include_top=False)` once online to cache it.")


def keras_cache():
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return os.path.join(home, "models", WEIGHTS_FILE)


def find_weights(path=""):
    """The weights file to use: `path` (which must exist), else keras' cache, else None."""
    if path:
        if not os.path.isfile(path):
            raise UserError(f"--inception_weights={path}: no such file. Pass the path of "
                            f"{WEIGHTS_FILE}, or leave the flag out to skip Inception's FID / KID.")
        return path
    cached = keras_cache()
    return cached if os.path.isfile(cached) else None


def feature_model(weights_path):
    import keras
    return keras.applications.InceptionV3(include_top=False, weights=weights_path,
                                          pooling="avg", input_shape=(SIZE, SIZE, 3))


def features(model, images, batch_size=50):
    """2048 pooled features of images in [-1, 1] (Inception's own input range); grey images
    are repeated to 3 channels and everything is resized to 299x299."""
    out = []
    for start in range(0, len(images), batch_size):
        x = tf.convert_to_tensor(images[start:start + batch_size], tf.float32)
        if x.shape[-1] == 1:
            x = tf.repeat(x, 3, axis=-1)
        x = tf.image.resize(x, (SIZE, SIZE), method="bilinear")
        out.append(model(x, training=False).numpy())
    return np.concatenate(out)
