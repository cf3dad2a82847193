"""The bad-input catalogue: each mistake is one clear message, a non-zero exit, and nothing
written to the run dir."""
import logging
import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from conftest import OLIVETTI, run_cli, tiny_faces_config
from gan_zoo.settings import config
from gan_zoo import data
from gan_zoo.run import loop
from gan_zoo.errors import UserError
from gan_zoo.data.spec import DataSpec


def _fails_clearly(result, *needles):
    assert result.returncode != 0, result.stderr[-2000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    for needle in needles:
        assert needle in result.stderr, (needle, result.stderr[-2000:])


def _faces(folder, count, size=32, mode="L", seed=0):
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    channels = {"L": (size, size), "RGB": (size, size, 3)}[mode]
    for i in range(count):
        Image.fromarray(rng.integers(0, 255, channels, dtype=np.uint8), mode).save(
            os.path.join(folder, f"face_{i:03d}.png"))


def test_unknown_loss_and_unknown_flag_in_a_flagfile(tmp_path):
    run_dir = tmp_path / "r"
    _fails_clearly(run_cli("gan_zoo.train", "--model=dcgan", "--loss=lsgan", f"--run_dir={run_dir}"),
                   "--loss", "bce", "hinge", "wgan_gp")
    flagfile = tmp_path / "typo.flags"
    flagfile.write_text("--model=dcgan\n--epoch=3\n")
    _fails_clearly(run_cli("gan_zoo.train", f"--flagfile={flagfile}", f"--run_dir={run_dir}"), "epoch")
    assert not os.path.exists(run_dir)


def test_batch_larger_than_the_data_writes_nothing(tmp_path):
    cfg = tiny_faces_config(tmp_path / "r", batch_size=512, max_images=128)
    with pytest.raises(UserError, match="larger than the data set.*lower --batch_size"):
        loop.train(cfg, data.for_config(cfg))
    assert not os.path.exists(tmp_path / "r")


def test_bad_files_in_an_image_folder_are_skipped_with_a_count(tmp_path, caplog):
    folder = str(tmp_path / "faces")
    _faces(folder, 20)
    with open(os.path.join(folder, "truncated.png"), "wb") as fh:
        fh.write(open(os.path.join(folder, "face_000.png"), "rb").read()[:300])
    with open(os.path.join(folder, "notes.png"), "w") as fh:
        fh.write("not an image")
    open(os.path.join(folder, "empty.jpg"), "wb").close()
    Image.fromarray(np.zeros((40, 40), np.uint8)).save(os.path.join(folder, "bigger.png"))
    with caplog.at_level(logging.WARNING):
        source = data.load(f"folder:{folder}", conditional=False)
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "Skipped 3 unreadable file(s)" in messages
    assert "Skipped 1 image(s) not of the most common size 32x32" in messages
    assert source.num_examples == 20 and source.spec.image_shape == (32, 32, 1)
    images, _ = next(iter(source.epoch_batches(20, epoch=0, seed=0)))  # the pipeline never hits them
    assert images.shape == (20, 32, 32, 1)
    # with --image_size every readable image is kept and resized
    assert data.load(f"folder:{folder}", conditional=False, image_size=32).num_examples == 21


def _cut_before_its_end_chunk(path):
    """A PNG missing its last 12 bytes (the IEND chunk): PIL reads it, TensorFlow refuses it."""
    whole = open(path, "rb").read()
    with open(path, "wb") as fh:
        fh.write(whole[:-12])


def test_a_png_cut_before_its_end_trains_to_the_end_named_in_one_warning(tmp_path, caplog):
    folder = str(tmp_path / "faces")
    _faces(folder, 32)
    _cut_before_its_end_chunk(os.path.join(folder, "face_007.png"))
    with Image.open(os.path.join(folder, "face_007.png")) as image:
        image.load()  # the reader the scan once used accepts it
    cfg = tiny_faces_config(tmp_path / "r", dataset=f"folder:{folder}", data_dir="", max_images=0)
    with caplog.at_level(logging.WARNING):
        loop.train(cfg, data.for_config(cfg))
    warnings = [r.getMessage() for r in caplog.records if "face_007.png" in r.getMessage()]
    assert len(warnings) == 1 and "Skipped 1 unreadable file(s)" in warnings[0], warnings
    assert "Invalid PNG data" in warnings[0]
    rows = open(os.path.join(cfg.run_dir, "loss.csv")).read().splitlines()
    assert len(rows) == 2  # a header and the one epoch, trained to its end


@pytest.mark.parametrize("memory_mb", [1024, 0], ids=["in_memory", "streamed"])
def test_a_file_that_stops_decoding_after_the_scan_is_named_and_skipped(tmp_path, caplog, memory_mb):
    folder = str(tmp_path / "faces")
    _faces(folder, 20)
    source = data.load(f"folder:{folder}", conditional=False, memory_mb=memory_mb,
                       cache_dir=str(tmp_path / "cache"))
    assert source.streams() == (memory_mb == 0)
    _cut_before_its_end_chunk(os.path.join(folder, "face_003.png"))  # e.g. rewritten mid-run
    with caplog.at_level(logging.WARNING):
        assert source.steps_per_epoch(4) == 19 // 4
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "Skipped 1 image(s) that failed to decode when read" in messages
    assert "face_003.png" in messages and source.num_examples == 19
    batches = list(source.epoch_batches(4, epoch=0, seed=0))
    assert len(batches) == 4 and all(images.shape == (4, 32, 32, 1) for images, _ in batches)


def test_a_folder_with_no_usable_image_is_an_error(tmp_path):
    folder = tmp_path / "junk"
    folder.mkdir()
    (folder / "a.png").write_text("nope")
    (folder / "b.jpg").write_bytes(b"\xff\xd8\xff")
    with pytest.raises(UserError, match="None of the 2 image files is readable"):
        data.load(f"folder:{folder}", conditional=False)


def test_resuming_with_rgb_images_where_the_run_had_grayscale(tmp_path):
    folder, run_dir = str(tmp_path / "faces"), tmp_path / "run"
    _faces(folder, 32)
    cfg = tiny_faces_config(run_dir, dataset=f"folder:{folder}", max_images=32, batch_size=16)
    loop.train(cfg, data.for_config(cfg))
    _faces(folder, 32, mode="RGB")  # same names, now colour
    cfg2 = tiny_faces_config(run_dir, dataset=f"folder:{folder}", max_images=32, batch_size=16, epochs=2)
    with pytest.raises(UserError, match=r"images: \(32, 32, 1\) there, \(32, 32, 3\) now"):
        loop.train(cfg2, data.for_config(cfg2))


def test_resuming_with_other_loss_settings_is_allowed_and_named():
    """A resume may change the loss and optimizer settings (not the networks or data); the
    changes are listed in a warning, so a re-run meant to start afresh does not pass silently."""
    from gan_zoo.run.run_dir import changed_training_settings
    before = config.resolve(model="maxout_cgan").to_json()
    now = config.resolve(model="maxout_cgan", mismatch_weight=0.25, epochs=40)
    assert changed_training_settings(before, now) == ["mismatch_weight: 0.5 -> 0.25"]
    assert changed_training_settings(now.to_json(), now) == []
    # D's dropout holds no weight, so it may change too, and is named
    assert changed_training_settings({**before, "d_dropout": 0.5}, now) == [
        "d_dropout: 0.5 -> 0.0", "mismatch_weight: 0.5 -> 0.25"]


def test_a_run_dir_with_another_models_checkpoint(tmp_path):
    run_dir = tmp_path / "run"
    cfg = tiny_faces_config(run_dir)
    loop.train(cfg, data.for_config(cfg))
    result = run_cli("gan_zoo.train", "--model=maxout_cgan", "--dataset=olivetti",
                     f"--data_dir={OLIVETTI}", f"--run_dir={run_dir}", "--epochs=1")
    _fails_clearly(result, "holds a different run", "model: 'dcgan' there, 'maxout_cgan' now")
    # checkpoints with no config.json to say whose they are
    os.remove(run_dir / "config.json")
    with pytest.raises(UserError, match="holds checkpoints but no config.json"):
        loop.train(cfg, data.for_config(cfg))


def test_wrong_length_condition_vector_at_serve_time(tmp_path):
    """A tag model's serving signature takes [batch, condition_dim]: any other length fails."""
    from gan_zoo.serving import export
    from gan_zoo import models
    spec = DataSpec(image_shape=(28, 28, 1), condition_dim=4, condition_names=("a", "b", "c", "d"),
                           grid_conditions=((1, 0, 0, 0),), grid_names=("a",))
    cfg = config.resolve(model="maxout_cgan", noise_dim=8)
    generator, _ = models.builder("maxout_cgan").build(spec, cfg)
    module = export.GeneratorModule(generator, spec, cfg.noise_dim, cfg.noise)
    tf.saved_model.save(module, str(tmp_path), signatures={"serving_default": module.serving_default})
    serve = tf.saved_model.load(str(tmp_path)).signatures["serving_default"]
    assert serve(condition=tf.zeros([2, 4]), noise=tf.zeros([2, 8]))["images"].shape == (2, 28, 28, 1)
    with pytest.raises((ValueError, TypeError, tf.errors.InvalidArgumentError)):
        serve(condition=tf.zeros([2, 5]), noise=tf.zeros([2, 8]))
    with pytest.raises((ValueError, tf.errors.InvalidArgumentError), match="same batch size"):
        serve(condition=tf.zeros([2, 4]), noise=tf.zeros([3, 8]))


def test_a_folder_scan_is_remembered_and_only_changed_files_are_decoded_again(tmp_path, monkeypatch):
    from gan_zoo.data import image_folder
    folder, cache = str(tmp_path / "faces"), str(tmp_path / "cache")
    _faces(folder, 20)
    decoded = []
    inspect = image_folder._inspect
    monkeypatch.setattr(image_folder, "_inspect", lambda path: decoded.append(path) or inspect(path))

    def scan_afresh():  # a new process: nothing remembered but the manifest
        monkeypatch.setattr(image_folder, "_SCANNED", {})
        decoded.clear()
        return data.load(f"folder:{folder}", conditional=False, cache_dir=cache)

    assert scan_afresh().num_examples == 20 and len(decoded) == 20
    assert len(os.listdir(os.path.join(cache, "scans"))) == 1
    assert scan_afresh().num_examples == 20 and decoded == []  # a resume rescans nothing
    _cut_before_its_end_chunk(os.path.join(folder, "face_005.png"))
    assert scan_afresh().num_examples == 19 and [os.path.basename(p) for p in decoded] == ["face_005.png"]
