"""MLP cGAN with BatchNorm (the PyTorch MLP cGAN tutorial's, rebuilt in Keras).

Weights N(0, 0.02), biases 0, Adam 2e-4 (0.5, 0.999), batch 128, 50 epochs with the learning
rate divided by 10 at epochs 30 and 40, noise uniform [0, 1): the tutorial's settings.
"""
import math

import keras

from gan_zoo.models import spectral_norm as sn
from gan_zoo.models.layers import (batch_norm, conditional_logit, modulated, normal_init,
                                   normalization, widened)


def _dense(units, name, spectral_norm=False):
    return sn.dense(units, spectral_norm, kernel_initializer=normal_init(), name=name)


def _dense_bn(x, units, activation, name, condition=None, fused_bn=False):
    """Dense, BatchNorm, then (given a condition) its class's gain and bias: conditional
    BatchNorm."""
    x = _dense(units, name)(x)
    x = batch_norm(fused_bn, name=f"{name}_bn")(x)
    return activation()(modulated(x, condition, condition is not None, name))


def build(spec, config):
    modulation = config.g_conditioning == "modulation"
    return build_generator(spec, config.noise_dim, config.ngf, modulation, config.fused_bn), build_discriminator(
        spec, config.d_conditioning, config.spectral_norm, config.d_norm, config.minibatch_stddev,
        config.ndf, config.fused_bn)


def build_generator(spec, noise_dim, ngf=64, modulation=False, fused_bn=False):
    """The tutorial's G: noise and label each to 4 x ngf units, joined, 8 x ngf, 16 x ngf,
    pixels (ngf 64: its 256 / 256 / 512 / 1024; a larger ngf widens it and keeps its shape).
    With `modulation` the BatchNorms that see the noise are conditional ones."""
    noise = keras.Input((noise_dim,), name="noise")
    condition = keras.Input((spec.condition_dim,), name="condition")
    by_class = condition if modulation else None
    x = _dense_bn(noise, 4 * ngf, keras.layers.ReLU, "noise_dense", by_class, fused_bn)
    y = _dense_bn(condition, 4 * ngf, keras.layers.ReLU, "condition_dense", fused_bn=fused_bn)
    h = keras.layers.Concatenate()([x, y])
    h = _dense_bn(h, 8 * ngf, keras.layers.ReLU, "joint_512", by_class, fused_bn)
    h = _dense_bn(h, 16 * ngf, keras.layers.ReLU, "joint_1024", by_class, fused_bn)
    h = keras.layers.Activation("tanh")(_dense(math.prod(spec.image_shape), "pixels")(h))
    image = keras.layers.Reshape(spec.image_shape, name="image")(h)
    return keras.Model([noise, condition], image, name="mlp_cgan_generator")


def build_discriminator(spec, conditioning="concat", spectral_norm=False, norm="batch",
                        minibatch_stddev=False, ndf=64, fused_bn=False):
    """The reference's D (image and label each through Dense 1024, joined, 512, 256 with
    BatchNorm); with projection the label meets the last features in the logit instead. A
    larger ndf than 64 widens every layer in proportion."""
    def leaky():
        return keras.layers.LeakyReLU(0.2)

    def hidden(x, units, name):
        x = _dense(units, name, spectral_norm)(x)
        if norm == "batch":
            x = batch_norm(fused_bn, name=f"{name}_bn")(x)
        elif norm != "none":
            x = normalization(norm, features="vector")(x)
        return leaky()(x)
    image = keras.Input(spec.image_shape, name="image")
    condition = keras.Input((spec.condition_dim,), name="condition")
    flat = keras.layers.Flatten()(image)
    h = leaky()(_dense(widened(1024, ndf), "image_dense", spectral_norm)(flat))
    if conditioning == "concat":
        y = leaky()(_dense(widened(1024, ndf), "condition_dense", spectral_norm)(condition))
        h = keras.layers.Concatenate()([h, y])
    h = hidden(h, widened(512, ndf), "joint_512")
    h = hidden(h, widened(256, ndf), "joint_256")
    logit = conditional_logit(h, condition, conditioning, spectral_norm, normal_init(),
                              minibatch_stddev=minibatch_stddev)
    return keras.Model([image, condition], logit, name="mlp_cgan_discriminator")
