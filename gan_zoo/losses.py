"""GAN losses as pure functions of discriminator logits (TF-GAN's style).

Every loss works on logits, never on sigmoid outputs: BCE on probabilities saturates
and underflows once D is confident, which is what stalls the published Maxout recipe.
"""
import tensorflow as tf


def _bce(targets, logits):
    return tf.nn.sigmoid_cross_entropy_with_logits(labels=targets, logits=logits)


def discriminator_loss(real_logits, fake_logits, real_label=1.0):
    """Mean BCE of D on real (target `real_label`, 0.9 = one-sided smoothing) and fake (target 0)."""
    real = _bce(tf.fill(tf.shape(real_logits), tf.cast(real_label, real_logits.dtype)), real_logits)
    fake = _bce(tf.zeros_like(fake_logits), fake_logits)
    return tf.reduce_mean(real) + tf.reduce_mean(fake)


def generator_loss(fake_logits):
    """Non-saturating generator loss: -log D(G(z)), i.e. BCE against target 1."""
    return tf.reduce_mean(_bce(tf.ones_like(fake_logits), fake_logits))


def mismatch_loss(mismatched_logits):
    """GAN-CLS's matching-aware term (Reed et al. 2016): real images with the wrong condition are fake.

    Without it D can reject fakes without ever reading the condition, so G gets no signal to
    draw the requested class; with it D must learn what each condition looks like.
    """
    return tf.reduce_mean(_bce(tf.zeros_like(mismatched_logits), mismatched_logits))
