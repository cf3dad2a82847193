"""Images/second of the gan_zoo trainer vs a plain train step, as a fraction of the machine's peak.

    python bench/train_throughput.py --model=maxout_cgan [--dataset=fashion_mnist]

Prints, all measured in this run:
  * float32 matmul GFLOP/s of this machine (2048^3 matmuls in a tf.function);
  * the model's FLOPs per train step (TF's graph profiler on the step);
  * steady-state images/s on synthetic batches: a plain step (Keras functional models, one
    @tf.function with two tapes, BCE, Adam, a Python loop over the data), and the trainer's
    step with its options (steps per tf.function call, XLA), with the ratio to the plain one;
  * three whole epochs on the real data set through `gan_zoo.run.loop.train` (input pipeline,
    loss.csv, sample grid, TensorBoard and progress bar included, scoring off; XLA as
    --jit_compile=auto takes it here) vs the synthetic rate, and as a share of the matmul roof
    at the trainer's own FLOPs per image.
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
from measure import matmul_gflops, step_flops, trainer_flops_per_batch  # noqa: E402

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
    from gan_zoo.training import trainer
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


def real_epoch_rates(cfg, epochs=5):
    """images/s of epochs 2 to `epochs` - 1 on real data, wall clock from the end of one epoch
    to the end of the next: input pipeline, loss.csv, sample grid, TensorBoard and progress bar
    included (epoch 1 also fills the data cache and traces the step; the last one saves a
    checkpoint, which no other does at the recipes' save_every)."""
    from gan_zoo import data
    from gan_zoo.run import loop
    source = data.for_config(cfg)
    ends = []
    with tempfile.TemporaryDirectory() as run_dir:
        run_cfg = type(cfg)(**{**cfg.to_json(), "run_dir": run_dir, "epochs": epochs, "progress": True,
                               "eval_every": 0})
        t = loop.train(run_cfg, source, on_epoch_end=lambda *_: ends.append(time.perf_counter()))
        return [t.steps_per_epoch * cfg.batch_size / (b - a) for a, b in zip(ends[:-1], ends[1:-1])]


def trainer_flops_per_image(cfg, source_like):
    """FLOPs the trainer runs per image of an epoch (measure.trainer_flops_per_batch)."""
    from gan_zoo.training import trainer
    specs = (tf.TensorSpec((cfg.batch_size, *source_like.spec.image_shape)),
             tf.TensorSpec((cfg.batch_size, source_like.spec.condition_dim)))
    per_batch = trainer_flops_per_batch(trainer.Trainer(cfg, source_like), specs)
    return per_batch / cfg.batch_size if per_batch else None


def main(_):
    logging.set_verbosity(logging.WARNING)
    from gan_zoo.settings import config
    from gan_zoo import data
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

    # float32 throughout, XLA as each line says (not --jit_compile / --mixed_precision=auto)
    cfg = type(cfg)(**{**cfg.to_json(), "jit_compile": "off", "mixed_precision": "off"})
    per_image = trainer_flops_per_image(cfg, source)

    def line(name, rate, flops_per_image):
        frac = f"{rate * flops_per_image / 1e9 / peak:6.1%} of peak" if flops_per_image else ""
        print(f"{name:42s} {rate:9.0f} img/s  ratio {rate / plain:5.2f}  {frac}")

    if flops:
        print(f"plain step FLOPs per train step: {flops / 1e9:.2f} GFLOP "
              f"({steps_per_s * flops / 1e9:.1f} GFLOP/s in the plain step)")
    if per_image:
        print(f"the trainer's own FLOPs per image (its D and G steps as the recipe runs them): "
              f"{per_image / 1e6:.1f} MFLOP (the plain step's: "
              f"{flops / cfg.batch_size / 1e6 if flops else float('nan'):.1f})")
    line("plain step (python loop, 1 step/call)", plain, flops / cfg.batch_size if flops else None)
    results = {}
    for spc in (1, 10):
        for jit in ("off", "on"):
            variant = type(cfg)(**{**cfg.to_json(), "steps_per_call": spc, "jit_compile": jit})
            results[(spc, jit)] = trainer_rate(variant, source, batches, FLAGS.steps)
            line(f"gan_zoo trainer steps_per_call={spc} XLA {jit}", results[(spc, jit)], per_image)
    # the real epochs run XLA as --jit_compile=auto would on this machine (in float32)
    from gan_zoo.settings import speed_defaults
    jit = "on" if speed_defaults.choose(cfg.model, "auto", "off").jit_compile else "off"
    synthetic = results[(cfg.steps_per_call, jit)]
    for i, epoch in enumerate(real_epoch_rates(type(cfg)(**{**cfg.to_json(), "jit_compile": jit}))):
        roof = f", {epoch * per_image / 1e9 / peak:5.1%} of the matmul roof" if per_image else ""
        print(f"{f'whole real-data epoch {i + 2} (float32, XLA {jit}, all logging)':42s} "
              f"{epoch:9.0f} img/s  {epoch / synthetic:5.1%} of the trainer's synthetic rate{roof}")

if __name__ == "__main__":
    app.run(main)
