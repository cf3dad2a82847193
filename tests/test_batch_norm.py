"""FusedBatchNormalization: Keras' BatchNorm arithmetic through FusedBatchNormV3 on one replica,
the same moving statistics (Bessel's correction undone), gradients and weights files."""
import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import two_replicas
from gan_zoo.settings import config as config_lib
from gan_zoo import data, models
from gan_zoo.training import trainer
from gan_zoo.models import fused_batch_norm
from gan_zoo.models.layers import batch_norm


def _graph_ops(fn, *args):
    graph = fn.get_concrete_function(*args).graph.as_graph_def()
    return {n.op for n in graph.node} | {n.op for f in graph.library.function for n in f.node_def}


def _pair(shape, **kwargs):
    plain = keras.layers.BatchNormalization(**kwargs)
    fused = fused_batch_norm.BatchNormalization(**kwargs)
    plain.build(shape)
    fused.build(shape)
    rng = np.random.default_rng(0)
    gamma, beta = rng.normal(1, 0.3, shape[-1]), rng.normal(0, 0.3, shape[-1])
    for layer in (plain, fused):
        layer.gamma.assign(gamma.astype(np.float32))
        layer.beta.assign(beta.astype(np.float32))
    return plain, fused


def _train_calls(layer, batches, weights):
    """Five training calls; each returns the output and the gradients of a weighted sum of it."""
    @tf.function
    def call(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=True)
            loss = tf.reduce_sum(y * weights)
        return (y, *tape.gradient(loss, [x, layer.gamma, layer.beta]))
    return [call(tf.constant(x)) for x in batches], call


def test_fused_batch_norm_equals_keras_batch_norm_images_and_vectors():
    rng = np.random.default_rng(1)
    for shape in ((16, 6, 6, 5), (32, 7)):
        batches = [rng.normal(2.0, 3.0, shape).astype(np.float32) for _ in range(5)]
        weights = tf.constant(rng.normal(size=shape).astype(np.float32))
        plain, fused = _pair(shape, momentum=0.8)
        expected, _ = _train_calls(plain, batches, weights)
        got, call = _train_calls(fused, batches, weights)
        assert "FusedBatchNormV3" in _graph_ops(call, tf.constant(batches[0]))
        for want, have in zip(expected, got):
            for a, b in zip(want, have):  # output, d/dx, d/dgamma, d/dbeta
                np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-4, atol=1e-4)
        # the moving statistics moved (momentum 0.8, 5 updates) and agree: the plain variance
        np.testing.assert_allclose(fused.moving_mean.numpy(), plain.moving_mean.numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(fused.moving_variance.numpy(), plain.moving_variance.numpy(), rtol=1e-5)
        assert np.abs(plain.moving_variance.numpy() - 1.0).min() > 1.0  # data variance ~9
        x = tf.constant(batches[0])  # inference: Keras' own path, the moving statistics
        np.testing.assert_allclose(fused(x, training=False).numpy(), plain(x, training=False).numpy(),
                                   rtol=1e-5, atol=1e-5)


def test_only_one_replica_builds_the_fused_layer_and_weights_files_cross_over(tmp_path):
    assert isinstance(batch_norm(fused_bn=True), fused_batch_norm.BatchNormalization)
    with two_replicas().scope():  # synchronized statistics over replicas: Keras' layer
        layer = batch_norm(fused_bn=True)
        assert not isinstance(layer, fused_batch_norm.BatchNormalization) and layer.synchronized
    assert not isinstance(batch_norm(), fused_batch_norm.BatchNormalization)
    cfg = config_lib.resolve(model="conv_cgan", dataset="fashion_mnist", fused_batch_norm=True)
    spec = data.DataSpec(image_shape=(28, 28, 1), condition_dim=10)
    fused_g, _ = models.build(spec, cfg)
    plain_g, _ = models.build(spec, config_lib.resolve(model="conv_cgan", dataset="fashion_mnist",
                                                       fused_batch_norm=False))
    kinds = {type(layer) for layer in fused_g.layers}
    assert fused_batch_norm.BatchNormalization in kinds and keras.layers.BatchNormalization not in kinds
    assert fused_batch_norm.BatchNormalization not in {type(layer) for layer in plain_g.layers}
    fused_g.save_weights(tmp_path / "g.weights.h5")
    plain_g.load_weights(tmp_path / "g.weights.h5")
    for a, b in zip(fused_g.weights, plain_g.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def _batch_norm_kinds(model):
    """The classes of every BatchNorm in `model`, nested models (StackGAN's stage I) included."""
    kinds = set()
    for layer in model.layers:
        kinds |= _batch_norm_kinds(layer) if isinstance(layer, keras.Model) else {type(layer)}
    return kinds & {keras.layers.BatchNormalization, fused_batch_norm.BatchNormalization}


_LABELS = data.DataSpec(image_shape=(28, 28, 1), condition_dim=10)
_PAIRS = data.DataSpec(image_shape=(32, 32, 3), condition_dim=0, condition_shape=(32, 32, 3))


@pytest.mark.parametrize("settings, spec", [
    (dict(model="mlp_cgan", ngf=8, d_norm="batch"), _LABELS), (dict(model="conv_cgan", d_norm="batch"), _LABELS),
    (dict(model="dcgan", ngf=8, ndf=8, d_norm="batch"), data.DataSpec((32, 32, 1), 0)),
    (dict(model="img2img", ngf=8, ndf=8, patch_layers=2), _PAIRS),
    (dict(model="img2img", ngf=8, ndf=8, generator="encoder_decoder", discriminator="global"), _PAIRS),
    (dict(model="stackgan", stage=2, ngf=8, ndf=8, d_norm="batch"), _LABELS)],
    ids=lambda v: v.get("generator", v["model"]) + str(v.get("stage", "")) if isinstance(v, dict) else "")
def test_every_batch_norm_of_a_model_follows_fused_batch_norm(settings, spec):
    """--fused_batch_norm reaches each BatchNorm a builder makes, G's and D's, through the
    parameter the builders pass down (none is left on Keras' kernel, none fused when off)."""
    settings = dict(settings)
    stage = settings.pop("stage", None)  # stage 2 (no stage-I run dir to validate against)
    for fused, kind in ((True, fused_batch_norm.BatchNormalization), (False, keras.layers.BatchNormalization)):
        cfg = config_lib.resolve(**settings, fused_batch_norm=fused)
        built = models.build(spec, dataclasses.replace(cfg, stage=stage) if stage else cfg)
        assert [_batch_norm_kinds(m) for m in built] == [{kind}, {kind}], (settings, fused)


def _gradients(t, images, condition, noise):
    """Gradients of a D loss and a G loss on one batch, every BatchNorm in training mode."""
    with tf.GradientTape(persistent=True) as tape:
        fake = models.generate(t.generator, noise, condition, training=True)
        real_logits = models.judge(t.discriminator, images, condition, training=True)
        fake_logits = models.judge(t.discriminator, fake, condition, training=True)
        d_loss = tf.reduce_mean(tf.nn.softplus(-real_logits) + tf.nn.softplus(fake_logits))
        g_loss = tf.reduce_mean(tf.nn.softplus(-fake_logits))
    return (tape.gradient(d_loss, t.discriminator.trainable_variables)
            + tape.gradient(g_loss, t.generator.trainable_variables))


def test_trainer_with_fused_batch_norm_trains_as_keras_batch_norm():
    """conv_cgan with every BatchNorm on the fused kernel: the same gradients on one batch from
    the same weights, and the same losses over three trained steps, to float error. (Weights
    after Adam steps are not compared element by element: Adam's first steps are near
    lr x sign(gradient), so where a gradient is ~0 float error flips a whole step.)"""
    runs = {}
    for fused in (False, True):
        cfg = config_lib.resolve(recipe="conv_cgan", dataset="fashion_mnist", max_images=192, batch_size=64,
                                 steps_per_call=3, fused_batch_norm=fused, ema_half_life=0)
        runs[fused] = trainer.Trainer(cfg, data.for_config(cfg))
    plain, fused = runs[False], runs[True]
    for a, b in zip(plain.generator.weights, fused.generator.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())  # the same start
    images, condition = next(iter(plain.source.epoch_batches(64, 0, 0)))
    noise = tf.random.stateless_normal((64, plain.config.noise_dim), (1, 2))
    variables = fused.discriminator.trainable_variables + fused.generator.trainable_variables
    for v, a, b in zip(variables, _gradients(plain, images, condition, noise),
                       _gradients(fused, images, condition, noise)):
        # relative to the whole gradient: a value at LeakyReLU's kink may change slope under
        # float error, one element at a time; a wrong normalisation moves the whole tensor
        error = float(tf.norm(b - a) / tf.norm(a))
        assert error < 1e-3, f"{v.path}: gradients differ by {error:.2g} of their norm"
    for t in (plain, fused):
        t.train_epoch_steps(0)
    assert int(fused.step.numpy()) == 3
    for key in ("Dis_loss", "Gen_loss", "Real_P", "Fake_P"):
        np.testing.assert_allclose(fused.epoch_metrics()[key], plain.epoch_metrics()[key], rtol=1e-3)
