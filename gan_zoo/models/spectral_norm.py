"""Spectral normalisation (Miyato et al. 2018) as a reparametrisation of Dense and Conv layers.

The forward pass uses W / sigma(W), sigma estimated by one power iteration per training call
from a persistent vector u (a non-trainable weight, so it is checkpointed and a resumed run
goes on from the same estimate). The stored kernel is never written: the optimizer updates
W itself, and the gradient flows through sigma (u and v are constants of the step, as in the
paper's reference code). Keras 3's SpectralNormalization wrapper instead assigns W / sigma
into the kernel inside call(), which changes what the optimizer and the checkpoint see.
"""
import math

import keras
from keras import ops

EPSILON = 1e-12


class _SpectralNorm:
    """The power iteration shared by the layers below (a mixin over a Keras layer with a kernel
    whose last axis is its output units)."""

    def _build_power_iteration(self):
        units = self.kernel.shape[-1]
        self.sn_u = self.add_weight(shape=(1, units), name="sn_u", trainable=False,
                                    initializer=keras.initializers.RandomNormal(0.0, 1.0),
                                    aggregation="only_first_replica")

    def normalized_call(self, op, inputs, training=False):
        """op(inputs, W / sigma(W)) for an op linear in W (a matmul, a convolution). Where the
        output holds fewer numbers per unit than the kernel (a Dense layer whose batch is
        below its fan-in: maxout_cgan's D, 128 images, 784 inputs) it is computed as
        op(inputs, W) / sigma: one division of the output instead of the kernel's, in the
        forward pass and again in the backward one. The same numbers to float error, in
        float32 only: in 16 bits sigma's gradient would be summed over the output in 16 bits
        (float16 could overflow), so mixed precision keeps the kernel's division in float32."""
        sigma = self._sigma(training)
        outputs_per_unit = self.compute_output_shape(inputs.shape)[:-1]
        kernel_per_unit = self.kernel.shape[:-1]
        smaller = None not in outputs_per_unit and math.prod(outputs_per_unit) < math.prod(kernel_per_unit)
        if smaller and self.compute_dtype == "float32":
            return op(inputs, self.kernel) / sigma
        return op(inputs, ops.cast(ops.cast(self.kernel, "float32") / sigma, self.compute_dtype))

    def _sigma(self, training):
        """sigma(W) by one power-iteration step from u (kept in u on a training call)."""
        kernel = ops.cast(self.kernel, "float32")
        matrix = ops.reshape(kernel, (-1, kernel.shape[-1]))  # [fan_in, units]
        u = ops.convert_to_tensor(self.sn_u)
        v = ops.stop_gradient(_l2_normalize(ops.matmul(u, ops.transpose(matrix))))  # [1, fan_in]
        u = ops.stop_gradient(_l2_normalize(ops.matmul(v, matrix)))  # [1, units]
        sigma = ops.sum(ops.matmul(v, matrix) * u)
        if training:
            self.sn_u.assign(u)
        return sigma

    # Keras' Dense and Conv2D save their kernel and bias only; u goes after them in a .keras file
    def save_own_variables(self, store):
        saved = {}
        super().save_own_variables(saved)
        if self.built:
            saved[str(len(saved))] = self.sn_u
        for key, value in saved.items():
            store[key] = value

    def load_own_variables(self, store):
        super().load_own_variables(store)  # the kernel and bias, by their places
        if self.built:
            self.sn_u.assign(store[str(len(store.keys()) - 1)])

    def spectral_norm_estimate(self):
        """sigma(W) as the current u estimates it (for tests and logging)."""
        matrix = ops.reshape(ops.cast(self.kernel, "float32"), (-1, self.kernel.shape[-1]))
        v = _l2_normalize(ops.matmul(ops.convert_to_tensor(self.sn_u), ops.transpose(matrix)))
        return ops.sqrt(ops.sum(ops.square(ops.matmul(v, matrix))))


def _l2_normalize(x):
    return x / ops.sqrt(ops.maximum(ops.sum(ops.square(x)), EPSILON))


@keras.saving.register_keras_serializable(package="gan_zoo")
class SNDense(_SpectralNorm, keras.layers.Dense):
    """Dense with a spectrally normalised kernel."""

    def build(self, input_shape):
        super().build(input_shape)
        self._build_power_iteration()

    def call(self, inputs, training=None):
        x = self.normalized_call(ops.matmul, inputs, training)
        if self.bias is not None:
            x = ops.add(x, self.bias)
        return self.activation(x) if self.activation is not None else x


@keras.saving.register_keras_serializable(package="gan_zoo")
class SNConv2D(_SpectralNorm, keras.layers.Conv2D):
    """Conv2D with a spectrally normalised kernel (the kernel reshaped to [k*k*C_in, C_out])."""

    def build(self, input_shape):
        super().build(input_shape)
        self._build_power_iteration()

    def call(self, inputs, training=None):
        outputs = self.normalized_call(self.convolution_op, inputs, training)
        if self.use_bias:
            outputs = ops.add(outputs, ops.reshape(self.bias, (1, 1, 1, self.filters)))
        return self.activation(outputs) if self.activation is not None else outputs


def dense(units, spectral_norm=False, **kwargs):
    """A Dense layer, spectrally normalised when asked (the builders' one switch)."""
    return (SNDense if spectral_norm else keras.layers.Dense)(units, **kwargs)


def conv2d(filters, kernel_size, strides=1, padding="valid", spectral_norm=False, **kwargs):
    """A Conv2D layer, spectrally normalised when asked."""
    layer = SNConv2D if spectral_norm else keras.layers.Conv2D
    return layer(filters, kernel_size, strides, padding, **kwargs)
