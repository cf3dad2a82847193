"""DCGAN (Radford et al. 2016), unconditional: the faces models (BCE, WGAN and WGAN-GP).

G: noise as a 1x1xZ map -> ConvTranspose 8*ngf k4 s1 valid (k5 when the size is a multiple
of 5: 80x80) -> 4*ngf k4 s2 -> 2*ngf -> ngf -> C k4 s2, BN + ReLU, no biases, tanh.
D mirrors it: Conv ndf k4 s2 LeakyReLU(0.2) with no normalisation, -> 2*ndf -> 4*ndf -> 8*ndf
with `--d_norm` (BatchNorm; InstanceNorm for WGAN-GP, whose penalty needs examples judged
independently), -> Conv 1 with the base kernel, valid: one logit, no sigmoid (the losses
take logits). One up/down-sampling stage per doubling, so 32, 64, 80, 128 ... all work.
"""
import math

import keras

from gan_zoo.errors import UserError
from gan_zoo.models import spectral_norm as sn
from gan_zoo.models.layers import batch_norm, normal_init, normalization


def layout(size):
    """(base size, number of stride-2 stages) with size == base * 2**stages, base 4 or 5."""
    for base in (4, 5):
        stages = math.log2(size / base) if size % base == 0 else -1
        if stages >= 2 and stages == int(stages):
            return base, int(stages)
    raise UserError(f"dcgan draws square images of 4 or 5 times a power of two (32, 40, 64, 80, "
                    f"128, ...), not {size}: pass --image_size=64 (or 32, 80, ...).")


def build(spec, config):
    height, width, _ = spec.image_shape
    if height != width:
        raise UserError(f"dcgan needs square images, the data's are {height}x{width}: pass "
                        "--image_size=64 (and --center_crop to keep the middle of each image).")
    return (build_generator(spec, config.noise_dim, config.ngf, config.fused_bn),
            build_discriminator(spec, config.ndf, config.d_norm, config.spectral_norm, config.fused_bn))


def build_generator(spec, noise_dim, ngf, fused_bn=False):
    size, _, channels = spec.image_shape
    base, stages = layout(size)
    noise = keras.Input((noise_dim,), name="noise")
    h = keras.layers.Reshape((1, 1, noise_dim))(noise)
    for i in range(stages):  # base x base with ngf * 2**(stages-1) channels, then double the size
        kernel, strides, padding = (base, 1, "valid") if i == 0 else (4, 2, "same")
        h = keras.layers.Conv2DTranspose(ngf * 2 ** (stages - 1 - i), kernel, strides, padding,
                                         use_bias=False, kernel_initializer=normal_init())(h)
        h = keras.layers.ReLU()(batch_norm(fused_bn)(h))
    image = keras.layers.Conv2DTranspose(channels, 4, 2, "same", use_bias=False, activation="tanh",
                                         kernel_initializer=normal_init(), name="image")(h)
    return keras.Model(noise, image, name="dcgan_generator")


def build_discriminator(spec, ndf, norm="batch", spectral_norm=False, fused_bn=False):
    base, stages = layout(spec.image_shape[0])
    image = keras.Input(spec.image_shape, name="image")
    h = image
    for i in range(stages):
        h = sn.conv2d(ndf * 2 ** i, 4, 2, "same", spectral_norm, use_bias=i == 0 or norm == "none",
                      kernel_initializer=normal_init())(h)
        if i > 0:
            h = normalization(norm, fused_bn=fused_bn)(h)
        h = keras.layers.LeakyReLU(0.2)(h)
    logit = sn.conv2d(1, base, 1, "valid", spectral_norm, kernel_initializer=normal_init())(h)
    logit = keras.layers.Reshape((1,), name="logit")(logit)
    return keras.Model(image, logit, name="dcgan_discriminator")
