"""The zoo as Keras objects: gan_zoo.build, the GAN keras.Model whose fit() runs the trainer's
step, Keras' callbacks around it (BackupAndRestore included), the EMA callback and the parts."""
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import gan_zoo
from conftest import two_replicas
from gan_zoo import parts
from gan_zoo.errors import UserError
from gan_zoo.fit import GAN, GeneratorEMA, Scores, batches
from gan_zoo.settings import config
from gan_zoo.training.trainer import Trainer

BATCH = 64
# fit() and the trainer run the same ops on one device; only the cut of the graph into
# tf.function calls differs, which may round a fused op differently (about 1e-7 here). 1e-5 is
# far below one Adam step of these recipes (learning rates >= 1e-4), so a step skipped, taken
# twice, or drawn with other noise fails it.
SAME_OPS_ATOL = 1e-5


def weights(*models):
    return [w.numpy() for m in models for w in m.weights]


def assert_close(a, b, atol=SAME_OPS_ATOL):
    assert len(a) == len(b)
    worst = max(float(np.max(np.abs(x - y))) for x, y in zip(a, b))
    assert worst <= atol, f"max difference {worst:.3g}"


def trainer_steps(cfg, source, steps, strategy=None):
    trainer = Trainer(cfg, source, strategy=strategy)
    iterator = iter(source.epoch_batches(cfg.batch_size, 0, cfg.seed))
    if strategy is not None:
        iterator = iter(strategy.experimental_distribute_dataset(
            source.epoch_batches(cfg.batch_size, 0, cfg.seed)))
    done = 0
    while done < steps:
        done += trainer.run_steps(iterator, steps - done)
    return trainer


def test_build_gives_the_trainers_networks_with_their_inputs_named(fashion_small):
    generator, discriminator = gan_zoo.build("maxout_cgan", image_shape=(28, 28, 1), num_classes=10)
    assert [i.name for i in generator.inputs] == ["noise", "condition"]
    assert [i.name for i in discriminator.inputs] == ["image", "condition"]
    assert generator.output.shape[1:] == (28, 28, 1)
    trainer = Trainer(config.resolve(model="maxout_cgan", dataset="fashion_mnist"), fashion_small)
    for ours, theirs in zip(weights(generator, discriminator), weights(trainer.generator, trainer.discriminator)):
        np.testing.assert_array_equal(ours, theirs)  # the same seed, the same initial weights
    g, d = gan_zoo.build("dcgan", image_shape=(32, 32, 1))
    assert [i.name for i in g.inputs] == ["noise"] and [i.name for i in d.inputs] == ["image"]
    with pytest.raises(UserError, match="num_classes"):
        gan_zoo.build("maxout_cgan", image_shape=(28, 28, 1))


@pytest.mark.parametrize("model,settings", [
    ("maxout_cgan", {}),  # its recipe: 2 D steps per G step, the EMA, spectral norm
    ("mlp_cgan", {"n_critic": 1, "loss": "hinge", "diffaugment": "color,translation", "rotation": 1.0}),
], ids=["maxout_cgan-n_critic2-ema", "mlp_cgan-hinge-diffaugment-rotation"])
def test_fit_steps_give_the_trainers_weights(fashion_small, model, settings):
    cfg = config.resolve(model=model, dataset="fashion_mnist", batch_size=BATCH, **settings)
    steps = 6
    trainer = trainer_steps(cfg, fashion_small, steps)
    gan = GAN(model, data=fashion_small, dataset="fashion_mnist", batch_size=BATCH, **settings)
    gan.compile()
    history = gan.fit(batches(fashion_small, BATCH, n_critic=cfg.n_critic), epochs=1,
                      steps_per_epoch=steps // cfg.n_critic, verbose=0)
    assert gan.step == int(trainer.step.numpy()) == steps
    heads = [m for m in (gan.rotation_head, trainer.state.rotation_head) if m is not None]
    assert len(heads) == (2 if settings.get("rotation") else 0)  # trained alike, with D
    assert_close(weights(gan.generator, gan.discriminator, gan.sampler, *heads[:1]),
                 weights(trainer.generator, trainer.discriminator, trainer.sampler, *heads[1:]))
    figures = trainer.epoch_metrics()  # fit's logs are loss.csv's figures
    for name in ("Real_P", "Fake_P", "Dis_loss", "Gen_loss", "D_acc", "G_steps", "D_steps"):
        assert history.history[name][-1] == pytest.approx(figures[name], rel=1e-4, abs=1e-6), name


def test_fit_under_mirrored_strategy_gives_the_trainers_mirrored_weights(fashion_small):
    """Two replicas on both sides: the same all-reduces in the same order."""
    strategy = two_replicas()
    cfg = config.resolve(model="maxout_cgan", dataset="fashion_mnist", batch_size=BATCH,
                         strategy="mirrored", cpu_devices=2)
    trainer = trainer_steps(cfg, fashion_small, 4, strategy=strategy)
    with strategy.scope():
        gan = GAN("maxout_cgan", data=fashion_small, dataset="fashion_mnist", batch_size=BATCH)
        gan.compile()
    gan.fit(batches(fashion_small, BATCH, n_critic=2), epochs=1, steps_per_epoch=2, verbose=0)
    assert gan.step == 4 and gan.training_state.replicas == 2
    assert_close(weights(gan.generator, gan.discriminator, gan.sampler),
                 weights(trainer.generator, trainer.discriminator, trainer.sampler))


class _StopAt(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt("stopped")


def test_fit_with_keras_callbacks_and_a_resume_through_backup_and_restore(fashion_small, tmp_path):
    """An interrupted fit resumed by BackupAndRestore (a new GAN object, as a new process would
    make) ends with the weights, EMA, optimizer slots and step of an uninterrupted one. The
    data set is the same 4 batches every epoch (Keras restarts a data set's iterator on resume)."""
    data = fashion_small.epoch_batches(BATCH, 0, 0).take(4)
    settings = dict(model="mlp_cgan", data=fashion_small, dataset="fashion_mnist", batch_size=BATCH,
                    n_critic=1, ema_half_life=2000)

    straight = GAN(**settings)
    straight.compile()
    csv = str(tmp_path / "loss.csv")
    saved = str(tmp_path / "gan.weights.h5")
    straight.fit(data, epochs=3, verbose=0, callbacks=[
        Scores(num_samples=200), keras.callbacks.CSVLogger(csv),
        keras.callbacks.ModelCheckpoint(saved, save_weights_only=True),
        keras.callbacks.TensorBoard(str(tmp_path / "tb"))])

    backup = str(tmp_path / "backup")
    interrupted = GAN(**settings)
    interrupted.compile()
    with pytest.raises(KeyboardInterrupt):
        interrupted.fit(data, epochs=3, verbose=0,
                        callbacks=[keras.callbacks.BackupAndRestore(backup), _StopAt(2)])
    assert interrupted.step == 8
    resumed = GAN(**settings)
    resumed.compile()
    resumed.fit(data, epochs=3, verbose=0, callbacks=[keras.callbacks.BackupAndRestore(backup)])
    assert resumed.step == straight.step == 12
    assert_close(weights(resumed.generator, resumed.discriminator, resumed.sampler),
                 weights(straight.generator, straight.discriminator, straight.sampler))
    assert_close([v.numpy() for v in resumed.g_optimizer.variables],
                 [v.numpy() for v in straight.g_optimizer.variables])

    rows = open(csv).read().splitlines()
    header = rows[0].split(",")
    assert len(rows) == 4 and {"epoch", "Real_P", "Dis_loss", "Gen_loss", "FID", "recall",
                               "label_accuracy"} <= set(header)
    fid = [float(r.split(",")[header.index("FID")]) for r in rows[1:]]
    assert all(np.isfinite(fid))
    assert any(f.startswith("events.out") for _, _, files in os.walk(tmp_path / "tb") for f in files)
    reloaded = GAN(**settings)
    reloaded.load_weights(saved)
    assert reloaded.step == 12
    assert_close(weights(reloaded.sampler), weights(straight.sampler), atol=0)


def test_fit_refuses_what_it_cannot_train_naming_the_fix(fashion_small):
    with pytest.raises(UserError, match="adaptive_schedule"):
        GAN("maxout_cgan", data=fashion_small, adaptive_schedule=True)
    gan = GAN("mlp_cgan", data=fashion_small, batch_size=32, n_critic=1)
    gan.compile()
    with pytest.raises(UserError, match="batch_size=64"):
        gan.fit(fashion_small.epoch_batches(64, 0, 0).take(1), verbose=0)
    gan = GAN("maxout_cgan", data=fashion_small, batch_size=64)  # its recipe: n_critic 2
    gan.compile()
    with pytest.raises(UserError, match=r"group of 2 batches, \[batch, 2"):
        gan.fit(fashion_small.epoch_batches(64, 0, 0).take(2), verbose=0)
    with pytest.raises(UserError, match="takes no optimizer"):
        gan.compile(optimizer="adam")


def test_your_own_networks_train_in_the_zoo_gan_with_int_labels_and_uint8_images(fashion_small):
    """A user's own G and D (the zoo's inputs, their own layers) and a data set of uint8 images
    with int labels, as keras.utils.image_dataset_from_directory-like pipelines give."""
    noise = keras.Input((16,), name="noise")
    condition = keras.Input((10,), name="condition")
    x = keras.layers.Dense(64, activation="relu")(keras.layers.Concatenate()([noise, condition]))
    image = keras.layers.Reshape((28, 28, 1))(keras.layers.Dense(784, activation="tanh")(x))
    generator = keras.Model([noise, condition], image)
    seen = keras.Input((28, 28, 1), name="image")
    label = keras.Input((10,), name="condition")
    h = parts.SNDense(64)(keras.layers.Flatten()(seen))
    logit = keras.layers.Add()([parts.SNDense(1)(h), parts.Projection()(h, label)])
    discriminator = keras.Model([seen, label], logit)
    gan = GAN("mlp_cgan", generator=generator, discriminator=discriminator, image_shape=(28, 28, 1),
              num_classes=10, noise_dim=16, batch_size=32, n_critic=1, loss="hinge")
    gan.compile()
    uint8 = fashion_small.images_and_labels.take(128).batch(32, drop_remainder=True)
    before = [w.numpy() for w in generator.weights]
    history = gan.fit(uint8, epochs=2, verbose=0)
    assert gan.step == 8 and np.isfinite(history.history["Dis_loss"]).all()
    assert any(np.abs(a - w.numpy()).max() > 0 for a, w in zip(before, generator.weights))
    samples = gan.generate(tf.random.normal((3, 16)), tf.one_hot([0, 1, 2], 10))
    assert samples.shape == (3, 28, 28, 1) and float(tf.reduce_max(tf.abs(samples))) <= 1.0


class _TinyGAN(keras.Model):
    """A GAN of a user's own, keras.io-style, with a `generator` attribute."""

    def __init__(self):
        super().__init__()
        self.generator = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
        self.optimizer_g = keras.optimizers.SGD(0.1)

    def train_step(self, data):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(self.generator(data) - 1.0))
        grads = tape.gradient(loss, self.generator.trainable_variables)
        self.optimizer_g.apply_gradients(zip(grads, self.generator.trainable_variables))
        return {"loss": loss}


class _Record(keras.callbacks.Callback):
    def __init__(self, model):
        super().__init__()
        self.watched, self.seen = model, []

    def on_train_batch_end(self, batch, logs=None):
        self.seen.append([w.numpy() for w in self.watched.generator.weights])


def test_generator_ema_callback_averages_a_fit_of_your_own_by_its_formula():
    gan = _TinyGAN()
    gan.compile()
    start = [w.numpy() for w in gan.generator.weights]
    ema = GeneratorEMA(half_life_images=20, rampup=0, batch_size=8)
    record = _Record(gan)
    gan.fit(tf.data.Dataset.from_tensor_slices(np.ones((24, 4), np.float32)).batch(8), epochs=1,
            verbose=0, callbacks=[record, ema])
    beta = 0.5 ** (8 / 20)
    expected = start
    for after in record.seen:  # shadow <- beta * shadow + (1 - beta) * weights, after each batch
        expected = [beta * e + (1 - beta) * w for e, w in zip(expected, after)]
    for got, want in zip(ema.average_model.weights, expected):
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-6)
    assert not np.allclose(expected[0], record.seen[-1][0])


def test_parts_score_your_own_images_in_the_zoo_classifier_space(fashion_small):
    images = np.stack([image for image, _ in fashion_small.images_and_labels.take(600).as_numpy_iterator()])
    alike = parts.score(images[:300], images[300:])
    noisy = np.clip(images[300:] + np.random.default_rng(0).normal(0, 60, images[300:].shape), 0, 255)
    apart = parts.score(images[:300], noisy.astype(np.uint8))
    assert alike["FID"] < 0.2 * apart["FID"] and alike["recall"] > 0.8 > 0.2 > apart["recall"]
    assert alike["coverage"] > 0.8 and apart["KID"] > alike["KID"] + 10
    augmented = parts.diff_augment(images[:8] / 127.5 - 1.0, "color,translation,cutout", seed=(0, 1))
    again = parts.diff_augment(images[:8] / 127.5 - 1.0, "color,translation,cutout", seed=(0, 1))
    assert augmented.shape == (8, 28, 28, 1) and np.array_equal(augmented, again)
    assert parts.hinge_real_loss(tf.constant([[2.0], [0.5]])).numpy() == pytest.approx(0.25)


def test_fit_applies_the_settings_schedule_as_the_trainer_does():
    """Two epochs with the matching-aware term dropped after the first and the learning rates
    decayed linearly: fit()'s Schedule callback changes both where the trainer's set_epoch does."""
    settings = dict(n_critic=1, mismatch_epochs=1, lr_linear_decay=0.8, epochs=2)
    steps = 3
    cfg = config.resolve(model="mlp_cgan", dataset="fashion_mnist", batch_size=BATCH, **settings)
    source = gan_zoo.data.load("fashion_mnist", max_images=steps * BATCH)  # 3 batches an epoch
    trainer = Trainer(cfg, source)
    for epoch in range(2):
        trainer.set_epoch(epoch)
        iterator = iter(source.epoch_batches(BATCH, epoch, cfg.seed))
        for _ in range(steps):
            trainer.set_learning_rates(epoch)
            trainer.run_steps(iterator, 1)
    gan = GAN("mlp_cgan", data=source, dataset="fashion_mnist", batch_size=BATCH, **settings)
    gan.compile()
    gan.fit(batches(source, BATCH, epochs=2), epochs=2, steps_per_epoch=steps, verbose=0)
    assert not gan.steps.mismatch_active and not trainer.steps.mismatch_active
    assert float(gan.g_optimizer.learning_rate) == pytest.approx(float(trainer.g_optimizer.learning_rate))
    assert_close(weights(gan.generator, gan.discriminator), weights(trainer.generator, trainer.discriminator))


def test_a_shipped_generator_fine_tunes_in_a_few_lines(fashion_small):
    generator = gan_zoo.load(pretrained="maxout_cgan/fashion_mnist").keras_model
    shipped = weights(generator)
    _, discriminator = gan_zoo.build("maxout_cgan", image_shape=(28, 28, 1), num_classes=10)
    gan = GAN("maxout_cgan", generator=generator, discriminator=discriminator,
              image_shape=(28, 28, 1), num_classes=10, batch_size=BATCH, n_critic=1)
    gan.compile()
    gan.fit(fashion_small.images_and_labels.take(2 * BATCH).batch(BATCH), verbose=0)
    assert gan.step == 2 and gan.generator is generator
    moved = [np.abs(a - b).max() for a, b in zip(shipped, weights(generator))]
    assert max(moved) > 0 and all(np.isfinite(w).all() for w in weights(gan.sampler))
