"""Nothing lost, part three: exports started together, a run's CSV history on resume, a signal
while a command starts, untrained exports, runaway losses, and one line (no traceback) for each
failure a careless user or an unlucky cluster causes."""
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from conftest import FACE_FOLDER, OLIVETTI, ROOT, run_cli, tiny_faces_config
from gan_zoo import data, images
from gan_zoo.cli import options, plot
from gan_zoo.errors import UserError
from gan_zoo.run import loop, run_files
from gan_zoo.serving import export, versions

TINY_CLI = ["--model=dcgan", "--dataset=olivetti", f"--data_dir={OLIVETTI}", "--image_size=32",
            "--ngf=8", "--ndf=8", "--max_images=128", "--batch_size=16", "--noprogress",
            "--eval_every=0"]


def _one_line(result, *phrases, code=2, prefix="error:"):
    """Exit `code`, no traceback, exactly one `prefix` line, holding every phrase."""
    assert result.returncode == code, result.stderr[-3000:]
    lines = [line for line in result.stderr.splitlines() if line.startswith(prefix)]
    assert "Traceback" not in result.stderr and len(lines) == 1, result.stderr[-3000:]
    for phrase in phrases:
        assert phrase in lines[0], (phrase, lines[0])


# --- exports -----------------------------------------------------------------------------------
def test_two_exports_started_together_get_versions_1_and_2_and_leave_no_staging(short_run, tmp_path):
    _, run_dir = short_run
    base = str(tmp_path / "exp")
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    procs = [subprocess.Popen([sys.executable, "-m", "gan_zoo", "export", f"--run_dir={run_dir}",
                               f"--export_dir={base}"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-2000:] for o in outs]
    assert export.versions(base) == [1, 2] and sorted(os.listdir(base)) == ["1", "2"]
    assert sorted(export.load(os.path.join(base, v))[1]["version"] for v in "12") == [1, 2]


def test_a_dead_exports_claim_is_removed_and_a_live_ones_number_skipped(short_run, tmp_path):
    _, run_dir = short_run
    base = str(tmp_path / "exp")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()  # a pid that has exited
    for number, pid in ((1, int(dead)), (2, os.getpid())):  # 2: a live export's (this process)
        os.makedirs(os.path.join(base, f".staging-{number}"))
        with open(os.path.join(base, f".staging-{number}", ".owner.json"), "w") as fh:
            json.dump({"host": socket.gethostname(), "pid": pid}, fh)
    assert export.export(run_dir, base)["version"] == 3  # 1 and 2 were claimed when it chose
    assert sorted(os.listdir(base)) == [".staging-2", "3"]  # the dead claim is gone, the live kept
    with pytest.raises(UserError, match="being exported by another process"):
        export.export(run_dir, base, version=2)
    assert export.export(run_dir, base)["version"] == 4


def test_a_failed_export_leaves_no_staging_folder(short_run, tmp_path, monkeypatch):
    _, run_dir = short_run
    base = str(tmp_path / "exp")

    def fail(*args, **kwargs):
        raise RuntimeError("disk gone")
    monkeypatch.setattr(tf.saved_model, "save", fail)
    with pytest.raises(RuntimeError):
        export.export(run_dir, base)
    assert os.listdir(base) == []


def test_export_dir_that_is_a_file_and_damaged_config_json_are_one_line_errors(short_run, tmp_path):
    _, run_dir = short_run
    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.raises(UserError, match="is a file; it names the folder"):
        export.export(run_dir, str(afile))
    broken = str(tmp_path / "run")
    shutil.copytree(run_dir, broken)
    config_json = os.path.join(broken, "config.json")
    saved = json.load(open(config_json))
    for text, phrase in (("", "is damaged (not JSON"), ("{not json", "is damaged (not JSON"),
                         ("[1, 2]", "not an object of settings"),
                         (json.dumps({**saved, "config": {**saved["config"], "noise_dim": "ten"}}),
                          "--noise_dim must be a whole number, got 'ten'")):
        with open(config_json, "w") as fh:
            fh.write(text)
        with pytest.raises(UserError, match=phrase.replace("(", r"\(")):  # export reads it
            export.export(broken, str(tmp_path / "e"))
        cfg = tiny_faces_config(broken)
        with pytest.raises(UserError):  # and so does a training resuming the run dir
            loop.train(cfg, data.for_config(cfg))


@pytest.fixture(scope="module")
def stopped_at_start(tmp_path_factory):
    """A training stopped by SIGTERM while its run dir was set up (the step-0 checkpoint)."""
    run_dir = str(tmp_path_factory.mktemp("stopped"))
    result = run_cli("gan_zoo.train", *TINY_CLI, "--epochs=2", f"--run_dir={run_dir}",
                     env={"GAN_ZOO_FAULT": "setup", "GAN_ZOO_FAULT_SIGNAL": "SIGTERM"})
    return result, run_dir


def test_a_signal_while_the_run_dir_is_set_up_stops_after_it_with_the_stopped_line(stopped_at_start):
    result, run_dir = stopped_at_start
    _one_line(result, "SIGTERM: saved checkpoint", "at step 0", code=143, prefix="stopped:")
    assert not os.path.exists(os.path.join(run_dir, "loss.csv"))


def test_an_untrained_run_is_not_exported_unless_asked_and_plot_says_why(stopped_at_start, tmp_path):
    _, run_dir = stopped_at_start
    with pytest.raises(UserError, match="has not trained a step yet.*--allow_untrained"):
        export.export(run_dir, str(tmp_path / "e"))
    assert export.export(run_dir, str(tmp_path / "e"), allow_untrained=True)["step"] == 0
    with pytest.raises(UserError, match="no loss.csv yet: its first epoch has not finished"):
        plot.plot_losses(run_dir)


def test_a_signal_while_the_command_starts_says_stopped_and_writes_nothing(tmp_path):
    run_dir = str(tmp_path / "run")
    result = run_cli("gan_zoo.train", *TINY_CLI, f"--run_dir={run_dir}",
                     env={"GAN_ZOO_FAULT": "start", "GAN_ZOO_FAULT_SIGNAL": "SIGINT"})
    _one_line(result, "SIGINT before training began", code=130, prefix="stopped:")
    assert not os.path.exists(run_dir)


# --- the run's history on resume ---------------------------------------------------------------
@pytest.fixture(scope="module")
def two_epochs(tmp_path_factory):
    """A finished 2-epoch run (10 steps an epoch) and its loss.csv / timing.csv as written."""
    run_dir = str(tmp_path_factory.mktemp("two_epochs") / "run")
    cfg = tiny_faces_config(run_dir, epochs=2, max_images=160)
    loop.train(cfg, data.for_config(cfg))
    return run_dir, {n: run_files.read_csv(os.path.join(run_dir, n)) for n in ("loss.csv", "timing.csv")}


def _resume_to_3(run_dir, tmp_path, damage):
    copy = str(tmp_path / "run")
    shutil.copytree(run_dir, copy)
    damage(copy)
    cfg = tiny_faces_config(copy, epochs=3, max_images=160)
    loop.train(cfg, data.for_config(cfg))
    return copy, {n: run_files.read_csv(os.path.join(copy, n)) for n in ("loss.csv", "timing.csv")}


def _cut_mid_row(path):
    text = open(path).read()
    open(path, "w").write(text[:-12])


def _bad_cell(path):
    lines = open(path).read().split("\n")
    cells = lines[1].split(",")
    cells[3] = "abc"
    lines[1] = ",".join(cells)
    open(path, "w").write("\n".join(lines))


@pytest.mark.parametrize("damage", ["deleted", "cut_mid_row", "bad_cell"])
def test_a_damaged_loss_csv_is_rebuilt_on_resume(two_epochs, tmp_path, damage, caplog):
    """Every row of epochs 1-2 comes back from the TensorBoard log, as written (to the 6
    digits the CSV keeps), and epoch 3 follows; nothing is said to be lost."""
    run_dir, written = two_epochs
    do = {"deleted": lambda d: os.remove(os.path.join(d, "loss.csv")),
          "cut_mid_row": lambda d: _cut_mid_row(os.path.join(d, "loss.csv")),
          "bad_cell": lambda d: _bad_cell(os.path.join(d, "loss.csv"))}[damage]
    if damage == "bad_cell":  # plot names the line and column instead of a traceback
        broken = str(tmp_path / "broken")
        shutil.copytree(run_dir, broken)
        do(broken)
        with pytest.raises(UserError, match=r"loss.csv line 2: \w+ is 'abc', not a number"):
            plot.plot_losses(broken)
    with caplog.at_level(logging.WARNING):
        _, resumed = _resume_to_3(run_dir, tmp_path, do)
    rows = resumed["loss.csv"]
    assert list(rows["epoch"]) == [1, 2, 3] and list(rows["steps"]) == [10, 20, 30]
    for name, column in written["loss.csv"].items():
        np.testing.assert_allclose(rows[name][:2], column, rtol=2e-5, err_msg=name)
    assert "history is gone" not in caplog.text


def test_rows_gone_from_both_the_csv_and_the_log_are_named_in_one_warning(two_epochs, tmp_path, caplog):
    run_dir, _ = two_epochs

    def damage(copy):
        os.remove(os.path.join(copy, "loss.csv"))
        shutil.rmtree(os.path.join(copy, "tb"))
    with caplog.at_level(logging.WARNING):
        _, resumed = _resume_to_3(run_dir, tmp_path, damage)
    assert list(resumed["loss.csv"]["epoch"]) == [3]
    gone = [r.getMessage() for r in caplog.records if "history is gone" in r.getMessage()]
    assert len(gone) == 1 and "loss.csv has no row for epoch(s) 1, 2" in gone[0]
    assert list(resumed["timing.csv"]["epoch"]) == [1, 2, 3]  # timing.csv was whole


# --- one line for each failure -----------------------------------------------------------------
def test_a_grid_past_pngs_limit_is_refused_before_encoding(tmp_path):
    tall = np.zeros((images.PNG_MAX_SIDE + 1, 1, 1), np.uint8)
    with pytest.raises(UserError, match=r"past PNG's limit.*\.npz"):
        images.write_png(str(tmp_path / "grid.png"), tall)
    assert os.listdir(tmp_path) == []


def test_images_that_would_not_fit_in_memory_or_on_disk_are_refused_before_decoding(tmp_path):
    with pytest.raises(UserError, match=r"GiB of memory once decoded.*lower --image_size") as e:
        data.load(f"folder:{FACE_FOLDER}", image_size=262144, conditional=False,  # 10 TiB: past any machine
                  memory_mb=2 ** 40)
    assert e.value.exit_code == 1
    with pytest.raises(UserError, match=r"decoded images need .* GiB in .*--data_cache_dir") as e:
        data.load(f"folder:{FACE_FOLDER}", image_size=262144, conditional=False,  # streamed: disk
                  cache_dir=str(tmp_path / "cache"))
    assert e.value.exit_code == 1 and os.listdir(tmp_path / "cache") == ["scans"]  # no copy begun
    not_a_folder = tmp_path / "a_file"
    not_a_folder.write_text("")
    source = data.load(f"folder:{FACE_FOLDER}", conditional=False, memory_mb=0,
                       cache_dir=str(not_a_folder / "cache"))
    with pytest.raises(UserError, match=r"Cannot write the decoded copy .*--data_cache_dir=DIR"):
        source.steps_per_epoch(16)


def test_out_of_memory_from_tensorflow_is_one_line_with_exit_1(capsys):
    def main():
        raise tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor with shape[512,16777216]\nmore")
    with pytest.raises(SystemExit) as e:
        options.run(main)(["gan-zoo"])
    assert e.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: out of memory (OOM when allocating") and "--batch_size" in err[0]


@pytest.mark.parametrize("content, phrase", [
    (b"--epochs=2\n\x89PNG\x00\xff", "is not a text file (byte 0x89 at offset 11"),
    (b"--epochs=2\nthis is not a flag\n", "line 2: 'this is not a flag' is not a --flag=value line"),
    (b"# fine\n--no_such_flag=3\n", "line 2")])
def test_a_bad_flagfile_is_named_in_one_line(tmp_path, content, phrase):
    path = tmp_path / "bad.flags"
    path.write_bytes(content)
    result = run_cli("gan_zoo.train", f"--flagfile={path}")
    _one_line(result, phrase, str(path) if phrase != "line 2" else "bad.flags")


def test_explore_on_a_port_in_use_is_one_line_naming_the_fix():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("gan_zoo", "explore", "--pretrained=maxout_cgan/fashion_mnist", f"--port={port}")
    _one_line(result, f"Cannot listen on 127.0.0.1:{port}", "another --port (0: any free one)")


# --- losses far outside a sane range -----------------------------------------------------------
@pytest.mark.parametrize("settings", [dict(loss="hinge", g_lr=100.0, d_lr=100.0),  # losses ~1e5
                                      dict(g_lr=10.0, d_lr=10.0)])  # ~1e3 and samples all alike
def test_runaway_learning_rates_get_one_warning_naming_them(tmp_path, caplog, settings):
    """Learning rates this high train to finite garbage (here: no NaN, so no NaN guard)."""
    cfg = tiny_faces_config(tmp_path, epochs=2, eval_every=0, **settings)
    with caplog.at_level(logging.WARNING):
        loop.train(cfg, data.for_config(cfg))
    said = [r.getMessage() for r in caplog.records if "far outside a training GAN's range" in r.getMessage()]
    assert len(said) == 1 and f"--g_lr={settings['g_lr']:g}" in said[0], caplog.text[-2000:]
    calm = tiny_faces_config(tmp_path / "calm", epochs=1, eval_every=0)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        loop.train(calm, data.for_config(calm))
    assert "far outside" not in caplog.text


def test_generate_refuses_a_png_grid_past_the_limit_before_drawing(tmp_path):
    out = tmp_path / "x.png"
    result = run_cli("gan_zoo", "generate", "--pretrained=maxout_cgan/fashion_mnist",
                     "--num_per_label=40000", f"--out={out}", timeout=120)
    _one_line(result, "1159999x289 grid is past PNG's limit", "--out=NAME.npz")
    assert not out.exists()


def test_a_metric_added_since_a_run_began_keeps_its_earlier_rows(tmp_path):
    """metrics.csv of an older version (no density column), resumed: the file is rewritten
    under the new header, the old rows kept with the new column empty, never dropped as torn."""
    from gan_zoo.run.run_files import RunFiles, read_csv
    files = RunFiles(str(tmp_path))
    os.makedirs(files.run_dir, exist_ok=True)
    with open(files.metrics_csv, "w") as fh:
        fh.write("epoch,FID,coverage,steps\n1,50.5,0.4,10\n2,40.25,0.5,20\n")
    files.append_metrics({"epoch": 3, "FID": 30.0, "density": 0.9, "coverage": 0.6, "steps": 30})
    rows = read_csv(files.metrics_csv)
    assert rows["epoch"].tolist() == [1, 2, 3] and rows["FID"].tolist() == [50.5, 40.25, 30.0]
    assert np.isnan(rows["density"][:2]).all() and rows["density"][2] == 0.9
