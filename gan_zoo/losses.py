"""GAN losses as pure functions of discriminator outputs (TF-GAN's style).

Every loss works on logits (critic scores for the Wasserstein losses), never on sigmoid
outputs: BCE on probabilities saturates and underflows once D is confident, which is
what stalls the published Maxout recipe.

`--loss` picks an `Adversarial` (how D scores real and fake, how G is scored); any model
trains with any of them. `RECIPES` holds the optimizer settings each loss is known to
need, applied when a run switches a model to that loss (see gan_zoo.config.resolve).
"""
import functools
from typing import Callable, NamedTuple

import tensorflow as tf

from gan_zoo.errors import UserError


def _bce(targets, logits):
    return tf.nn.sigmoid_cross_entropy_with_logits(labels=targets, logits=logits)


def _target(logits, value):
    return tf.fill(tf.shape(logits), tf.cast(value, logits.dtype))


# --- non-saturating GAN (Goodfellow et al. 2014) ------------------------------------------
def bce_real_loss(real_logits, real_label=1.0):
    """D's loss on real images: BCE against `real_label` (0.9 = one-sided label smoothing)."""
    return tf.reduce_mean(_bce(_target(real_logits, real_label), real_logits))


def bce_fake_loss(fake_logits, fake_label=0.0):
    """D's loss on fakes: BCE against `fake_label` (0.1 with real 0.9 = two-sided smoothing)."""
    return tf.reduce_mean(_bce(_target(fake_logits, fake_label), fake_logits))


def discriminator_loss(real_logits, fake_logits, real_label=1.0, fake_label=0.0):
    return bce_real_loss(real_logits, real_label) + bce_fake_loss(fake_logits, fake_label)


def generator_loss(fake_logits):
    """Non-saturating generator loss: -log D(G(z)), i.e. BCE against target 1."""
    return tf.reduce_mean(_bce(tf.ones_like(fake_logits), fake_logits))


def bce_accuracies(real_logits, fake_logits):
    """(D accuracy, G accuracy): D's share right at threshold 0.5; G's share of fakes called real."""
    fake_called_real = tf.reduce_mean(tf.cast(fake_logits > 0.0, tf.float32))
    d_acc = 0.5 * (tf.reduce_mean(tf.cast(real_logits > 0.0, tf.float32)) + 1.0 - fake_called_real)
    return d_acc, fake_called_real


# --- Wasserstein GAN (Arjovsky et al. 2017), WGAN-GP (Gulrajani et al. 2017) ---------------
def wasserstein_real_loss(real_scores):
    return -tf.reduce_mean(real_scores)


def wasserstein_fake_loss(fake_scores):
    return tf.reduce_mean(fake_scores)


def wasserstein_discriminator_loss(real_scores, fake_scores):
    """The critic's loss mean(D(fake)) - mean(D(real)): minus the Wasserstein-1 estimate."""
    return wasserstein_real_loss(real_scores) + wasserstein_fake_loss(fake_scores)


def wasserstein_generator_loss(fake_scores):
    return -tf.reduce_mean(fake_scores)


def wasserstein_accuracies(real_scores, fake_scores):
    """A critic has no threshold, so (as the reference does) a fake 'passes' when it scores above
    the batch's mean real score, and a real one is 'caught' when it scores under the mean fake."""
    real_mean, fake_mean = tf.reduce_mean(real_scores), tf.reduce_mean(fake_scores)
    g_acc = tf.reduce_mean(tf.cast(fake_scores > real_mean, tf.float32))
    d_acc = 0.5 * (tf.reduce_mean(tf.cast(real_scores > fake_mean, tf.float32)) + 1.0 - g_acc)
    return d_acc, g_acc


def interpolation_weights(count, image_rank, seed):
    """One weight per example, uniform in [0, 1], shaped [count, 1, ...] to broadcast over the
    rest of an example of rank `image_rank`; stateless (`seed`: 2 integers).

    (The reference draws them from a normal distribution, which puts most interpolates off the
    segment between real and fake where the 1-Lipschitz constraint is meant to hold.)
    """
    return tf.random.stateless_uniform([count] + [1] * (image_rank - 1), seed, 0.0, 1.0, alg="philox")


def gradient_penalty(critic, real, fake, weights, epsilon=1e-10, loss_scale=None):
    """mean over the batch of (||grad_x critic(x)|| - 1)^2 at x = real + weights * (fake - real).

    The norm is per example over every pixel and channel (the reference's over channels only
    penalises each pixel separately); `epsilon` inside the square root keeps the gradient of a
    zero norm finite. The inner tape nests inside the caller's tape, so the penalty's own
    gradient with respect to the critic's weights (a second derivative) is real, under
    tf.function and inside a distribution strategy's replica function alike.
    `loss_scale` (mixed float16): the inner gradient is taken of the scores times it and
    divided back, so it does not underflow in float16 any more than the outer one does.
    """
    interpolates = real + weights * (fake - real)
    with tf.GradientTape() as tape:
        tape.watch(interpolates)
        scores = tf.cast(critic(interpolates), tf.float32)
        if loss_scale is not None:
            scores = scores * tf.cast(loss_scale, tf.float32)
    grads = tape.gradient(scores, interpolates, unconnected_gradients=tf.UnconnectedGradients.ZERO)
    grads = tf.cast(grads, tf.float32)
    if loss_scale is not None:
        grads = grads / tf.cast(loss_scale, tf.float32)
    axes = tf.range(1, tf.rank(grads))
    norms = tf.sqrt(tf.reduce_sum(tf.square(grads), axis=axes) + epsilon)
    return tf.reduce_mean(tf.square(norms - 1.0))


# --- paired data (image-to-image) -------------------------------------------------------------
def l1_loss(targets, outputs):
    """Mean absolute difference of G's outputs to their targets: pix2pix's L1 term, which keeps
    the output close to the target at low frequencies while D judges the high ones."""
    return tf.reduce_mean(tf.abs(tf.cast(targets, tf.float32) - tf.cast(outputs, tf.float32)))


# --- selection --------------------------------------------------------------------------------
class Adversarial(NamedTuple):
    """One adversarial objective. D minimises real_loss(real) + fake_loss(fake) (+ extras);
    G minimises generator_loss(fake); accuracies feed loss.csv and the adaptive schedule."""
    name: str
    real_loss: Callable
    fake_loss: Callable
    generator_loss: Callable
    accuracies: Callable
    gradient_penalty: bool = False


LOSS_CHOICES = ("bce", "wgan", "wgan_gp")

# Settings each loss trains with, as its paper / the reference designs use them.
RECIPES = {
    "bce": {},
    "wgan": dict(optimizer="rmsprop", g_lr=5e-5, d_lr=5e-5, clip=0.01, n_critic=5,
                 real_label=1.0, fake_label=0.0),
    "wgan_gp": dict(optimizer="adam", g_lr=1e-4, d_lr=1e-4, beta1=0.0, beta2=0.999, gp_weight=10.0,
                    n_critic=5, clip=0.0, d_norm="instance", real_label=1.0, fake_label=0.0),
}


def get(name, real_label=1.0, fake_label=0.0):
    if name == "bce":
        return Adversarial("bce", functools.partial(bce_real_loss, real_label=real_label),
                           functools.partial(bce_fake_loss, fake_label=fake_label),
                           generator_loss, bce_accuracies)
    if name in ("wgan", "wgan_gp"):
        return Adversarial(name, wasserstein_real_loss, wasserstein_fake_loss,
                           wasserstein_generator_loss, wasserstein_accuracies,
                           gradient_penalty=name == "wgan_gp")
    raise UserError(f"Unknown loss {name!r}. Choose one of: {', '.join(LOSS_CHOICES)} (--loss=NAME).")
