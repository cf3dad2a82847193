"""A reference CNN classifier per labelled data set: the judge and the feature space of the
label metrics (label accuracy, Frechet distance, precision / recall, coverage).

    python -m gan_zoo.eval.classifier --dataset=fashion_mnist [--models_dir=DIR] [--epochs=12]

trains one on the real training split, prints its test accuracy, and saves
`<models_dir>/<dataset>.weights.h5` with a `.json` card (accuracy, epochs, a fingerprint
of the weights). `load(dataset)` reads --models_dir (default $GAN_ZOO_MODELS_DIR, else
~/.cache/gan_zoo/classifiers), else the copy packaged in gan_zoo/eval/weights/, which was
trained by the same command. Metrics are only comparable in the same feature space, so every
metrics row names the classifier's fingerprint.
"""
import hashlib
import json
import os

import keras
import numpy as np
import tensorflow as tf

from gan_zoo.data import scale_images
from gan_zoo.errors import UserError

PACKAGED_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "weights")
FEATURES = "features"


def default_models_dir():
    return os.environ.get("GAN_ZOO_MODELS_DIR") or os.path.join(
        os.path.expanduser("~"), ".cache", "gan_zoo", "classifiers")


def build(spec, compile=True):
    """Two VGG-style blocks (32; 64, 64), a 128-wide feature layer (the metrics' feature space), logits."""
    inputs = keras.Input(spec.image_shape, name="image")
    x = inputs
    for widths in ((32,), (64, 64)):  # one conv at full size: most of the cost is there
        for width in widths:
            x = keras.layers.Conv2D(width, 3, padding="same", use_bias=False)(x)
            x = keras.layers.BatchNormalization(momentum=0.9)(x)
            x = keras.layers.ReLU()(x)
        x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Flatten()(x)
    features = keras.layers.Dense(128, activation="relu", name=FEATURES)(x)
    x = keras.layers.Dropout(0.5)(features)
    logits = keras.layers.Dense(spec.condition_dim, name="logits")(x)
    model = keras.Model(inputs, logits, name="reference_classifier")
    if compile:
            model.compile(optimizer=keras.optimizers.Adam(1e-3),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=["accuracy"])
    return model


def _batches(source, batch_size=256):
    return (source.images_and_labels.batch(batch_size)
            .map(lambda x, y: (scale_images(x), y)).prefetch(tf.data.AUTOTUNE))


def train(train_source, epochs=1, seed=0, verbose=0):
    """Adam with the learning rate decayed by cosine to 0 over `epochs`."""
    keras.utils.set_random_seed(seed)
    model = build(train_source.spec)
    steps = max(1, train_source.num_examples // 128) * epochs
    model.optimizer.learning_rate = keras.optimizers.schedules.CosineDecay(1e-3, steps)
    data = train_source.images_and_labels.shuffle(train_source.num_examples, seed=seed)
    data = (data.batch(128, drop_remainder=True)
            .map(lambda x, y: (scale_images(x), y), num_parallel_calls=tf.data.AUTOTUNE))
    model.fit(data.prefetch(tf.data.AUTOTUNE), epochs=epochs, verbose=verbose, shuffle=False)
    return model


def accuracy(model, source):
    """Share of `source`'s images the model labels right (compiled or not)."""
    correct = total = 0
    for x, y in _batches(source):
        correct += int(np.sum(np.argmax(model(x, training=False), axis=-1) == y.numpy()))
        total += len(y)
    return correct / max(total, 1)


def _paths(models_dir, dataset):
    stem = os.path.join(models_dir, dataset.replace("/", "_").replace(":", "_"))
    return stem + ".weights.h5", stem + ".json"


def fingerprint(model):
    digest = hashlib.sha256()
    for w in model.weights:
        digest.update(np.ascontiguousarray(w.numpy()).tobytes())
    return digest.hexdigest()[:12]


def save(model, dataset, spec, models_dir, card):
    os.makedirs(models_dir, exist_ok=True)
    weights, card_path = _paths(models_dir, dataset)
    bare = build(spec, compile=False)  # the weights alone, without the optimizer's state
    bare.set_weights(model.get_weights())
    bare.save_weights(weights)
    with open(card_path, "w") as fh:
        json.dump({**card, "dataset": dataset, "image_shape": list(spec.image_shape),
                   "classes": spec.condition_dim, "fingerprint": fingerprint(model)},
                  fh, indent=2, sort_keys=True)
    return weights


def find(dataset, models_dir=""):
    """(weights path, card) of the classifier `load` would use, or None."""
    for directory in (models_dir or default_models_dir(), PACKAGED_DIR):
        weights, card_path = _paths(directory, dataset)
        if os.path.exists(weights) and os.path.exists(card_path):
            with open(card_path) as fh:
                return weights, json.load(fh)
    return None


def load(dataset, models_dir=""):
    """(classifier, card) for `dataset`; a UserError naming the command that trains one."""
    found = find(dataset, models_dir)
    if found is None:
        raise UserError(
            f"No reference classifier for {dataset!r} in {models_dir or default_models_dir()} "
            f"or in the package. Train one (a few CPU minutes): python -m "
            f"gan_zoo.eval.classifier --dataset={dataset}")
    weights, card = found
    from gan_zoo.data.spec import DataSpec
    spec = DataSpec(image_shape=tuple(card["image_shape"]), condition_dim=card["classes"])
    model = build(spec, compile=False)
    model.load_weights(weights)
    return model, card


_LOADED = {}


def load_cached(dataset, models_dir=""):
    """`load`, once per process and weights file (a changed file is read again)."""
    weights, _ = find(dataset, models_dir) or (None, None)
    key = (dataset, weights, weights and os.path.getmtime(weights))
    if key not in _LOADED:
        _LOADED[key] = load(dataset, models_dir)
    return _LOADED[key]


def feature_model(classifier):
    """image -> (logits, 128 features): one pass gives both the label metrics' inputs (built
    once per classifier, so its compiled predict function is reused)."""
    key = id(classifier)
    if key not in _FEATURE_MODELS or _FEATURE_MODELS[key][0] is not classifier:
        _FEATURE_MODELS[key] = (classifier, keras.Model(
            classifier.inputs, [classifier.output, classifier.get_layer(FEATURES).output]))
    return _FEATURE_MODELS[key][1]


_FEATURE_MODELS = {}  # id(classifier): (classifier, its two-output model)


def main():
    import time

    from absl import flags

    from gan_zoo import data
    FLAGS = flags.FLAGS
    if FLAGS.epochs <= 0:
        raise UserError(f"--epochs must be a positive integer, got {FLAGS.epochs}.")
    train_split = data.load(FLAGS.dataset, data_dir=FLAGS.data_dir, max_images=FLAGS.max_images)
    if not train_split.spec.is_conditional or train_split.condition_table is None:
        raise UserError(f"{FLAGS.dataset!r} has no class labels to train a classifier on.")
    test_split = data.load(FLAGS.dataset, data_dir=FLAGS.data_dir, split="test")
    start = time.perf_counter()
    model = train(train_split, epochs=FLAGS.epochs, seed=FLAGS.seed, verbose=2)
    minutes = (time.perf_counter() - start) / 60
    test_accuracy = accuracy(model, test_split)
    models_dir = FLAGS.models_dir or default_models_dir()
    path = save(model, FLAGS.dataset, train_split.spec, models_dir,
                {"test_accuracy": round(test_accuracy, 4), "epochs": FLAGS.epochs,
                 "seed": FLAGS.seed, "train_images": train_split.num_examples,
                 "train_cpu_minutes": round(minutes, 1)})
    print(f"{FLAGS.dataset}: test accuracy {test_accuracy:.4f} after {FLAGS.epochs} epochs "
          f"({minutes:.1f} min); saved {path}")


def command(argv=None):
    """The command line: its flags, then main (python -m gan_zoo.eval.classifier)."""
    from absl import flags

    from gan_zoo.cli import options as cli
    flags.DEFINE_string("dataset", "fashion_mnist", "A labelled data set (tfds name or folder:PATH).")
    flags.DEFINE_string("data_dir", "", "TFDS data_dir (default: TFDS_DATA_DIR or tfds' own).")
    flags.DEFINE_string("models_dir", "", "Where to save it (default $GAN_ZOO_MODELS_DIR, else "
                        "~/.cache/gan_zoo/classifiers).")
    flags.DEFINE_integer("epochs", 12, "Training epochs (the packaged ones: 10 for fashion_mnist, 3 for mnist).")
    flags.DEFINE_integer("max_images", 0, "Train on the first N images only (0: all).")
    flags.DEFINE_integer("seed", 0, "Seed for weights and data order.")
    cli.start(main, __doc__, argv=argv)


if __name__ == "__main__":
    command()
