"""The zoo's parts, for networks and training loops of your own. Each is the code the zoo's
own models and trainer run, as a function of your tensors or a Keras object.

    from gan_zoo import parts
    d_loss = parts.hinge_real_loss(real_logits) + parts.hinge_fake_loss(fake_logits)
    layer = parts.SNDense(256)                          # spectral norm (Miyato et al. 2018)
    x = parts.diff_augment(images, "color,translation", seed=(0, step))
    logits, features = parts.classifier_features(images, "fashion_mnist")
    scores = parts.score(real_images, fake_images, "fashion_mnist")   # FID, recall, ...

Losses (pure functions of D's logits; gan_zoo/core/losses.py): the non-saturating GAN loss,
hinge, Wasserstein, WGAN-GP's gradient penalty, R1, L1, MSGAN's mode-seeking term and
StackGAN's conditioning KL. Layers (registered with Keras, so .keras files of models that use
them reload in safe mode): spectral-norm Dense and Conv2D, the projection discriminator's
head, class modulation of hidden units, minibatch stddev, Maxout. DiffAugment (Zhao et al.
2020). The EMA of a generator's weights as a Keras callback (GeneratorEMA) or an object
(GeneratorAverage). Metrics (gan_zoo/eval/metrics.py) on feature arrays: FID, KID,
precision / recall, density, coverage; SWD on images; `classifier_features` puts images in
the space of the zoo's reference classifier of Fashion-MNIST or MNIST, where the zoo's own
label scores are measured.
"""
import numpy as np
import tensorflow as tf

from gan_zoo.core.augment import apply as _augment
from gan_zoo.core.ema import GeneratorAverage  # noqa: F401
from gan_zoo.core.losses import (  # noqa: F401
    bce_fake_loss, bce_real_loss, conditioning_kl, generator_loss, gradient_penalty,
    hinge_fake_loss, hinge_real_loss, interpolation_weights, l1_loss, mode_seeking_penalty,
    r1_penalty, wasserstein_fake_loss, wasserstein_generator_loss, wasserstein_real_loss)
from gan_zoo.eval.metrics import (  # noqa: F401
    coverage, density, frechet_distance, kernel_inception_distance, precision_recall,
    sliced_wasserstein)
from gan_zoo.fit.callbacks import GeneratorEMA  # noqa: F401
from gan_zoo.models.layers import ClassModulation, Maxout, MinibatchStddev, Projection  # noqa: F401
from gan_zoo.models.spectral_norm import SNConv2D, SNDense  # noqa: F401
from gan_zoo.settings.choices import parse_policy


def diff_augment(images, policy="color,translation,cutout", seed=(0, 0)):
    """DiffAugment of images in [-1, 1] (NHWC): the transforms named in `policy`, drawn from
    the stateless `seed` (two integers; vary it every call, e.g. (0, step)). Apply it to real
    and fake images alike, in D's step and G's."""
    return _augment(tf.convert_to_tensor(images, tf.float32), parse_policy(policy),
                    tf.constant(seed, tf.int64))


def classifier_features(images, dataset="fashion_mnist", batch_size=500):
    """(logits [N, classes], features [N, 128]) of the zoo's reference classifier of
    `dataset` (fashion_mnist or mnist) for images in [-1, 1] or uint8 (28x28 or 32x32, one
    channel)."""
    from gan_zoo.eval import classifier, scoring
    model, _ = classifier.load_cached(dataset)
    images = np.asarray(images)
    if images.dtype == np.uint8:
        images = images.astype(np.float32) / 127.5 - 1.0
    images = scoring.fit_to(images, model.inputs[0].shape[1:])
    logits, features = classifier.feature_model(model).predict(images, batch_size=batch_size,
                                                                verbose=0)
    return logits, features


def score(real_images, fake_images, dataset="fashion_mnist"):
    """FID, KID (its mean over subsets, and their spread), precision, recall, density and coverage of `fake_images` against
    `real_images` in the reference classifier's feature space (see classifier_features)."""
    _, real = classifier_features(real_images, dataset)
    _, fake = classifier_features(fake_images, dataset)
    out = {"FID": frechet_distance(real, fake)}
    out["KID"], out["KID_std"] = kernel_inception_distance(real, fake)
    out["precision"], out["recall"] = precision_recall(real, fake)
    out.update(density=density(real, fake), coverage=coverage(real, fake))
    return out
