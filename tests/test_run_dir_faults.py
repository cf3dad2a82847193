"""Faults of the run dir itself: a second training on it, and checkpoints that are broken
(truncated, zero-filled, or named by the state file but gone). Each ends with a clear message
and nothing lost."""
import glob
import logging
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from conftest import OLIVETTI, ROOT, tiny_faces_config
from gan_zoo import data
from gan_zoo.serving import export
from gan_zoo.run import loop, run_files
from gan_zoo.errors import UserError

TINY = ["--model=dcgan", "--dataset=olivetti", f"--data_dir={OLIVETTI}", "--image_size=32",
        "--ngf=8", "--ndf=8", "--max_images=160", "--batch_size=16", "--save_every=1",
        "--noprogress", "--eval_every=0"]


def _train(run_dir, *extra, wait=True):
    args = [sys.executable, "-m", "gan_zoo.train", *TINY, f"--run_dir={run_dir}", *extra]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    if not wait:
        return subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_a_second_training_on_a_run_dir_in_use_is_refused_and_no_lock_outlives_a_kill(tmp_path):
    run_dir = str(tmp_path / "run")
    first = _train(run_dir, "--epochs=500", wait=False)
    try:
        deadline = time.time() + 120
        while not glob.glob(os.path.join(run_dir, "checkpoints", "ckpt-*.index")):
            assert first.poll() is None and time.time() < deadline, "the first run did not start"
            time.sleep(0.1)
        second = _train(run_dir, "--epochs=500")
        assert second.returncode == 2, second.stderr[-2000:]
        message = second.stderr.strip().splitlines()[-1]
        assert f"PID {first.pid} on {socket.gethostname()}" in message and "another --run_dir" in message
        # reading a run in progress works: the newest whole checkpoint is exported
        # (allow_untrained: on a busy machine the first run may not have finished a step yet)
        metadata = export.export(run_dir, str(tmp_path / "export"), allow_untrained=True)
        assert metadata["step"] >= 0 and first.poll() is None
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    rows_before = len(run_files.read_csv(os.path.join(run_dir, "loss.csv")).get("epoch", []))
    resumed = _train(run_dir, f"--epochs={rows_before + 1}")  # the kernel dropped the lock
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "Resumed" in resumed.stderr


def _corrupt(prefix, how):
    data_file = glob.glob(prefix + ".data-*")[0]
    if how == "truncated data":
        with open(data_file, "r+b") as fh:
            fh.truncate(os.path.getsize(data_file) // 3)
    elif how == "zero-filled index":
        size = os.path.getsize(prefix + ".index")
        with open(prefix + ".index", "wb") as fh:
            fh.write(b"\0" * size)
    elif how == "files gone":  # the state file still names it
        for path in glob.glob(prefix + ".*"):
            os.remove(path)


@pytest.mark.parametrize("how", ["truncated data", "zero-filled index", "files gone"])
def test_a_broken_latest_checkpoint_falls_back_to_the_newest_whole_one(tmp_path, how, caplog):
    cfg = tiny_faces_config(tmp_path, epochs=3, max_images=160)  # 10 steps an epoch
    source = data.for_config(cfg)
    loop.train(cfg, source)
    latest = os.path.join(str(tmp_path), "checkpoints", "ckpt-30")
    _corrupt(latest, how)
    with caplog.at_level(logging.WARNING, logger="absl"):
        resumed = loop.train(tiny_faces_config(tmp_path, epochs=4, max_images=160), source)
    assert int(resumed.step) == 40
    assert any("ckpt-30" in r.getMessage() and "restored ckpt-20" in r.getMessage()
               for r in caplog.records), [r.getMessage() for r in caplog.records]
    rows = run_files.read_csv(os.path.join(str(tmp_path), "loss.csv"))
    assert list(rows["epoch"]) == [1, 2, 3, 4] and list(rows["steps"]) == [10, 20, 30, 40]


def test_export_skips_a_broken_best_checkpoint_and_says_so_when_none_is_whole(tmp_path, caplog):
    cfg = tiny_faces_config(tmp_path / "run", epochs=2, max_images=64, eval_every=1, eval_samples=32)
    loop.train(cfg, data.for_config(cfg))
    for prefix in {p[:-len(".index")] for p in glob.glob(str(tmp_path / "run" / "checkpoints" / "*.index"))}:
        _corrupt(prefix, "truncated data")
    with caplog.at_level(logging.WARNING, logger="absl"):
        metadata = export.export(str(tmp_path / "run"), str(tmp_path / "best"), which="best")
    assert metadata["which"] == "best"  # checkpoints/best/ is whole
    with pytest.raises(UserError, match=r"No whole checkpoint in .*checkpoints: ckpt-8 \("):
        export.export(str(tmp_path / "run"), str(tmp_path / "latest"))
    assert not os.path.exists(tmp_path / "latest")


def test_an_export_of_a_generator_with_non_finite_weights_is_refused(tmp_path):
    import numpy as np

    from gan_zoo.run.checkpoints import CheckpointSeries
    cfg = tiny_faces_config(tmp_path / "run", epochs=1, max_images=32)
    trained = loop.train(cfg, data.for_config(cfg))
    kernel = trained.sampler.weights[0]  # what export writes: the recipe's EMA of G
    kernel.assign(np.where(np.arange(kernel.shape[-1]) == 0, np.nan, kernel.numpy()))
    CheckpointSeries(trained.checkpoint, os.path.join(cfg.run_dir, "checkpoints")).save(99)
    with pytest.raises(UserError, match=r"non-finite weights .*--which=best"):
        export.export(cfg.run_dir, str(tmp_path / "export"))
    assert not os.path.exists(tmp_path / "export")
