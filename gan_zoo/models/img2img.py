"""Image-to-image cGAN on paired images (pix2pix, Isola et al. 2017, and the encoder-decoder
design pix2pix compares against).

G maps the input image to the output (no noise vector: pix2pix's noise is dropout,
`--g_dropout`); D judges concat(image, input). G's loss is `--adv_weight` x adversarial +
`--l1_weight` x L1 to the target. `--generator`: encoder_decoder (Conv 64-512 down,
ConvTranspose up, widths from --ngf) or unet (down to 1x1, a skip connection at each size,
dropout in the 3 innermost up blocks). `--discriminator`: global (one logit per image) or
patch (PatchGAN: `--patch_layers` stride-2 convs, a grid of logits, 70x70 fields with 3).
"""
import math

import keras
from absl import logging

from gan_zoo.errors import UserError
from gan_zoo.models.layers import batch_norm, normal_init


def _batch_norm(fused_bn):
    """Moving statistics that follow the last ~10 batches (PyTorch's momentum 0.1, as pix2pix
    trains), not Keras' ~100: runs here are short, and inference mode reads those statistics."""
    return batch_norm(fused_bn, momentum=0.9)


def build(spec, config):
    if not spec.is_paired:
        raise UserError("img2img trains on paired images: pass --dataset=facades, edges2fashion "
                        "or paired:PATH (see --helpfull for --dataset).")
    if config.generator == "unet":
        generator = build_unet(spec, config.ngf, config.g_dropout, config.fused_bn)
    else:
        generator = build_encoder_decoder(spec, config.ngf, config.g_dropout, config.fused_bn)
    if config.discriminator == "patch":
        discriminator = build_patch_discriminator(spec, config.ndf, config.patch_layers, config.fused_bn)
        field = receptive_field(config.patch_layers)
        grid = discriminator.output_shape[1:3]
        logging.info("PatchGAN: %d stride-2 layers, each logit sees a %dx%d receptive field; a "
                     "%dx%d grid of logits at %dx%d.", config.patch_layers, field, field, *grid,
                     *spec.image_shape[:2])
    else:
        discriminator = build_global_discriminator(spec, config.ndf, config.fused_bn)
    return generator, discriminator


def _stages(size, smallest, model):
    """Stride-2 stages from `size` down to `smallest` (a power of two apart), or a UserError."""
    stages = math.log2(size / smallest) if size >= smallest else -1
    if stages < 1 or stages != int(stages):
        raise UserError(f"{model} needs square images of {smallest} times a power of two "
                        f"(e.g. 64, 128, 256), not {size}: pass --image_size=64 (or 128, 256).")
    return int(stages)


def _square_side(spec):
    height, width, _ = spec.image_shape
    if height != width or tuple(spec.condition_shape[:2]) != (height, width):
        raise UserError(f"img2img needs square input and target images of one size, got "
                        f"{spec.condition_shape} -> {spec.image_shape}: pass --image_size=N.")
    return height


def _down(h, filters, norm=True, name=None, fused_bn=False):
    h = keras.layers.Conv2D(filters, 4, 2, "same", use_bias=not norm, kernel_initializer=normal_init(),
                            name=name)(h)
    if norm:
        h = _batch_norm(fused_bn)(h)
    return keras.layers.LeakyReLU(0.2)(h)


def build_encoder_decoder(spec, ngf=64, dropout=0.0, fused_bn=False):
    """The reference's encoder-decoder: 4 stride-2 convs down, 4 transposed convs up."""
    side = _square_side(spec)
    if side % 16:
        raise UserError(f"the encoder-decoder halves the image 4 times, so it needs a side that "
                        f"is a multiple of 16, not {side}: pass --image_size=64 (or 128, 256).")
    condition = keras.Input(spec.condition_shape, name="condition")
    h = condition
    for filters in (ngf, 2 * ngf, 4 * ngf, 8 * ngf):
        h = _down(h, filters, fused_bn=fused_bn)
    for i, filters in enumerate((4 * ngf, 2 * ngf, ngf)):
        h = keras.layers.Conv2DTranspose(filters, 4, 2, "same", use_bias=False,
                                         kernel_initializer=normal_init())(h)
        h = keras.layers.LeakyReLU(0.2)(_batch_norm(fused_bn)(h))
        if dropout:
            h = keras.layers.Dropout(dropout)(h)
    image = keras.layers.Conv2DTranspose(spec.image_shape[-1], 4, 2, "same", activation="tanh",
                                         kernel_initializer=normal_init(), name="image")(h)
    return keras.Model(condition, image, name="encoder_decoder_generator")


def build_unet(spec, ngf=64, dropout=0.5, fused_bn=False):
    """pix2pix's U-Net: down to 1x1, and up with the mirror layer's features concatenated."""
    side = _square_side(spec)
    depth = _stages(side, 1, "the U-Net generator")
    if depth < 4:
        raise UserError(f"the U-Net needs images of at least 16x16, not {side}x{side}.")
    condition = keras.Input(spec.condition_shape, name="condition")
    widths = [ngf * min(2 ** i, 8) for i in range(depth)]  # 64, 128, 256, 512, 512, ...
    skips, h = [], condition
    for i, filters in enumerate(widths):  # no BN on the first layer, nor on the 1x1 bottleneck
        h = _down(h, filters, norm=0 < i < depth - 1, fused_bn=fused_bn)
        skips.append(h)
    for i, filters in enumerate(reversed(widths[:-1])):  # up to side/2, joined to the mirror layer
        h = keras.layers.Conv2DTranspose(filters, 4, 2, "same", use_bias=False,
                                         kernel_initializer=normal_init())(h)
        h = _batch_norm(fused_bn)(h)
        if dropout and i < 3:
            h = keras.layers.Dropout(dropout)(h)
        h = keras.layers.ReLU()(h)
        h = keras.layers.Concatenate()([h, skips[-2 - i]])
    image = keras.layers.Conv2DTranspose(spec.image_shape[-1], 4, 2, "same", activation="tanh",
                                         kernel_initializer=normal_init(), name="image")(h)
    return keras.Model(condition, image, name="unet_generator")


def _pair_inputs(spec):
    image = keras.Input(spec.image_shape, name="image")
    condition = keras.Input(spec.condition_shape, name="condition")
    return image, condition, keras.layers.Concatenate()([image, condition])


def build_global_discriminator(spec, ndf=32, fused_bn=False):
    """The reference's D: stride-2 convs down to 4x4, then one k4 valid conv: one logit."""
    stages = _stages(_square_side(spec), 4, "the global discriminator")
    image, condition, h = _pair_inputs(spec)
    for i in range(stages):
        h = _down(h, ndf * 2 ** min(i, 3), fused_bn=fused_bn)
    logit = keras.layers.Conv2D(1, 4, 1, "valid", kernel_initializer=normal_init())(h)
    logit = keras.layers.Reshape((1,), name="logit")(logit)
    return keras.Model([image, condition], logit, name="global_discriminator")


def build_patch_discriminator(spec, ndf=64, layers=3, fused_bn=False):
    """pix2pix's PatchGAN (n_layers=`layers`): a grid of logits, each over one receptive field."""
    side = _square_side(spec)
    if layers < 1 or side < 2 ** layers * 4:
        raise UserError(f"--patch_layers={layers} needs images of at least {2 ** max(layers, 0) * 4} "
                        f"pixels; these are {side}: pass a smaller --patch_layers.")
    image, condition, h = _pair_inputs(spec)
    for i in range(layers):
        h = _down(h, ndf * min(2 ** i, 8), norm=i > 0, fused_bn=fused_bn)
    # Stride 1, padding 1 either side (pix2pix's): each keeps the grid's size minus one.
    h = keras.layers.ZeroPadding2D(1)(h)
    h = keras.layers.Conv2D(ndf * min(2 ** layers, 8), 4, 1, "valid", use_bias=False,
                            kernel_initializer=normal_init())(h)
    h = keras.layers.LeakyReLU(0.2)(_batch_norm(fused_bn)(h))
    h = keras.layers.ZeroPadding2D(1)(h)
    logits = keras.layers.Conv2D(1, 4, 1, "valid", kernel_initializer=normal_init(), name="logits")(h)
    return keras.Model([image, condition], logits, name="patch_discriminator")


def receptive_field(layers=3):
    """Side in pixels of the input square one PatchGAN logit depends on: `layers` k4 s2 convs,
    then two k4 s1 (70 for pix2pix's 3; 34 for 2; 142 for 4)."""
    field = 1
    for kernel, stride in reversed([(4, 2)] * layers + [(4, 1), (4, 1)]):
        field = field * stride + kernel - stride
    return field
