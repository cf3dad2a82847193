"""What the EMA of G buys in one run: score the raw generator and its average from the same
checkpoint, on the same requests.

    python bench/ema_gain.py --run_dir=runs/results/conv_cgan_fashion_mnist --which=best

The run must have kept an EMA (--ema_half_life > 0); both are scored with the run's own
Scorer (its data set's reference classifier, --num_samples samples).
"""
import os
import sys

from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

flags.DEFINE_string("run_dir", None, "A training run dir that kept an EMA of G.")
flags.DEFINE_enum("which", "best", ["best", "latest"], "The checkpoint to score.")
flags.DEFINE_integer("num_samples", 10000, "Samples per score.")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    import dataclasses

    import tensorflow as tf

    from gan_zoo.run import loop
    from gan_zoo import models
    from gan_zoo.run.run_dir import restore_generator
    from gan_zoo.run.run_files import RunFiles
    averaged, config, spec, step = restore_generator(FLAGS.run_dir, which=FLAGS.which)
    if not config.ema_half_life:
        raise SystemExit(f"{FLAGS.run_dir} kept no EMA of G (--ema_half_life=0).")
    raw, _ = models.build(spec, config)
    files = RunFiles(FLAGS.run_dir)
    directory = files.best_dir if FLAGS.which == "best" else files.checkpoint_dir
    tf.train.Checkpoint(generator=raw).restore(tf.train.latest_checkpoint(directory)).expect_partial()
    scorer = loop.scorer_for(dataclasses.replace(config, eval_samples=FLAGS.num_samples), spec)
    print(f"{FLAGS.run_dir} step {step}, {FLAGS.num_samples} samples")
    for name, generator in (("raw G", raw), ("EMA of G", averaged)):
        scores = scorer.score(lambda z, c, g=generator: models.generate(g, z, c, training=False))
        print(name, " ".join(f"{k}={scores[k]:.4g}" for k in scorer.metric_names))


if __name__ == "__main__":
    app.run(main)
