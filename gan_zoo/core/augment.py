"""DiffAugment (Zhao et al. 2020): differentiable augmentations of every image D judges.

On small data D memorises the training images and G's signal fades; augmenting only the
real images would teach G the augmentations. DiffAugment applies the same random family to
real and fake images alike, in D's step and in G's, and every transform is differentiable
in the image, so G's gradient passes through it. Images are in [-1, 1], NHWC.

The random draws are stateless (seeded by the step and the call) and made for the whole
global batch, each replica keeping its rows, so N replicas augment as one device would.
"""
import tensorflow as tf

from gan_zoo.core import distribute

TRANSLATION_RATIO = 0.125  # shift up to 1/8 of the side, as the paper
CUTOUT_RATIO = 0.5  # erase a square of half the side
_DRAWS = 7  # uniforms per image: brightness, saturation, contrast, 2 shifts, 2 cutout centres


def apply(images, policy, seed):
    """`images` augmented by each transform of `policy` (names, in order); `seed`: 2 integers."""
    if not policy:
        return images
    draws = distribute.global_batch_random(
        lambda n, s: tf.random.stateless_uniform([n, _DRAWS], s, alg="philox"),
        distribute.batch_size_of(images), seed)
    x = images
    for name in policy:
        x = _TRANSFORMS[name](x, tf.cast(draws, x.dtype))
    return x


def _per_image(values):
    return values[:, None, None, None]


def color(x, u):
    """Brightness +-0.5, saturation x[0, 2], contrast x[0.5, 1.5], each per image."""
    x = x + _per_image(u[:, 0] - 0.5)
    mean = tf.reduce_mean(x, axis=3, keepdims=True)
    x = (x - mean) * _per_image(u[:, 1] * 2.0) + mean
    mean = tf.reduce_mean(x, axis=[1, 2, 3], keepdims=True)
    return (x - mean) * _per_image(u[:, 2] + 0.5) + mean


def translation(x, u):
    """Shift each image by up to 1/8 of its side in each direction, zero-filled."""
    height, width = x.shape[1], x.shape[2]
    x = tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]])

    def indices(size, uniform):
        reach = int(size * TRANSLATION_RATIO + 0.5)
        shift = tf.cast(tf.floor(uniform * (2 * reach + 1)), tf.int32) - reach
        # padded coordinates: 1..size are the image, 0 and size + 1 the zero border
        return tf.clip_by_value(tf.range(size)[None, :] + 1 + shift[:, None], 0, size + 1)
    x = tf.gather(x, indices(height, u[:, 3]), axis=1, batch_dims=1)
    return tf.gather(x, indices(width, u[:, 4]), axis=2, batch_dims=1)


def cutout(x, u):
    """Zero a square of half the side at a random centre of each image."""
    height, width = x.shape[1], x.shape[2]

    def outside(size, uniform):
        half = int(size * CUTOUT_RATIO + 0.5) // 2
        centre = tf.floor(uniform * size)
        coords = tf.range(size, dtype=x.dtype)[None, :]
        return tf.abs(coords - centre[:, None]) >= half  # [batch, size]
    keep = tf.logical_or(outside(height, u[:, 5])[:, :, None], outside(width, u[:, 6])[:, None, :])
    return x * tf.cast(keep, x.dtype)[..., None]


def quarter_turns(images, turns):
    """Each image of NHWC `images` turned anticlockwise by its `turns` [batch] quarter turns (0 to
    3), for self-supervision by rotation; square images only (a turn keeps their shape)."""
    turned = tf.stack([tf.image.rot90(images, k) for k in range(4)], axis=1)  # [batch, 4, H, W, C]
    return tf.gather(turned, turns, axis=1, batch_dims=1)


_TRANSFORMS = {"color": color, "translation": translation, "cutout": cutout}
