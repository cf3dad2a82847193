"""StackGAN's networks (gan_zoo/models/stackgan.py): shapes at both stages, conditioning
augmentation's KL in closed form, stage II's dependence on the stage-I image, and a frozen
stage I that stage II's training leaves alone."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from gan_zoo import losses
from gan_zoo.models import stackgan

CLASSES, NOISE, CA = 10, 24, 8


@pytest.fixture(scope="module")
def stages():
    keras.utils.set_random_seed(0)
    first = stackgan.build_stage1_generator(14, 1, CLASSES, NOISE, CA, ngf=16)
    second = stackgan.build_stage2_generator(first, 28, CA, ngf=16)
    return first, second


def _inputs(n, noise_dim, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, CLASSES, n)
    return (tf.constant(rng.standard_normal((n, noise_dim)), tf.float32),
            tf.one_hot(labels, CLASSES))


def test_shapes_at_both_stages_and_both_discriminators(stages):
    first, second = stages
    noise, condition = _inputs(5, NOISE + CA)
    assert first([noise[:, :NOISE], condition]).shape == (5, 14, 14, 1)
    assert second([noise, condition]).shape == (5, 28, 28, 1)
    assert second.inputs[0].shape[-1] == NOISE + CA  # stage I's noise, then stage II's draw
    for size in (14, 28):
        for conditioning in ("concat", "projection"):
            d = stackgan.build_discriminator(size, 1, CLASSES, conditioning, ndf=8)
            assert d([tf.zeros((5, size, size, 1)), condition]).shape == (5, 1)
    faces = stackgan.build_stage1_generator(16, 3, 0, NOISE, CA, ngf=8)
    assert len(faces.inputs) == 1 and faces(noise[:, :NOISE]).shape == (5, 16, 16, 3)
    refined = stackgan.build_stage2_generator(faces, 64, CA, ngf=8)
    assert refined.inputs[0].shape[-1] == NOISE and refined(noise[:, :NOISE]).shape == (5, 64, 64, 3)
    d = stackgan.build_discriminator(64, 3, 0, ndf=8)
    assert d(tf.zeros((2, 64, 64, 3))).shape == (2, 1)


def test_conditioning_kl_is_the_closed_form():
    rng = np.random.default_rng(1)
    mean, log_var = rng.normal(size=(6, 4)), rng.normal(size=(6, 4))
    expected = np.mean(np.sum(0.5 * (mean ** 2 + np.exp(log_var) - log_var - 1), axis=1))
    np.testing.assert_allclose(losses.conditioning_kl(mean, log_var), expected, rtol=1e-5)
    assert float(losses.conditioning_kl(np.zeros((3, 4)), np.zeros((3, 4)))) == 0.0


def test_augmentation_samples_by_the_reparametrisation_and_adds_its_kl():
    first = stackgan.build_stage1_generator(14, 1, CLASSES, NOISE, CA, ngf=16)  # not frozen
    layer = first.get_layer("augmentation")
    _, condition = _inputs(4, NOISE)
    epsilon = tf.constant(np.random.default_rng(2).standard_normal((4, CA)), tf.float32)
    sample = layer(condition, epsilon)
    stats = layer.moments(condition).numpy()
    mean, log_var = stats[:, :CA], stats[:, CA:]
    np.testing.assert_allclose(sample, mean + np.exp(0.5 * log_var) * epsilon, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(sum(layer.losses), losses.conditioning_kl(mean, log_var), rtol=1e-5)
    # the same inputs give the same images: the draw comes from the noise, not from inside G
    noise, condition = _inputs(3, NOISE)
    np.testing.assert_array_equal(first([noise, condition]), first([noise, condition]))


def test_stage2_output_depends_on_the_stage1_image_and_its_own_draw(stages):
    _, second = stages
    noise, condition = _inputs(4, NOISE + CA)
    with tf.GradientTape() as tape:
        tape.watch(noise)
        image = second([noise, condition], training=False)
    grad = tape.gradient(image, noise).numpy()
    # the first NOISE numbers reach stage II only through the stage-I image
    assert np.abs(grad[:, :NOISE]).sum() > 0 and np.abs(grad[:, NOISE:]).sum() > 0
    other = tf.concat([noise[:, :NOISE], -noise[:, NOISE:]], axis=1)
    assert np.abs(second([other, condition]) - image).max() > 1e-4


def test_training_stage2_leaves_the_frozen_stage1_alone(stages):
    first, second = stages
    frozen = {id(v) for v in first.variables}
    trained = {id(v) for v in second.trainable_variables}
    assert trained and not frozen & trained
    before = [v.numpy().copy() for v in first.variables]
    own = [v.numpy().copy() for v in second.trainable_variables]
    optimizer = keras.optimizers.Adam(1e-2)
    noise, condition = _inputs(8, NOISE + CA)
    for _ in range(2):
        with tf.GradientTape() as tape:
            image = second([noise, condition], training=True)
            kl = tf.add_n(second.losses)
            loss = tf.reduce_mean(tf.square(image - 0.5)) + kl
        optimizer.apply_gradients(zip(tape.gradient(loss, second.trainable_variables),
                                      second.trainable_variables))
    for b, v in zip(before, first.variables):  # BatchNorm statistics included
        np.testing.assert_array_equal(b, v.numpy())
    assert any(np.abs(o - v.numpy()).max() > 0 for o, v in zip(own, second.trainable_variables))
    assert len(second.losses) == 1  # stage II's KL only: frozen stage I adds none


def test_both_stages_reload_in_keras_safe_mode_and_draw_the_same(stages, tmp_path):
    _, second = stages
    path = str(tmp_path / "stage2.keras")
    second.save(path)
    reloaded = keras.saving.load_model(path)  # safe mode: a Lambda layer would be refused
    noise, condition = _inputs(3, NOISE + CA)
    np.testing.assert_allclose(reloaded([noise, condition]), second([noise, condition]), atol=1e-6)
