"""tf.distribute: two logical CPU devices (conftest) as MirroredStrategy replicas, two local
worker processes as MultiWorkerMirroredStrategy, mixed precision and XLA."""
import json
import os
import socket
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import assert_trained_alike, two_replicas, OLIVETTI, ROOT, tiny_faces_config
from gan_zoo.settings import config
from gan_zoo import data
from gan_zoo.core import distribute, losses
from gan_zoo.training import trainer
from gan_zoo.run import loop, run_files
from gan_zoo.run import run_dir as run_dir_lib
from gan_zoo.errors import UserError


def _two_replicas():
    return two_replicas()


def _weights(t):
    return [v.numpy() for v in t.generator.weights + t.discriminator.weights]


def _lr(cfg):
    return max(cfg.g_lr, cfg.d_lr)


# Several replicas keep Keras' synchronized BatchNorm; one device would take the fused kernel
# (tests/test_batch_norm.py), whose float error differs. These tests compare strategies, so
# both sides run the same kernels.
SAME_KERNELS = dict(fused_batch_norm=False)


def _faces(run_dir, **overrides):
    return tiny_faces_config(run_dir, max_images=64, steps_per_call=2, **SAME_KERNELS, **overrides)


def _fashion(run_dir, model, **overrides):
    return config.resolve(model=model, dataset="fashion_mnist", max_images=128, batch_size=32,
                          epochs=1, steps_per_call=2, run_dir=str(run_dir), progress=False,
                          **SAME_KERNELS, **overrides)


# Every family and every step kind: the fused D+G step (dcgan bce, BatchNorm in both nets),
# --n_critic with the gradient penalty, clipping with RMSprop, the adaptive schedule, the MLP
# cGAN with BatchNorm in G, its mode-seeking pairs (batch means averaged across replicas) and a
# rotation head on D, the conv cGAN with the label as channels, the Maxout D with
# dropout, and its matching-aware term (real images with the next example's condition).
EQUIVALENT = {
    "dcgan_bce": lambda d: _faces(d),
    "dcgan_wgan_gp": lambda d: _faces(d, loss="wgan_gp", n_critic=2),
    "dcgan_wgan_clip": lambda d: _faces(d, loss="wgan", n_critic=2),
    "dcgan_adaptive": lambda d: _faces(d, adaptive_schedule=True, adaptive_burst=2),
    "mlp_cgan": lambda d: _fashion(d, "mlp_cgan", mode_seeking=0.1, rotation=1.0),
    "conv_cgan": lambda d: _fashion(d, "conv_cgan"),
    "maxout_cgan": lambda d: _fashion(d, "maxout_cgan"),
}


def _outputs(t, count=64):
    """G's samples and D's logits on them, for fixed noise and conditions (inference mode)."""
    from gan_zoo import models
    noise = tf.random.stateless_normal((count, t.config.noise_dim), (3, 4))
    dim = t.spec.condition_dim
    condition = tf.one_hot(tf.range(count) % dim, dim) if dim else tf.zeros((count, 0))
    images = models.generate(t.generator, noise, condition)
    return images, models.judge(t.discriminator, images, condition)


def _assert_same_networks(one, two, initial):
    """One device's and two replicas' networks after the same steps are the same networks.

    Their moving statistics agree to float tolerance, and so do their outputs on fixed inputs:
    within 2% of how far training moved them (a wrong replica scaling, noise slice or BatchNorm
    statistic moves them by tens of percent). Weights are compared by the bound alone (none
    differs by more than two optimizers could have moved it apart, 2 x lr x updates): where a
    weight's true gradient is zero (a kernel entry whose effect the BatchNorm after it
    removes, a constant label plane), its computed gradient is float noise whose sign differs
    with the summation order, and Adam turns that into a whole learning-rate step. On AVX-512
    CPUs, oneDNN's kernels for a batch of 16 and of 32 sum in orders that differ this way in
    8% of conv_cgan's first G kernel."""
    statistics = lambda t: [v.numpy() for v in t.generator.non_trainable_weights +
                            t.discriminator.non_trainable_weights if "moving" in v.path]
    for a, b in zip(statistics(one), statistics(two)):
        np.testing.assert_allclose(b, a, rtol=1e-3, atol=1e-5)
    for mine, theirs, start in zip(_outputs(one), _outputs(two), _outputs(initial)):
        moved = float(tf.reduce_mean(tf.abs(mine - start)))
        apart = float(tf.reduce_mean(tf.abs(mine - theirs)))
        assert moved > 0 and apart <= 0.02 * moved, (apart, moved)
    steps = int(one.step.numpy())
    assert_trained_alike(_weights(one), _weights(two), _lr(one.config), steps, outliers=1.0)


@pytest.mark.parametrize("case", sorted(EQUIVALENT))
def test_two_replicas_train_as_one_device_on_the_same_global_batch(tmp_path, case):
    """The same networks after a few steps, to float tolerance (_assert_same_networks): the
    global batch is split, each replica's loss is divided by the number of replicas, BatchNorm
    statistics span the global batch, and each replica's noise is its slice of what one device
    would draw."""
    one_cfg, two_cfg = EQUIVALENT[case](tmp_path / "one"), EQUIVALENT[case](tmp_path / "two")
    source = data.for_config(one_cfg)
    one = loop.train(one_cfg, source, strategy=tf.distribute.get_strategy())
    two = loop.train(two_cfg, source, strategy=_two_replicas())
    assert (one.replicas, two.replicas) == (1, 2)
    assert int(one.step.numpy()) == int(two.step.numpy()) == source.steps_per_epoch(one_cfg.batch_size)
    initial = trainer.Trainer(one_cfg, source, strategy=tf.distribute.get_strategy())
    assert any(np.abs(a - b).max() > 1e-3 for a, b in zip(_weights(one), _weights(initial)))
    _assert_same_networks(one, two, initial)
    rows = [run_files.read_csv(os.path.join(c.run_dir, "loss.csv")) for c in (one_cfg, two_cfg)]
    # The epoch's figures come from those weights, so they carry the few that differ: 1e-3
    # relative (a wrong noise slice or BatchNorm statistic moves them by percents).
    for column in ("Dis_loss", "Gen_loss", "Real_P", "Fake_P", "GP", "D_steps", "G_steps"):
        np.testing.assert_allclose(rows[0][column], rows[1][column], rtol=1e-3, atol=1e-5,
                                   equal_nan=True)


def test_replicas_draw_different_slices_of_the_global_noise():
    draw = lambda n, seed: tf.random.stateless_normal([n, 3], seed)
    strategy = _two_replicas()
    per_replica = strategy.run(tf.function(lambda: distribute.global_batch_random(draw, 4, [7, 9])))
    first, second = (t.numpy() for t in strategy.experimental_local_results(per_replica))
    assert not np.allclose(first, second)
    np.testing.assert_array_equal(np.concatenate([first, second]), draw(8, [7, 9]).numpy())


def test_maxout_dropout_masks_differ_across_replicas_and_match_one_device():
    from gan_zoo.models.layers import Maxout
    with two_replicas().scope():  # as the trainer builds it: its seed state mirrored
        layer = Maxout(4, 3)
    x = tf.ones([8, 5])
    layer(x)
    state = layer.seed_generator.state.numpy()
    one_device = layer(x, training=True).numpy()
    layer.seed_generator.state.assign(state)
    per_replica = two_replicas().run(tf.function(lambda: layer(x[:4], training=True)))
    first, second = (t.numpy() for t in two_replicas().experimental_local_results(per_replica))
    assert not np.allclose(first, second)  # no shared mask across replicas
    np.testing.assert_allclose(np.concatenate([first, second]), one_device, rtol=1e-6)


def test_a_mirrored_run_resumes_on_one_device_where_it_left_off(tmp_path):
    """Checkpoints do not depend on the strategy: an epoch on two replicas, then one more on
    one device, ends where two epochs on one device do."""
    straight_cfg = _faces(tmp_path / "straight", epochs=2)
    source = data.for_config(straight_cfg)
    straight = loop.train(straight_cfg, source, strategy=tf.distribute.get_strategy())
    loop.train(_faces(tmp_path / "mixed", epochs=1), source, strategy=_two_replicas())
    resumed = loop.train(_faces(tmp_path / "mixed", epochs=2), source,
                            strategy=tf.distribute.get_strategy())
    assert int(resumed.step.numpy()) == int(straight.step.numpy()) == 8
    assert_trained_alike(_weights(straight), _weights(resumed), _lr(straight_cfg), 8)


def test_a_batch_that_does_not_split_over_the_replicas_is_refused(tmp_path):
    cfg = _faces(tmp_path, batch_size=15)
    with pytest.raises(UserError, match="does not split evenly over the 2 replicas.*multiple of 2"):
        trainer.Trainer(cfg, data.for_config(cfg), strategy=_two_replicas())


def test_multi_worker_without_tf_config_says_what_to_set(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(UserError, match="needs TF_CONFIG.*cluster"):
        distribute._create("multi_worker")


# --- mixed precision and XLA --------------------------------------------------------------
def test_bfloat16_computes_in_16_bits_and_keeps_float32_weights_and_statistics(tmp_path):
    cfg = _faces(tmp_path, mixed_precision="bfloat16", epochs=2)
    t = loop.train(cfg, data.for_config(cfg))
    conv = next(layer for layer in t.generator.layers if "conv" in layer.name)
    assert conv.compute_dtype == "bfloat16"
    assert all(v.dtype == "float32" for v in t.generator.weights + t.discriminator.weights)
    assert any("moving_variance" in v.path for v in t.generator.weights)
    rows = run_files.read_csv(os.path.join(cfg.run_dir, "loss.csv"))
    assert np.isfinite(rows["Dis_loss"]).all() and np.isfinite(rows["Gen_loss"]).all()
    # the global policy is left as it was: models built afterwards are float32
    assert keras.config.dtype_policy().name == "float32"


def test_float16_wgan_gp_uses_loss_scaling_and_resumes_without_it(tmp_path):
    cfg = _faces(tmp_path, loss="wgan_gp", n_critic=2, mixed_precision="float16")
    t = loop.train(cfg, data.for_config(cfg), strategy=_two_replicas())
    assert hasattr(t.d_optimizer, "dynamic_scale") and hasattr(t.g_optimizer, "dynamic_scale")
    rows = run_files.read_csv(os.path.join(cfg.run_dir, "loss.csv"))
    assert np.isfinite(rows["GP"]).all() and rows["G_steps"][0] == 2
    # the checkpoint holds the plain optimizers, so a float32 run continues it
    resumed = loop.train(_faces(tmp_path, loss="wgan_gp", n_critic=2, epochs=2), data.for_config(cfg))
    assert int(resumed.step.numpy()) == 8


def test_gradient_penalty_inner_gradient_survives_float16_with_the_loss_scale():
    """A float16 critic whose input gradient (1e-4 per pixel) passes through 1e-8 on the way
    back: unscaled it underflows to zero, scaled by the loss scale it comes out right."""
    def critic(x):
        h = tf.cast(x, tf.float16) * 100.0 * 100.0
        return tf.cast(tf.reduce_sum(h * 1e-4 * 1e-4, axis=[1, 2, 3]), tf.float32)

    x = tf.zeros([2, 100, 100, 1])
    weights = tf.fill([2, 1, 1, 1], 0.5)
    expected = (np.sqrt(1e4) * 1e-4 - 1.0) ** 2  # per-pixel 1e-4 over 10^4 pixels: norm 0.01
    unscaled = float(losses.gradient_penalty(critic, x, x, weights))
    scaled = float(losses.gradient_penalty(critic, x, x, weights, loss_scale=2.0 ** 15))
    assert unscaled == pytest.approx(1.0, abs=1e-4)  # the gradient vanished (only epsilon is left)
    assert scaled == pytest.approx(expected, rel=1e-3)


def test_xla_step_trains_like_the_plain_one(tmp_path):
    """XLA's stateless Philox draws other numbers from the same seed, so the noise (and the
    weights) differ from a plain run's; the losses and the size of the updates do not."""
    runs = {}
    for jit in (False, True):
        cfg = _faces(tmp_path / str(jit), jit_compile=jit)
        runs[jit] = (loop.train(cfg, data.for_config(cfg)),
                     run_files.read_csv(os.path.join(cfg.run_dir, "loss.csv")))
    initial = trainer.Trainer(cfg, data.for_config(cfg))
    flat = lambda t: np.concatenate([w.ravel() for w in _weights(t)])
    moved = {jit: np.abs(flat(t) - flat(initial)).mean() for jit, (t, _) in runs.items()}
    assert 0.8 < moved[True] / moved[False] < 1.25, moved
    for column in ("Dis_loss", "Gen_loss", "Real_P", "Fake_P"):
        np.testing.assert_allclose(runs[True][1][column], runs[False][1][column], rtol=0.02)
    # the gradient penalty's second derivative compiles too
    cfg = _faces(tmp_path / "gp", loss="wgan_gp", n_critic=2, jit_compile=True)
    loop.train(cfg, data.for_config(cfg))
    rows = run_files.read_csv(os.path.join(cfg.run_dir, "loss.csv"))
    assert np.isfinite(rows["GP"]).all() and rows["GP"][0] > 0 and rows["G_steps"][0] == 2


def test_xla_across_logical_cpu_devices_is_refused_with_the_reason(tmp_path):
    cfg = _faces(tmp_path, jit_compile=True)
    with pytest.raises(UserError, match="XLA compiles for one CPU device"):
        trainer.Trainer(cfg, data.for_config(cfg), strategy=_two_replicas())


# --- two worker processes ------------------------------------------------------------------
def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_two_local_workers_train_and_the_chief_checkpoint_restores(tmp_path):
    """MultiWorkerMirroredStrategy with TF_CONFIG on 127.0.0.1: each worker a process with one
    device, reading its own half of each batch from the streamed set's decoded copy (both
    workers build it: one rename wins); the chief alone writes the run dir, and its run equals
    one device's, whose data is in memory."""
    run_dir = tmp_path / "multi"
    args = ["--model=dcgan", "--dataset=olivetti", f"--data_dir={OLIVETTI}", "--image_size=32",
            "--ngf=8", "--ndf=8", "--batch_size=16", "--max_images=64", "--epochs=2",
            "--save_every=1", "--steps_per_call=2", "--noprogress", "--data_memory_mb=0",
            f"--data_cache_dir={tmp_path / 'cache'}"]
    cluster = [f"127.0.0.1:{p}" for p in _free_ports(2)]
    workers = []
    for index in range(2):
        env = dict(os.environ, TF_CONFIG=json.dumps(
            {"cluster": {"worker": cluster}, "task": {"type": "worker", "index": index}}))
        workers.append(subprocess.Popen(
            [sys.executable, "-m", "gan_zoo.train", "--strategy=multi_worker",
             f"--run_dir={run_dir}", *args], cwd=ROOT, env=env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True))
    try:
        outputs = [w.communicate(timeout=240)[0] for w in workers]
    finally:
        for w in workers:
            w.kill()
    for w, out in zip(workers, outputs):
        assert w.returncode == 0, out[-3000:]
    assert "with 2 replica(s)" in outputs[0] and "streamed from a decoded copy" in outputs[0]
    rows = run_files.read_csv(str(run_dir / "loss.csv"))
    assert list(rows["epoch"]) == [1, 2]
    generator, _, _, step = run_dir_lib.restore_generator(str(run_dir))
    assert step == 8
    # only the chief wrote here, and it held the run dir's lock (gan_zoo.run.run_lock)
    assert sorted(os.listdir(run_dir)) == [".lock", "best.json", "checkpoints", "config.json",
                                           "loss.csv", "metrics.csv", "samples", "tb", "timing.csv"]

    single_cfg = tiny_faces_config(tmp_path / "single", max_images=64, epochs=2, steps_per_call=2)
    single = loop.train(single_cfg, data.for_config(single_cfg), strategy=tf.distribute.get_strategy())
    assert_trained_alike([w.numpy() for w in single.sampler.weights],  # both the EMA of G
                         [w.numpy() for w in generator.weights], _lr(single_cfg), step)
