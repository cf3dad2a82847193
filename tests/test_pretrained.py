"""The generators shipped in the package: they load by name, draw what their cards say, and
every entry point takes them."""
import json
import os

import numpy as np
import pytest

from conftest import run_cli
from gan_zoo.serving import pretrained
from gan_zoo.errors import UserError
from gan_zoo.data.spec import DataSpec

SHIPPED = ("maxout_cgan/fashion_mnist", "mlp_cgan/fashion_mnist", "conv_cgan/fashion_mnist",
           "dcgan/lfw_gray", "stackgan/fashion_mnist")


def test_each_family_ships_a_small_generator_with_its_card():
    assert set(SHIPPED) <= set(pretrained.names())
    for name in SHIPPED:
        folder = pretrained.path(name)
        assert os.path.getsize(os.path.join(folder, pretrained.WEIGHTS)) < 4 * 2 ** 20, name
        card = pretrained.card(name)
        assert card["train_command"].startswith("gan-zoo train --recipe=")
        assert card["eval_command"].startswith(f"gan-zoo eval --pretrained={name}")
        assert card["data_license"] and "shared" not in json.dumps(card)
        assert card["train_minutes"] > 0 and card["epoch"] >= 1
        assert {"FID", "SWD"} & set(card["metrics"]), name
        spread = card["metrics"]["spread"]  # over sampling seeds: noise, told from a change
        assert card["metrics"]["spread_seeds"] >= 3 and spread[next(iter({"FID", "SWD"} & set(spread)))] > 0
    with pytest.raises(UserError, match="Shipped: .*maxout_cgan/fashion_mnist"):
        pretrained.load("maxout_cgan/cifar10")


def test_the_shipped_maxout_cgan_scores_what_its_card_says(fashion_judge):
    """Re-measured here on the card's own settings (10,000 samples, seed 0): the numbers in the
    README table come from these weights."""
    from gan_zoo import models
    from gan_zoo.eval import scoring
    generator, card = pretrained.load("maxout_cgan/fashion_mnist")
    spec = DataSpec.from_json(card["data_spec"])
    scorer = scoring.Scorer("fashion_mnist", spec, card["config"]["noise_dim"],
                            card["config"]["noise"], num_samples=10000, seed=0,
                            load_kwargs={"conditional": True})
    scores = scorer.score(lambda z, c: models.generate(generator, z, c).numpy())
    for name in ("label_accuracy", "FID", "precision", "recall", "coverage"):
        assert scores[name] == pytest.approx(card["metrics"][name], rel=1e-4, abs=1e-4), name
    assert scores["label_accuracy"] > 0.7  # chance: 0.10


def test_the_shipped_stackgan_serves_both_stages_and_draws_the_requested_classes(fashion_judge):
    """Loaded by name, stage I inside stage II: the served model gives the refined 28x28 images
    and the 14x14 stage-I ones they came from, and the classifier recognises the refined ones
    about as often as the card says (1,000 samples here, 10,000 on the card: a 0.05 margin is
    over five standard errors), and more often than the card's stage I upsampled."""
    import tensorflow as tf
    served, metadata = pretrained.served("stackgan/fashion_mnist")
    card = pretrained.card("stackgan/fashion_mnist")
    assert card["config"]["stage"] == 2 and card["config"]["stage1_run"]
    labels = np.repeat(np.arange(10, dtype=np.int32), 100)
    noise = np.random.default_rng(0).normal(size=(1000, metadata["noise_dim"])).astype(np.float32)
    out = served.signatures["serving_default"](noise=tf.constant(noise), labels=tf.constant(labels))
    assert out["images"].shape == (1000, 28, 28, 1) and out["stage1_images"].shape == (1000, 14, 14, 1)
    images = out["images"].numpy().astype(np.float32) / 127.5 - 1
    accuracy = float(np.mean(np.argmax(fashion_judge.predict(images, verbose=0), -1) == labels))
    assert accuracy > card["metrics"]["label_accuracy"] - 0.05
    assert card["metrics"]["label_accuracy"] > card["stage1_upsampled_metrics"]["label_accuracy"]
    assert card["metrics"]["FID"] < card["stage1_upsampled_metrics"]["FID"]


def test_generate_and_explore_take_a_pretrained_name(tmp_path):
    from gan_zoo.serving.explore import Explorer
    from gan_zoo.images import read_png
    out = tmp_path / "grid.png"
    done = run_cli("gan_zoo.serving.generate", "--pretrained=maxout_cgan/fashion_mnist", "--labels=0,7",
                   "--num_per_label=3", f"--out={out}")
    assert done.returncode == 0, done.stderr
    assert read_png(str(out)).shape[:2] == (3 * 29 - 1, 2 * 29 - 1)
    both = run_cli("gan_zoo.serving.generate", "--pretrained=maxout_cgan/fashion_mnist",
                   "--export_dir=somewhere", f"--out={out}")
    assert both.returncode == 2 and "Pass one of --export_dir" in both.stderr

    model, metadata = pretrained.served("dcgan/lfw_gray")
    explorer = Explorer(model, metadata, directions=2)
    info = explorer.info()
    assert info["noise_dim"] == 100 and not info["class_names"] and len(info["directions"]) == 2
    png = explorer.render({"noise": [0.0] * 100})
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_eval_cli_scores_an_export_and_explains_missing_inception_weights(exports, tmp_path):
    base = exports["label"][0]
    out = tmp_path / "scores.json"
    env_home = tmp_path / "keras_home"
    done = run_cli("gan_zoo", "eval", f"--export_dir={base}", "--num_samples=300",
                   f"--json_out={out}", env={"KERAS_HOME": str(env_home)})
    assert done.returncode == 0, done.stderr
    assert "skipped, no InceptionV3 weights" in done.stdout
    scores = json.loads(out.read_text())
    assert scores["num_samples"] == 300 and scores["reference_split"] == "test"
    assert 0 <= scores["label_accuracy"] <= 1 and scores["FID"] > 0
    missing = run_cli("gan_zoo", "eval", f"--export_dir={base}", "--inception_weights=/no/such.h5")
    assert missing.returncode == 2 and "--inception_weights=/no/such.h5: no such file" in missing.stderr


def test_inception_fid_and_kid_run_with_local_weights(tmp_path):
    """Random-initialised InceptionV3 weights stand in for ImageNet's (which nothing here may
    download): the loading, resizing and both distances run end to end."""
    import keras

    from gan_zoo.eval import inception, metrics
    weights = str(tmp_path / "random_inception_v3.weights.h5")  # Keras 3's own weights format
    keras.applications.InceptionV3(include_top=False, weights=None, pooling="avg",
                                   input_shape=(299, 299, 3)).save_weights(weights)
    assert inception.find_weights(weights) == weights
    model = inception.feature_model(weights)
    rng = np.random.default_rng(0)
    a = inception.features(model, rng.uniform(-1, 1, (12, 28, 28, 1)))
    b = inception.features(model, rng.uniform(-1, 1, (12, 28, 28, 1)) * 0.1)
    assert a.shape == (12, 2048)
    assert metrics.frechet_distance(a, b) > 0
    assert np.isfinite(metrics.kernel_inception_distance(a, b, subsets=5)[0])


def test_eval_of_a_shipped_generator_prints_its_card_beside_each_figure(capsys):
    from gan_zoo.cli import evaluate
    card = {"FID": 36.5, "recall": 0.41, "spread": {"FID": 0.3, "recall": 0.004}, "spread_seeds": 5}
    evaluate._print({"scored": "pretrained x", "num_samples": 10000, "FID": 36.9, "recall": 0.45,
                     "precision": 0.9}, card)
    out = capsys.readouterr().out.splitlines()
    assert "± the standard deviation over 5 sampling seeds" in out[0]
    fid, recall, precision = (next(line for line in out if line.strip().startswith(k + ":"))
                              for k in ("FID", "recall", "precision"))
    assert fid.endswith("36.9000   card 36.5000 ± 0.3000")  # within 3x the spread: no mark
    assert recall.endswith("card 0.4100 ± 0.0040   (beyond 3x the spread)")
    assert "card" not in precision
    evaluate._print({"num_samples": 500, "recall": 0.45}, card)  # fewer samples: not comparable
    assert "beyond" not in capsys.readouterr().out
