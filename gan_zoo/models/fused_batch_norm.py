"""BatchNormalization through TensorFlow's fused kernel (FusedBatchNormV3) on one replica.

Keras 3's BatchNormalization computes the batch moments, the normalisation and, in the
backward pass, their gradients from a dozen or more small ops per layer; in the BatchNorm
models those ops outnumber the convolutions in a step graph. FusedBatchNormV3 (oneDNN's
kernel on a CPU, cuDNN's on a GPU) does the forward pass in one kernel and the backward pass
in one more. The layer is Keras' own (same weights, same config, same moving averages), so
a checkpoint or weights file restores into either; only a training call on one replica
takes the fused path. Everything else (inference, several replicas with synchronized
statistics, masks, renorm, other axes or ranks) is Keras' code unchanged.

The fused kernel reports the batch variance with Bessel's correction (divided by n - 1);
Keras' moving variance averages the plain one (divided by n), so it is scaled back by
(n - 1) / n before the update and the moving statistics stay what they were.
"""
import keras
import tensorflow as tf
from keras import ops


@keras.saving.register_keras_serializable(package="gan_zoo")
class BatchNormalization(keras.layers.BatchNormalization):
    """keras.layers.BatchNormalization whose training pass is one FusedBatchNormV3 kernel.

    Named as Keras' class on purpose: Keras' weights files address a layer by its class
    name, so a weights file written by either loads into the other."""

    def call(self, inputs, training=None, mask=None):
        if not (training and self.trainable and self._fusable(inputs, mask)):
            return super().call(inputs, training=training, mask=mask)
        x = ops.cast(inputs, "float32")  # as Keras does: 16-bit inputs are normalised in float32
        channels = inputs.shape[-1]
        as_image = x if len(inputs.shape) == 4 else tf.reshape(x, [-1, 1, 1, channels])
        gamma = tf.cast(self.gamma, tf.float32) if self.scale else tf.ones([channels])
        beta = tf.cast(self.beta, tf.float32) if self.center else tf.zeros([channels])
        empty = tf.constant([], tf.float32)
        y, mean, corrected_variance, _, _, _ = tf.raw_ops.FusedBatchNormV3(
            x=as_image, scale=gamma, offset=beta, mean=empty, variance=empty,
            epsilon=self.epsilon, exponential_avg_factor=1.0, data_format="NHWC",
            is_training=True)
        count = tf.cast(tf.size(as_image) // channels, tf.float32)  # values per channel
        variance = corrected_variance * (count - 1.0) / tf.maximum(count, 1.0)
        momentum = self.momentum
        self.moving_mean.assign(self.moving_mean * momentum + mean * (1.0 - momentum))
        self.moving_variance.assign(self.moving_variance * momentum + variance * (1.0 - momentum))
        if len(inputs.shape) != 4:
            y = tf.reshape(y, tf.shape(x))
        return ops.cast(y, self.compute_dtype)

    def _fusable(self, inputs, mask):
        rank = len(inputs.shape)
        return (not self.synchronized and not self.renorm and mask is None and rank in (2, 4)
                and self.axis in (-1, rank - 1) and self.epsilon >= 1.001e-5)
