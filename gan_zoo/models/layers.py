"""Layers shared by several model families."""
import keras
import tensorflow as tf
from keras import ops

from gan_zoo import distribute


def batch_norm(**kwargs):
    """BatchNormalization whose statistics span the global batch when the model is built under a
    strategy with several replicas, so N replicas train as one device would on the same batch
    (per-replica statistics would make the result depend on the number of devices)."""
    synchronized = tf.distribute.get_strategy().num_replicas_in_sync > 1
    return keras.layers.BatchNormalization(synchronized=synchronized, **kwargs)


@keras.saving.register_keras_serializable(package="gan_zoo")
class Maxout(keras.layers.Layer):
    """Goodfellow et al.'s maxout unit: `pieces` linear pieces per unit, keep the largest.

    Dense(units * pieces) -> dropout -> max over the pieces. Dropout sits before the max,
    as in Mirza & Osindero's discriminator, so each piece is dropped independently. Its mask
    is a stateless draw for the whole global batch of which each replica keeps its rows, so
    replicas drop different units and N replicas train as one device would.
    """

    def __init__(self, units, pieces, dropout=0.5, kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self.units, self.pieces, self.dropout_rate = units, pieces, dropout
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.dense = keras.layers.Dense(units * pieces, kernel_initializer=self.kernel_initializer)
        self.seed_generator = keras.random.SeedGenerator()  # checkpointed by the trainer

    def build(self, input_shape):
        self.dense.build(input_shape)

    def call(self, inputs, training=None):
        x = self.dense(inputs)
        if training and self.dropout_rate > 0:
            x = self._dropout(x)
        x = ops.reshape(x, (-1, self.pieces, self.units))
        return ops.max(x, axis=1)

    def _dropout(self, x):
        seed = tf.cast(self.seed_generator.next(), tf.int64)
        width, rate = self.units * self.pieces, self.dropout_rate
        keep = distribute.global_batch_random(
            lambda n, s: tf.random.stateless_uniform([n, width], s, alg="philox") >= rate,
            tf.shape(x)[0], seed)
        return tf.where(keep, x / (1.0 - rate), tf.zeros_like(x))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "pieces": self.pieces,
                "dropout": self.dropout_rate,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer)}
