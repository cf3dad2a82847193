"""Images/second of every registered model at its recipe batch size: one device vs a
MirroredStrategy over several, with and without XLA, float32 vs mixed precision.

    python bench/scaling.py [--models=maxout_cgan,dcgan] [--cpu_devices=2] [--steps=20]

Prints the machine's float32 matmul GFLOP/s (measured in the same run) and one line per
model x variant; nothing is asserted. On a machine with GPUs the replicas are the GPUs and
`--cpu_devices` is ignored; without, the CPU is split into `--cpu_devices` logical devices
(they share the same cores, so this measures the strategy's overhead, not a speed-up).
Synthetic batches at each model's recipe image size, so the input pipeline is not measured.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags, logging  # noqa: E402

from train_throughput import matmul_gflops  # noqa: E402
from gan_zoo.data.spec import DataSpec  # noqa: E402

flags.DEFINE_list("models", [], "Models to measure (default: every registered one).")
flags.DEFINE_integer("cpu_devices", 2, "Logical CPU devices to mirror over when there is no GPU.")
flags.DEFINE_integer("warmup", 5, "Untimed steps after tracing.")
flags.DEFINE_list("variants", ["1dev", "1dev_xla", "mirrored", "mirrored_xla", "1dev_bf16"],
                  "Which of 1dev, 1dev_xla, mirrored, mirrored_xla, 1dev_bf16, 1dev_fp16.")
FLAGS = flags.FLAGS

# Recipe data shapes: the label family on 28x28 MNIST-like images (conv_cgan pads to 32),
# dcgan on 64x64 RGB faces.
_SHAPES = {"dcgan": (64, 64, 3), "img2img": (64, 64, 3)}
_VARIANTS = {
    "1dev": dict(strategy="default"),
    "1dev_xla": dict(strategy="default", jit_compile=True),
    "mirrored": dict(strategy="mirrored"),
    "mirrored_xla": dict(strategy="mirrored", jit_compile=True),
    "1dev_bf16": dict(strategy="default", mixed_precision="bfloat16"),
    "1dev_fp16": dict(strategy="default", mixed_precision="float16"),
}


def synthetic_source(model, image_size):
    """A Source of random uint8 images at the recipe's size (and 10 classes for cGANs)."""
    from gan_zoo import data, models
    shape = _SHAPES.get(model, (image_size or 28, image_size or 28, 1))
    conditional = models.describe(model).takes_condition
    count = 1024
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (count, *shape), dtype=np.uint8)
    labels = rng.integers(0, 10, count).astype(np.int32)
    if models.describe(model).paired:  # image pairs: the "label" is the input image
        inputs = rng.integers(0, 256, (count, *shape), dtype=np.uint8)
        spec = DataSpec(image_shape=shape, condition_dim=0, condition_shape=shape)
        return data.Source("synthetic", tf.data.Dataset.from_tensor_slices((images, inputs)).cache(),
                           count, spec)
    ds = tf.data.Dataset.from_tensor_slices((images, labels)).cache()
    spec = DataSpec(image_shape=shape, condition_dim=10, class_names=tuple(map(str, range(10))))
    source = data.Source("synthetic", ds, count, spec, np.eye(10, dtype=np.float32))
    return source if conditional else source.without_conditions()


def rate(cfg, source, strategy, steps):
    from gan_zoo.core import distribute
    from gan_zoo.training import trainer
    t = trainer.Trainer(cfg, source, strategy=strategy)
    batches = source.epoch_batches(cfg.batch_size, 0, cfg.seed).repeat()
    iterator = iter(distribute.distribute_batches(strategy, batches))

    def run(n):
        done = 0
        while done < n:
            done += t.run_steps(iterator, min(cfg.steps_per_call, n - done))
        t.step.numpy()

    run(cfg.steps_per_call + FLAGS.warmup)  # trace (and compile) every graph, warm caches
    start = time.perf_counter()
    run(steps)
    return steps * cfg.batch_size / (time.perf_counter() - start)


def main(_):
    logging.set_verbosity(logging.WARNING)
    from gan_zoo.settings import config
    from gan_zoo.core import distribute
    from gan_zoo import models
    from gan_zoo.errors import UserError
    gpus = tf.config.list_physical_devices("GPU")
    base = {"cpu_devices": 0 if gpus else FLAGS.cpu_devices}
    mirrored = distribute.strategy_for(config.resolve(strategy="mirrored", **base))
    print(f"TensorFlow {tf.__version__}, {os.cpu_count()} CPU cores, GPUs: "
          f"{[tf.config.experimental.get_device_details(g).get('device_name', g.name) for g in gpus] or 'none'}; "
          f"mirrored over {mirrored.num_replicas_in_sync} "
          f"{'GPUs' if gpus else 'logical CPU devices'}")
    print(f"float32 matmul: {matmul_gflops():.0f} GFLOP/s")
    print(f"{'model':12s} {'batch':>5s} {'variant':14s} {'img/s':>8s} {'vs 1dev':>8s}")
    for name in FLAGS.models or models.names():
        recipe = config.resolve(model=name)
        steps = max(cfg_steps(name), recipe.steps_per_call)
        source = synthetic_source(name, recipe.image_size)
        one_device = None
        for variant in FLAGS.variants:
            settings = {**_VARIANTS[variant], **base}
            cfg = config.resolve(model=name, progress=False, **settings)
            strategy = distribute.strategy_for(cfg)
            try:
                images_per_s = rate(cfg, source, strategy, steps)
            except UserError as e:
                print(f"{name:12s} {cfg.batch_size:5d} {variant:14s} {'refused':>8s}  {e}", flush=True)
                continue
            one_device = one_device or images_per_s
            print(f"{name:12s} {cfg.batch_size:5d} {variant:14s} {images_per_s:8.0f} "
                  f"{images_per_s / one_device:8.2f}", flush=True)


def cfg_steps(name):
    """Timed steps: enough for a few seconds per variant on a 2-core CPU."""
    return {"dcgan": 10, "conv_cgan": 30}.get(name, 60)


if __name__ == "__main__":
    app.run(main)
