"""Sample diversity: the collapse alarm's figure (needs no pretrained network).

Mode collapse shows as samples that look alike whatever the noise. The figure is the mean
pairwise L2 distance between images downsampled to 16x16 (fine detail and noise do not
count, layout and tone do), divided by the same figure for real images: about 1 for a
healthy generator, near 0 for a collapsed one.
"""
import numpy as np
import tensorflow as tf

SIZE = 16


def mean_pairwise_distance(images, size=SIZE):
    """Mean L2 distance over all pairs i != j of `images` (float [-1, 1] or uint8, NHWC)."""
    x = tf.convert_to_tensor(images)
    if x.dtype == tf.uint8:
        x = tf.cast(x, tf.float32) / 127.5 - 1.0
    x = tf.image.resize(tf.cast(x, tf.float32), (size, size), antialias=True)
    flat = tf.reshape(x, [tf.shape(x)[0], -1]).numpy().astype(np.float64)
    n = len(flat)
    if n < 2:
        raise ValueError("diversity needs at least 2 images")
    squared = (flat ** 2).sum(1)
    d2 = np.maximum(squared[:, None] + squared[None, :] - 2.0 * flat @ flat.T, 0.0)
    return float(np.sqrt(d2)[~np.eye(n, dtype=bool)].mean())


def relative_diversity(samples, real_images):
    """mean_pairwise_distance(samples) / mean_pairwise_distance(real_images)."""
    return mean_pairwise_distance(samples) / max(mean_pairwise_distance(real_images), 1e-12)
