"""The losses as pure functions: label smoothing, accuracies, and the gradient penalty done right."""
import math

import numpy as np
import pytest
import tensorflow as tf

from gan_zoo.core import losses


def _grad_at(fn, logits):
    x = tf.constant(logits, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = fn(x)
    return float(tape.gradient(loss, x).numpy().sum())


def test_label_smoothing_moves_the_discriminator_targets():
    at_09 = [[math.log(9.0)]]  # sigmoid = 0.9
    at_01 = [[-math.log(9.0)]]  # sigmoid = 0.1
    # one-sided: with real target 0.9, D's real loss is minimal where D says 0.9, not 1
    assert abs(_grad_at(lambda x: losses.bce_real_loss(x, 0.9), at_09)) < 1e-6
    assert _grad_at(lambda x: losses.bce_real_loss(x, 1.0), at_09) < -0.05  # still pushes up
    # two-sided: fake target 0.1 is reached at 0.1, not 0
    assert abs(_grad_at(lambda x: losses.bce_fake_loss(x, 0.1), at_01)) < 1e-6
    assert _grad_at(lambda x: losses.bce_fake_loss(x, 0.0), at_01) > 0.05
    # and `get` wires the trainer's targets through
    smoothed = losses.get("bce", real_label=0.9, fake_label=0.1)
    assert abs(_grad_at(smoothed.real_loss, at_09)) < 1e-6
    assert abs(_grad_at(smoothed.fake_loss, at_01)) < 1e-6


def test_generator_loss_is_non_saturating():
    # G's loss keeps a strong gradient where D confidently rejects its samples
    assert _grad_at(losses.generator_loss, [[-10.0]]) < -0.99


def test_wasserstein_losses():
    real, fake = tf.constant([[2.0], [4.0]]), tf.constant([[-1.0], [1.0]])
    assert float(losses.get("wgan").discriminator_loss(real, fake)) == pytest.approx(0.0 - 3.0)
    assert float(losses.wasserstein_generator_loss(fake)) == pytest.approx(0.0)


def test_hinge_losses_push_only_inside_the_margin():
    real, fake = tf.constant([[2.0], [0.5], [-1.0]]), tf.constant([[-2.0], [0.5]])
    assert float(losses.hinge_real_loss(real)) == pytest.approx((0.0 + 0.5 + 2.0) / 3)
    assert float(losses.hinge_fake_loss(fake)) == pytest.approx((0.0 + 1.5) / 2)
    hinge = losses.get("hinge")
    assert float(hinge.discriminator_loss(real, fake)) == pytest.approx(5 / 6 + 0.75)
    assert float(hinge.generator_loss(fake)) == pytest.approx(0.75)  # -mean(D(G(z)))
    # beyond the margin (real above 1, fake below -1) D gets no gradient; inside it does
    assert _grad_at(losses.hinge_real_loss, [[1.5]]) == 0.0 and _grad_at(losses.hinge_real_loss, [[0.5]]) < 0
    assert _grad_at(losses.hinge_fake_loss, [[-1.5]]) == 0.0 and _grad_at(losses.hinge_fake_loss, [[-0.5]]) > 0


def test_accuracies():
    d_acc, g_acc = losses.bce_accuracies(tf.constant([3.0, 2.0, -1.0, 1.0]), tf.constant([-3.0, 1.0, -1.0, -2.0]))
    assert float(d_acc) == pytest.approx(0.5 * (3 / 4 + 3 / 4)) and float(g_acc) == pytest.approx(0.25)
    # critic scores: a fake passes when it beats the mean real score (here 2.0)
    d_acc, g_acc = losses.wasserstein_accuracies(tf.constant([1.0, 3.0]), tf.constant([2.5, -5.0]))
    assert float(g_acc) == pytest.approx(0.5)
    assert float(d_acc) == pytest.approx(0.5 * (2 / 2 + 0.5))  # both reals beat the mean fake -1.25


def test_interpolation_weights_are_uniform_and_one_per_example():
    weights = losses.interpolation_weights(4000, 4, seed=[0, 1]).numpy()
    assert weights.shape == (4000, 1, 1, 1)  # broadcast over pixels and channels
    assert weights.min() >= 0.0 and weights.max() <= 1.0  # a normal draw would leave [0, 1]
    assert weights.mean() == pytest.approx(0.5, abs=0.02)
    assert weights.std() == pytest.approx(math.sqrt(1 / 12), abs=0.01)
    assert np.histogram(weights, bins=4, range=(0, 1))[0].min() > 900  # flat, not bell-shaped


def test_gradient_norm_is_per_example_over_all_pixels_and_channels():
    """critic(x) = sum(x**2)/2 has gradient x, so the penalty is mean_i (||x_i|| - 1)^2."""
    x = np.zeros([2, 4, 4, 3], np.float32)
    x[0, 0, 0, 0] = 1.0  # ||x_0|| = 1: no penalty
    x[1] = 3.0 / math.sqrt(48)  # ||x_1|| = 3 spread over all 48 values: penalty 4
    critic = lambda images: 0.5 * tf.reduce_sum(tf.square(images), axis=[1, 2, 3])
    weights = tf.fill([2, 1, 1, 1], 0.5)
    penalty = float(losses.gradient_penalty(critic, tf.constant(x), tf.constant(x), weights))
    assert penalty == pytest.approx(2.0, rel=1e-4)
    # the flaws it must not have: a norm over channels only (per pixel), or over the whole batch
    per_pixel = np.sqrt((x ** 2).sum(-1))
    assert penalty != pytest.approx(((per_pixel - 1) ** 2).mean(), rel=1e-2)
    assert penalty != pytest.approx((np.sqrt((x ** 2).sum()) - 1) ** 2, rel=1e-2)


def _linear_critic(kernel):
    """critic(x) = flatten(x) @ w: its input gradient is w for every example."""
    w = tf.Variable(kernel)
    return w, (lambda images: tf.reshape(images, [tf.shape(images)[0], -1]) @ w)


def _penalty_and_grad(w, critic, images):
    with tf.GradientTape() as outer:
        penalty = losses.gradient_penalty(critic, images, -images,
                                          tf.fill([images.shape[0], 1, 1, 1], 0.3))
    return penalty, outer.gradient(penalty, w)


def test_zero_gradient_gives_no_nan():
    w, critic = _linear_critic(np.zeros([12, 1], np.float32))
    images = tf.ones([2, 2, 2, 3])
    penalty, grad = _penalty_and_grad(w, critic, images)
    assert float(penalty) == pytest.approx(1.0, abs=1e-4)
    assert np.all(np.isfinite(grad.numpy()))
    # without the epsilon the same gradient is NaN: the guard is what makes it finite
    with tf.GradientTape() as outer:
        interpolates = images
        with tf.GradientTape() as inner:
            inner.watch(interpolates)
            scores = critic(interpolates)
        g = inner.gradient(scores, interpolates)
        bare = tf.reduce_mean(tf.square(tf.sqrt(tf.reduce_sum(tf.square(g), [1, 2, 3])) - 1.0))
    assert np.all(np.isnan(outer.gradient(bare, w).numpy()))


def _expected_grad(kernel):
    norm = np.linalg.norm(kernel)
    return 2.0 * (norm - 1.0) * kernel / norm


KERNEL = np.linspace(-1.0, 1.0, 12, dtype=np.float32).reshape(12, 1)


def test_penalty_has_real_second_order_gradients_under_tf_function():
    """For a linear critic x -> x.w the penalty is (||w|| - 1)^2: its gradient is known exactly."""
    w, critic = _linear_critic(KERNEL)
    penalty, grad = tf.function(lambda images: _penalty_and_grad(w, critic, images))(tf.ones([4, 2, 2, 3]))
    assert float(penalty) == pytest.approx((np.linalg.norm(KERNEL) - 1) ** 2, rel=1e-4)
    np.testing.assert_allclose(grad.numpy(), _expected_grad(KERNEL), rtol=1e-4)


def test_penalty_has_real_gradients_under_a_distribution_strategy():
    devices = [d.name for d in tf.config.list_logical_devices("CPU")]
    strategy = tf.distribute.MirroredStrategy(devices[:2])
    assert strategy.num_replicas_in_sync == 2
    with strategy.scope():
        w, critic = _linear_critic(KERNEL)

    @tf.function
    def replica_step(images):
        return _penalty_and_grad(w, critic, images)[1]

    images = tf.random.normal([4, 2, 2, 3])
    per_replica = strategy.run(replica_step, args=(images,))
    grads = strategy.experimental_local_results(per_replica)
    assert len(grads) == 2
    for grad in grads:
        np.testing.assert_allclose(grad.numpy(), _expected_grad(KERNEL), rtol=1e-4)


def test_unknown_loss_names_the_choices():
    from gan_zoo.errors import UserError
    with pytest.raises(UserError, match="bce, hinge, wgan, wgan_gp"):
        losses.get("lsgan")
