"""How close an image-to-image generator's outputs are to their targets (paired data)."""
import tensorflow as tf


def distances(targets, outputs):
    """Per image (L1, PSNR in dB, SSIM) of `outputs` to `targets`, both in [-1, 1].

    L1 is the mean absolute difference on the [-1, 1] scale the generator's L1 loss uses;
    PSNR and SSIM (tf.image, 11x11 Gaussian window) are taken on [0, 1], max value 1.
    """
    targets, outputs = tf.cast(targets, tf.float32), tf.cast(outputs, tf.float32)
    l1 = tf.reduce_mean(tf.abs(targets - outputs), axis=[1, 2, 3])
    a, b = (targets + 1.0) / 2.0, tf.clip_by_value((outputs + 1.0) / 2.0, 0.0, 1.0)
    return l1, tf.image.psnr(a, b, max_val=1.0), tf.image.ssim(a, b, max_val=1.0)
