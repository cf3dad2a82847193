"""The unconditional family on real faces: dcgan with every loss, the schedules, clipping,
kept checkpoints, the collapse alarm, export, and weights across distribution strategies."""
import logging
import os

import numpy as np
import pytest
import tensorflow as tf

import fixtures
from conftest import two_replicas, FACE_FOLDER, OLIVETTI, run_cli, tiny_faces_config
from gan_zoo.settings import config
from gan_zoo import data, models
from gan_zoo.serving import export
from gan_zoo.run import loop, run_files
from gan_zoo.core import losses
from gan_zoo.training import trainer
from gan_zoo.run import run_dir as run_dir_lib
from gan_zoo.errors import UserError
from gan_zoo.eval import diversity
from gan_zoo.data.spec import DataSpec


def _train(run_dir, **overrides):
    cfg = tiny_faces_config(run_dir, **overrides)
    return loop.train(cfg, data.for_config(cfg)), str(run_dir)


# --- data -----------------------------------------------------------------------------------
def test_lfw_folder_is_an_unlabelled_set_cropped_and_resized():
    assert data.load(f"folder:{FACE_FOLDER}", conditional=False).num_examples == \
        fixtures.FOLDER_FACES
    source = data.load(f"folder:{FACE_FOLDER}", center_crop=0.5, image_size=64, conditional=False,
                       max_images=64)
    assert source.spec.image_shape == (64, 64, 1)
    assert not source.spec.is_conditional
    images, condition = next(iter(source.epoch_batches(8, epoch=0, seed=0)))
    assert images.shape == (8, 64, 64, 1) and condition.shape == (8, 0)
    assert -1.0 <= float(tf.reduce_min(images)) < float(tf.reduce_max(images)) <= 1.0
    # the crop keeps the middle half: the face fills the frame, so the centre is not background
    full = data.load(f"folder:{FACE_FOLDER}", image_size=64, conditional=False, max_images=64)
    whole, _ = next(iter(full.epoch_batches(8, epoch=0, seed=0)))
    assert not np.allclose(whole.numpy(), images.numpy())


def test_a_conditional_model_refuses_unlabelled_images():
    with pytest.raises(UserError, match="no labels.*--model=dcgan"):
        data.load(f"folder:{FACE_FOLDER}")


def test_olivetti_faces_are_upright_with_forty_people(olivetti_small):
    source = data.load("olivetti", data_dir=OLIVETTI)
    assert source.num_examples == 400 and source.spec.image_shape == (64, 64, 1)
    assert source.spec.condition_dim == 40
    images = np.stack([x for x, _ in source.images_and_labels.as_numpy_iterator()]).astype(float)
    labels = np.array([y for _, y in source.images_and_labels.as_numpy_iterator()])
    assert np.bincount(labels).tolist() == [10] * 40
    mean = images.mean(0)[..., 0]
    # an upright face is symmetric left-right, not top-bottom (a transposed read is the reverse)
    assert np.corrcoef(mean.ravel(), mean[:, ::-1].ravel())[0, 1] > 0.9
    assert np.corrcoef(mean.ravel(), mean[::-1].ravel())[0, 1] < 0.7
    assert olivetti_small.spec.image_shape == (32, 32, 1) and not olivetti_small.spec.is_conditional


def test_missing_olivetti_file_says_where_it_looked(tmp_path):
    with pytest.raises(UserError, match=f"olivettifaces.mat not found.*{tmp_path}.*--data_dir"):
        data.load("olivetti", data_dir=str(tmp_path))


# --- models ---------------------------------------------------------------------------------
@pytest.mark.parametrize("size,channels", [(32, 1), (64, 3), (80, 3)])
def test_dcgan_sizes_and_mirrored_discriminator(size, channels):
    spec = DataSpec(image_shape=(size, size, channels), condition_dim=0)
    g, d = models.build(spec, config.resolve(model="dcgan", ngf=8, ndf=8))
    assert g.input_shape == (None, 100) and g.output_shape == (None, size, size, channels)
    assert d.input_shape == (None, size, size, channels) and d.output_shape == (None, 1)
    base = 5 if size == 80 else 4
    first = g.layers[2]  # noise -> 1x1xZ -> ConvTranspose k(base) s1 valid
    assert first.kernel_size == (base, base) and first.output.shape[1:3] == (base, base)
    assert first.filters == 8 * (8 if size > 32 else 4)
    d_norms = [type(layer).__name__ for layer in d.layers if "Normalization" in type(layer).__name__]
    assert d_norms == ["BatchNormalization"] * (3 if size > 32 else 2)  # none on the first layer


def test_wgan_gp_critic_has_no_batchnorm_and_refuses_it():
    cfg = config.resolve(model="dcgan", loss="wgan_gp", ngf=8, ndf=8)
    assert (cfg.d_norm, cfg.g_lr, cfg.beta1, cfg.n_critic, cfg.gp_weight) == ("instance", 1e-4, 0.0, 5, 10.0)
    spec = DataSpec(image_shape=(64, 64, 3), condition_dim=0)
    _, critic = models.build(spec, cfg)
    assert not any(isinstance(layer, tf.keras.layers.BatchNormalization) for layer in critic.layers)
    batch_norm = config.resolve(model="dcgan", loss="wgan_gp", d_norm="batch", ngf=8, ndf=8)
    _, batch_norm_critic = models.build(spec, batch_norm)
    with pytest.raises(UserError, match="d_norm=instance"):  # the objective refuses it
        losses.for_config(batch_norm).check_discriminator(batch_norm_critic)


def test_switching_loss_brings_its_recipe_and_flags_still_win():
    wgan = config.resolve(model="dcgan", loss="wgan")
    assert (wgan.optimizer, wgan.g_lr, wgan.clip, wgan.n_critic) == ("rmsprop", 5e-5, 0.01, 5)
    assert config.resolve(model="dcgan", loss="wgan", g_lr=1e-4, clip=0.1).clip == 0.1
    assert config.resolve(model="dcgan").loss == "bce" and config.resolve(model="dcgan").real_label == 0.9


# --- training with each loss ----------------------------------------------------------------
@pytest.mark.parametrize("loss", ["bce", "hinge", "wgan", "wgan_gp"])
def test_each_loss_trains_with_finite_losses(tmp_path, loss):
    trained, run_dir = _train(tmp_path, loss=loss)
    row = {k: v[-1] for k, v in run_files.read_csv(os.path.join(run_dir, "loss.csv")).items()}
    for name in ("Dis_loss", "Gen_loss", "Real_score", "Fake_score", "D_acc", "G_acc", "diversity"):
        assert np.isfinite(row[name]), (name, row)
    n_critic = trained.config.n_critic
    assert row["D_steps"] == 8 and row["G_steps"] == 8 // n_critic  # 128 faces / batch 16
    assert (row["GP"] > 0) == (loss == "wgan_gp")
    for w in trained.generator.weights + trained.discriminator.weights:
        assert np.all(np.isfinite(w.numpy()))


def test_wgan_clipping_keeps_every_critic_weight_in_range(tmp_path):
    trained, _ = _train(tmp_path, loss="wgan", clip=0.01)
    weights = np.concatenate([v.numpy().ravel() for v in trained.discriminator.trainable_variables])
    assert np.abs(weights).max() <= 0.01 + 1e-7
    assert np.mean(np.abs(weights) >= 0.01 - 1e-7) > 0.1  # the clip is active, not vacuous


def _frozen(model):
    return [w.numpy().copy() for w in model.trainable_variables]


def _changed(before, model):
    return any(not np.array_equal(a, w.numpy()) for a, w in zip(before, model.trainable_variables))


@pytest.mark.parametrize("d_ahead", [True, False])
def test_adaptive_schedule_trains_the_weaker_side(tmp_path, d_ahead):
    """With D ahead every batch is a G step; with D behind, a burst of D steps follows."""
    cfg = tiny_faces_config(tmp_path, adaptive_schedule=True, adaptive_burst=3)
    t = trainer.Trainer(cfg, data.for_config(cfg))
    measured = (0.9, 0.2) if d_ahead else (0.2, 0.9)
    t._measure = lambda images, condition: (tf.constant(measured[0]), tf.constant(measured[1]))
    g_before, d_before = _frozen(t.generator), _frozen(t.discriminator)
    t.train_epoch_steps(0)
    metrics = t.epoch_metrics()
    if d_ahead:
        assert (metrics["G_steps"], metrics["D_steps"]) == (8, 0)
        assert _changed(g_before, t.generator) and not _changed(d_before, t.discriminator)
    else:  # 8 batches: bursts of 3 D steps start at batches 1, 4, 7 (the last cut short)
        assert (metrics["G_steps"], metrics["D_steps"]) == (0, 8)
        assert int(t.burst_left) == 1
        assert _changed(d_before, t.discriminator) and not _changed(g_before, t.generator)


def test_adaptive_schedule_measures_both_accuracies(tmp_path):
    trained, run_dir = _train(tmp_path, adaptive_schedule=True, epochs=2)
    losses = run_files.read_csv(os.path.join(run_dir, "loss.csv"))
    assert np.all((0 <= losses["D_acc"]) & (losses["D_acc"] <= 1))
    assert np.all((0 <= losses["G_acc"]) & (losses["G_acc"] <= 1))
    assert losses["D_steps"].sum() + losses["G_steps"].sum() == 16


# --- run files: kept checkpoints, the collapse alarm, export ---------------------------------
def test_keep_every_keeps_checkpoints_beside_the_rolling_ones(tmp_path):
    _, run_dir = _train(tmp_path, epochs=3, keep_every=1, save_every=3)
    kept = sorted(f for f in os.listdir(os.path.join(run_dir, "checkpoints", "kept")) if f.endswith(".index"))
    assert kept == ["epoch-1.index", "epoch-2.index", "epoch-3.index"]
    first, *_ = run_dir_lib.restore_generator(run_dir, epoch=1)
    last, *_ = run_dir_lib.restore_generator(run_dir)
    z = tf.random.normal([2, 100], seed=1)
    assert not np.allclose(first(z).numpy(), last(z).numpy())
    with pytest.raises(UserError, match=r"kept epochs: \[1, 2, 3\]"):
        run_dir_lib.restore_generator(run_dir, epoch=7)


def test_diversity_figure_separates_real_from_collapsed(olivetti_small):
    batches = iter(olivetti_small.epoch_batches(64, epoch=0, seed=0))
    (a, _), (b, _) = next(batches), next(batches)
    assert diversity.relative_diversity(a, b) == pytest.approx(1.0, abs=0.15)
    collapsed = tf.repeat(a[:1], 64, axis=0) + tf.random.normal([64, 32, 32, 1], stddev=0.01)
    assert diversity.relative_diversity(collapsed, b) < 0.05


def test_collapse_alarm_warns_in_log_and_tensorboard(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(loop, "COLLAPSE_WARMUP_STEPS", 0)
    with caplog.at_level(logging.WARNING):
        _, run_dir = _train(tmp_path, collapse_threshold=5.0)  # no generator is 5x as varied as data
    assert any("Possible mode collapse at epoch 1" in r.getMessage() for r in caplog.records)
    events = "".join(open(os.path.join(run_dir, "tb", f), "rb").read().decode("latin-1")
                     for f in os.listdir(os.path.join(run_dir, "tb")))
    assert "alarm" in events


def test_unconditional_export_round_trip_and_generate_cli(tmp_path):
    trained, run_dir = _train(tmp_path / "run")
    export_dir = str(tmp_path / "export")
    metadata = export.export(run_dir, export_dir)
    assert metadata["conditional"] is False and metadata["num_classes"] == 0
    loaded, _ = export.load(export_dir)
    z = tf.random.normal([3, 100], seed=2)
    served = loaded.signatures["serving_default"](noise=z)["images"].numpy()
    expected = data.to_uint8(trained.sampler(z, training=False)).numpy()  # the recipe's EMA of G
    assert served.dtype == np.uint8 and np.abs(served.astype(int) - expected).max() <= 1
    seeded = loaded.signatures[export.SEED_SIGNATURE]
    once = seeded(count=tf.constant(4), seed=tf.constant(5, tf.int64))["images"].numpy()
    assert once.shape == (4, 32, 32, 1)
    np.testing.assert_array_equal(once, seeded(count=tf.constant(4), seed=tf.constant(5, tf.int64))["images"])
    result = run_cli("gan_zoo.serving.generate", f"--export_dir={export_dir}", "--count=10",
                     f"--out={tmp_path / 'faces.png'}")
    assert result.returncode == 0, result.stderr
    from gan_zoo import images
    assert images.read_png(str(tmp_path / "faces.png")).shape == (2 * 33 - 1, 8 * 33 - 1, 1)
    refused = run_cli("gan_zoo.serving.generate", f"--export_dir={export_dir}", "--labels=1",
                      f"--out={tmp_path / 'x.png'}")
    assert refused.returncode == 2 and "unconditional" in refused.stderr


# --- weights across distribution strategies --------------------------------------------------
def _two_replicas():
    return two_replicas()


def test_weights_from_a_strategy_run_load_into_a_plain_model_and_back(tmp_path):
    """The reference had to strip DataParallel's `module.` prefixes; here both ways just work."""
    cfg = tiny_faces_config(tmp_path, ema_half_life=0)  # the checkpoint below holds G alone
    spec = DataSpec(image_shape=(32, 32, 1), condition_dim=0)
    strategy = _two_replicas()
    with strategy.scope():
        mirrored_g, mirrored_d = models.build(spec, cfg)
        optimizer = tf.keras.optimizers.Adam(1e-3)
        optimizer.build(mirrored_g.trainable_variables)

    @tf.function
    def replica_step(noise):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(mirrored_d(mirrored_g(noise, training=True), training=True))
        grads = tape.gradient(loss, mirrored_g.trainable_variables)
        optimizer.apply_gradients(zip(grads, mirrored_g.trainable_variables))

    dist_noise = strategy.experimental_distribute_values_from_function(
        lambda ctx: tf.random.normal([4, 100], seed=ctx.replica_id_in_sync_group))
    for _ in range(3):
        strategy.run(replica_step, args=(dist_noise,))
    z = tf.random.normal([4, 100], seed=3)
    reference = mirrored_g(z, training=False).numpy()

    # 1. a run dir written under the strategy (the trainer's checkpoint layout) -> plain model
    run_dir = str(tmp_path / "strategy_run")
    files = run_files.RunFiles(run_dir)
    files.create()
    run_files.save_json(files.config_json, {"config": cfg.to_json(), "data_spec": spec.to_json()})
    with strategy.scope():
        step = tf.Variable(3, dtype=tf.int64)
    tf.train.Checkpoint(generator=mirrored_g, step=step).save(os.path.join(files.checkpoint_dir, "ckpt"))
    plain_g, _, _, restored_step = run_dir_lib.restore_generator(run_dir)
    assert restored_step == 3
    np.testing.assert_allclose(plain_g(z, training=False).numpy(), reference, atol=1e-6)
    # and Keras weight files, both ways
    mirrored_g.save_weights(str(tmp_path / "g.weights.h5"))
    fresh, _ = models.build(spec, cfg)
    fresh.load_weights(str(tmp_path / "g.weights.h5"))
    np.testing.assert_allclose(fresh(z, training=False).numpy(), reference, atol=1e-6)

    # 2. a plain run's checkpoint -> a model built under the strategy
    trained, plain_dir = _train(tmp_path / "plain_run")
    with strategy.scope():
        into_mirrored, _ = models.build(spec, cfg)
    expected = trained.generator(z, training=False).numpy()
    assert not np.allclose(into_mirrored(z, training=False).numpy(), expected, atol=1e-3)
    latest = tf.train.latest_checkpoint(os.path.join(plain_dir, "checkpoints"))
    tf.train.Checkpoint(generator=into_mirrored).restore(latest).expect_partial()
    np.testing.assert_allclose(into_mirrored(z, training=False).numpy(), expected, atol=1e-6)


# --- resume ----------------------------------------------------------------------------------
def _weights(t):
    return [v.numpy() for v in t.generator.weights + t.discriminator.weights
            + t.g_optimizer.variables + t.d_optimizer.variables] + [t.burst_left.numpy()]


@pytest.mark.parametrize("schedule", [dict(loss="wgan_gp"), dict(adaptive_schedule=True)])
def test_scheduled_training_resumes_to_the_same_state(tmp_path, schedule):
    """n_critic counting and the adaptive burst are checkpointed: 1 + 1 epochs == 2 epochs."""
    straight, _ = _train(tmp_path / "straight", epochs=2, **schedule)
    _train(tmp_path / "resumed", epochs=1, **schedule)
    resumed, run_dir = _train(tmp_path / "resumed", epochs=2, **schedule)
    assert int(resumed.step) == int(straight.step) == 16
    for a, b in zip(_weights(straight), _weights(resumed), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)
    assert list(run_files.read_csv(os.path.join(run_dir, "loss.csv"))["epoch"]) == [1, 2]


def test_dcgan_recipe_flagfile_trains_and_resumes_through_the_cli(tmp_path):
    common = ["--flagfile=flags/dcgan_wgan_gp.flags", "--dataset=olivetti", f"--data_dir={OLIVETTI}",
              "--image_size=32", "--ngf=8", "--ndf=8", "--max_images=160", "--batch_size=16",
              f"--run_dir={tmp_path}", "--noprogress", "--save_every=1"]
    first = run_cli("gan_zoo.train", *common, "--epochs=1")
    assert first.returncode == 0, first.stderr[-3000:]
    second = run_cli("gan_zoo.train", *common, "--epochs=2")
    assert second.returncode == 0, second.stderr[-3000:]
    assert "at step 10" in second.stderr
    rows = run_files.read_csv(os.path.join(str(tmp_path), "loss.csv"))
    assert list(rows["G_steps"]) == [2, 2] and list(rows["D_steps"]) == [10, 10]


def test_plots_of_a_critic_run(tmp_path):
    """WGAN runs plot the critic's scores (not sigmoids), the diversity, and 4 latent walks."""
    from gan_zoo import images
    from gan_zoo.cli import plot
    _, run_dir = _train(tmp_path, loss="wgan_gp", epochs=2)
    assert os.path.exists(plot.plot_losses(run_dir))
    gif = plot.samples_gif(run_dir)
    from PIL import Image
    assert Image.open(gif).n_frames == 2
    walk = images.read_png(plot.interpolation_grid(run_dir, steps=5))
    assert walk.shape == (4 * 33 - 1, 5 * 33 - 1, 1) and walk.std() > 0


def test_a_tfds_set_without_labels_for_unconditional_models(tmp_path):
    """The path celeb_a and lfw take online: tfds images, label ignored (here a small set the
    test prepares into a tfds data_dir)."""
    import fixtures
    data_dir, name = fixtures.tfds_data_dir(str(tmp_path / "tfds"))
    labelled = data.load(name, data_dir=data_dir)
    assert labelled.num_examples == 64 and labelled.spec.class_names == ("square", "bar", "cross", "dot")
    source = data.load(name, data_dir=data_dir, conditional=False, max_images=64, image_size=32)
    assert not source.spec.is_conditional and source.spec.image_shape == (32, 32, 1)
    images, condition = next(iter(source.epoch_batches(16, epoch=0, seed=0)))
    assert images.shape == (16, 32, 32, 1) and condition.shape == (16, 0)
