"""The optimizers both networks train with, and Adam's update as one fused kernel.

Keras 3's Adam updates each variable with about a dozen small elementwise ops (casts, powers,
two moment updates, a square root, a divide); on models of many small layers those kernel
launches are a large share of a step. FusedAdam is Keras' Adam with the same slot variables
(so checkpoints written with either restore into the other) whose update is TensorFlow's
ResourceApplyAdam, the oneDNN / CUDA kernel that does all of it in one pass per variable. The
arithmetic is the same (tests/test_optimizers.py checks 100 steps against keras' Adam).
It is the default (--nofused_adam gives Keras' Adam): float error grows through a GAN's
training, so it was opt-in until the quality tests' short runs passed with it (2026-12-05).
"""
import keras
import tensorflow as tf


def make_optimizer(config, learning_rate, policy="float32", fused=False):
    if config.optimizer == "rmsprop":  # rho 0.99 is PyTorch's default alpha, as the WGAN reference ran
        optimizer = keras.optimizers.RMSprop(learning_rate, rho=0.99)
    else:
        adam = FusedAdam if fused else keras.optimizers.Adam
        optimizer = adam(learning_rate, beta_1=config.beta1, beta_2=config.beta2)
    if policy == "mixed_float16":  # bfloat16 has float32's range and needs no loss scaling
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def _handle(variable):
    """The resource handle of a Keras or tf.Variable (a replica's own inside strategy.update)."""
    return (variable.value if isinstance(variable, keras.Variable) else variable).handle


class FusedAdam(keras.optimizers.Adam):
    """keras.optimizers.Adam whose dense update is one ResourceApplyAdam per variable."""

    def update_step(self, gradient, variable, learning_rate):
        if self.amsgrad or isinstance(gradient, tf.IndexedSlices):
            return super().update_step(gradient, variable, learning_rate)
        dtype = variable.dtype
        step = tf.cast(self.iterations + 1, dtype)
        index = self._get_variable_index(variable)
        tf.raw_ops.ResourceApplyAdam(
            var=_handle(variable), m=_handle(self._momentums[index]),
            v=_handle(self._velocities[index]),
            beta1_power=tf.pow(tf.cast(self.beta_1, dtype), step),
            beta2_power=tf.pow(tf.cast(self.beta_2, dtype), step),
            lr=tf.cast(learning_rate, dtype), beta1=tf.cast(self.beta_1, dtype),
            beta2=tf.cast(self.beta_2, dtype), epsilon=tf.cast(self.epsilon, dtype),
            grad=tf.cast(gradient, dtype), use_locking=False)
