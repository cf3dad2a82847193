"""Images/second of the gan_zoo trainer vs a plain train step, as a fraction of the machine's peak.

    python bench/train_throughput.py --model=maxout_cgan [--dataset=fashion_mnist]

Prints, all measured in this run:
  * float32 matmul GFLOP/s of this machine (2048^3 matmuls in a tf.function);
  * the model's FLOPs per train step (TF's graph profiler on the step);
  * steady-state images/s on synthetic batches: a plain step (Keras functional models, one
    @tf.function with two tapes, BCE, Adam, a Python loop over the data), and the trainer's
    step with its options (steps per tf.function call, XLA), with the ratio to the plain one;
  * a whole epoch on the real data set through `gan_zoo.trainer.train` (input pipeline,
    loss.csv, sample grid, TensorBoard and progress bar included) vs the synthetic rate.
"""
import dataclasses
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags, logging  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from measure import matmul_gflops, step_flops  # noqa: E402

flags.DEFINE_string("model", "maxout_cgan", "Registered model.")
flags.DEFINE_string("dataset", "fashion_mnist", "Real data set for the whole-epoch figure.")
flags.DEFINE_integer("steps", 150, "Timed steps per synthetic measurement (after warm-up).")
flags.DEFINE_integer("repeats", 3, "Measurements per variant; the best is reported.")
FLAGS = flags.FLAGS


def synthetic_batches(spec, batch_size):
    rng = np.random.default_rng(0)
    images = rng.uniform(-1, 1, (8 * batch_size, *spec.image_shape)).astype(np.float32)
    labels = rng.integers(0, spec.condition_dim, 8 * batch_size)
    conditions = np.eye(spec.condition_dim, dtype=np.float32)[labels]
    return (tf.data.Dataset.from_tensor_slices((images, conditions)).batch(batch_size, drop_remainder=True)
            .cache().repeat().prefetch(tf.data.AUTOTUNE))


def plain_rate(cfg, spec, batches, steps):
    """The straightforward step: what a user would write from the keras.io examples."""
    from gan_zoo import models
    keras.utils.set_random_seed(cfg.seed)
    # Keras' own layers, as a user's step has them (not the trainer's fused BatchNorm)
    generator, discriminator = models.build(spec, dataclasses.replace(cfg, fused_batch_norm=False))
    g_opt = keras.optimizers.Adam(cfg.g_lr, beta_1=cfg.beta1, beta_2=cfg.beta2)
    d_opt = keras.optimizers.Adam(cfg.d_lr, beta_1=cfg.beta1, beta_2=cfg.beta2)
    bce = keras.losses.BinaryCrossentropy(from_logits=True)

    @tf.function
    def train_step(images, conditions):
        noise = tf.random.normal((tf.shape(images)[0], cfg.noise_dim))
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            fake = generator([noise, conditions], training=True)
            real_logits = discriminator([images, conditions], training=True)
            fake_logits = discriminator([fake, conditions], training=True)
            w = cfg.mismatch_weight  # GAN-CLS: real + (1 - w) fake + w (image, wrong label)
            d_loss = (bce(tf.fill(tf.shape(real_logits), cfg.real_label), real_logits)
                      + (1.0 - w) * bce(tf.zeros_like(fake_logits), fake_logits))
            if w:
                wrong = discriminator([images, tf.roll(conditions, 1, axis=0)], training=True)
                d_loss += w * bce(tf.zeros_like(wrong), wrong)
            g_loss = bce(tf.ones_like(fake_logits), fake_logits)
        d_opt.apply_gradients(zip(d_tape.gradient(d_loss, discriminator.trainable_variables),
                                  discriminator.trainable_variables))
        g_opt.apply_gradients(zip(g_tape.gradient(g_loss, generator.trainable_variables),
                                  generator.trainable_variables))
        return d_loss, g_loss

    iterator = iter(batches)

    def run(n):
        for _ in range(n):
            out = train_step(*next(iterator))
        out[0].numpy()

    return _best_rate(run, steps, cfg.batch_size), train_step


def trainer_rate(cfg, source_like, batches, steps):
    from gan_zoo import trainer
    t = trainer.Trainer(cfg, source_like)
    iterator = iter(batches)

    def run(n):
        done = 0
        while done < n:
            done += t.run_steps(iterator, min(cfg.steps_per_call, n - done))
        t.step.numpy()

    return _best_rate(run, steps, cfg.batch_size)


def _best_rate(run, steps, batch_size):
    run(20)  # trace, compile, warm caches
    best = 0.0
    for _ in range(FLAGS.repeats):
        start = time.perf_counter()
        run(steps)
        best = max(best, steps * batch_size / (time.perf_counter() - start))
    return best


def real_epoch_rate(cfg):
    """images/s of epoch 2 of 3 on real data, wall clock from the end of epoch 1 to the end of
    epoch 2: input pipeline, loss.csv, sample grid, TensorBoard and progress bar included
    (epoch 1 also fills the data cache and traces the step; epoch 2 saves no checkpoint)."""
    from gan_zoo import data, loop
    source = data.for_config(cfg)
    ends = []
    with tempfile.TemporaryDirectory() as run_dir:
        run_cfg = type(cfg)(**{**cfg.to_json(), "run_dir": run_dir, "epochs": 3, "progress": True})
        t = loop.train(run_cfg, source, on_epoch_end=lambda *_: ends.append(time.perf_counter()))
        return t.steps_per_epoch * cfg.batch_size / (ends[1] - ends[0])


def main(_):
    logging.set_verbosity(logging.WARNING)
    from gan_zoo import config, data
    cfg = config.resolve(model=FLAGS.model, dataset=FLAGS.dataset)
    source = data.for_config(cfg)
    batches = synthetic_batches(source.spec, cfg.batch_size)
    print(f"TensorFlow {tf.__version__}, {os.cpu_count()} CPUs, model {cfg.model}, "
          f"batch {cfg.batch_size}, data {cfg.dataset} {source.spec.image_shape}")
    peak = matmul_gflops()
    print(f"float32 matmul peak: {peak:.1f} GFLOP/s")

    plain, plain_step = plain_rate(cfg, source.spec, batches, FLAGS.steps)
    spec_in = (tf.TensorSpec((cfg.batch_size, *source.spec.image_shape)),
               tf.TensorSpec((cfg.batch_size, source.spec.condition_dim)))
    flops = step_flops(plain_step.get_concrete_function(*spec_in))
    steps_per_s = plain / cfg.batch_size

    def line(name, rate):
        frac = f"{rate / cfg.batch_size * flops / 1e9 / peak:6.1%} of peak" if flops else ""
        print(f"{name:42s} {rate:9.0f} img/s  ratio {rate / plain:5.2f}  {frac}")

    if flops:
        print(f"model FLOPs per train step: {flops / 1e9:.2f} GFLOP "
              f"({steps_per_s * flops / 1e9:.1f} GFLOP/s in the plain step)")
    line("plain step (python loop, 1 step/call)", plain)
    results = {}
    for spc in (1, 10):
        for jit in (False, True):
            variant = type(cfg)(**{**cfg.to_json(), "steps_per_call": spc, "jit_compile": jit})
            results[(spc, jit)] = trainer_rate(variant, source, batches, FLAGS.steps)
            line(f"gan_zoo trainer steps_per_call={spc} jit={jit}", results[(spc, jit)])
    synthetic = results[(cfg.steps_per_call, cfg.jit_compile)]
    epoch = real_epoch_rate(cfg)
    print(f"{'whole real-data epoch (defaults, all logging)':42s} {epoch:9.0f} img/s  "
          f"{epoch / synthetic:5.1%} of the trainer's synthetic rate with the same options")


if __name__ == "__main__":
    app.run(main)
