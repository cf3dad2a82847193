"""Seconds per epoch of each registered model's recipe on this machine.

    TFDS_DATA_DIR=../shared/tfds python bench/epoch_time.py --dataset=fashion_mnist

Times `--steps` train steps of the real trainer on real batches (after 10 warm-up steps
that trace and fill the cache) and scales to one epoch of the data set at the recipe's
batch size. Logging and sample grids are not included (bench/train_throughput.py
measures those: under 5% of an epoch).
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402
from absl import app, flags, logging  # noqa: E402

flags.DEFINE_string("dataset", "fashion_mnist", "tfds data set.")
flags.DEFINE_integer("steps", 100, "Timed steps per model.")
flags.DEFINE_list("models", [], "Models to time (default: all registered).")
FLAGS = flags.FLAGS


def main(_):
    logging.set_verbosity(logging.WARNING)
    from gan_zoo import config, data, models, trainer
    print(f"{'model':12s} {'batch':>5s} {'steps/epoch':>11s} {'img/s':>7s} {'s/epoch':>8s}")
    for name in FLAGS.models or models.names():
        cfg = config.resolve(model=name, dataset=FLAGS.dataset)
        source = data.for_config(cfg)
        t = trainer.Trainer(cfg, source)
        iterator = iter(source.epoch_batches(cfg.batch_size, 0, cfg.seed).repeat())
        t._train_many(iterator, tf.constant(10))
        t.step.numpy()
        start = time.perf_counter()
        t._train_many(iterator, tf.constant(FLAGS.steps))
        t.step.numpy()
        per_step = (time.perf_counter() - start) / FLAGS.steps
        print(f"{name:12s} {cfg.batch_size:5d} {t.steps_per_epoch:11d} "
              f"{cfg.batch_size / per_step:7.0f} {per_step * t.steps_per_epoch:8.1f}", flush=True)


if __name__ == "__main__":
    app.run(main)
