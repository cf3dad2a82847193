"""The one slow test: a short (4-epoch) Maxout cGAN run must learn its labels, measure itself while it
trains, and keep (and export) its best checkpoint.

As published, this model's samples are recognised as the requested class ~10% of the
time (chance). The thresholds below were set from measurement, with margin.
"""
import numpy as np
import pytest

from gan_zoo.settings import config
from gan_zoo import data
from gan_zoo.serving import export
from gan_zoo.run import loop
from gan_zoo.run import run_dir as run_dir_lib
from gan_zoo.cli.evaluate import _export_generate
from gan_zoo.run.run_files import RunFiles, read_csv

# 4 epochs, not 3: on a CPU with AMX and AVX512_FP16 (2026-12-03) oneDNN's float32 kernels took
# the 3-epoch run to FID 542 -> 489 (recall 0.0); at 4 epochs 542 -> 258, recall 0.019 (and with
# TF_ENABLE_ONEDNN_OPTS=0: 594 -> 304, recall 0.021). The bars below are unchanged.
EPOCHS = 4
# Label accuracy of the last epoch (chance is 0.10). The recipes since 2026-12-03 learn the
# labels within the first epoch, so the bar is on the last epoch, not on a rise: by epoch
# 1.0, 0.972, 0.968, 0.951 (spectral norm, batch 128), and with 2 D steps per G step and the
# label modulating G 0.986, 0.970, 0.983, 0.972 (AMX, 2026-12-04).
MIN_LABEL_ACCURACY = 0.85
# Recall of the last epoch (EMA samples, 1,000 of them): by epoch 0.0, 0.022, 0.039, 0.077;
# with the recipe of 2026-12-04 0.025, 0.050, 0.105, 0.154 (AMX); with today's (no dropout in
# D) 0.044, 0.114, 0.196, 0.230 (AMX, 2026-12-05; FID 216 -> 104); one image per class scores
# 0 (test_eval.py's calibration); with the evening's (D twice as wide, D lr 2e-3) 0.061, 0.150,
# 0.209, 0.249 (FID 201 -> 99, coverage 0.38 -> 0.71). The bar was 0.03 before today's recipe.
MIN_RECALL = 0.10
# Coverage of the last epoch. The bar was "twice epoch 1's": 0.249 -> 0.552 with the recipe of
# 2026-12-04; today's learns faster (0.359 -> 0.672), so the bar is now at least what the
# earlier recipe reached, and a rise.
MIN_COVERAGE = 0.55


def test_maxout_cgan_learns_its_labels_and_keeps_its_best_checkpoint(tmp_path):
    run_dir = str(tmp_path / "run")
    cfg = config.resolve(model="maxout_cgan", dataset="fashion_mnist", epochs=EPOCHS,
                         save_every=EPOCHS, eval_every=1, run_dir=run_dir, progress=False)
    loop.train(cfg, data.load("fashion_mnist"))
    rows = read_csv(RunFiles(run_dir).metrics_csv)
    print({k: np.round(v, 3).tolist() for k, v in rows.items()})
    assert rows["epoch"].tolist() == list(range(1, EPOCHS + 1))
    assert rows["label_accuracy"][-1] > MIN_LABEL_ACCURACY
    assert rows["FID"][-1] < 0.7 * rows["FID"][0]
    assert rows["coverage"][-1] > max(MIN_COVERAGE, rows["coverage"][0])
    assert rows["recall"][-1] > max(MIN_RECALL, rows["recall"][0])

    best = run_dir_lib.best_record(run_dir)
    assert best["metric"] == "FID" and best["value"] == pytest.approx(rows["FID"].min(), rel=1e-5)
    assert best["epoch"] == int(rows["epoch"][np.argmin(rows["FID"])])

    # The best checkpoint, exported, scores what the run recorded for it.
    export_dir = str(tmp_path / "export")
    meta = export.export(run_dir, export_dir, which="best")
    assert meta["epoch"] == best["epoch"] and meta["selected"] == {"by": "FID", "value": best["value"]}
    loaded, meta = export.load(export_dir)
    rescored = loop.scorer_for(cfg, data.load("fashion_mnist", max_images=1).spec).score(
        _export_generate(loaded, meta))
    # The export rounds images to uint8; the run scored float images.
    assert rescored["FID"] == pytest.approx(best["value"], rel=0.05, abs=0.5)
    assert rescored["label_accuracy"] == pytest.approx(best["scores"]["label_accuracy"], abs=0.03)
