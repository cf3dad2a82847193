"""Nothing lost: real SIGKILLs at several points, Ctrl-C / SIGTERM, the NaN guard, determinism."""
import logging
import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from conftest import OLIVETTI, ROOT, tiny_faces_config
from gan_zoo import data
from gan_zoo.run import loop, run_files
from gan_zoo.core import losses
from gan_zoo.run import run_dir as run_dir_lib
from gan_zoo.errors import UserError

# 160 faces / batch 16 = 10 steps per epoch, 2 tf.function calls of 5 steps each. Scoring is
# off (it is most of a tiny run's time) except where a kill at a random moment may hit it.
TINY = ["--model=dcgan", "--dataset=olivetti", f"--data_dir={OLIVETTI}", "--image_size=32",
        "--ngf=8", "--ndf=8", "--max_images=160", "--batch_size=16", "--steps_per_call=5",
        "--save_every=1", "--noprogress", "--eval_every=0"]
SCORED = ["--eval_every=1"]  # scoring and the best checkpoint, where a kill may land too


def _train_cli(run_dir, epochs=3, fault=None, extra=(), fault_signal="SIGKILL"):
    env = dict(os.environ, PYTHONUNBUFFERED="1", GAN_ZOO_FAULT_SIGNAL=fault_signal)
    env.pop("GAN_ZOO_FAULT", None)
    if fault:
        env["GAN_ZOO_FAULT"] = fault
    return subprocess.run([sys.executable, "-m", "gan_zoo.train", *TINY, f"--epochs={epochs}",
                           f"--run_dir={run_dir}", *extra], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def _checkpoint_step(run_dir):
    latest = tf.train.latest_checkpoint(os.path.join(run_dir, "checkpoints"))
    return int(latest.rsplit("-", 1)[1]) if latest else None


def _assert_complete(run_dir, epochs=3):
    """Every epoch once, in order, every value a number; timing.csv the same epochs."""
    rows = run_files.read_csv(os.path.join(run_dir, "loss.csv"))
    assert list(rows["epoch"]) == list(range(1, epochs + 1))
    assert list(rows["steps"]) == [10 * e for e in range(1, epochs + 1)]
    assert all(np.isfinite(v).all() for k, v in rows.items() if k != "Gen_loss")
    timing = run_files.read_csv(os.path.join(run_dir, "timing.csv"))
    assert list(timing["epoch"]) == list(range(1, epochs + 1))
    state = tf.train.get_checkpoint_state(os.path.join(run_dir, "checkpoints"))
    for path in state.all_model_checkpoint_paths:  # every listed checkpoint is whole
        assert os.path.exists(path + ".index"), path


@pytest.mark.parametrize("fault,checkpoint_before_resume", [
    ("step@5", 20),            # killed in the middle of epoch 3's steps
    ("after_loss_csv@2", 10),  # epoch 2's row written, its checkpoint not yet
    ("checkpoint@2:0.002", None),  # killed while epoch 2's checkpoint is being written
    ("checkpoint@3:0.02", None),
])
def test_sigkill_at_any_point_resumes_with_nothing_lost(tmp_path, fault, checkpoint_before_resume):
    run_dir = str(tmp_path)
    killed = _train_cli(run_dir, fault=fault)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    step = _checkpoint_step(run_dir)
    if checkpoint_before_resume is not None:
        assert step == checkpoint_before_resume
    else:  # the kill may land before or after the save completes; either is a whole checkpoint
        assert step in (0, 10, 20, 30)
    resumed = _train_cli(run_dir)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"at step {step}" in resumed.stderr or step in (0, None)
    _assert_complete(run_dir)


def test_a_torn_last_row_is_dropped_on_resume(tmp_path):
    run_dir = str(tmp_path)
    killed = _train_cli(run_dir, fault="step@3")  # epoch 2 half done, checkpoint at step 10
    assert killed.returncode == -signal.SIGKILL
    with open(os.path.join(run_dir, "loss.csv"), "a") as fh:
        fh.write("2,0.51,0.4")  # what a kill in the middle of a row's write leaves
    with open(os.path.join(run_dir, "timing.csv"), "a") as fh:
        fh.write("1")
    resumed = _train_cli(run_dir)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    _assert_complete(run_dir)


def test_kill_at_a_random_moment(tmp_path):
    run_dir = str(tmp_path)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "gan_zoo.train", *TINY, *SCORED, "--epochs=6",
                             f"--run_dir={run_dir}"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    loss_csv = os.path.join(run_dir, "loss.csv")
    deadline = time.time() + 120
    while not os.path.exists(loss_csv) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    time.sleep(random.Random(os.getpid()).uniform(0.0, 1.5))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    resumed = _train_cli(run_dir, epochs=6, extra=SCORED)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    _assert_complete(run_dir, epochs=6)
    scored = run_files.read_csv(os.path.join(run_dir, "metrics.csv"))
    assert list(scored["epoch"]) == list(range(1, 7)) and np.isfinite(scored["SWD"]).all()


@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_ctrl_c_and_sigterm_save_a_checkpoint_first(tmp_path, sig, code):
    run_dir = str(tmp_path)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "gan_zoo.train", *TINY, "--epochs=50",
                             "--save_every=100", f"--run_dir={run_dir}"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    loss_csv = os.path.join(run_dir, "loss.csv")
    deadline = time.time() + 120
    while not os.path.exists(loss_csv) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == code, stderr[-3000:]
    assert f"stopped: {signal.Signals(sig).name}: saved checkpoint" in stderr
    step = _checkpoint_step(run_dir)
    assert step >= 10 and f"at step {step}" in stderr  # not the step-0 one: the current step
    if sig == signal.SIGINT:  # and the run goes on from exactly there
        resumed = _train_cli(run_dir, epochs=3, extra=["--save_every=100"])
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        assert f"at step {step}" in resumed.stderr
        assert _checkpoint_step(run_dir) == 30


# --- NaN guard ------------------------------------------------------------------------------
def test_a_non_finite_weight_is_never_kept_and_the_run_recovers(tmp_path, caplog):
    cfg = tiny_faces_config(tmp_path, epochs=3, max_images=160)

    def poison_once(t, epoch):  # after epoch 1's checkpoint: a NaN weight, as a bad update leaves
        if epoch == 1 and not getattr(poison_once, "done", False):
            poison_once.done = True
            kernel = t.generator.trainable_variables[0]
            kernel.assign(tf.fill(kernel.shape, float("nan")))

    with caplog.at_level(logging.WARNING):
        trained = loop.train(cfg, data.for_config(cfg), on_epoch_end=poison_once)
    assert any("Non-finite loss or weight at epoch 2" in r.getMessage() for r in caplog.records)
    for w in trained.generator.weights + trained.discriminator.weights:
        assert np.all(np.isfinite(w.numpy()))
    rows = run_files.read_csv(os.path.join(str(tmp_path), "loss.csv"))
    assert list(rows["epoch"]) == [1, 2, 3]
    assert rows["lr"][1] == pytest.approx(rows["lr"][0] * 0.5)  # lowered after the recovery
    assert float(trained.lr_multiplier.numpy()) == 0.5


def test_persistent_nan_stops_with_the_epoch_and_likely_cause(tmp_path, monkeypatch):
    monkeypatch.setattr(losses, "generator_loss",
                        lambda fake_logits: tf.reduce_mean(fake_logits) * float("nan"))
    cfg = tiny_faces_config(tmp_path, epochs=3, max_nan_recoveries=2)
    with pytest.raises(UserError, match=r"diverged.*epoch 1 .*2 restarts.*--g_lr"):
        loop.train(cfg, data.for_config(cfg))
    # what was saved is the good initial state, never a NaN one
    g, *_ = run_dir_lib.restore_generator(str(tmp_path))
    assert all(np.all(np.isfinite(w.numpy())) for w in g.weights)


# --- determinism ----------------------------------------------------------------------------
def test_deterministic_runs_write_identical_loss_csv(tmp_path):
    """Also with the data streamed from a decoded copy on disk (run b): the same batches."""
    runs = []
    streamed = ["--data_memory_mb=0", f"--data_cache_dir={tmp_path / 'cache'}"]
    for name, where in (("a", []), ("b", streamed)):
        result = _train_cli(str(tmp_path / name), epochs=2, extra=["--deterministic", "--loss=wgan_gp", *where])
        assert result.returncode == 0, result.stderr[-3000:]
        with open(tmp_path / name / "loss.csv", "rb") as fh:
            runs.append(fh.read())
    assert runs[0] == runs[1] and runs[0].count(b"\n") == 3


DETERMINISTIC = ["--deterministic"]  # one D and G step per batch: 2 calls of 5 steps per epoch


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("whole")
    whole = _train_cli(str(run_dir), extra=DETERMINISTIC)
    assert whole.returncode == 0, whole.stderr[-3000:]
    return run_dir


@pytest.mark.parametrize("fault_signal,code", [("SIGKILL", -signal.SIGKILL), ("SIGTERM", 143)])
def test_a_deterministic_run_stopped_mid_epoch_and_resumed_writes_the_same_loss_csv(
        tmp_path, uninterrupted, fault_signal, code):
    """Stopped after 5 of epoch 2's 10 steps: SIGKILL goes back to epoch 1's checkpoint,
    SIGTERM saves one at step 15, and the resumed epoch 2 row still covers all 10 steps. The
    resumed run streams its data from disk: the same remaining batches as in memory."""
    extra = DETERMINISTIC
    run_dir = str(tmp_path / "stopped")
    stopped = _train_cli(run_dir, fault="step@3", fault_signal=fault_signal, extra=extra)
    assert stopped.returncode == code, stopped.stderr[-3000:]
    assert _checkpoint_step(run_dir) == (15 if fault_signal == "SIGTERM" else 10)
    resumed = _train_cli(run_dir, extra=[*extra, "--data_memory_mb=0",
                                         f"--data_cache_dir={tmp_path / 'cache'}"])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    for name in ("loss.csv", "samples/epoch_0003.png"):
        with open(uninterrupted / name, "rb") as a, open(os.path.join(run_dir, name), "rb") as b:
            assert a.read() == b.read(), name


def test_a_signal_during_the_epochs_files_keeps_that_epochs_row(tmp_path):
    """SIGTERM arriving after the last step of an epoch: its row is written, then the stop."""
    from gan_zoo.errors import TrainingInterrupted
    cfg = tiny_faces_config(tmp_path, epochs=3, max_images=160, save_every=100)

    def signal_after_epoch_1(t, epoch):
        if epoch == 1:
            os.kill(os.getpid(), signal.SIGTERM)

    with pytest.raises(TrainingInterrupted, match="SIGTERM: saved checkpoint .* at step 10"):
        loop.train(cfg, data.for_config(cfg), on_epoch_end=signal_after_epoch_1)
    assert list(run_files.read_csv(os.path.join(str(tmp_path), "loss.csv"))["epoch"]) == [1]
    resumed = loop.train(cfg, data.for_config(cfg))
    assert int(resumed.step) == 30
    assert list(run_files.read_csv(os.path.join(str(tmp_path), "loss.csv"))["epoch"]) == [1, 2, 3]


def test_a_checkpoint_series_lists_only_whole_checkpoints_even_when_killed_while_pruning(tmp_path, monkeypatch):
    """The state file drops a checkpoint before its files go (tf.train.CheckpointManager
    deletes first); a series reopened later goes on pruning from what the state lists."""
    from gan_zoo.run.checkpoints import CheckpointSeries
    tmp_path = tmp_path / "a.run dir"  # dots and spaces in the path are part of no file name
    v = tf.Variable(0.0)
    series = CheckpointSeries(tf.train.Checkpoint(v=v), str(tmp_path), keep=2)
    for n in range(3):
        series.save(n)

    def killed(path):
        raise KeyboardInterrupt  # the process dies before any old file is removed

    monkeypatch.setattr(os, "remove", killed)
    with pytest.raises(KeyboardInterrupt):
        series.save(3)
    monkeypatch.undo()
    state = tf.train.get_checkpoint_state(str(tmp_path))
    assert [os.path.basename(p) for p in state.all_model_checkpoint_paths] == ["ckpt-2", "ckpt-3"]
    assert os.path.exists(tmp_path / "ckpt-1.index")  # not yet removed when the kill came
    assert all(os.path.exists(p + ".index") for p in state.all_model_checkpoint_paths)
    reopened = CheckpointSeries(tf.train.Checkpoint(v=v), str(tmp_path), keep=2)
    reopened.save(4)
    # ckpt-1, left behind by the kill, goes with the next pruning
    assert sorted(f for f in os.listdir(tmp_path) if f.endswith(".index")) == ["ckpt-3.index", "ckpt-4.index"]
    assert reopened.latest_checkpoint.endswith("ckpt-4")
