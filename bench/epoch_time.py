"""Seconds per epoch of each registered model's recipe on this machine.

    TFDS_DATA_DIR=DIR GAN_ZOO_BENCH_DATA=DIR python bench/epoch_time.py --dataset=fashion_mnist
    python bench/epoch_time.py --models=dcgan --losses=bce,wgan,wgan_gp --ngf=32

Unconditional models run on `--faces` (the LFW crops of reference E: middle half, 2,000
images, 64x64) with each of `--losses`; the others on `--dataset`.

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

import bench_data  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags, logging  # noqa: E402

flags.DEFINE_string("dataset", "fashion_mnist", "tfds data set.")
flags.DEFINE_integer("steps", 100, "Timed steps per model.")
flags.DEFINE_list("models", [], "Models to time (default: all registered).")
flags.DEFINE_string("faces", "folder:" + bench_data.path("faces", "lfw_gray"),
                    "Data for unconditional models (default: from $GAN_ZOO_BENCH_DATA).")
flags.DEFINE_string("facades", bench_data.path("facades"),
                    "Data for image-to-image models, pix2pix A|B pairs (default: from $GAN_ZOO_BENCH_DATA).")
flags.DEFINE_list("losses", ["bce", "wgan_gp"], "Loss recipes to time unconditional models with.")
flags.DEFINE_integer("ngf", 0, "Unconditional models: --ngf and --ndf (0: the recipe's).")
FLAGS = flags.FLAGS


def _run(t, iterator, steps):
    done = 0
    while done < steps:
        done += t.run_steps(iterator, min(t.config.steps_per_call, steps - done))


def main(_):
    logging.set_verbosity(logging.WARNING)
    from gan_zoo.settings import config
    from gan_zoo import data, models
    from gan_zoo.training import trainer
    print(f"{'model':20s} {'batch':>5s} {'steps/epoch':>11s} {'img/s':>7s} {'s/epoch':>8s}")
    runs = []
    for name in FLAGS.models or models.names():
        if models.describe(name).paired:
            runs.append((name, dict(model=name, data_dir=bench_data.required(FLAGS.facades, "facades"))))
            continue
        if models.describe(name).takes_condition:
            runs.append((name, dict(model=name, dataset=FLAGS.dataset)))
            continue
        widths = dict(ngf=FLAGS.ngf, ndf=FLAGS.ngf) if FLAGS.ngf else {}
        for loss in FLAGS.losses:
            runs.append((f"{name}/{loss}", dict(model=name, loss=loss, dataset=bench_data.required(FLAGS.faces, "faces"),
                                                center_crop=0.5, max_images=2000, **widths)))
    for name, settings in runs:
        cfg = config.resolve(**settings)
        source = data.for_config(cfg)
        t = trainer.Trainer(cfg, source)
        iterator = iter(source.epoch_batches(cfg.batch_size, 0, cfg.seed).repeat())
        _run(t, iterator, 10)
        t.step.numpy()
        start = time.perf_counter()
        _run(t, iterator, FLAGS.steps)
        t.step.numpy()
        per_step = (time.perf_counter() - start) / FLAGS.steps
        print(f"{name:20s} {cfg.batch_size:5d} {t.steps_per_epoch:11d} "
              f"{cfg.batch_size / per_step:7.0f} {per_step * t.steps_per_epoch:8.1f}", flush=True)


if __name__ == "__main__":
    app.run(main)
