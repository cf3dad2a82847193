"""StackGAN's networks (Zhang et al. 2017): a coarse image, then the same scene refined at a
higher resolution.

Stage I: the condition's conditioning augmentation (a Gaussian around its embedding, sampled
with the reparametrisation trick) joined with noise -> Dense -> nearest-upsample + conv blocks
-> the stage-I image (the data's size / `factor`). Stage II: the stage-I image -> conv features
downsampled once -> joined with the condition's own augmentation -> residual blocks -> upsample
+ conv blocks to the data's size. Each D: stride-2 convs to 4x4 at its stage's size, the
condition as label channels (concat) or in the logit (projection).

G is deterministic given its inputs: the augmentation's standard-normal draw is the first
`ca_dim` numbers of the noise vector (stage II's augmentation, with its own mean and variance,
reuses that draw), so both stages take the same noise and a served model gives the same
images for the same request. Unconditional data (images alone, e.g. faces) switches the condition path off.

As a registered model (`build`): --stage=1 trains stage I alone, its G's image
nearest-upsampled to the data's size and its D average-pooling back to stage I's (so D judges
stage I's own pixels while runs, grids, scores and exports see images of the data's size);
--stage=2 trains stage II over a frozen stage I, which the trainer fills from --stage1_run
(gan_zoo.run.warm_start). Its layer "stage1_image" holds what stage I drew, which the grids show
beside the refinement and the export serves as a second output.
"""
import keras
from keras import ops

from gan_zoo.core import losses
from gan_zoo.errors import UserError
from gan_zoo.models import spectral_norm as sn
from gan_zoo.models.conv_cgan import BroadcastCondition
from gan_zoo.models.layers import batch_norm, conditional_logit, normal_init, normalization


@keras.saving.register_keras_serializable(package="gan_zoo")
class ConditioningAugmentation(keras.layers.Layer):
    """c = mu(y) + sigma(y) * epsilon, [mu, log sigma^2] = Dense(2 dim)(y): a smooth condition
    manifold from few conditions. While trainable it adds its KL to N(0, I)
    (losses.conditioning_kl) as a loss of the model, which G's step weighs by --kl_weight."""

    def __init__(self, dim, **kwargs):
        super().__init__(**kwargs)
        self.dim = dim
        self.moments = keras.layers.Dense(2 * dim, kernel_initializer=normal_init(), name="moments")

    def build(self, condition_shape, epsilon_shape):
        self.moments.build(condition_shape)

    def call(self, condition, epsilon):
        stats = ops.cast(self.moments(ops.cast(condition, self.compute_dtype)), "float32")
        mean, log_variance = stats[:, :self.dim], stats[:, self.dim:]
        if self.trainable:
            self.add_loss(losses.conditioning_kl(mean, log_variance))
        sample = mean + ops.exp(0.5 * log_variance) * ops.cast(epsilon, "float32")
        return ops.cast(sample, self.compute_dtype)

    def compute_output_shape(self, condition_shape, epsilon_shape):
        return (condition_shape[0], self.dim)

    def get_config(self):
        return {**super().get_config(), "dim": self.dim}


def _upsampling_plan(size):
    """(base, doublings): the smallest map (<= 7 pixels) doubling `doublings` times to `size`."""
    base, doublings = size, 0
    while base % 2 == 0 and base > 7:
        base, doublings = base // 2, doublings + 1
    return base, doublings


def _up_block(h, filters, fused_bn):
    h = keras.layers.UpSampling2D(2, interpolation="nearest")(h)
    h = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False,
                            kernel_initializer=normal_init())(h)
    return keras.layers.ReLU()(batch_norm(fused_bn)(h))


def _split(noise, start, stop, name):
    """noise[:, start:stop] as a named layer (a Lambda would not reload in Keras' safe mode)."""
    return keras.layers.Identity(name=name)(noise[:, start:stop])


def build_stage1_generator(size, channels, condition_dim, noise_dim, ca_dim, ngf=64, fused_bn=False):
    """(noise[, condition]) -> the stage-I image, size x size x channels."""
    base, doublings = _upsampling_plan(size)
    noise = keras.Input((noise_dim,), name="noise")
    inputs, h = [noise], noise
    if condition_dim:
        condition = keras.Input((condition_dim,), name="condition")
        inputs.append(condition)
        augmented = ConditioningAugmentation(ca_dim, name="augmentation")(
            condition, _split(noise, 0, ca_dim, "augmentation_draw"))
        h = keras.layers.Concatenate()([augmented, _split(noise, ca_dim, noise_dim, "z")])
    width = ngf * 2 ** doublings
    h = keras.layers.Dense(base * base * width, use_bias=False, kernel_initializer=normal_init())(h)
    h = keras.layers.Reshape((base, base, width))(keras.layers.ReLU()(batch_norm(fused_bn)(h)))
    for i in range(doublings):
        h = _up_block(h, ngf * 2 ** (doublings - i - 1), fused_bn)
    image = keras.layers.Conv2D(channels, 3, padding="same", activation="tanh",
                                kernel_initializer=normal_init(), name="image")(h)
    return keras.Model(inputs if condition_dim else noise, image, name="stage1_generator")


def _residual_block(h, name, fused_bn):
    filters = h.shape[-1]
    r = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False,
                            kernel_initializer=normal_init())(h)
    r = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False,
                            kernel_initializer=normal_init())(keras.layers.ReLU()(batch_norm(fused_bn)(r)))
    return keras.layers.ReLU()(keras.layers.Add(name=name)([h, batch_norm(fused_bn)(r)]))


def build_stage2_generator(stage1, size, ca_dim, ngf=64, residual_blocks=2, fused_bn=False):
    """(noise[, condition]) -> the size x size image refined from `stage1`'s (frozen here: its
    weights are not trained). The noise is stage I's; stage II's augmentation reuses its draw."""
    stage1.trainable = False
    conditional = len(stage1.inputs) == 2
    noise = keras.Input((stage1.inputs[0].shape[-1],), name="noise")
    inputs = [noise]
    if conditional:
        condition = keras.Input((stage1.inputs[1].shape[-1],), name="condition")
        inputs.append(condition)
        coarse = stage1([noise, condition])
    else:
        coarse = stage1(noise)
    coarse = keras.layers.Identity(name="stage1_image")(coarse)
    width = 2 * ngf
    h = keras.layers.ReLU()(keras.layers.Conv2D(ngf, 3, padding="same",
                                                kernel_initializer=normal_init())(coarse))
    strides = 2 if coarse.shape[1] % 2 == 0 and coarse.shape[1] >= 8 else 1
    h = keras.layers.Conv2D(width, 4, strides, padding="same", use_bias=False,
                            kernel_initializer=normal_init())(h)
    h = keras.layers.ReLU()(batch_norm(fused_bn)(h))
    if conditional:
        augmented = ConditioningAugmentation(ca_dim, name="stage2_augmentation")(
            condition, _split(noise, 0, ca_dim, "stage2_draw"))
        h = BroadcastCondition(name="joined")(h, augmented)
        h = keras.layers.Conv2D(width, 3, padding="same", use_bias=False,
                                kernel_initializer=normal_init())(h)
        h = keras.layers.ReLU()(batch_norm(fused_bn)(h))
    for i in range(residual_blocks):
        h = _residual_block(h, f"residual_{i}", fused_bn)
    while h.shape[1] < size:
        width = max(width // 2, 16)
        h = _up_block(h, width, fused_bn)
    if h.shape[1] != size:
        raise UserError(f"stackgan's stage II cannot reach {size}x{size} from a "
                        f"{coarse.shape[1]}x{coarse.shape[1]} stage-I image by doublings: pass "
                        "--image_size=N with N / --stage_factor a size stage I can draw.")
    image = keras.layers.Conv2D(coarse.shape[-1], 3, padding="same", activation="tanh",
                                kernel_initializer=normal_init(), name="image")(h)
    return keras.Model(inputs if conditional else noise, image, name="stage2_generator")


def build_discriminator(size, channels, condition_dim, conditioning="projection",
                        spectral_norm=False, ndf=64, norm="batch", name="discriminator", fused_bn=False):
    """(image[, condition]) -> one logit: stride-2 convs down to 4x4, as conv_cgan's D."""
    image = keras.Input((size, size, channels), name="image")
    inputs, h = [image], image
    if condition_dim:
        condition = keras.Input((condition_dim,), name="condition")
        inputs.append(condition)
        if conditioning == "concat":
            h = BroadcastCondition(name="label_channels")(h, condition)
    filters, first = ndf, True
    while h.shape[1] > 4:
        h = sn.conv2d(filters, 4, 2, "same", spectral_norm, use_bias=first or norm == "none",
                      kernel_initializer=normal_init())(h)
        h = keras.layers.LeakyReLU(0.2)(h if first else normalization(norm, fused_bn=fused_bn)(h))
        filters, first = filters * 2, False
    features = keras.layers.Flatten()(h)
    if condition_dim:
        logit = conditional_logit(features, condition, conditioning, spectral_norm, normal_init())
    else:
        logit = sn.dense(1, spectral_norm, kernel_initializer=normal_init(), name="logit")(features)
    return keras.Model(inputs if condition_dim else image, logit, name=name)


def build(spec, config):
    """(generator, discriminator) of --stage=1 or 2 at the data's size (see the top)."""
    height, width, channels = spec.image_shape
    stage1_size = height // config.stage_factor
    if height != width or height % config.stage_factor or _upsampling_plan(stage1_size)[0] < 3:
        raise UserError(f"stackgan needs square images whose side is --stage_factor="
                        f"{config.stage_factor} x a stage-I size that halves down to 3-7 pixels "
                        f"(28 -> 14, 64 -> 32); the data is {height}x{width}: pass --image_size "
                        "(e.g. 28 or 64).")
    condition_dim = spec.condition_dim if spec.is_conditional else 0
    stage1 = build_stage1_generator(stage1_size, channels, condition_dim, config.noise_dim,
                                    config.ca_dim, config.ngf, config.fused_bn)
    if config.stage == 2:
        generator = build_stage2_generator(stage1, height, config.ca_dim, config.ngf, fused_bn=config.fused_bn)
        return generator, build_discriminator(
            height, channels, condition_dim, config.d_conditioning, config.spectral_norm,
            config.ndf, config.d_norm, name="stage2_discriminator", fused_bn=config.fused_bn)
    return _at_data_size(stage1, config.stage_factor), _judging_stage1_pixels(
        build_discriminator(stage1_size, channels, condition_dim, config.d_conditioning,
                            config.spectral_norm, config.ndf, config.d_norm,
                            name="stage1_discriminator", fused_bn=config.fused_bn), config.stage_factor)


def _at_data_size(stage1, factor):
    """Stage I's G with its image nearest-upsampled by `factor` (each pixel a factor^2 block)."""
    inputs = [keras.Input(x.shape[1:], name=x.name) for x in stage1.inputs]
    coarse = stage1(inputs if len(inputs) > 1 else inputs[0])
    image = keras.layers.UpSampling2D(factor, interpolation="nearest", name="data_size")(coarse)
    return keras.Model(inputs if len(inputs) > 1 else inputs[0], image, name="stackgan_stage1")


def _judging_stage1_pixels(discriminator, factor):
    """Stage I's D on data-size images average-pooled by `factor`: a nearest-upsampled stage-I
    image pools back to itself exactly, real images to stage I's size."""
    image = keras.Input((discriminator.inputs[0].shape[1] * factor,) * 2
                        + (discriminator.inputs[0].shape[-1],), name="image")
    inputs = [image] + [keras.Input(x.shape[1:], name=x.name) for x in discriminator.inputs[1:]]
    pooled = keras.layers.AveragePooling2D(factor, name="to_stage1_size")(image)
    logit = discriminator([pooled, *inputs[1:]] if len(inputs) > 1 else pooled)
    return keras.Model(inputs if len(inputs) > 1 else image, logit, name="stackgan_stage1_critic")
