"""The quality options of the generic trainer, each against its formula: EMA of G, projection
D, spectral normalisation, R1, DiffAugment, the matching-aware term, linear learning-rate
decay, and conv_cgan giving back images of the data's size."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from gan_zoo.core import augment, ema, losses
from gan_zoo.training import steps
from gan_zoo.settings import choices, config
from gan_zoo import data, models
from gan_zoo.run import loop
from gan_zoo.run import run_dir as run_dir_lib
from gan_zoo.data.spec import DataSpec
from gan_zoo.errors import UserError
from gan_zoo.models import layers, spectral_norm
from gan_zoo.training.trainer import Trainer


def _tiny_generator(bn=False):
    z = keras.Input((3,), name="noise")
    h = keras.layers.Dense(4)(z)
    if bn:
        h = keras.layers.BatchNormalization()(h)
    return keras.Model(z, keras.layers.Dense(2)(h))


# --- EMA of G -----------------------------------------------------------------------------
def test_ema_weights_equal_the_closed_form_after_k_updates():
    g = _tiny_generator()
    start = [w.numpy() for w in g.weights]
    average = ema.GeneratorAverage(g, half_life_images=64, rampup=0.0, global_batch=16)
    beta = 0.5 ** (16 / 64)
    rng = np.random.default_rng(0)
    seen = []
    for _ in range(5):
        values = [rng.normal(size=w.shape).astype(np.float32) for w in g.weights]
        g.set_weights(values)
        seen.append(values)
        average.update(tf.constant(1e9))
    for i, shadow in enumerate(average.model.weights):
        expected = beta ** 5 * start[i] + sum(
            (1 - beta) * beta ** (4 - k) * seen[k][i] for k in range(5))
        np.testing.assert_allclose(shadow.numpy(), expected, rtol=1e-5, atol=1e-6)
    # the trained model is left alone
    np.testing.assert_array_equal(g.weights[0].numpy(), seen[-1][0])


def test_ema_ramp_up_shortens_the_half_life_early_and_copies_batchnorm_statistics():
    g = _tiny_generator(bn=True)
    average = ema.GeneratorAverage(g, half_life_images=10_000, rampup=0.05, global_batch=100)
    # after 1,000 images the half-life is 50 images: the average follows G within 2 batches
    assert float(average.decay(1000.0)) == pytest.approx(0.5 ** (100 / 50))
    assert float(average.decay(1e7)) == pytest.approx(0.5 ** (100 / 10_000))
    bn = next(layer for layer in g.layers if isinstance(layer, keras.layers.BatchNormalization))
    bn.moving_mean.assign([1.0, 2.0, 3.0, 4.0])
    average.update(tf.constant(1e7))
    twin = average.model.get_layer(bn.name)
    np.testing.assert_array_equal(twin.moving_mean.numpy(), [1.0, 2.0, 3.0, 4.0])


def test_standing_statistics_are_the_moments_each_layer_sees_in_inference_mode():
    """Two BatchNorm layers in a row: after standing_statistics each one's moving mean and
    variance are the moments of its input over the batches with the model in inference mode,
    the second one's taken after the first was set (so it normalises what it now gets)."""
    z = keras.Input((3,), name="noise")
    first = keras.layers.BatchNormalization(name="first")
    second = keras.layers.BatchNormalization(name="second")
    hidden = keras.layers.Dense(5, activation="relu", name="hidden")
    dropout = keras.layers.Dropout(0.5)  # off in inference mode, so off while measuring
    inner = keras.layers.Dense(4, name="inner")
    out = keras.layers.Dense(2)(second(dropout(hidden(first(inner(z))))))
    model = keras.Model(z, out)
    rng = np.random.default_rng(0)
    batches = [rng.normal(2.0, 3.0, (64, 3)).astype(np.float32) for _ in range(4)]
    assert [layer.name for layer in ema.standing_statistics(model, batches)] == ["first", "second"]
    inner = np.concatenate([model.get_layer("inner")(b).numpy() for b in batches])
    np.testing.assert_allclose(first.moving_mean.numpy(), inner.mean(0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(first.moving_variance.numpy(), inner.var(0), rtol=1e-4)
    # the second layer's input in inference mode, with the first layer's new statistics
    normalised = np.concatenate([hidden(first(model.get_layer("inner")(b), training=False)).numpy()
                                 for b in batches])
    np.testing.assert_allclose(second.moving_mean.numpy(), normalised.mean(0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(second.moving_variance.numpy(), normalised.var(0), rtol=1e-4)
    assert abs(normalised.mean(0)).max() > 0.1  # not trivially the defaults (0, 1)
    assert (dropout.rate, first.momentum, second.momentum) == (0.5, 0.99, 0.99)  # put back
    assert ema.standing_statistics(_tiny_generator(), batches) == []  # no BatchNorm: nothing


def test_the_sampled_generator_gets_standing_statistics_each_epoch(tmp_path):
    """A conv_cgan run with an EMA: after the epoch, the average's BatchNorm statistics are its
    own standing ones (not G's), and they are what the checkpoint holds."""
    cfg = config.resolve(recipe="conv_cgan", dataset="fashion_mnist", max_images=256, batch_size=64,
                         epochs=1, run_dir=str(tmp_path), progress=False, eval_every=0,
                         ema_half_life=500)
    trainer = loop.train(cfg, data.for_config(cfg))
    averaged = ema.batch_norm_layers(trainer.sampler)
    assert len(averaged) == 3
    before = [layer.moving_mean.numpy().copy() for layer in averaged]
    own = [layer.moving_mean.numpy() for layer in ema.batch_norm_layers(trainer.generator)]
    assert max(np.abs(a - b).max() for a, b in zip(before, own)) > 1e-4
    trainer.refresh_sampler_statistics()  # the same draws again: the same statistics
    for layer, value in zip(averaged, before):
        np.testing.assert_allclose(layer.moving_mean.numpy(), value, rtol=1e-5, atol=1e-6)
    restored, *_ = run_dir_lib.restore_generator(str(tmp_path))
    for layer, value in zip(ema.batch_norm_layers(restored), before):
        np.testing.assert_allclose(layer.moving_mean.numpy(), value, rtol=1e-5, atol=1e-6)


@pytest.fixture(scope="module")
def ema_run(tmp_path_factory):
    """A 1-epoch maxout_cgan run on 2,560 images with every option of this file turned on."""
    run_dir = str(tmp_path_factory.mktemp("ema_run"))
    cfg = config.resolve(model="maxout_cgan", dataset="fashion_mnist", max_images=2560,
                         batch_size=128, epochs=2, run_dir=run_dir, progress=False, eval_every=1,
                         eval_samples=200, ema_half_life=2000, d_conditioning="projection",
                         spectral_norm=True, loss="hinge", r1_gamma=0.1, r1_every=4,
                         diffaugment="translation,cutout", mismatch_weight=0.5,
                         mismatch_epochs=1, lr_linear_decay=0.5,
                         n_critic=1)  # one D step per G step: the lr arithmetic below counts 40
    trainer = loop.train(cfg, data.for_config(cfg))
    return trainer, run_dir


def test_ema_is_what_is_sampled_checkpointed_and_restored(ema_run):
    trainer, run_dir = ema_run
    shadow = trainer.generator_average.model
    assert trainer.sampler is shadow
    raw = [w.numpy() for w in trainer.generator.weights]
    averaged = [w.numpy() for w in shadow.weights]
    assert max(np.abs(a - b).max() for a, b in zip(raw, averaged)) > 1e-4  # they differ
    restored, *_ = run_dir_lib.restore_generator(run_dir)
    for a, b in zip(restored.weights, shadow.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    # the average is what was scored each epoch (and kept as the best checkpoint)
    rows = np.genfromtxt(f"{run_dir}/metrics.csv", delimiter=",", names=True)
    assert len(rows) == 2 and np.all(np.isfinite(rows["FID"]))
    best, *_ = run_dir_lib.restore_generator(run_dir, which="best")
    assert len(best.weights) == len(shadow.weights)


def test_linear_decay_and_mismatch_switch_follow_the_epoch(ema_run):
    trainer, run_dir = ema_run
    lr = np.genfromtxt(f"{run_dir}/loss.csv", delimiter=",", names=True)["lr"]
    assert lr[0] == pytest.approx(trainer.config.g_lr)  # the first half at full rate
    # the last call of 10 steps starts at step 30 of 40: lr x (1 - 0.75) / 0.5
    assert float(trainer.g_optimizer.learning_rate) == pytest.approx(
        trainer.config.g_lr * 0.5, rel=1e-5)
    assert not trainer.steps.mismatch_active  # --mismatch_epochs=1: off in epoch 2
    trainer.set_epoch(0)
    assert trainer.steps.mismatch_active
    trainer.set_epoch(1)


def test_linear_decay_reaches_zero_at_the_end():
    cfg = config.resolve(model="mlp_cgan", lr_linear_decay=0.5, lr_decay_epochs="")
    assert [cfg.lr_scale(0, p) for p in (0.0, 0.5, 0.75, 1.0)] == [1.0, 1.0, 0.5, 0.0]


# --- projection discriminator -------------------------------------------------------------
def test_projection_logit_equals_its_formula_and_moves_with_the_label():
    h_in, y_in = keras.Input((6,)), keras.Input((4,))
    model = keras.Model([h_in, y_in], layers.conditional_logit(h_in, y_in, "projection"))
    rng = np.random.default_rng(1)
    h = rng.normal(size=(5, 6)).astype(np.float32)
    one_hot = np.eye(4, dtype=np.float32)[[0, 1, 2, 3, 1]]
    multi_hot = np.eye(4, dtype=np.float32)[[0, 1, 2, 3, 1]] + np.eye(4, dtype=np.float32)[[2] * 5]
    psi = model.get_layer("logit_psi")
    embed = model.get_layer("projection").embed.kernel.numpy()  # [condition, features]
    for y in (one_hot, multi_hot):
        expected = h @ psi.kernel.numpy() + psi.bias.numpy() + np.sum((y @ embed) * h, axis=1,
                                                                         keepdims=True)
        np.testing.assert_allclose(model([h, y]).numpy(), expected, rtol=1e-5, atol=1e-5)
    other = np.roll(one_hot, 1, axis=1)
    assert np.all(np.abs(model([h, one_hot]).numpy() - model([h, other]).numpy()) > 1e-6)


@pytest.mark.parametrize("name", ["maxout_cgan", "mlp_cgan", "conv_cgan"])
def test_every_conditional_model_builds_a_projection_discriminator(name):
    spec = DataSpec(image_shape=(28, 28, 1), condition_dim=10)
    cfg = config.resolve(model=name, d_conditioning="projection", spectral_norm=True,
                         d_norm="none" if name != "maxout_cgan" else "batch")
    _, d = models.build(spec, cfg)
    assert d.get_layer("projection") is not None
    images = tf.random.normal((3, 28, 28, 1))
    labels = tf.one_hot([0, 1, 2], 10)
    assert d([images, labels]).shape == (3, 1)
    assert np.all(d([images, labels]).numpy() != d([images, tf.roll(labels, 1, axis=1)]).numpy())
    assert any(isinstance(layer, (spectral_norm.SNDense, spectral_norm.SNConv2D))
               for layer in _all_layers(d))


def test_projection_is_refused_where_there_is_no_vector_condition():
    with pytest.raises(UserError, match="projection needs a class or vector condition"):
        config.resolve(model="dcgan", d_conditioning="projection")
    with pytest.raises(UserError, match="projection needs a class or vector condition"):
        config.resolve(model="img2img", d_conditioning="projection")


# --- minibatch standard deviation ---------------------------------------------------------
@pytest.mark.parametrize("name", ["maxout_cgan", "mlp_cgan"])
def test_minibatch_stddev_gives_psi_the_batchs_spread(name):
    """The appended feature is the mean over features of the batch's standard deviation, so an
    example's logit depends on its batch with the option and on itself alone without it."""
    rng = np.random.default_rng(2)
    h = rng.normal(size=(6, 5)).astype(np.float32)
    spread = layers.MinibatchStddev()(h).numpy()
    np.testing.assert_allclose(spread[:, :5], h)
    np.testing.assert_allclose(spread[:, 5], np.sqrt(h.var(axis=0) + 1e-8).mean(), rtol=1e-5)
    assert layers.MinibatchStddev()(h[:1]).numpy()[0, 5] < 1e-3  # a batch of one: no spread
    spec = DataSpec(image_shape=(28, 28, 1), condition_dim=10)
    images = tf.random.normal((6, 28, 28, 1), seed=1)
    labels = tf.one_hot([0, 1, 2, 3, 4, 5], 10)
    for on in (False, True):
        keras.utils.set_random_seed(0)
        cfg = config.resolve(model=name, d_conditioning="projection", minibatch_stddev=on,
                             d_norm="none" if name == "mlp_cgan" else "batch")
        d = models.build(spec, cfg)[1]
        alone, in_batch = d([images[:2], labels[:2]]).numpy(), d([images, labels]).numpy()[:2]
        assert (np.abs(alone - in_batch).max() > 1e-4) == on, on
    with pytest.raises(UserError, match="minibatch_stddev.*not conv_cgan"):
        config.resolve(model="conv_cgan", minibatch_stddev=True)


# --- spectral normalisation ---------------------------------------------------------------
@pytest.mark.parametrize("kind", ["dense", "conv"])
def test_spectral_norm_finds_the_largest_singular_value_and_leaves_the_kernel(kind, tmp_path):
    keras.utils.set_random_seed(2)
    if kind == "dense":
        layer, x = spectral_norm.dense(7, spectral_norm=True), tf.random.normal((4, 5))
    else:
        layer, x = spectral_norm.conv2d(6, 3, spectral_norm=True), tf.random.normal((2, 8, 8, 3))
    layer(x)
    stored = layer.kernel.numpy().copy()
    for _ in range(60):
        out = layer(x, training=True)
    sigma = np.linalg.svd(stored.reshape(-1, stored.shape[-1]), compute_uv=False)[0]
    assert float(layer.spectral_norm_estimate()) == pytest.approx(sigma, rel=1e-4)
    np.testing.assert_array_equal(layer.kernel.numpy(), stored)  # W itself is never written
    plain = (keras.layers.Dense if kind == "dense" else keras.layers.Conv2D).from_config(
        {**layer.get_config(), "name": "plain"})
    plain.build(x.shape)
    plain.set_weights([stored / float(layer.spectral_norm_estimate()), layer.bias.numpy()])
    np.testing.assert_allclose(out.numpy(), plain(x).numpy(), rtol=1e-4, atol=1e-5)
    # u is a weight: a checkpoint carries the estimate to a resumed run
    path = tf.train.Checkpoint(layer=layer).save(str(tmp_path / "sn"))
    twin = type(layer).from_config(layer.get_config())
    twin(x)
    assert abs(float(twin.spectral_norm_estimate()) - sigma) > 1e-3  # a fresh u starts elsewhere
    tf.train.Checkpoint(layer=twin).restore(path).assert_existing_objects_matched()
    assert float(twin.spectral_norm_estimate()) == pytest.approx(sigma, rel=1e-4)


@pytest.mark.parametrize("batch", [4, 64])  # below the fan-in (16): the output is divided
def test_spectral_norm_gradients_are_those_of_the_normalised_kernel(batch):
    """Dividing op(x, W) by sigma, as a batch smaller than the fan-in does, is the same
    function of W and x as op(x, W / sigma): outputs and both gradients agree."""
    keras.utils.set_random_seed(3)
    layer, x = spectral_norm.dense(8, spectral_norm=True), tf.random.normal((batch, 16))
    layer(x)
    layer.sn_u.assign(tf.random.normal((1, 8)))
    u = tf.constant(layer.sn_u.numpy())

    def by_formula(x, kernel):
        v = tf.stop_gradient(tf.math.l2_normalize(u @ tf.transpose(kernel), axis=None))
        u_next = tf.stop_gradient(tf.math.l2_normalize(v @ kernel, axis=None))
        return x @ (kernel / tf.reduce_sum((v @ kernel) * u_next)) + layer.bias

    results = []
    for call in (lambda x: layer(x, training=False), lambda x: by_formula(x, layer.kernel)):
        with tf.GradientTape() as tape:
            tape.watch(x)
            out = call(x)
            loss = tf.reduce_sum(out * tf.sin(out))  # any loss that weighs the outputs unevenly
        results.append([out, *tape.gradient(loss, [x, layer.kernel])])
    for ours, formula in zip(*results):
        np.testing.assert_allclose(ours.numpy(), formula.numpy(), rtol=1e-4, atol=1e-5)
    assert float(tf.reduce_max(tf.abs(results[0][2]))) > 1e-3  # the kernel's gradient is not nil


def test_maxout_dense_is_spectrally_normalised():
    unit = layers.Maxout(4, 3, spectral_norm=True)
    unit(tf.zeros((2, 5)))
    assert isinstance(unit.dense, spectral_norm.SNDense)
    assert layers.Maxout.from_config(unit.get_config()).spectral_norm


# --- R1 -----------------------------------------------------------------------------------
def test_r1_equals_its_exact_value_on_small_critics():
    x = tf.constant(np.random.default_rng(3).normal(size=(4, 2, 3, 1)), tf.float32)
    w = np.arange(6, dtype=np.float32).reshape(2, 3, 1)
    linear = lambda images: tf.reduce_sum(images * w, axis=[1, 2, 3])  # noqa: E731
    assert float(losses.r1_penalty(linear, x)) == pytest.approx(np.sum(w ** 2))
    quadratic = lambda images: 1.5 * tf.reduce_sum(images ** 2, axis=[1, 2, 3])  # noqa: E731
    expected = np.mean(np.sum((3.0 * x.numpy()) ** 2, axis=(1, 2, 3)))
    assert float(losses.r1_penalty(quadratic, x)) == pytest.approx(expected, rel=1e-5)


def test_r1_is_lazy_and_scaled_and_refuses_a_batchnorm_discriminator():
    cfg = config.resolve(model="conv_cgan", dataset="fashion_mnist", max_images=256,
                         batch_size=64, r1_gamma=2.0, r1_every=4, d_norm="none")
    trainer = Trainer(cfg, data.for_config(cfg))
    images, condition = next(iter(trainer.source.epoch_batches(64, 0, 0)))
    exact = float(losses.r1_penalty(lambda x: models.judge(trainer.discriminator, x, condition,
                                                           training=True), images))
    lazy = []
    for step in range(4):
        trainer.step.assign(step)
        lazy.append(float(trainer.steps._lazy_r1(images, condition)))
    # gamma / 2 x R1 x 4 on every 4th step, nothing in between
    assert lazy[1:] == [0.0, 0.0, 0.0] and exact > 0
    assert lazy[0] == pytest.approx(0.5 * 2.0 * 4 * exact, rel=1e-5)
    with pytest.raises(UserError, match="r1_gamma=1 with a BatchNorm discriminator.*or "
                                        "--r1_gamma=0 to train without"):
        Trainer(config.resolve(model="mlp_cgan", dataset="fashion_mnist", max_images=256,
                               r1_gamma=1.0, d_norm="batch"),
                data.load("fashion_mnist", max_images=256))


# --- DiffAugment ---------------------------------------------------------------------------
@pytest.mark.parametrize("policy", ["color", "translation", "cutout", "color,translation,cutout"])
def test_diffaugment_is_differentiable_random_and_repeatable(policy):
    names = choices.parse_policy(policy)
    x = tf.random.stateless_uniform((8, 16, 16, 3), (0, 1), -1.0, 1.0)
    weights = tf.random.stateless_normal((8, 16, 16, 3), (0, 2))
    with tf.GradientTape() as tape:
        tape.watch(x)
        out = augment.apply(x, names, tf.constant([5, 6], tf.int64))
        total = tf.reduce_sum(out * weights)
    grad = tape.gradient(total, x)
    assert out.shape == x.shape and grad is not None
    assert np.all(np.isfinite(grad.numpy())) and np.abs(grad.numpy()).sum() > 0
    again = augment.apply(x, names, tf.constant([5, 6], tf.int64))
    other = augment.apply(x, names, tf.constant([5, 7], tf.int64))
    np.testing.assert_array_equal(out.numpy(), again.numpy())
    assert np.abs(out.numpy() - other.numpy()).max() > 1e-3
    assert np.abs(out.numpy() - x.numpy()).max() > 1e-3


def test_translation_shifts_and_cutout_erases_a_quarter():
    x = tf.ones((64, 16, 16, 1))
    shifted = augment.translation(x, tf.random.stateless_uniform((64, 7), (1, 2)))
    # each image keeps a 16 - |dy| by 16 - |dx| block of ones, shifts of up to 2 pixels
    kept = shifted.numpy().sum(axis=(1, 2, 3))
    assert kept.min() >= 14 * 14 and kept.max() <= 256 and (kept < 256).mean() > 0.5
    erased = augment.cutout(x, tf.random.stateless_uniform((64, 7), (1, 3)))
    zeros = 1.0 - erased.numpy().mean(axis=(1, 2, 3))
    assert zeros.max() <= 0.25 + 1e-6 and zeros.min() > 0.05 and zeros.mean() > 0.15


def test_diffaugment_reaches_every_image_d_judges(monkeypatch):
    # without the recipe's R1, whose penalty would judge the real images a fourth time
    cfg = config.resolve(model="mlp_cgan", dataset="fashion_mnist", max_images=128,
                         batch_size=64, diffaugment="translation", mismatch_weight=0.5,
                         r1_gamma=0.0)
    trainer = Trainer(cfg, data.for_config(cfg))
    images, condition = next(iter(trainer.source.epoch_batches(64, 0, 0)))
    calls = []
    real_apply = augment.apply
    monkeypatch.setattr(augment, "apply", lambda x, *a: calls.append(x) or real_apply(x, *a))
    trainer.steps.d_step(images, condition)
    assert len(calls) == 3  # real, fake, real with the wrong label
    assert calls[0] is images and calls[2] is images and calls[1] is not images
    calls.clear()
    trainer.steps.g_step(images, condition)
    assert len(calls) == 1 and calls[0].shape == images.shape  # G's fakes too
    with pytest.raises(UserError, match="--diffaugment: unknown augmentation"):
        config.resolve(diffaugment="colour")


# --- mode seeking ----------------------------------------------------------------------------
def test_mode_seeking_term_equals_its_formula_and_punishes_ignored_noise():
    rng = np.random.default_rng(0)
    fake = rng.normal(size=(7, 4, 4, 1)).astype(np.float32)
    z = rng.normal(size=(7, 3)).astype(np.float32)
    # pairs (2i, 2i + 1) for i < 3; the 7th example has no partner and is left out
    ratio = np.abs(fake[0:6:2] - fake[1:6:2]).mean() / np.abs(z[0:6:2] - z[1:6:2]).mean()
    assert float(losses.mode_seeking_penalty(fake, z)) == pytest.approx(1 / (ratio + 1e-5), rel=1e-5)
    collapsed = np.concatenate([np.repeat(fake[0:6:2], 2, 0), fake[6:]])  # one image for both noises
    assert float(losses.mode_seeking_penalty(collapsed, z)) == pytest.approx(1e5)


def test_mode_seeking_pairs_share_a_condition_and_reach_g_loss(monkeypatch):
    settings = dict(model="mlp_cgan", dataset="fashion_mnist", max_images=128, batch_size=64)
    cfg = config.resolve(**settings, mode_seeking=2.0)
    trainer = Trainer(cfg, data.for_config(cfg))
    images, condition = next(iter(trainer.source.epoch_batches(64, 0, 0)))
    fake, z, paired = trainer.steps._fake(images, condition, steps.G_NOISE)
    np.testing.assert_array_equal(paired[1::2].numpy(), paired[0::2].numpy())
    np.testing.assert_array_equal(paired[0::2].numpy(), condition[0::2].numpy())
    assert np.abs(z[1::2].numpy() - z[0::2].numpy()).min() > 0  # two noise vectors per condition
    penalties = []
    real_penalty = losses.mode_seeking_penalty
    monkeypatch.setattr(losses, "mode_seeking_penalty",
                        lambda f, n, **kw: penalties.append(f) or real_penalty(f, n, **kw))
    logits = models.judge(trainer.discriminator, fake, paired)
    with_term = trainer.steps.generator_loss(logits, fake, images, z)
    assert len(penalties) == 1 and penalties[0] is fake
    plain = Trainer(config.resolve(**settings, mode_seeking=0.0), data.for_config(cfg))
    without = plain.steps.generator_loss(logits, fake, images, z)
    assert float(with_term - without) == pytest.approx(2.0 * float(real_penalty(fake, z)), rel=1e-5)
    with pytest.raises(UserError, match="--mode_seeking needs a generator that draws from noise"):
        config.resolve(model="img2img", mode_seeking=1.0)
    with pytest.raises(UserError, match="--mode_seeking must be >= 0"):
        config.resolve(mode_seeking=-1.0)


# --- the matching-aware term -----------------------------------------------------------------
def test_gan_cls_weights_and_wrong_labels_that_are_always_wrong():
    # without spectral norm: its power iteration moves sigma at each training-mode call of D,
    # so the recomputation below would not see the same D (nor the recipe's R1, which a
    # BatchNorm D refuses)
    cfg = config.resolve(model="mlp_cgan", dataset="fashion_mnist", max_images=256,
                         batch_size=256, mismatch_weight=0.5, real_label=1.0,
                         spectral_norm=False, d_norm="batch", r1_gamma=0.0)
    trainer = Trainer(cfg, data.for_config(cfg))
    images, condition = next(iter(trainer.source.epoch_batches(256, 0, 0)))
    fake, _, _ = trainer.steps._fake(images, condition, steps.D_NOISE)
    wrongs = []
    real_judge = trainer.steps._judge

    def spy(x, c, call):
        if call == 3:
            wrongs.append(c)
        return real_judge(x, c, call)
    trainer.steps._judge = spy
    d_loss, _ = trainer.steps.discriminator_loss(images, fake, condition)
    wrong = wrongs[0]
    assert np.all(np.argmax(wrong, 1) != np.argmax(condition, 1))
    assert len(np.unique(np.argmax(wrong, 1) - np.argmax(condition, 1))) > 10  # many shifts
    D, bce = trainer.discriminator, losses.get("bce")
    expected = (bce.real_loss(D([images, condition], training=True))
                + 0.5 * bce.fake_loss(D([fake, condition], training=True))
                + 0.5 * bce.fake_loss(D([images, wrong], training=True)))
    assert float(d_loss) == pytest.approx(float(expected), rel=1e-5)
    with pytest.raises(UserError, match=r"mismatch_weight must be in \[0, 1\) \(the wrong-condition share"):
        config.resolve(mismatch_weight=1.0)


# --- conv_cgan at the data's size ----------------------------------------------------------------
def test_conv_cgan_gives_back_images_of_the_datas_size():
    spec = data.load("fashion_mnist", max_images=8).spec
    g, d = models.build(spec, config.resolve(model="conv_cgan"))
    assert g.output_shape == (None, 28, 28, 1) and d.input_shape[0] == (None, 28, 28, 1)
    canvas = keras.Model(d.inputs, d.get_layer("to_canvas").output)
    padded = canvas([tf.zeros((2, 28, 28, 1)), tf.one_hot([0, 1], 10)]).numpy()
    assert padded.shape == (2, 32, 32, 1)
    assert np.all(padded[:, :2] == -1) and np.all(padded[:, 30:] == -1)
    assert np.all(padded[:, 2:30, 2:30] == 0)


def _all_layers(model):
    for layer in model.layers:
        yield layer
        yield from _all_layers(layer) if hasattr(layer, "layers") else ()
        if isinstance(layer, layers.Maxout):
            yield layer.dense
        if isinstance(layer, layers.Projection):
            yield layer.embed


def test_a_run_dir_that_does_not_record_a_setting_its_weights_depend_on_is_not_resumed(tmp_path):
    """A config.json without a setting the weights depend on (one written before the setting
    existed) cannot say the checkpoint fits today's: refused, naming each, nothing guessed."""
    from gan_zoo.run.run_files import RunFiles, save_json
    old = config.resolve(model="maxout_cgan").to_json()
    for key in ("d_conditioning", "spectral_norm", "g_conditioning"):
        old.pop(key)
    files = RunFiles(str(tmp_path))
    files.create()
    spec = data.load("fashion_mnist", max_images=8).spec
    save_json(files.config_json, {"config": old, "data_spec": spec.to_json()})
    recipe = config.resolve(model="maxout_cgan", run_dir=str(tmp_path))
    with pytest.raises(UserError, match=r"d_conditioning: not recorded there .*'projection' now.*"
                                        r"spectral_norm: not recorded there.*True now.*"
                                        r"g_conditioning: not recorded there.*'modulation' now"):
        run_dir_lib.check_run_dir(files, recipe, spec)
    save_json(files.config_json, {"config": recipe.to_json(), "data_spec": spec.to_json()})
    assert run_dir_lib.check_run_dir(files, recipe, spec)["config"] == recipe.to_json()
