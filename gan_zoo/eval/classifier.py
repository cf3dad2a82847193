"""A small CNN classifier of real images, the judge for label-conditional generators.

`label_accuracy` asks it whether a generator draws the class it was asked for: 1/K
(chance) for a generator that ignores its label, near the classifier's own test accuracy
for a perfect one.
"""
import keras
import numpy as np
import tensorflow as tf

from gan_zoo.data import scale_images


def build(spec):
    inputs = keras.Input(spec.image_shape, name="image")
    x = keras.layers.Conv2D(32, 3, activation="relu", padding="same")(inputs)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(64, 3, activation="relu", padding="same")(x)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Flatten()(x)
    features = keras.layers.Dense(128, activation="relu", name="features")(x)
    logits = keras.layers.Dense(spec.condition_dim, name="logits")(features)
    model = keras.Model(inputs, logits, name="reference_classifier")
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model


def _batches(source, batch_size=256):
    return (source.images_and_labels.batch(batch_size)
            .map(lambda x, y: (scale_images(x), y)).prefetch(tf.data.AUTOTUNE))


def train(train_source, epochs=1, seed=0, verbose=0):
    keras.utils.set_random_seed(seed)
    model = build(train_source.spec)
    data = train_source.images_and_labels.shuffle(train_source.num_examples, seed=seed)
    data = data.batch(128).map(lambda x, y: (scale_images(x), y)).prefetch(tf.data.AUTOTUNE)
    model.fit(data, epochs=epochs, verbose=verbose, shuffle=False)  # tf.data shuffles
    return model


def accuracy(model, source):
    return float(model.evaluate(_batches(source), verbose=0)[1])


def generate_per_class(generator, num_classes, num_per_class, noise_dim, noise="normal", seed=0):
    """(uint8-range float images in [-1, 1], labels) with `num_per_class` samples of each class."""
    from gan_zoo.trainer import sample_noise
    labels = np.repeat(np.arange(num_classes), num_per_class).astype(np.int32)
    rng = tf.random.Generator.from_seed(seed)
    images = []
    for start in range(0, len(labels), 500):
        chunk = labels[start:start + 500]
        z = sample_noise(rng, len(chunk), noise_dim, noise)
        images.append(generator([z, tf.one_hot(chunk, num_classes)], training=False).numpy())
    return np.concatenate(images), labels


def label_accuracy(classifier, images, labels):
    """Share of generated images the classifier assigns to the requested label."""
    predicted = np.argmax(classifier.predict(images, batch_size=500, verbose=0), axis=-1)
    return float(np.mean(predicted == labels))
