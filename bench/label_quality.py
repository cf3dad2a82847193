"""Train a label-conditional model with its recipe and measure whether it draws the right class.

    python bench/label_quality.py --model=maxout_cgan --dataset=fashion_mnist --epochs=10 \
        --run_dir=runs/quality_fashion --grid_out=docs/maxout_cgan_fashion_mnist.png

Prints, per epoch, the label accuracy: the share of generated samples (100 per class)
that the data set's reference classifier (gan_zoo.eval.classifier: the packaged one, or
one trained with `python -m gan_zoo.eval.classifier`) assigns to the requested class
(chance = 1/classes), next to that classifier's own accuracy on the real test split.
Training runs also write it, with FID, precision, recall and coverage, to metrics.csv.
"""
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags, logging  # noqa: E402

flags.DEFINE_string("model", "maxout_cgan", "Registered label-conditional model.")
flags.DEFINE_string("dataset", "fashion_mnist", "tfds data set.")
flags.DEFINE_integer("epochs", 10, "Training epochs.")
flags.DEFINE_string("run_dir", "", "Run dir (default runs/quality_<model>_<dataset>); emptied first.")
flags.DEFINE_string("grid_out", "", "Copy the last epoch's sample grid here.")
FLAGS = flags.FLAGS


def generate_per_class(generator, num_classes, num_per_class, noise_dim, noise="normal", seed=0):
    """(images in [-1, 1], labels) with `num_per_class` samples of each class."""
    import numpy as np
    import tensorflow as tf

    from gan_zoo.core import noise as noise_lib
    labels = np.repeat(np.arange(num_classes), num_per_class).astype(np.int32)
    rng = tf.random.Generator.from_seed(seed)
    images = []
    for start in range(0, len(labels), 500):
        chunk = labels[start:start + 500]
        z = noise_lib.from_generator(rng, len(chunk), noise_dim, noise)
        images.append(generator([z, tf.one_hot(chunk, num_classes)], training=False).numpy())
    return np.concatenate(images), labels


def label_accuracy(classifier, images, labels):
    """Share of generated images the classifier assigns to the requested label."""
    import numpy as np
    predicted = np.argmax(classifier.predict(images, batch_size=500, verbose=0), axis=-1)
    return float(np.mean(predicted == labels))


def main(_):
    logging.set_verbosity(logging.WARNING)
    from gan_zoo.settings import config
    from gan_zoo import data
    from gan_zoo.run import loop
    from gan_zoo.eval import classifier
    run_dir = FLAGS.run_dir or f"runs/quality_{FLAGS.model}_{FLAGS.dataset}"
    shutil.rmtree(run_dir, ignore_errors=True)
    cfg = config.resolve(model=FLAGS.model, dataset=FLAGS.dataset, epochs=FLAGS.epochs,
                         run_dir=run_dir, progress=False)
    train_split = data.for_config(cfg)
    test_split = data.for_config(cfg, split="test")
    judge, _ = classifier.load(FLAGS.dataset)
    print(f"reference classifier: {classifier.accuracy(judge, test_split):.4f} on the real test split")
    elapsed = [0.0]

    def report(t, epoch):
        images, labels = generate_per_class(t.generator, t.spec.condition_dim, 100,
                                            cfg.noise_dim, cfg.noise, seed=123)
        acc = label_accuracy(judge, images, labels)
        print(f"epoch {epoch:3d}  label_accuracy {acc:.3f}  train minutes "
              f"{(time.perf_counter() - elapsed[0]) / 60:.1f}", flush=True)

    elapsed[0] = time.perf_counter()
    loop.train(cfg, train_split, on_epoch_end=report)
    if FLAGS.grid_out:
        os.makedirs(os.path.dirname(FLAGS.grid_out) or ".", exist_ok=True)
        shutil.copy(os.path.join(run_dir, "samples", f"epoch_{FLAGS.epochs:04d}.png"), FLAGS.grid_out)
        print(f"grid after {FLAGS.epochs} epochs: {FLAGS.grid_out}")


if __name__ == "__main__":
    app.run(main)
