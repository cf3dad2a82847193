"""Conv cGAN with the label broadcast as image channels (reference design C, at 32x32).

G: concat(noise, label) as a 1x1 map -> ConvTranspose 256 k4 s1 valid (4x4) -> 128 (8x8)
-> 64 (16x16) -> C (32x32), BN + LeakyReLU, tanh. D: the condition vector broadcast to
condition_dim constant channels over the image -> Conv 32/64/128 k4 s2 -> Conv 1 k4 valid.
28x28 data is padded to 32x32 by the pipeline (`image_size=32`).
"""
import keras
from keras import ops

from gan_zoo.models.layers import batch_norm, normal_init

DEFAULTS = dict(image_size=32)  # it draws 32x32 (28x28 data is padded)


def build(spec, config):
    if spec.image_shape[:2] != (32, 32):
        from gan_zoo.errors import UserError
        raise UserError(f"conv_cgan draws 32x32 images, the data is {spec.image_shape[:2]}: "
                        "pass --image_size=32.")
    return build_generator(spec, config.noise_dim), build_discriminator(spec)


def build_generator(spec, noise_dim):
    noise = keras.Input((noise_dim,), name="noise")
    condition = keras.Input((spec.condition_dim,), name="condition")
    h = keras.layers.Reshape((1, 1, noise_dim + spec.condition_dim))(
        keras.layers.Concatenate()([noise, condition]))
    for filters, strides, padding in ((256, 1, "valid"), (128, 2, "same"), (64, 2, "same")):
        h = keras.layers.Conv2DTranspose(filters, 4, strides, padding, use_bias=False,
                                         kernel_initializer=normal_init())(h)
        h = keras.layers.LeakyReLU(0.2)(batch_norm()(h))
    image = keras.layers.Conv2DTranspose(spec.image_shape[-1], 4, 2, "same", activation="tanh",
                                         kernel_initializer=normal_init(), name="image")(h)
    return keras.Model([noise, condition], image, name="conv_cgan_generator")


@keras.saving.register_keras_serializable(package="gan_zoo")
class BroadcastCondition(keras.layers.Layer):
    """Tile a [batch, k] condition to [batch, H, W, k] and append it to the image's channels."""

    def call(self, image, condition):
        shape = ops.shape(image)
        tiled = ops.broadcast_to(condition[:, None, None, :],
                                 (shape[0], shape[1], shape[2], ops.shape(condition)[-1]))
        return ops.concatenate([image, ops.cast(tiled, image.dtype)], axis=-1)

    def compute_output_shape(self, image_shape, condition_shape):
        return (*image_shape[:-1], image_shape[-1] + condition_shape[-1])


def build_discriminator(spec):
    image = keras.Input(spec.image_shape, name="image")
    condition = keras.Input((spec.condition_dim,), name="condition")
    h = BroadcastCondition(name="label_channels")(image, condition)
    h = keras.layers.LeakyReLU(0.2)(keras.layers.Conv2D(32, 4, 2, "same", kernel_initializer=normal_init())(h))
    for filters in (64, 128):
        h = keras.layers.Conv2D(filters, 4, 2, "same", use_bias=False, kernel_initializer=normal_init())(h)
        h = keras.layers.LeakyReLU(0.2)(batch_norm()(h))
    logit = keras.layers.Conv2D(1, 4, 1, "valid", kernel_initializer=normal_init())(h)  # 4x4 -> 1x1
    logit = keras.layers.Reshape((1,), name="logit")(logit)
    return keras.Model([image, condition], logit, name="conv_cgan_discriminator")
