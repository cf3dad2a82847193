"""Conv cGAN with the label broadcast as image channels (the TensorFlow 1 conv cGAN tutorial's, at 32x32).

G: concat(noise, label) as a 1x1 map -> ConvTranspose 256 k4 s1 valid (4x4) -> 128 (8x8)
-> 64 (16x16) -> C (32x32), BN + LeakyReLU, tanh. D: the condition vector broadcast to
condition_dim constant channels over the image -> Conv 32/64/128 k4 s2 -> Conv 1 k4 valid
(with --d_conditioning=projection, the label also meets D's last features in the logit).
Data up to 8 pixels smaller (28x28) is padded inside the model: D pads its input with
background to 32x32 and G's 32x32 drawing is cropped back, so G gives images of the data's
own size (what the grids, exports and scores see) while the architecture stays the paper's.
"""
import keras
from keras import ops

from gan_zoo.errors import UserError
from gan_zoo.models import spectral_norm as sn
from gan_zoo.models.layers import batch_norm, conditional_logit, normal_init, normalization

SIZE = 32  # the architecture's canvas


def build(spec, config):
    height, width = spec.image_shape[:2]
    if not (0 <= SIZE - height <= 8 and 0 <= SIZE - width <= 8):
        raise UserError(f"conv_cgan draws {SIZE}x{SIZE} images (smaller ones of up to 8 pixels "
                        f"less, like 28x28, are padded inside it); the data is {height}x{width}: "
                        f"pass --image_size={SIZE}.")
    return build_generator(spec, config.noise_dim, config.fused_bn), build_discriminator(
        spec, config.d_conditioning, config.spectral_norm, config.d_norm, config.fused_bn)


def _margins(spec):
    """((top, bottom), (left, right)) between the data's size and the 32x32 canvas."""
    height, width = spec.image_shape[:2]
    return (((SIZE - height) // 2, SIZE - height - (SIZE - height) // 2),
            ((SIZE - width) // 2, SIZE - width - (SIZE - width) // 2))


def build_generator(spec, noise_dim, fused_bn=False):
    noise = keras.Input((noise_dim,), name="noise")
    condition = keras.Input((spec.condition_dim,), name="condition")
    h = keras.layers.Reshape((1, 1, noise_dim + spec.condition_dim))(
        keras.layers.Concatenate()([noise, condition]))
    for filters, strides, padding in ((256, 1, "valid"), (128, 2, "same"), (64, 2, "same")):
        h = keras.layers.Conv2DTranspose(filters, 4, strides, padding, use_bias=False,
                                         kernel_initializer=normal_init())(h)
        h = keras.layers.LeakyReLU(0.2)(batch_norm(fused_bn)(h))
    image = keras.layers.Conv2DTranspose(spec.image_shape[-1], 4, 2, "same", activation="tanh",
                                         kernel_initializer=normal_init(), name="image")(h)
    if spec.image_shape[:2] != (SIZE, SIZE):
        image = keras.layers.Cropping2D(_margins(spec), name="data_size")(image)
    return keras.Model([noise, condition], image, name="conv_cgan_generator")


@keras.saving.register_keras_serializable(package="gan_zoo")
class PadWithBackground(keras.layers.Layer):
    """Pad images in [-1, 1] with -1 (the background the data pipeline's padding adds)."""

    def __init__(self, margins, **kwargs):
        super().__init__(**kwargs)
        self.margins = tuple(tuple(m) for m in margins)

    def call(self, images):
        return ops.pad(images, ((0, 0), *self.margins, (0, 0)), constant_values=-1.0)

    def compute_output_shape(self, shape):
        (top, bottom), (left, right) = self.margins
        return (shape[0], shape[1] + top + bottom, shape[2] + left + right, shape[3])

    def get_config(self):
        return {**super().get_config(), "margins": self.margins}


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


def build_discriminator(spec, conditioning="concat", spectral_norm=False, norm="batch", fused_bn=False):
    image = keras.Input(spec.image_shape, name="image")
    condition = keras.Input((spec.condition_dim,), name="condition")
    h = image
    if spec.image_shape[:2] != (SIZE, SIZE):
        h = PadWithBackground(_margins(spec), name="to_canvas")(h)
    h = BroadcastCondition(name="label_channels")(h, condition)
    h = keras.layers.LeakyReLU(0.2)(sn.conv2d(32, 4, 2, "same", spectral_norm,
                                              kernel_initializer=normal_init())(h))
    for filters in (64, 128):
        h = sn.conv2d(filters, 4, 2, "same", spectral_norm, use_bias=norm == "none",
                      kernel_initializer=normal_init())(h)
        h = keras.layers.LeakyReLU(0.2)(normalization(norm, fused_bn=fused_bn)(h))
    if conditioning == "projection":  # psi = the same 4x4 linear map as the conv below
        logit = conditional_logit(keras.layers.Flatten()(h), condition, conditioning,
                                  spectral_norm, normal_init())
    else:
        logit = sn.conv2d(1, 4, 1, "valid", spectral_norm, kernel_initializer=normal_init())(h)
        logit = keras.layers.Reshape((1,), name="logit")(logit)
    return keras.Model([image, condition], logit, name="conv_cgan_discriminator")
