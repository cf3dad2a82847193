"""The generic trainer on real Fashion-MNIST: files written, learning signal, resume, export."""
import csv
import dataclasses
import json
import math
import os

import numpy as np
import pytest
import tensorflow as tf

from gan_zoo.settings import config
from gan_zoo.serving import export
from gan_zoo import images
from gan_zoo.run import loop, run_files
from gan_zoo.training import trainer


def test_short_run_writes_loss_csv_grid_and_checkpoint(short_run):
    _, run_dir = short_run
    with open(os.path.join(run_dir, "loss.csv")) as fh:
        header = fh.readline().strip()
        rows = list(csv.reader(fh))
    assert header.startswith("epoch,Real_P,Fake_P,Gen_loss,Dis_loss")
    assert [int(r[0]) for r in rows] == [1, 2]
    assert all(math.isfinite(float(v)) for r in rows for v in r)
    grid = images.read_png(os.path.join(run_dir, "samples", "epoch_0002.png"))
    # 20 rows x 10 classes of 28x28 tiles with 1-pixel gaps
    assert grid.shape == (20 * 29 - 1, 10 * 29 - 1, 1)
    assert grid.std() > 0
    assert tf.train.latest_checkpoint(os.path.join(run_dir, "checkpoints")).endswith("ckpt-80")
    assert os.listdir(os.path.join(run_dir, "tb"))


def test_discriminator_beats_chance(short_run, fashion_small):
    """After a few dozen steps D ranks real above fake far more often than chance (AUC 0.5)."""
    trained, run_dir = short_run
    losses = run_files.read_csv(os.path.join(run_dir, "loss.csv"))
    assert losses["D_acc"][-1] > 0.5 and losses["Real_P"][-1] > losses["Fake_P"][-1]
    real, condition = next(iter(fashion_small.epoch_batches(512, epoch=99, seed=1)))
    fake = trained.sampler([tf.random.normal((512, 100)), condition], training=False)
    real_scores = trained.discriminator([real, condition], training=False).numpy().ravel()
    fake_scores = trained.discriminator([fake, condition], training=False).numpy().ravel()
    auc = np.mean(real_scores[:, None] > fake_scores[None, :])
    assert auc > 0.75, auc


def _small_config(run_dir, epochs, **settings):
    return config.resolve(model="maxout_cgan", dataset="fashion_mnist", max_images=1280,
                          batch_size=64, epochs=epochs, save_every=1, run_dir=str(run_dir),
                          progress=False, **settings)


def _state(t):
    """Every variable a checkpoint holds: weights (with the EMA of G's and spectral norm's power
    iteration vectors), optimizer slots, step and dropout RNG states."""
    return ([v.numpy() for v in t.generator.weights + t.discriminator.weights + t.sampler.weights]
            + [v.numpy() for v in t.g_optimizer.variables + t.d_optimizer.variables]
            + [t.step.numpy()]
            + [v.numpy() for v in t.generator.variables + t.discriminator.variables
               if "seed_generator_state" in v.path])


def test_resume_continues_from_the_checkpoint(tmp_path):
    from gan_zoo import data
    source = data.load("fashion_mnist", max_images=1280)
    straight = loop.train(_small_config(tmp_path / "straight", 2), source)

    first = loop.train(_small_config(tmp_path / "resumed", 1), source)  # saves at its end
    fresh = trainer.Trainer(_small_config(tmp_path / "resumed", 2), source)
    assert not np.array_equal(_state(fresh)[0], _state(first)[0])
    fresh.checkpoint.restore(tf.train.latest_checkpoint(str(tmp_path / "resumed" / "checkpoints")))
    for restored, saved in zip(_state(fresh), _state(first), strict=True):
        np.testing.assert_array_equal(restored, saved)

    resumed = loop.train(_small_config(tmp_path / "resumed", 2), source)
    assert int(resumed.step) == int(straight.step) == 2 * 20
    rows = run_files.read_csv(str(tmp_path / "resumed" / "loss.csv"))
    assert list(rows["epoch"]) == [1, 2]
    # Same data order, noise stream and dropout seeds: the resumed run retraces the straight one.
    for a, b in zip(_state(straight), _state(resumed), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)


@pytest.mark.parametrize("n_critic", [2, 3])
def test_n_critic_groups_in_one_call_train_as_one_batch_per_call(tmp_path, n_critic):
    """With --n_critic, whole groups of n_critic batches run in one graph call; one batch per
    call (--steps_per_call=1) runs the same steps in the same order, so both end on the same
    state. 20 steps: at 10 per call, n_critic 3 also runs a group-less remainder."""
    from gan_zoo import data
    source = data.load("fashion_mnist", max_images=1280)
    runs = [loop.train(_small_config(tmp_path / str(calls), 1, n_critic=n_critic,
                                     steps_per_call=calls, jit_compile="off"), source)
            for calls in (1, 10)]
    assert int(runs[0].step) == int(runs[1].step) == 20
    for a, b in zip(_state(runs[0]), _state(runs[1]), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_export_round_trip_matches_the_in_memory_generator(short_run, tmp_path):
    trained, run_dir = short_run
    export_dir = str(tmp_path / "export")
    meta = export.export(run_dir, export_dir)
    assert meta["num_classes"] == 10 and meta["image_shape"] == [28, 28, 1]
    assert meta["version"] == 1 and meta["step"] == 80 and meta["metrics"]["Gen_loss"] > 0
    loaded = tf.saved_model.load(os.path.join(export_dir, "1"))  # TF Serving's layout
    assert json.loads(loaded.metadata().numpy()) == meta  # the metadata travels inside
    labels = np.array([0, 3, 9, 9], np.int32)
    noise = np.random.default_rng(0).normal(size=(4, 100)).astype(np.float32)
    served = loaded.signatures["serving_default"](labels=tf.constant(labels), noise=tf.constant(noise))
    expected = trained.sampler([tf.constant(noise), tf.one_hot(labels, 10)], training=False)
    from gan_zoo.data import to_uint8
    assert served["images"].dtype == tf.uint8 and served["images"].shape == (4, 28, 28, 1)
    np.testing.assert_array_equal(served["images"].numpy(), to_uint8(expected).numpy())
    seeded = loaded.signatures["generate_from_seed"]
    a = seeded(labels=tf.constant(labels), seed=tf.constant(7, tf.int64))["images"].numpy()
    b = seeded(labels=tf.constant(labels), seed=tf.constant(7, tf.int64))["images"].numpy()
    np.testing.assert_array_equal(a, b)
    for bad in ([10], [-1], [0, 12]):
        with pytest.raises(tf.errors.InvalidArgumentError, match="labels must be in"):
            n = len(bad)
            loaded.signatures["serving_default"](labels=tf.constant(bad, tf.int32),
                                                 noise=tf.zeros((n, 100)))


def test_new_export_versions_never_overwrite_old_ones(short_run, tmp_path):
    from gan_zoo.errors import UserError
    _, run_dir = short_run
    base = str(tmp_path / "e")
    export.export(run_dir, base)
    with open(os.path.join(base, "1", "saved_model.pb"), "rb") as fh:
        first = fh.read()
    assert export.export(run_dir, base)["version"] == 2
    assert export.versions(base) == [1, 2] and sorted(os.listdir(base)) == ["1", "2"]
    with open(os.path.join(base, "1", "saved_model.pb"), "rb") as fh:
        assert fh.read() == first
    with pytest.raises(UserError, match="never overwritten"):
        export.export(run_dir, base, version=1)
    assert export.export(run_dir, base, version=7)["version"] == 7
    assert export.load(base)[1]["version"] == 7  # a base folder loads its newest version
    assert export.load(os.path.join(base, "2"))[1]["version"] == 2


def test_streamed_batches_are_the_in_memory_batches_and_resume_alike(tmp_path, caplog):
    """Data over --data_memory_mb is decoded once to disk and gathered a batch at a time by the
    same shuffled index as data in memory: the same batches in the same order, a resumed epoch
    (skip) the same remaining batches, and the copy reused by the next run."""
    import logging

    from gan_zoo import data
    cfg = config.resolve(recipe="maxout_cgan", dataset="fashion_mnist", max_images=1000)
    gathered = data.for_config(cfg)
    small = dataclasses.replace(cfg, data_memory_mb=0, data_cache_dir=str(tmp_path / "cache"))
    with caplog.at_level(logging.INFO, logger="absl"):
        streamed = data.for_config(small)
        assert streamed.streams() and not gathered.streams()
        assert streamed.steps_per_epoch(64) == 15
    assert "over --data_memory_mb=0: streamed from a decoded copy" in caplog.text
    for epoch, skip in ((0, 0), (3, 0), (3, 2)):
        a = list(gathered.epoch_batches(64, epoch, cfg.seed, skip))
        b = list(streamed.epoch_batches(64, epoch, cfg.seed, skip))
        assert len(a) == len(b) == 15 - skip
        # the same static shapes too: a step traced for [None, ...] gets other kernels, whose
        # rounding differs (on AVX-512, two --deterministic runs then parted after 10 steps)
        assert (streamed.epoch_batches(64, epoch, cfg.seed, skip).element_spec
                == gathered.epoch_batches(64, epoch, cfg.seed, skip).element_spec)
        for (xa, ya), (xb, yb) in zip(a, b):
            assert xa.shape == (64, 28, 28, 1) and ya.shape == (64, 10)
            np.testing.assert_array_equal(xa.numpy(), xb.numpy())
            np.testing.assert_array_equal(ya.numpy(), yb.numpy())
    copies = os.listdir(tmp_path / "cache")
    again = data.for_config(small)
    assert again.steps_per_epoch(64) == 15 and os.listdir(tmp_path / "cache") == copies  # reused
    # two workers' shards: each reads its own half of every batch, together the whole batch
    for source in (gathered, streamed):
        whole = list(source.epoch_batches(64, 1, cfg.seed, 2))
        halves = [list(source.epoch_batches(64, 1, cfg.seed, 2, shard=(w, 2))) for w in (0, 1)]
        assert source.epoch_batches(64, 1, cfg.seed, shard=(1, 2)).element_spec[0].shape[0] == 32
        for (x, y), (x0, y0), (x1, y1) in zip(whole, *halves):
            np.testing.assert_array_equal(x.numpy(), np.concatenate([x0, x1]))
            np.testing.assert_array_equal(y.numpy(), np.concatenate([y0, y1]))
    first = lambda epoch: gathered.epoch_batches(64, epoch, cfg.seed).take(1).get_single_element()[0]
    assert not np.array_equal(first(0).numpy(), first(1).numpy())  # each epoch its own order
    # no autotuning thread: deleting an epoch's iterator waited for its next wake-up (up to
    # 10 s at the end of an epoch of 10-20 s); see source._prefetched
    for source in (gathered, streamed):
        assert source.epoch_batches(64, 0, cfg.seed).options().autotune.enabled is False
