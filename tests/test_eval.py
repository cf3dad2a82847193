"""Calibration: each metric moves the right way on inputs whose quality is known.

The "generators" here answer the scorer's requests with real training images (perfect),
real images of a random class (labels ignored), one image repeated (total collapse) and
uniform noise (worst), all scored against the real Fashion-MNIST test split with the
packaged reference classifier.
"""
import os

import numpy as np
import pytest

from conftest import MNIST_SUBSET, OLIVETTI
from gan_zoo import data
from gan_zoo.eval import classifier, scoring
from gan_zoo.cli.evaluate import real_answers

SAMPLES = 2000


@pytest.fixture(scope="module")
def fashion():
    """(scorer, perfect generate, real training images and labels in [-1, 1])."""
    generate, spec = real_answers("fashion_mnist", {}, seed=1)
    scorer = scoring.Scorer("fashion_mnist", spec, noise_dim=4, num_samples=SAMPLES)
    return scorer, generate


@pytest.fixture(scope="module")
def scores(fashion):
    scorer, perfect = fashion
    rng = np.random.default_rng(0)
    one_image = perfect(None, np.eye(10, dtype=np.float32)[:1])[0]

    def shuffled(noise, condition):  # a real image of a random class
        return perfect(noise, np.eye(10, dtype=np.float32)[rng.integers(0, 10, len(condition))])

    return {"real": scorer.score(perfect),
            "shuffled": scorer.score(shuffled),
            "repeated": scorer.score(lambda z, c: np.repeat(one_image[None], len(c), axis=0)),
            "noise": scorer.score(lambda z, c: rng.uniform(-1, 1, (len(c), 28, 28, 1)))}


def test_packaged_classifiers_reach_their_accuracy_targets():
    """Fashion-MNIST's on its whole test split (Debian's files): the card's figure. MNIST's on
    the committed first 2,000 test images: the card's whole-split figure within three binomial
    standard errors of a 2,000-image sample (a subset can be a little easier or harder; wrong
    weights or a wrong read of the files fall far outside)."""
    for dataset, target in (("mnist", 0.99), ("fashion_mnist", 0.91)):
        model, card = classifier.load(dataset)
        assert card["fingerprint"] == classifier.fingerprint(model)
        assert card["test_accuracy"] >= target, card
        if dataset == "mnist":
            measured = classifier.accuracy(model, data.load(f"idx:{MNIST_SUBSET}", split="test"))
            p = card["test_accuracy"]
            assert abs(measured - p) <= 3 * np.sqrt(p * (1 - p) / 2000), (dataset, measured)
        else:
            measured = classifier.accuracy(model, data.load(dataset, split="test"))
            assert measured == pytest.approx(card["test_accuracy"], abs=1e-3), (dataset, measured)


def test_real_images_score_near_perfect(scores, fashion):
    real, card = scores["real"], fashion[0].classifier_card
    # Training images answer the requests: the classifier knows them a little better than
    # the test images its card was measured on.
    assert card["test_accuracy"] - 0.01 < real["label_accuracy"] < 1.0
    assert real["precision"] > 0.7 and real["recall"] > 0.7
    assert real["coverage"] > 0.85 and real["worst_class_coverage"] > 0.7
    assert real["FID"] < 0.05 * scores["repeated"]["FID"]


def test_shuffled_labels_drop_label_accuracy_to_chance(scores):
    shuffled, real = scores["shuffled"], scores["real"]
    assert 0.05 < shuffled["label_accuracy"] < 0.15
    # The images are as realistic as before: only the per-class figures see the mismatch.
    assert shuffled["precision"] == pytest.approx(real["precision"], abs=0.05)
    assert shuffled["coverage"] < 0.6 * real["coverage"]


def test_one_repeated_image_collapses_recall_and_coverage(scores):
    repeated = scores["repeated"]
    assert repeated["recall"] < 0.01
    assert repeated["coverage"] < 0.05
    assert repeated["FID"] > 10 * scores["real"]["FID"]


def test_noise_is_worst_on_realism(scores):
    """Noise has the lowest precision of all (its samples are not where real images are), chance
    label accuracy, and nothing recalled or covered. FID ranks it far behind real images; a
    single image repeated is further still (zero spread is FID's harshest case)."""
    noise = scores["noise"]
    assert noise["precision"] < 0.5
    assert noise["precision"] < min(s["precision"] for k, s in scores.items() if k != "noise")
    assert noise["recall"] < 0.01 and noise["coverage"] < 0.05
    assert 0.05 < noise["label_accuracy"] < 0.15
    assert noise["FID"] > 100 * scores["real"]["FID"]


def test_selection_picks_the_measured_metric_and_its_direction():
    assert scoring.selection_metric("auto", scoring.LABEL_METRICS) == "FID"
    assert scoring.selection_metric("auto", scoring.IMAGE_METRICS) == "SWD"
    assert scoring.selection_metric("auto", scoring.PAIR_METRICS) == "L1"
    assert scoring.selection_metric("Label_Accuracy", scoring.LABEL_METRICS) == "label_accuracy"
    with pytest.raises(Exception, match="measures SWD"):
        scoring.selection_metric("fid", scoring.IMAGE_METRICS)
    assert scoring.better("FID", 3.0, 4.0) and not scoring.better("FID", 5.0, 4.0)
    assert scoring.better("recall", 0.5, 0.4) and not scoring.better("recall", float("nan"), None)


def test_swd_on_faces_ranks_real_above_blur_above_noise():
    from gan_zoo.eval import metrics
    source = data.load("olivetti", data_dir=OLIVETTI)
    faces = data.scale_images(np.concatenate([x for x, _ in source.images_and_labels.batch(400)
                                              .as_numpy_iterator()])).numpy()
    first, second = faces[:200], faces[200:]
    blurred = metrics._blur(metrics._blur(metrics._blur(second)))
    noise = np.random.default_rng(0).uniform(-1, 1, second.shape)
    values = [metrics.sliced_wasserstein(first, x)[1] for x in (second, blurred, noise)]
    assert values[0] < values[1] < values[2], values


def test_faces_are_scored_on_diversity_too_one_face_repeated_has_none():
    """The face scorer's diversity: about 1 for other real faces, 0 for one face repeated."""
    source = data.load("olivetti", data_dir=OLIVETTI, conditional=False)
    scorer = scoring.Scorer("olivetti", source.spec, noise_dim=4, num_samples=200,
                            load_kwargs=dict(data_dir=OLIVETTI))
    assert scorer.kind == "images" and "diversity" in scorer.metric_names
    faces = data.scale_images(np.concatenate([x for x, _ in source.images_and_labels.batch(400)
                                              .as_numpy_iterator()])).numpy()
    others = scorer.score_samples(faces[200:])
    repeated = scorer.score_samples(np.repeat(faces[250:251], 200, axis=0))
    assert 0.8 < others["diversity"] < 1.2, others
    assert repeated["diversity"] < 0.01 and repeated["SWD"] > others["SWD"], (repeated, others)


# --- in training: metrics.csv, the best checkpoint, --select_by ----------------------------------
def _short_config(run_dir, **overrides):
    from gan_zoo.settings import config
    return config.resolve(**{**dict(model="maxout_cgan", dataset="fashion_mnist", max_images=1280,
                                    batch_size=64, epochs=2, eval_samples=300, run_dir=str(run_dir),
                                    progress=False), **overrides})


def test_training_scores_each_epoch_and_keeps_the_best_across_a_resume(tmp_path, fashion_small):
    import json

    from gan_zoo.run import loop
    from gan_zoo.run import run_dir as run_dir_lib
    from gan_zoo.run.run_files import RunFiles, read_csv
    files = RunFiles(str(tmp_path))
    loop.train(_short_config(tmp_path, epochs=1, select_by="recall"), fashion_small)
    first = run_dir_lib.best_record(str(tmp_path))
    assert first["metric"] == "recall" and first["epoch"] == 1
    loop.train(_short_config(tmp_path, epochs=3, select_by="recall"), fashion_small)
    rows = read_csv(files.metrics_csv)
    assert rows["epoch"].tolist() == [1, 2, 3]
    assert list(rows) == ["epoch", *scoring.LABEL_METRICS, "steps"]
    best = run_dir_lib.best_record(str(tmp_path))
    assert best["value"] == pytest.approx(rows["recall"].max(), rel=1e-5)
    assert best["epoch"] == int(rows["epoch"][np.argmax(rows["recall"])])
    # The best checkpoint holds that epoch's weights: restored, it scores the same again.
    generator, cfg, spec, step = run_dir_lib.restore_generator(str(tmp_path), which="best")
    assert step == best["step"]
    rescored = loop.scorer_for(cfg, spec).score(
        lambda z, c: generator([z, c], training=False).numpy())
    assert rescored["recall"] == pytest.approx(best["value"], abs=1e-6)
    with open(files.best_json) as fh:
        assert json.load(fh)["scores"]["FID"] == pytest.approx(best["scores"]["FID"])


def test_eval_settings_are_checked_before_training(tmp_path, fashion_small):
    from gan_zoo.run import loop
    from gan_zoo.run import run_dir as run_dir_lib
    from gan_zoo.errors import UserError
    from gan_zoo.run.run_files import RunFiles
    with pytest.raises(UserError, match="measures label_accuracy, FID"):
        loop.train(_short_config(tmp_path / "a", select_by="SWD"), fashion_small)
    assert not os.path.exists(RunFiles(str(tmp_path / "a")).loss_csv)
    with pytest.raises(UserError, match="eval_samples must be at least 10"):
        _short_config(tmp_path, eval_samples=3)
    loop.train(_short_config(tmp_path / "off", epochs=1, eval_every=0), fashion_small)
    off = RunFiles(str(tmp_path / "off"))
    assert os.path.exists(off.loss_csv) and not os.path.exists(off.metrics_csv)
    with pytest.raises(UserError, match="no best checkpoint"):
        run_dir_lib.restore_generator(off.run_dir, which="best")
    with pytest.raises(UserError, match="name two checkpoints"):
        run_dir_lib.restore_generator(off.run_dir, epoch=1, which="best")


def test_the_requests_do_not_depend_on_the_readers_order(tmp_path):
    """The same images read in two orders (tfds' shuffled files against the original IDX
    files, say) give the scorer the same reference images and the same requests, so a
    generator scores alike on every machine."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (60, 28, 28), dtype=np.uint8)
    labels = (np.arange(60) % 10).astype(np.uint8)
    for name, order in (("a", np.arange(60)), ("b", rng.permutation(60))):
        folder = tmp_path / name
        folder.mkdir()
        for kind, array in (("images-idx3", images[order]), ("labels-idx1", labels[order])):
            header = bytes([0, 0, 8, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
            (folder / f"t10k-{kind}-ubyte").write_bytes(header + array.tobytes())
    first = scoring.reference_data(f"idx:{tmp_path / 'a'}", {}, 60, True)
    second = scoring.reference_data(f"idx:{tmp_path / 'b'}", {}, 60, True)
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])
    np.testing.assert_array_equal(first[2], second[2])
    assert not np.array_equal(first[0][..., 0], images)  # in the content's order, not the files'
