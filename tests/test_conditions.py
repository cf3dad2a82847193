"""Conditions beyond one class: multi-hot tags from class groups and from a per-image CSV."""

import numpy as np
import pytest
import tensorflow as tf

from conftest import run_cli
from gan_zoo.settings import config
from gan_zoo import data, images
from gan_zoo.serving import export
from gan_zoo.run import loop
from gan_zoo.data import conditions
from gan_zoo.errors import UserError

# One epoch of a third of the training images: the tag model learns its tags early (the test's
# bar is far below what this reaches, docs/testing.md); three whole epochs were the suite's
# longest fixture, one was still its third-longest test.
EPOCHS = 1
IMAGES = 20000


@pytest.fixture(scope="module")
def tag_run(tmp_path_factory):
    run_dir = str(tmp_path_factory.mktemp("tags"))
    cfg = config.resolve(model="maxout_cgan", dataset="fashion_mnist", class_tags="fashion_mnist",
                         max_images=IMAGES, epochs=EPOCHS, save_every=EPOCHS, run_dir=run_dir,
                         progress=False, eval_every=0)  # the tests judge samples themselves: no scoring per epoch
    source = data.for_config(cfg)
    return loop.train(cfg, source), source, run_dir


def test_fashion_mnist_tags_are_overlapping_multi_hot_vectors():
    source = data.load("fashion_mnist", max_images=64, class_tags="fashion_mnist")
    names = source.spec.condition_names
    assert {"top", "footwear", "bag", "warm"} <= set(names) and source.spec.condition_dim == len(names)
    table = source.condition_table
    assert table.shape == (10, len(names)) and set(np.unique(table)) == {0.0, 1.0}
    assert (table.sum(axis=1) > 1).any(), "some classes carry several tags"
    assert len({tuple(r) for r in table}) == 10, "every class has its own tag set"
    _, condition = next(iter(source.epoch_batches(64, 0, 0)))
    assert condition.shape == (64, len(names))


def test_generator_draws_items_with_the_requested_tags(tag_run, fashion_judge):
    trained, source, _ = tag_run
    judge = fashion_judge
    table = source.condition_table
    has_tags = np.all(table[:, None, :] >= table[None, :, :], axis=-1)  # [predicted, requested]
    conditions_per_class = np.repeat(table, 100, axis=0)
    noise = tf.random.stateless_normal((len(conditions_per_class), 100), seed=[5, 0])
    samples = trained.sampler([noise, tf.constant(conditions_per_class)], training=False)
    predicted = np.argmax(judge.predict(samples.numpy(), verbose=0), axis=-1)
    requested = np.repeat(np.arange(10), 100)
    share = float(np.mean(has_tags[predicted, requested]))
    chance = float(has_tags.mean())
    print(f"share with every requested tag: {share:.3f} (chance {chance:.3f})")
    assert share > max(0.5, 2 * chance)


def test_tag_export_round_trip_and_generate_cli(tag_run, tmp_path):
    trained, source, run_dir = tag_run
    export_dir = str(tmp_path / "export")
    meta = export.export(run_dir, export_dir)
    assert meta["condition_names"] == list(source.spec.condition_names) and meta["num_classes"] == 0
    model, _ = export.load(export_dir)
    vectors = conditions.multi_hot(["footwear", "warm"], meta["condition_names"])[None].repeat(3, 0)
    noise = np.random.default_rng(0).normal(size=(3, 100)).astype(np.float32)
    served = model.signatures["serving_default"](condition=tf.constant(vectors), noise=tf.constant(noise))
    expected = data.to_uint8(trained.sampler([tf.constant(noise), tf.constant(vectors)], training=False))
    np.testing.assert_array_equal(served["images"].numpy(), expected.numpy())
    with pytest.raises(tf.errors.InvalidArgumentError, match="finite"):
        model.signatures["serving_default"](condition=tf.constant(vectors * np.nan),
                                            noise=tf.constant(noise))
    out = str(tmp_path / "boots.npz")
    result = run_cli("gan_zoo.serving.generate", f"--export_dir={export_dir}", "--tags=footwear,warm;bag",
                     "--num_per_label=4", f"--out={out}")
    assert result.returncode == 0, result.stderr[-3000:]
    with np.load(out) as f:
        assert f["images"].shape == (8, 28, 28, 1) and f["conditions"].shape == (8, len(meta["condition_names"]))
    bad = run_cli("gan_zoo.serving.generate", f"--export_dir={export_dir}", "--tags=hat")
    assert bad.returncode == 2 and "Unknown tag(s) ['hat']" in bad.stderr


def test_folder_with_per_image_tag_csv(tmp_path):
    source = data.load("fashion_mnist", max_images=48)
    root = tmp_path / "images"
    root.mkdir()
    rows = []
    for i, (image, label) in enumerate(source.images_and_labels.as_numpy_iterator()):
        images.write_png(str(root / f"{i}.png"), image)
        rows.append(f"{i}.png,{'footwear' if label in (5, 7, 9) else 'clothes'};{'even' if i % 2 == 0 else 'odd'}")
    csv_path = tmp_path / "tags.csv"
    csv_path.write_text("file,tags\n" + "\n".join(rows) + "\n")
    tagged = data.load(f"folder:{root}", condition_csv=str(csv_path))
    assert tagged.spec.condition_dim == 4 and tagged.num_examples == 48
    vectors = np.stack([c for _, c in tagged.images_and_labels.as_numpy_iterator()])
    names = list(tagged.spec.condition_names)
    assert vectors[0][names.index("even")] == 1 and vectors[1][names.index("odd")] == 1
    assert np.all(vectors.sum(axis=1) == 2)
    cfg = config.resolve(model="maxout_cgan", dataset=f"folder:{root}", condition_csv=str(csv_path),
                         batch_size=16, epochs=1, run_dir=str(tmp_path / "run"), progress=False)
    trained = loop.train(cfg, data.for_config(cfg))
    assert int(trained.step) == 3
    with pytest.raises(UserError, match="folder data set"):
        data.load("fashion_mnist", condition_csv=str(csv_path))


def test_tfds_multi_label_feature_becomes_a_multi_hot_condition(tmp_path):
    """celeb_a's 40 boolean attributes as the condition. celeb_a is not available offline, so
    tfds' own mock_data serves random examples with celeb_a's real feature spec."""
    import tensorflow_datasets as tfds
    with tfds.testing.mock_data(num_examples=24):
        source = data.load("celeb_a", data_dir=str(tmp_path), condition_feature="attributes",
                           image_size=32)
        assert source.num_examples == 24 and source.spec.image_shape == (32, 32, 3)
        assert source.spec.condition_dim == 40 and "Smiling" in source.spec.condition_names
        _, condition = next(iter(source.epoch_batches(8, 0, 0)))
        assert condition.shape == (8, 40) and set(np.unique(condition.numpy())) <= {0.0, 1.0}
        cfg = config.resolve(model="maxout_cgan", dataset="celeb_a", condition_feature="attributes",
                             image_size=32, batch_size=8, epochs=1, data_dir=str(tmp_path),
                             run_dir=str(tmp_path / "run"), progress=False)
        trained = loop.train(cfg, source)
        assert int(trained.step) == 3
    with pytest.raises(UserError, match="needs 'image' and 'smile'"):
        data.load("fashion_mnist", condition_feature="smile")
