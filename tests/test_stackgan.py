"""StackGAN (gan_zoo/models/stackgan.py): the networks (shapes at both stages, the conditioning
augmentation's KL in closed form, stage II's dependence on the stage-I image, a frozen stage I
that stage II's training leaves alone), and the registered model trained in its two runs
(the warm start, resume, refusals, the two-stage grid, export, KL in G's loss, faces)."""
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from gan_zoo.core import losses
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
    noise, condition = _inputs(5, NOISE)
    assert first([noise, condition]).shape == (5, 14, 14, 1)
    assert second([noise, condition]).shape == (5, 28, 28, 1)
    assert second.inputs[0].shape[-1] == NOISE  # stage I's noise: stage II reuses its draw
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


def test_stage2_output_depends_on_the_stage1_image(stages):
    _, second = stages
    noise, condition = _inputs(4, NOISE)
    with tf.GradientTape() as tape:
        tape.watch(noise)
        image = second([noise, condition], training=False)
    grad = tape.gradient(image, noise).numpy()
    # z (past the augmentation's draw) reaches stage II only through the stage-I image
    assert np.abs(grad[:, CA:]).sum() > 0 and np.abs(grad[:, :CA]).sum() > 0
    # another z, the same augmentation draw: a different image (batch statistics, so an
    # untrained net's small activations are scaled up to be seen)
    other = tf.concat([noise[:, :CA], -noise[:, CA:]], axis=1)
    assert np.abs(second([other, condition], training=True)
                  - second([noise, condition], training=True)).max() > 1e-3


def test_training_stage2_leaves_the_frozen_stage1_alone(stages):
    first, second = stages
    frozen = {id(v) for v in first.variables}
    trained = {id(v) for v in second.trainable_variables}
    assert trained and not frozen & trained
    before = [v.numpy().copy() for v in first.variables]
    own = [v.numpy().copy() for v in second.trainable_variables]
    optimizer = keras.optimizers.Adam(1e-2)
    noise, condition = _inputs(8, NOISE)
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
    noise, condition = _inputs(3, NOISE)
    np.testing.assert_allclose(reloaded([noise, condition]), second([noise, condition]), atol=1e-6)


# --- the registered model: stage 1, then stage 2 over it, through the trainer ----------------
@pytest.fixture(scope="module")
def two_stage_runs(tmp_path_factory):
    """A tiny stage-1 run and a stage-2 run over it (one epoch each), trained once."""
    from gan_zoo.settings import config
    from gan_zoo import data
    from gan_zoo.run import loop
    base = tmp_path_factory.mktemp("stackgan")
    common = dict(recipe="stackgan", dataset="fashion_mnist", max_images=256, batch_size=64,
                  noise_dim=NOISE + 8, ca_dim=CA, ngf=8, ndf=8, epochs=1, eval_every=0,
                  progress=False, ema_half_life=500)
    first = config.resolve(**common, run_dir=str(base / "stage1"))
    loop.train(first, data.for_config(first))
    second = config.resolve(**common, stage=2, stage1_run=first.run_dir, run_dir=str(base / "stage2"))
    trainer = loop.train(second, data.for_config(second))
    return common, first, second, trainer


def _stage1_weights(generator):
    return [w.numpy() for w in generator.get_layer("stage1_generator").weights]


def test_stage2_starts_from_the_stage1_run_and_leaves_it_frozen(two_stage_runs):
    from gan_zoo.run.run_dir import restore_generator
    _, first, second, trainer = two_stage_runs
    stage1 = restore_generator(first.run_dir)[0]  # the EMA of the stage-1 run: what it sampled
    trained = restore_generator(second.run_dir)[0]
    for a, b, c in zip(_stage1_weights(stage1), _stage1_weights(trainer.generator), _stage1_weights(trained)):
        np.testing.assert_array_equal(a, b)  # copied in, then not trained
        np.testing.assert_array_equal(a, c)  # and so in the stage-2 checkpoint's EMA too
    assert not {id(v) for v in trainer.generator.get_layer("stage1_generator").variables} & {
        id(v) for v in trainer.generator.trainable_variables}
    # D judges 28x28 images at stage II, 14x14 ones (pooled from 28x28) at stage I
    assert trainer.discriminator.name == "stage2_discriminator"


def test_stage2_resumes_to_the_same_step_and_refuses_a_wrong_stage1_run(two_stage_runs, tmp_path):
    from gan_zoo.settings import config
    from gan_zoo import data
    from gan_zoo.run import loop
    from gan_zoo.errors import UserError
    common, first, second, _ = two_stage_runs
    steps = 256 // 64
    resumed = loop.train(config.resolve(**{**common, "epochs": 2}, stage=2, stage1_run=first.run_dir,
                                        run_dir=second.run_dir), data.for_config(second))
    assert int(resumed.step.numpy()) == 2 * steps
    from gan_zoo.run.run_files import RunFiles, read_csv
    assert list(read_csv(RunFiles(second.run_dir).loss_csv)["steps"]) == [steps, 2 * steps]
    wrong = config.resolve(**{**common, "noise_dim": NOISE + 16}, stage=2, stage1_run=first.run_dir,
                           run_dir=str(tmp_path / "wrong"))
    with pytest.raises(UserError, match="noise_dim"):
        loop.train(wrong, data.for_config(wrong))
    with pytest.raises(UserError, match="stage1_run"):
        config.resolve(**common, stage=2)
    not_stage1 = config.resolve(**common, stage=2, stage1_run=second.run_dir,
                                run_dir=str(tmp_path / "other"))
    with pytest.raises(UserError, match="stage=1 run"):
        loop.train(not_stage1, data.for_config(not_stage1))


def test_stage2_grid_shows_stage1_beside_its_refinement(two_stage_runs):
    from PIL import Image
    from gan_zoo.run.epoch_figures import SAMPLE_ROWS, STAGE_GAP
    _, first, second, _ = two_stage_runs
    stage2 = np.asarray(Image.open(os.path.join(second.run_dir, "samples", "epoch_0001.png")))
    stage1 = np.asarray(Image.open(os.path.join(first.run_dir, "samples", "epoch_0001.png")))
    one_grid = 10 * 29 - 1  # ten classes of 28x28 images, 1-pixel gaps
    assert stage1.shape[:2] == (SAMPLE_ROWS * 29 - 1, one_grid)
    assert stage2.shape[:2] == (SAMPLE_ROWS * 29 - 1, 2 * one_grid + STAGE_GAP)
    left = stage2[:, :one_grid].astype(int)
    assert (stage2[:, one_grid:one_grid + STAGE_GAP] == 255).all()
    # the left half is made of 2x2 blocks (the 14x14 stage-I images), the right half is not
    cell = left[:28, :28]
    np.testing.assert_array_equal(cell[::2, ::2], cell[1::2, 1::2])
    right = stage2[:28, one_grid + STAGE_GAP:one_grid + STAGE_GAP + 28].astype(int)
    assert (right[::2, ::2] != right[1::2, 1::2]).any()


def test_stage2_export_serves_both_stages_matches_the_checkpoint_and_explores(two_stage_runs, tmp_path):
    from gan_zoo.serving import export
    from gan_zoo import models
    from gan_zoo.data import to_uint8
    from gan_zoo.run.run_dir import restore_generator
    _, _, second, _ = two_stage_runs
    export.export(second.run_dir, str(tmp_path / "export"))
    loaded, meta = export.load(str(tmp_path / "export"))
    noise, _ = _inputs(4, NOISE + 8, seed=5)
    labels = tf.constant([0, 3, 3, 9], tf.int32)
    out = loaded.signatures["serving_default"](labels=labels, noise=noise)
    assert out["images"].shape == (4, 28, 28, 1) and out["stage1_images"].shape == (4, 14, 14, 1)
    generator = restore_generator(second.run_dir)[0]
    two = models.with_stage1_image(generator)
    final, coarse = two([noise, tf.one_hot(labels, 10)], training=False)
    _same_image(out["images"], to_uint8(final))
    _same_image(out["stage1_images"], to_uint8(coarse))
    assert meta["model"] == "stackgan"
    # the latent explorer serves it as any label model: its /render is the export's image
    from gan_zoo.serving import explore
    explorer = explore.Explorer(loaded, meta, directions=2)
    assert explorer.info()["noise_dim"] == NOISE + 8 and len(explorer.info()["class_names"]) == 10
    png = explorer.render({"noise": [float(v) for v in noise.numpy()[1]], "label": 3})
    _same_image(tf.io.decode_png(png), out["images"][1])


def _same_image(a, b):
    """uint8 images of one generator computed by two graphs (the export's and the restored
    model's, or one batch against another): their float outputs agree to float32 rounding,
    which moves a pixel whose value lies within ~1e-5 of a rounding boundary to the next level
    on some CPUs' kernels. So: no pixel more than one level apart, and only a handful at one
    (a wrong weight, input or stage moves most pixels by many levels)."""
    a, b = np.asarray(a, np.int32), np.asarray(b, np.int32)
    assert a.shape == b.shape
    diff = np.abs(a - b)
    assert diff.max() <= 1 and np.mean(diff > 0) <= 0.01, (diff.max(), np.mean(diff > 0))


def test_kl_of_the_augmentation_is_in_the_generator_loss():
    """G's loss is the adversarial term plus --kl_weight x the KL its augmentation added."""
    import types
    from gan_zoo.settings import config
    from gan_zoo.core import losses as losses_lib
    from gan_zoo.data.spec import DataSpec
    from gan_zoo.training.steps import Steps
    spec = DataSpec(image_shape=(28, 28, 1), condition_dim=CLASSES)
    first = stackgan.build_stage1_generator(14, 1, CLASSES, NOISE, CA, ngf=8)
    noise, condition = _inputs(6, NOISE)
    fake = first([noise, condition], training=True)
    kl = float(tf.add_n(first.losses))
    assert kl > 0
    logits = tf.constant(np.linspace(-2, 2, 6)[:, None], tf.float32)
    loss = {}
    for weight in (0.0, 3.0):
        cfg = config.resolve(recipe="stackgan", noise_dim=NOISE, ca_dim=CA, kl_weight=weight)
        state = types.SimpleNamespace(objective=losses_lib.for_config(cfg), generator=first,
                                      discriminator=None)
        loss[weight] = float(Steps(cfg, spec, state).generator_loss(logits, fake, None))
    np.testing.assert_allclose(loss[3.0] - loss[0.0], 3.0 * kl, rtol=1e-5)


def test_unconditional_faces_train_both_stages_and_export(tmp_path):
    """Images alone (FACE_FOLDER faces): no condition anywhere; stage 2 still shows and serves stage I."""
    from conftest import FACE_FOLDER
    from gan_zoo.settings import config
    from gan_zoo import data
    from gan_zoo.serving import export
    from gan_zoo.run import loop
    from gan_zoo.run.epoch_figures import STAGE_GAP, UNCONDITIONAL_GRID
    from PIL import Image
    common = dict(recipe="stackgan", dataset=f"folder:{FACE_FOLDER}", max_images=64, image_size=32,
                  batch_size=32, noise_dim=NOISE + 8, ca_dim=CA, ngf=8, ndf=8, epochs=1,
                  eval_every=1, eval_samples=64, progress=False)
    first = config.resolve(**common, run_dir=str(tmp_path / "stage1"))
    trained = loop.train(first, data.for_config(first))
    assert trained.spec.condition_dim == 0 and len(trained.generator.inputs) == 1
    second = config.resolve(**common, stage=2, stage1_run=first.run_dir, run_dir=str(tmp_path / "stage2"))
    refined = loop.train(second, data.for_config(second))
    assert refined.generator.output_shape == (None, 32, 32, 1)
    figure = np.asarray(Image.open(os.path.join(second.run_dir, "samples", "epoch_0001.png")))
    side = UNCONDITIONAL_GRID * 33 - 1
    assert figure.shape[:2] == (side, 2 * side + STAGE_GAP)
    from gan_zoo.run.run_files import RunFiles, read_csv
    assert "SWD" in read_csv(RunFiles(second.run_dir).metrics_csv)
    export.export(second.run_dir, str(tmp_path / "export"))
    loaded, _ = export.load(str(tmp_path / "export"))
    out = loaded.signatures["generate_from_seed"](count=tf.constant(3), seed=tf.constant(1, tf.int64))
    assert out["images"].shape == (3, 32, 32, 1) and out["stage1_images"].shape == (3, 16, 16, 1)
