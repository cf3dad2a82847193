"""Mirza & Osindero (2014) conditional GAN: ReLU MLP generator, Maxout discriminator.

The Keras Maxout cGAN tutorial's design. The architecture is kept exactly; what makes it learn the labels is
the small init of G's output layer and its recipe (see docs/label_conditional.md, "Making the Maxout cGAN
learn its labels"): as published (Glorot init, Adam 2e-4, sigmoid + BCE), D wins at once
and the samples ignore their label.
"""
import math

import keras

from gan_zoo.models.layers import Maxout, conditional_logit, modulated, normal_init, widened


def build(spec, config):
    """Returns (generator, discriminator) for `spec` (image shape, condition size)."""
    modulation = config.g_conditioning == "modulation"
    return build_generator(spec, config.noise_dim, config.ngf, modulation), build_discriminator(
        spec, config.d_conditioning, config.spectral_norm, config.minibatch_stddev,
        config.d_dropout, config.ndf)


def build_generator(spec, noise_dim, ngf=64, modulation=False):
    """The tutorial's ReLU MLP: noise and label each to 4 x ngf units, joined, 8 x ngf, pixels
    (ngf 64: its 256 / 256 / 512; a larger ngf widens it and keeps its shape). With
    `modulation` the label also scales and shifts the two hidden layers that see the noise."""
    noise = keras.Input((noise_dim,), name="noise")
    condition = keras.Input((spec.condition_dim,), name="condition")

    def hidden(x, units, name):
        if not modulation:  # the published layers, as checkpoints written before hold them
            return keras.layers.Dense(units, activation="relu", name=name)(x)
        x = modulated(keras.layers.Dense(units, name=name)(x), condition, True, name)
        return keras.layers.ReLU()(x)
    x = hidden(noise, 4 * ngf, "noise_dense")
    y = keras.layers.Dense(4 * ngf, activation="relu", name="condition_dense")(condition)
    h = keras.layers.Concatenate()([x, y])
    h = hidden(h, 8 * ngf, "joint_dense")
    # N(0, 0.02) for G's 512->pixels layer: G starts near grey instead of the high-frequency
    # noise a Glorot-initialised output layer draws (hidden layers keep Glorot, so the samples
    # depend on noise and label from the start).
    h = keras.layers.Dense(math.prod(spec.image_shape), kernel_initializer=normal_init(),
                           activation="tanh", name="pixels")(h)
    image = keras.layers.Reshape(spec.image_shape, name="image")(h)
    return keras.Model([noise, condition], image, name="maxout_cgan_generator")


def build_discriminator(spec, conditioning="concat", spectral_norm=False, minibatch_stddev=False,
                        dropout=0.5, ndf=64):
    """Mirza & Osindero's D: image and label through their own Maxout layers, then a joint one
    (concat); with projection the label skips the Maxout layers and meets D's last features
    in the logit. `dropout` on every Maxout layer's pieces (the paper's 0.5); ndf 64 gives the
    paper's 240 / 50 / 240 units, a larger one widens every layer in proportion."""
    image = keras.Input(spec.image_shape, name="image")
    condition = keras.Input((spec.condition_dim,), name="condition")
    x = Maxout(widened(240, ndf), 5, dropout, spectral_norm=spectral_norm,
               name="image_maxout")(keras.layers.Flatten()(image))
    if conditioning == "concat":
        y = Maxout(widened(50, ndf), 5, dropout, spectral_norm=spectral_norm,
                   name="condition_maxout")(condition)
        x = keras.layers.Concatenate()([x, y])
    h = Maxout(widened(240, ndf), 4, dropout, spectral_norm=spectral_norm, name="joint_maxout")(x)
    logit = conditional_logit(h, condition, conditioning, spectral_norm,
                              minibatch_stddev=minibatch_stddev)
    return keras.Model([image, condition], logit, name="maxout_cgan_discriminator")
