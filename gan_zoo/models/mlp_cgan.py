"""MLP cGAN with BatchNorm (reference design A, rebuilt in Keras).

Weights N(0, 0.02), biases 0, Adam 2e-4 (0.5, 0.999), batch 128, 50 epochs with the learning
rate divided by 10 at epochs 30 and 40, noise uniform [0, 1): the reference's settings.
"""
import math

import keras

from gan_zoo.models.layers import batch_norm, normal_init



def _dense(units, name):
    return keras.layers.Dense(units, kernel_initializer=normal_init(),
                              name=name)


def _dense_bn(x, units, activation, name):
    x = _dense(units, name)(x)
    x = batch_norm(name=f"{name}_bn")(x)
    return activation()(x)


def build(spec, config):
    return build_generator(spec, config.noise_dim), build_discriminator(spec)


def build_generator(spec, noise_dim):
    noise = keras.Input((noise_dim,), name="noise")
    condition = keras.Input((spec.condition_dim,), name="condition")
    x = _dense_bn(noise, 256, keras.layers.ReLU, "noise_dense")
    y = _dense_bn(condition, 256, keras.layers.ReLU, "condition_dense")
    h = keras.layers.Concatenate()([x, y])
    h = _dense_bn(h, 512, keras.layers.ReLU, "joint_512")
    h = _dense_bn(h, 1024, keras.layers.ReLU, "joint_1024")
    h = keras.layers.Activation("tanh")(_dense(math.prod(spec.image_shape), "pixels")(h))
    image = keras.layers.Reshape(spec.image_shape, name="image")(h)
    return keras.Model([noise, condition], image, name="mlp_cgan_generator")


def build_discriminator(spec):
    def leaky():
        return keras.layers.LeakyReLU(0.2)
    image = keras.Input(spec.image_shape, name="image")
    condition = keras.Input((spec.condition_dim,), name="condition")
    x = leaky()(_dense(1024, "image_dense")(keras.layers.Flatten()(image)))
    y = leaky()(_dense(1024, "condition_dense")(condition))
    h = keras.layers.Concatenate()([x, y])
    h = _dense_bn(h, 512, leaky, "joint_512")
    h = _dense_bn(h, 256, leaky, "joint_256")
    logit = _dense(1, "logit")(h)
    return keras.Model([image, condition], logit, name="mlp_cgan_discriminator")
