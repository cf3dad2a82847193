"""Image-to-image (img2img): builders' shapes and receptive field, the paired data, the L1 and
adversarial terms, a short run on drawn facade pairs, and the export in both inference modes."""
import os

import numpy as np
import pytest
import tensorflow as tf

import fixtures
from conftest import FACADES, run_cli


def _spec(size, channels_in=3, channels_out=3):
    from gan_zoo.data.spec import DataSpec
    return DataSpec(image_shape=(size, size, channels_out), condition_dim=0,
                    condition_shape=(size, size, channels_in))


def _config(**overrides):
    from gan_zoo.settings import config
    return config.resolve(model="img2img", **overrides)


@pytest.fixture(scope="module")
def facades():
    """The drawn facade pairs (tests/fixtures.py), label map -> photo at 64x64."""
    from gan_zoo import data
    return data.load("facades", data_dir=FACADES, paired=True, direction="BtoA", image_size=64)


# --- builders ----------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [16, 32, 64, 128, 256])
def test_unet_output_shape_equals_input_shape(size):
    from gan_zoo.models import img2img
    generator = img2img.build_unet(_spec(size, channels_in=1), ngf=8, dropout=0.5)
    out = generator(tf.zeros((2, size, size, 1)), training=False)
    assert tuple(out.shape) == (2, size, size, 3)
    # a skip connection at every size: the 2x2 decoder output meets the 2x2 encoder features
    assert sum(isinstance(layer, tf.keras.layers.Concatenate) for layer in generator.layers) == \
        int(np.log2(size)) - 1


def test_reference_encoder_decoder_is_the_reference():
    from gan_zoo.models import img2img
    spec = _spec(64)
    generator = img2img.build_encoder_decoder(spec)
    convs = [(type(layer).__name__, layer.filters, layer.strides[0]) for layer in generator.layers
             if hasattr(layer, "filters")]
    assert convs == [("Conv2D", 64, 2), ("Conv2D", 128, 2), ("Conv2D", 256, 2), ("Conv2D", 512, 2),
                     ("Conv2DTranspose", 256, 2), ("Conv2DTranspose", 128, 2),
                     ("Conv2DTranspose", 64, 2), ("Conv2DTranspose", 3, 2)]
    assert tuple(generator.output_shape) == (None, 64, 64, 3)
    discriminator = img2img.build_global_discriminator(spec)
    assert [layer.filters for layer in discriminator.layers if hasattr(layer, "filters")] == \
        [32, 64, 128, 256, 1]
    assert tuple(discriminator.output_shape) == (None, 1)


@pytest.mark.parametrize("size,layers", [(64, 2), (256, 3)])
def test_patchgan_logit_sees_exactly_its_receptive_field(size, layers):
    """Gradient test: a patch's logit changes with the pixels of a field x field square and with
    no pixel outside it (inference mode: BatchNorm with training statistics mixes the batch)."""
    from gan_zoo.models import img2img
    field = img2img.receptive_field(layers)
    assert field == {2: 34, 3: 70}[layers]
    discriminator = img2img.build_patch_discriminator(_spec(size), ndf=8, layers=layers)
    images = tf.random.normal((1, size, size, 3), seed=1)
    inputs = tf.random.normal((1, size, size, 3), seed=2)
    logits = discriminator([images, inputs], training=False)
    grid = logits.shape[1]
    assert logits.shape == (1, grid, grid, 1) and grid > 1  # a grid of logits, not one
    row = col = grid // 2  # away from the borders, where padding would cut the field
    with tf.GradientTape() as tape:
        tape.watch(images)
        logit = discriminator([images, inputs], training=False)[0, row, col, 0]
    touched = np.argwhere(np.abs(tape.gradient(logit, images).numpy()[0]).sum(-1) > 0)
    (top, left), (bottom, right) = touched.min(0), touched.max(0)
    assert (bottom - top + 1, right - left + 1) == (field, field)
    # A pixel just outside the field leaves the logit exactly as it was; one inside moves it.
    def logit_with(y, x):
        changed = tf.tensor_scatter_nd_update(images, [[0, y, x]], [[5.0, 5.0, 5.0]])
        return float(discriminator([changed, inputs], training=False)[0, row, col, 0])
    assert logit_with(top - 1, left) == float(logit)
    assert logit_with(bottom, right + 1) == float(logit)
    assert logit_with(top, left) != float(logit)


def test_builder_reports_the_receptive_field_and_grid(monkeypatch):
    import types
    from gan_zoo import models
    from gan_zoo.models import img2img
    logged = []  # absl's handlers vary with what ran before, so the call itself is recorded
    monkeypatch.setattr(img2img, "logging", types.SimpleNamespace(
        info=lambda message, *args: logged.append(message % args)))
    _, discriminator = models.build(_spec(256), _config(discriminator="patch", ngf=8, ndf=8))
    assert tuple(discriminator.output_shape) == (None, 30, 30, 1)  # pix2pix's 30x30 at 256
    assert any("70x70 receptive field; a 30x30 grid of logits at 256x256" in m for m in logged)


def test_bad_sizes_are_refused_with_the_fix():
    from gan_zoo.errors import UserError
    from gan_zoo.models import img2img
    with pytest.raises(UserError, match="--image_size"):
        img2img.build_unet(_spec(48))
    with pytest.raises(UserError, match="--patch_layers"):
        img2img.build_patch_discriminator(_spec(32), layers=4)


# --- losses ------------------------------------------------------------------------------------
def _generator_grads(trainer, targets, inputs):
    from gan_zoo import models
    with tf.GradientTape() as tape:
        fake = models.generate(trainer.generator, None, inputs, training=True)
        logits = models.judge(trainer.discriminator, fake, inputs, training=True)
        loss = trainer.steps.generator_loss(logits, fake, targets)
    return [g.numpy() for g in tape.gradient(loss, trainer.generator.trainable_variables)]


def _same(a, b):
    return all(np.array_equal(x, y) for x, y in zip(a, b))


@pytest.mark.parametrize("l1_weight,adv_weight", [(0.0, 1.0), (100.0, 0.0), (0.7, 0.3)])
def test_a_zero_weight_switches_its_term_off(facades, tmp_path, l1_weight, adv_weight):
    """adv 0: G's gradient does not depend on D; L1 0: it does not depend on the targets."""
    from gan_zoo.training import trainer as trainer_lib
    cfg = _config(dataset="facades", data_dir=FACADES, ngf=8, ndf=8, l1_weight=l1_weight,
                  adv_weight=adv_weight, run_dir=str(tmp_path))
    trainer = trainer_lib.Trainer(cfg, facades)
    targets, inputs = next(iter(facades.epoch_batches(4, epoch=0, seed=0)))
    base = _generator_grads(trainer, targets, inputs)
    other_targets = _generator_grads(trainer, tf.reverse(targets, axis=[0]), inputs)
    for v in trainer.discriminator.trainable_variables:
        v.assign(v * 1.5 + 0.01)
    other_d = _generator_grads(trainer, targets, inputs)
    assert _same(base, other_targets) == (l1_weight == 0)
    assert _same(base, other_d) == (adv_weight == 0)


# --- data --------------------------------------------------------------------------------------
def test_facades_direction_and_split(facades):
    from gan_zoo import data
    assert (facades.num_examples, facades.held_out.num_examples) == \
        (fixtures.FACADES_TRAIN, fixtures.FACADES_TEST)
    assert facades.spec.image_shape == facades.spec.condition_shape == (64, 64, 3)
    a_to_b = data.load("facades", data_dir=FACADES, paired=True, direction="AtoB", image_size=64)
    (target, inputs), = facades.images_and_labels.take(1)
    (target2, inputs2), = a_to_b.images_and_labels.take(1)
    np.testing.assert_array_equal(target, inputs2)  # BtoA swaps the halves
    np.testing.assert_array_equal(inputs, target2)
    # the label maps are saturated colours (blue background...), the photos mostly not
    def saturation(image):
        image = image.numpy().astype(int)
        return np.mean(image.max(-1) - image.min(-1))
    assert saturation(inputs) > 120 > 60 > saturation(target)


def test_jitter_and_mirror_apply_to_training_only_and_resume_alike():
    from gan_zoo import data
    plain = data.load("facades", data_dir=FACADES, paired=True, image_size=32, max_images=16)
    jittered = data.load("facades", data_dir=FACADES, paired=True, image_size=32, max_images=16,
                         jitter=0.25, mirror=True)
    assert jittered.held_out.augment is None
    (x0, c0), = plain.epoch_batches(16, epoch=0, seed=0).take(1)
    (x1, c1), = jittered.epoch_batches(16, epoch=0, seed=0).take(1)
    (x2, c2), = jittered.epoch_batches(16, epoch=0, seed=0).take(1)
    (x3, _), = jittered.epoch_batches(16, epoch=1, seed=0).take(1)
    assert x1.shape == x0.shape and not np.array_equal(x1, x0)
    np.testing.assert_array_equal(x1, x2)  # seeded: a resumed epoch crops alike
    np.testing.assert_array_equal(c1, c2)
    assert not np.array_equal(x1, x3)  # another epoch, other crops


def test_two_folders_of_matching_names(tmp_path):
    from gan_zoo import data
    from gan_zoo.errors import UserError
    from gan_zoo.images import write_png
    rng = np.random.default_rng(0)
    for name in ("A", "B"):
        os.makedirs(tmp_path / name)
    for i in range(10):
        a = rng.integers(0, 255, (32, 32, 1), dtype=np.uint8)
        write_png(str(tmp_path / "A" / f"{i}.png"), a)
        write_png(str(tmp_path / "B" / f"{i}.png"), np.concatenate([255 - a] * 3, axis=-1))
    source = data.load(f"paired:{tmp_path}", paired=True)
    assert (source.num_examples, source.held_out.num_examples) == (9, 1)  # last 10% held out
    assert source.spec.condition_shape == (32, 32, 1) and source.spec.image_shape == (32, 32, 3)
    for target, inputs in source.images_and_labels.take(3):
        np.testing.assert_array_equal(target[..., :1], 255 - inputs)  # each input with its own target
    os.remove(tmp_path / "B" / "3.png")
    with pytest.raises(UserError, match="'3.png'"):
        data.load(f"paired:{tmp_path}", paired=True)


def test_edges2fashion_inputs_are_the_items_edge_maps():
    from gan_zoo import data
    from gan_zoo.data.paired import edge_map
    source = data.load("edges2fashion", paired=True, max_images=8)
    assert source.spec.image_shape == source.spec.condition_shape == (64, 64, 1)
    for item, edges in source.images_and_labels.take(4):
        np.testing.assert_array_equal(edges, edge_map(item))
        assert 0.02 < np.mean(edges.numpy() == 0) < 0.5  # dark lines on white


def test_wrong_data_for_the_model_and_missing_facades(tmp_path, monkeypatch):
    from gan_zoo.settings import config
    from gan_zoo import data
    from gan_zoo.errors import UserError
    with pytest.raises(UserError, match="image pairs"):
        data.load("mnist", paired=True)
    with pytest.raises(UserError, match="--model=img2img"):
        data.load("facades", data_dir=FACADES)
    with pytest.raises(UserError, match="--l1_weight"):
        config.resolve(model="maxout_cgan", l1_weight=1.0)
    with pytest.raises(UserError, match="nothing to learn"):
        config.resolve(model="img2img", l1_weight=0.0, adv_weight=0.0)
    monkeypatch.setenv("HOME", str(tmp_path))  # an empty keras cache; tests are offline
    with pytest.raises(UserError, match="--data_dir=DIR"):
        data.load("facades", paired=True)
    with pytest.raises(UserError, match="holds no facades"):
        data.load("facades", data_dir=str(tmp_path), paired=True)


# --- a short run, and the export -----------------------------------------------------------
@pytest.fixture(scope="module")
def facades_run(tmp_path_factory, facades):
    """pix2pix's networks and loss weights (narrower: ngf 16, a 34x34 PatchGAN) on the drawn
    facades, 2 epochs of 32 steps of 4 pairs. (The reference's 0.7 L1 / 0.3 BCE first moves
    away from the targets: its adversarial term dominates early; see the README.)"""
    from gan_zoo import data
    from gan_zoo.run import loop
    from gan_zoo.training import trainer as trainer_lib
    run_dir = str(tmp_path_factory.mktemp("facades_run"))
    cfg = _config(data_dir=FACADES, generator="unet", discriminator="patch", patch_layers=2,
                  ngf=16, ndf=16, max_images=128, batch_size=4, epochs=2, save_every=1,
                  l1_weight=100.0, adv_weight=1.0, g_lr=1e-3, run_dir=run_dir, progress=False)
    source = data.for_config(cfg)
    scorer = loop.scorer_for(cfg, source.spec)
    before = scorer.score(trainer_lib.Trainer(cfg, source).generate)
    return loop.train(cfg, source), before, run_dir, scorer


def test_short_facades_run_lowers_test_l1(facades_run):
    from gan_zoo.run.run_files import RunFiles
    trainer, before, run_dir, scorer = facades_run
    assert scorer.metric_names == ("L1", "PSNR", "SSIM") and len(scorer.real) == fixtures.FACADES_TEST
    after = scorer.score(trainer.generate)
    # From a grey start (0.36 on [-1, 1]) to about 0.32: the colours of each region.
    assert after["L1"] < before["L1"] - 0.03, (before, after)
    assert after["PSNR"] > before["PSNR"] + 0.5
    files = RunFiles(run_dir)
    with open(files.metrics_csv) as fh:
        rows = fh.read().split()
    assert rows[0] == "epoch,L1,PSNR,SSIM,steps" and len(rows) == 3
    from gan_zoo.run.run_dir import best_record
    assert best_record(run_dir)["metric"] == "L1"
    assert float(rows[-1].split(",")[1]) == pytest.approx(after["L1"], rel=1e-4)
    from gan_zoo.cli import plot
    from gan_zoo.images import read_png
    assert read_png(plot.plot_metrics(run_dir)).shape[:2] == (380, 1500)  # 3 panels drawn
    # the reference's figure: 6 test inputs, columns (generated, input, target)
    figure = read_png(os.path.join(files.samples_dir, "epoch_0002.png"))
    assert figure.shape == (6 * 65 - 1, 3 * 65 - 1, 3)
    from gan_zoo.run.epoch_figures import EpochFigures
    targets, inputs = EpochFigures(trainer.config, trainer.source).pairs
    from gan_zoo.data import to_uint8
    np.testing.assert_array_equal(figure[:64, 65:129], to_uint8(inputs[0]))
    np.testing.assert_array_equal(figure[:64, 130:], to_uint8(targets[0]))


def _variables(loaded):
    """The variables the serving signature reads (BatchNorm's moving averages among them)."""
    return {v.name: v.numpy().copy() for v in loaded.signatures["serving_default"].variables}


def _unchanged(before, after):
    return before.keys() == after.keys() and all(np.array_equal(before[k], after[k]) for k in before)


def test_export_eval_mode_round_trip_and_no_statistics_update(facades_run, tmp_path):
    from gan_zoo.serving import export
    from gan_zoo import models
    from gan_zoo.data import scale_images, to_uint8
    from gan_zoo.errors import UserError
    trainer, _, run_dir, _ = facades_run
    with pytest.raises(UserError, match="--inference_mode"):
        export.export(run_dir, str(tmp_path / "none"))
    export.export(run_dir, str(tmp_path / "eval"), inference_mode="eval")
    loaded, metadata = export.load(str(tmp_path / "eval"))
    assert metadata["inference_mode"] == "eval" and metadata["input_shape"] == [64, 64, 3]
    _, inputs = next(iter(trainer.source.held_out.images_and_labels.batch(5)))
    before = _variables(loaded)
    assert any("moving_mean" in name for name in before)  # what serving must leave alone
    served = loaded.signatures["serving_default"](images=inputs)["images"].numpy()
    expected = to_uint8(models.generate(trainer.generator, None, scale_images(inputs))).numpy()
    assert served.dtype == np.uint8 and served.shape == (5, 64, 64, 3)
    assert np.abs(served.astype(int) - expected).max() <= 1 and np.mean(served == expected) > 0.999
    # one image alone gives what it gave inside the batch: moving averages, not batch statistics
    alone = loaded.signatures["serving_default"](images=inputs[:1])["images"].numpy()
    assert np.abs(alone.astype(int) - served[:1]).max() <= 1
    assert _unchanged(before, _variables(loaded))


def test_export_pix2pix_mode_uses_batch_statistics_and_keeps_no_averages(facades_run, tmp_path):
    from gan_zoo.serving import export
    from gan_zoo import models
    from gan_zoo.data import scale_images, to_uint8
    trainer, _, run_dir, _ = facades_run
    export.export(run_dir, str(tmp_path / "p2p"), inference_mode="pix2pix")
    loaded, metadata = export.load(str(tmp_path / "p2p"))
    assert metadata["inference_mode"] == "pix2pix"
    assert not [name for name in _variables(loaded) if "moving" in name]
    _, inputs = next(iter(trainer.source.held_out.images_and_labels.batch(4)))
    before = _variables(loaded)
    served = loaded.signatures["serving_default"](images=inputs)["images"].numpy()
    # the generator in training mode (batch statistics; this recipe has no dropout)
    expected = to_uint8(models.generate(trainer.generator, None, scale_images(inputs),
                                        training=True)).numpy()
    assert np.abs(served.astype(int) - expected).max() <= 1 and np.mean(served == expected) > 0.999
    assert _unchanged(before, _variables(loaded))


def test_pix2pix_mode_keeps_dropout_on(tmp_path):
    """pix2pix's noise is dropout at test time: two calls on one input differ; eval mode's agree."""
    from gan_zoo.serving import export
    from gan_zoo.models.layers import batch_statistics_twin
    from gan_zoo.models import img2img
    generator = img2img.build_unet(_spec(32), ngf=8, dropout=0.5)
    twin = batch_statistics_twin(generator)
    x = tf.random.normal((2, 32, 32, 3), seed=3)
    assert not np.array_equal(twin(x), twin(x))
    np.testing.assert_array_equal(generator(x, training=False), generator(x, training=False))
    assert len(twin.weights) == len(generator.weights) - 2 * sum(
        isinstance(layer, tf.keras.layers.BatchNormalization) for layer in generator.layers)
    assert export.INFERENCE_MODES == ("eval", "pix2pix")


def test_generate_translates_a_folder_through_the_cli(facades_run, tmp_path):
    from gan_zoo.serving import export, generate
    from gan_zoo.images import read_png
    _, _, run_dir, _ = facades_run
    export_dir = str(tmp_path / "export")
    export.export(run_dir, export_dir, inference_mode="eval")
    inputs = tmp_path / "inputs"
    os.makedirs(inputs)
    for name in ("1.jpg", "2.jpg", "3.jpg"):  # real A|B test files; B is the label map
        os.symlink(os.path.join(FACADES, "test", name), inputs / name)
    out = tmp_path / "out"
    result = run_cli("gan_zoo.serving.generate", f"--export_dir={export_dir}", f"--input={inputs}",
                     "--input_side=B", f"--out={out}")
    assert result.returncode == 0, result.stderr
    assert sorted(os.listdir(out)) == ["1.png", "2.png", "3.png"]
    model, metadata = export.load(export_dir)
    names, images = generate.read_inputs(str(inputs), metadata["input_shape"], "B")
    np.testing.assert_array_equal(read_png(str(out / "2.png")), generate.translate(model, images)[1])
    missing = run_cli("gan_zoo.serving.generate", f"--export_dir={export_dir}", f"--out={out}")
    assert missing.returncode != 0 and "--input=IMAGE_OR_FOLDER" in missing.stderr
