"""GAN losses as pure functions of discriminator outputs (TF-GAN's style).

Every loss works on logits (critic scores for the Wasserstein losses), never on sigmoid
outputs: BCE on probabilities saturates and underflows once D is confident, which is
what stalls the published Maxout recipe.

`--loss` picks an `Objective` (how D scores real and fake, how G is scored, its penalty,
its critic constraint); any model trains with any of them. The settings a loss trains with
are data: gan_zoo/settings/recipes/losses/<loss>.flags.
"""
import dataclasses
import functools
from typing import Callable

import tensorflow as tf

from gan_zoo.errors import UserError
from gan_zoo.settings.choices import LOSS_CHOICES


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


def wasserstein_generator_loss(fake_scores):
    return -tf.reduce_mean(fake_scores)


def wasserstein_accuracies(real_scores, fake_scores):
    """A critic has no threshold, so (as the reference does) a fake 'passes' when it scores above
    the batch's mean real score, and a real one is 'caught' when it scores under the mean fake."""
    real_mean, fake_mean = tf.reduce_mean(real_scores), tf.reduce_mean(fake_scores)
    g_acc = tf.reduce_mean(tf.cast(fake_scores > real_mean, tf.float32))
    d_acc = 0.5 * (tf.reduce_mean(tf.cast(real_scores > fake_mean, tf.float32)) + 1.0 - g_acc)
    return d_acc, g_acc


# --- hinge loss (Lim & Ye 2017; Miyato et al. 2018's SN-GAN and projection D) ---------------
def hinge_real_loss(real_logits):
    """D's hinge on real images, mean(relu(1 - D(x))): no push once D scores them above 1."""
    return tf.reduce_mean(tf.nn.relu(1.0 - real_logits))


def hinge_fake_loss(fake_logits):
    """D's hinge on fakes, mean(relu(1 + D(G(z)))): no push once D scores them below -1.
    G's side is the Wasserstein one, -mean(D(G(z)))."""
    return tf.reduce_mean(tf.nn.relu(1.0 + fake_logits))


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


def r1_penalty(critic, real, loss_scale=None):
    """R1 (Mescheder et al. 2018): mean over the batch of ||grad_x critic(x)||^2 at the real
    images, x's own gradient per example (so it needs a critic that judges each example alone).
    It pulls D's surface flat on the data, which keeps an unregularised D from growing sharp
    peaks there. Like the gradient penalty, its inner tape nests in the caller's, so its own
    gradient with respect to D's weights is real. `loss_scale`: as gradient_penalty's."""
    with tf.GradientTape() as tape:
        tape.watch(real)
        scores = tf.cast(critic(real), tf.float32)
        if loss_scale is not None:
            scores = scores * tf.cast(loss_scale, tf.float32)
        total = tf.reduce_sum(scores)  # inside the tape: each example's own gradient
    grads = tf.cast(tape.gradient(total, real), tf.float32)
    if loss_scale is not None:
        grads = grads / tf.cast(loss_scale, tf.float32)
    return tf.reduce_mean(tf.reduce_sum(tf.square(grads), axis=tf.range(1, tf.rank(grads))))


# --- paired data (image-to-image) -------------------------------------------------------------
def l1_loss(targets, outputs):
    """Mean absolute difference of G's outputs to their targets: pix2pix's L1 term, which keeps
    the output close to the target at low frequencies while D judges the high ones."""
    return tf.reduce_mean(tf.abs(tf.cast(targets, tf.float32) - tf.cast(outputs, tf.float32)))


# --- diversity -------------------------------------------------------------------------------
def _pair_ratio(fake, z, across=None):
    """Mean absolute difference of two images over that of the noise that drew them, the
    pairs being examples 2i and 2i + 1 of the batch (drawn for one condition). `across`, given,
    averages each batch mean over the replicas (distribute.mean_across_replicas), so N replicas
    compute the ratio of the global batch, as one device does."""
    pairs = 2 * (tf.shape(fake)[0] // 2)
    fake, z = tf.cast(fake, tf.float32), tf.cast(z, tf.float32)
    means = tf.stack([tf.reduce_mean(tf.abs(x[0:pairs:2] - x[1:pairs:2])) for x in (fake, z)])
    images, noises = tf.unstack(across(means) if across else means)
    return images / noises


def mode_seeking_penalty(fake, z, eps=1e-5, across=None):
    """MSGAN's term (Mao et al. 2019) for G to minimise: 1 / (ratio + eps), ratio the pairs'
    image distance over their noise distance (_pair_ratio). A G that ignores its noise
    (collapse within a condition) makes the ratio 0 and the term large."""
    return 1.0 / (_pair_ratio(fake, z, across) + eps)


def diversity_sensitive_reward(fake, z, bound, across=None):
    """DSGAN's term (Yang et al. 2019) for G to maximise: min(ratio, bound), the same pairs'
    ratio, bounded so G is not paid for noise that moves images without limit."""
    return tf.minimum(_pair_ratio(fake, z, across), bound)


def top_k_weights(fake_logits, fraction):
    """Top-k training of G (Sinha et al. 2020): 1 for the ceil(fraction x n) fakes of the batch
    D rates most real (by their mean logit), 0 for the rest. A mask rather than a gather, so
    the shapes stay static under XLA while the fraction changes."""
    scores = tf.reduce_mean(tf.reshape(tf.cast(fake_logits, tf.float32), [tf.shape(fake_logits)[0], -1]), -1)
    n = tf.cast(tf.shape(scores)[0], tf.float32)
    k = tf.maximum(tf.math.ceil(tf.cast(fraction, tf.float32) * n), 1.0)
    # each fake's rank (0: rated most real; ties by position) from pairwise comparisons, which
    # XLA compiles far faster than a sort
    above = scores[None, :] > scores[:, None]
    tied_before = tf.logical_and(tf.equal(scores[None, :], scores[:, None]),
                                 tf.linalg.band_part(tf.ones_like(above, tf.int32), 0, -1) < 1)
    rank = tf.reduce_sum(tf.cast(tf.logical_or(above, tied_before), tf.float32), axis=1)
    return tf.cast(rank < k, tf.float32)


def consistency_penalty(logits, augmented_logits):
    """bCR's term (Zhao et al. 2020) for D on one side: the mean squared difference of its
    logits for images and for their augmented copies."""
    return tf.reduce_mean(tf.square(tf.cast(logits, tf.float32) - tf.cast(augmented_logits, tf.float32)))


def lecam_penalty(real_logits, fake_logits, real_anchor, fake_anchor):
    """LeCam regularisation (Tseng et al. 2021, as their code computes it) for D: real logits
    above the fakes' moving average and fake logits below the reals' are pulled back,
    mean relu(real - a_fake)^2 + mean relu(a_real - fake)^2."""
    real, fake = tf.cast(real_logits, tf.float32), tf.cast(fake_logits, tf.float32)
    return (tf.reduce_mean(tf.square(tf.nn.relu(real - fake_anchor)))
            + tf.reduce_mean(tf.square(tf.nn.relu(real_anchor - fake))))


def rotation_loss(rotation_logits, turns):
    """Self-supervision by rotation (Chen et al. 2019): the mean cross-entropy of a 4-way head's
    `rotation_logits` [batch, 4] against the quarter turns each image was given."""
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=turns, logits=tf.cast(rotation_logits, tf.float32)))


def conditioning_kl(mean, log_variance):
    """KL(N(mean, exp(log_variance)) || N(0, I)), summed over the dimensions and averaged over
    the batch: StackGAN's conditioning-augmentation term, which keeps the condition's Gaussian
    near the unit one so nearby conditions overlap (Zhang et al. 2017)."""
    mean, log_variance = tf.cast(mean, tf.float32), tf.cast(log_variance, tf.float32)
    per_dim = 0.5 * (tf.square(mean) + tf.exp(log_variance) - log_variance - 1.0)
    return tf.reduce_mean(tf.reduce_sum(per_dim, axis=-1))


# --- the objective: one table --------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Objective:
    """One adversarial objective, everything that `--loss` decides in one place.

    D minimises real_loss(real) + fake_loss(fake), plus penalty_weight x the penalty; G
    minimises generator_loss(fake); accuracies feed loss.csv and the adaptive schedule.
    `penalty` is "none" or "gradient_penalty" (per example, so it refuses a BatchNorm critic);
    `clip` > 0 is the critic constraint, every critic weight clipped into [-clip, clip] after
    each D step; `r1_gamma` > 0 adds gamma / 2 x R1 on real images to any loss, every
    `r1_every`-th D step scaled by r1_every (lazy regularisation). The settings a loss trains
    with are in gan_zoo/settings/recipes/losses/<loss>.flags."""
    name: str
    real_loss: Callable
    fake_loss: Callable
    generator_loss: Callable
    accuracies: Callable
    penalty: str = "none"
    penalty_weight: float = 0.0
    clip: float = 0.0
    r1_gamma: float = 0.0
    r1_every: int = 1

    @property
    def gradient_penalty(self):
        return self.penalty == "gradient_penalty"

    def discriminator_loss(self, real_logits, fake_logits):
        """D's adversarial terms (for the Wasserstein losses mean(D(fake)) - mean(D(real)),
        minus the Wasserstein-1 estimate)."""
        return self.real_loss(real_logits) + self.fake_loss(fake_logits)

    def check_discriminator(self, discriminator):
        """Refuse a critic the penalty cannot work with, before anything trains."""
        import keras
        per_example = ([f"--loss={self.name}"] * self.gradient_penalty
                       + [f"--r1_gamma={self.r1_gamma:g}"] * (self.r1_gamma > 0))
        if per_example and any(isinstance(layer, keras.layers.BatchNormalization)
                               for layer in _all_layers(discriminator)):
            without = "--r1_gamma=0" if not self.gradient_penalty else "another --loss"
            raise UserError(f"{' and '.join(per_example)} with a BatchNorm discriminator "
                            "(--d_norm=batch): BatchNorm mixes the examples of a batch, which "
                            "breaks a per-example gradient penalty. Pass --d_norm=instance (conv "
                            f"models), layer or none, or {without} to train without the penalty.")


def _table():
    """Each loss: its terms and its penalty (looked up when asked for, so each term stays one
    module function). A loss's clip and penalty weight come from the run's settings; the
    settings it trains with, from its paper, are in gan_zoo/settings/recipes/losses/."""
    wasserstein = (wasserstein_real_loss, wasserstein_fake_loss, wasserstein_generator_loss,
                   wasserstein_accuracies)
    return {
        "bce": dict(terms=(bce_real_loss, bce_fake_loss, generator_loss, bce_accuracies)),
        # logits as BCE's, so D and G accuracy at threshold 0; no label smoothing
        "hinge": dict(terms=(hinge_real_loss, hinge_fake_loss, wasserstein_generator_loss,
                             bce_accuracies)),
        "wgan": dict(terms=wasserstein),
        "wgan_gp": dict(terms=wasserstein, penalty="gradient_penalty"),
    }




def get(name, real_label=1.0, fake_label=0.0, gp_weight=0.0, clip=0.0, r1_gamma=0.0, r1_every=1):
    """The Objective `name`, with BCE's targets (label smoothing), the penalty's weight, the
    critic's clip bound and R1's weight and interval."""
    entry = _entry(name)
    real, fake, gen, accuracies = entry["terms"]
    if real is bce_real_loss:
        real = functools.partial(bce_real_loss, real_label=real_label)
        fake = functools.partial(bce_fake_loss, fake_label=fake_label)
    penalty = entry.get("penalty", "none")
    return Objective(name, real, fake, gen, accuracies, penalty=penalty,
                     penalty_weight=gp_weight if penalty != "none" else 0.0, clip=clip,
                     r1_gamma=r1_gamma, r1_every=r1_every)


def for_config(config):
    """The Objective of a run's settings."""
    return get(config.loss, config.real_label, config.fake_label, config.gp_weight, config.clip,
               config.r1_gamma, config.r1_every)


def _all_layers(model):
    for layer in getattr(model, "layers", ()):
        yield layer
        yield from _all_layers(layer)


def _entry(name):
    table = _table()
    if name not in table:
        raise UserError(f"Unknown loss {name!r}. Choose one of: {', '.join(LOSS_CHOICES)} (--loss=NAME).")
    return table[name]
