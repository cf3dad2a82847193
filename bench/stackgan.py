"""StackGAN's stage II against what it refines, on the same data and the same training time:
(a) stage I's images upsampled bicubically to the data's size, (b) a one-stage model of the
project trained at that size directly (conv_cgan) for the time both stages took.

    python bench/stackgan.py --stage1_epochs=4 --stage2_epochs=1 --one_stage_epochs=7

Each arm is scored on the same fixed requests against the test images: label accuracy of the
shipped classifier, FID in its features, recall, and SWD on the pixels (x 1e3). Training
seconds are the runs' own timing.csv sums (scoring in the loop excluded); the ISA is printed.
"""
import os
import shutil
import sys

import numpy as np
from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

flags.DEFINE_string("dataset", "fashion_mnist", "A labelled data set of 28x28 images.")
flags.DEFINE_integer("stage1_epochs", 4, "Epochs of stage I.")
flags.DEFINE_integer("stage2_epochs", 1, "Epochs of stage II (stage I frozen).")
flags.DEFINE_integer("one_stage_epochs", 7, "Epochs of the one-stage model (about the time of both stages).")
flags.DEFINE_string("one_stage_model", "conv_cgan", "The one-stage model.")
flags.DEFINE_integer("eval_samples", 2000, "Samples per score.")
flags.DEFINE_integer("max_images", 0, "Train on the first N images only (0: all; a quick check).")
flags.DEFINE_string("out_dir", "runs/stackgan_bench", "Where the runs go.")
flags.DEFINE_list("train", ["stage1", "stage2", "one_stage"], "Which runs to train again (the "
                  "others are scored as they are in --out_dir).")
flags.DEFINE_string("mixed_precision", "off", "Every arm's --mixed_precision (off: float32 for all, "
                    "so the time budget buys the same arithmetic).")
FLAGS = flags.FLAGS
ARMS = ("stage II", "stage I, bicubic upsampling", "stage I as trained (nearest)", "one stage")


def _train(arm, **settings):
    from gan_zoo.settings import config
    from gan_zoo import data
    from gan_zoo.run import loop
    cfg = config.resolve(dataset=FLAGS.dataset, progress=False, eval_every=settings["epochs"],
                         mixed_precision=FLAGS.mixed_precision,
                         eval_samples=FLAGS.eval_samples, save_every=settings["epochs"],
                         max_images=FLAGS.max_images, **settings)
    if arm in FLAGS.train:
        shutil.rmtree(cfg.run_dir, ignore_errors=True)
        loop.train(cfg, data.for_config(cfg))
    from gan_zoo.run.run_files import RunFiles, read_csv
    return float(np.sum(read_csv(RunFiles(cfg.run_dir).timing_csv)["seconds"]))


def main(argv):
    del argv
    import tensorflow as tf
    from gan_zoo import models
    from gan_zoo.eval import metrics, scoring
    from gan_zoo.run.loop import scorer_for
    from gan_zoo.run.run_dir import restore_generator
    from gan_zoo.settings import speed_defaults
    dirs = {k: os.path.join(FLAGS.out_dir, k) for k in ("stage1", "stage2", "one_stage")}
    seconds = {"stage1": _train("stage1", recipe="stackgan", run_dir=dirs["stage1"], epochs=FLAGS.stage1_epochs)}
    seconds["stage2"] = _train("stage2", recipe="stackgan", stage=2, stage1_run=dirs["stage1"],
                               run_dir=dirs["stage2"], epochs=FLAGS.stage2_epochs)
    seconds["one_stage"] = _train("one_stage", model=FLAGS.one_stage_model, run_dir=dirs["one_stage"],
                                  epochs=FLAGS.one_stage_epochs)
    stage2, cfg, spec, _ = restore_generator(dirs["stage2"])
    one_stage = restore_generator(dirs["one_stage"])[0]
    two = models.with_stage1_image(stage2)
    size = spec.image_shape[:2]

    def coarse(noise, condition, method):
        image = two(models.generator_inputs(two, noise, condition), training=False)[1]
        return tf.clip_by_value(tf.image.resize(tf.cast(image, tf.float32), size, method), -1, 1)

    draw = {ARMS[0]: lambda z, c: models.generate(stage2, z, c),
            ARMS[1]: lambda z, c: coarse(z, c, "bicubic"),
            ARMS[2]: lambda z, c: coarse(z, c, "nearest"),
            ARMS[3]: lambda z, c: models.generate(one_stage, z, c)}
    scorer = scorer_for(cfg, spec)  # the stage-2 run's: --eval_samples fixed requests
    real = scoring.scale_images(scorer.real).numpy()
    trained = {ARMS[0]: seconds["stage1"] + seconds["stage2"], ARMS[1]: seconds["stage1"],
               ARMS[2]: seconds["stage1"], ARMS[3]: seconds["one_stage"]}
    print(f"\n{FLAGS.dataset}, {scorer.num_samples} samples, stage I {FLAGS.stage1_epochs} + "
          f"stage II {FLAGS.stage2_epochs} epochs, {FLAGS.one_stage_model} {FLAGS.one_stage_epochs} "
          f"epochs; CPU: {speed_defaults.isa()}, {os.cpu_count()} cores\n")
    print("| images | label acc. | FID | recall | SWD | trained s |\n|---|---|---|---|---|---|")
    for arm in ARMS:
        fake = scorer.samples(draw[arm])
        s = scorer.score_samples(fake)
        swd = metrics.sliced_wasserstein(real, fake)[1]
        print(f"| {arm} | {s['label_accuracy']:.3f} | {s['FID']:.1f} | {s['recall']:.3f} | "
              f"{swd:.1f} | {trained[arm]:.0f} |", flush=True)


if __name__ == "__main__":
    app.run(main)
