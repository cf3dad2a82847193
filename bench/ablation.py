"""Which quality option bought what: train one model's variants back to back, each for the same
epochs, and print a table of their last in-loop scores and wall time.

    python bench/ablation.py --model=maxout_cgan --dataset=fashion_mnist --epochs=20
    python bench/ablation.py --model=maxout_cgan --variants=published,recipe --epochs=20

Each variant is a few settings over the model's recipe (VARIANTS below: data, not code). The
scores are the trainer's own metrics.csv (--eval_samples of them, 2,000 by default), so they
are noisier than the results table's 10,000-sample ones; compare variants of one run of this
script, on one machine (the ISA is printed beside the table).
"""
import json
import os
import shutil
import sys
import time

from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# the loss terms against collapse within a class (tests/test_loss_terms.py), over a label recipe
LOSS_TERMS = {
    "recipe + top-k G updates (keep >= half the batch, x0.9 an epoch)": dict(topk=0.5, topk_decay=0.9),
    "recipe + consistency regularisation of D (bCR 1, translation)": dict(consistency=1.0),
    "recipe + LeCam 0.1": dict(lecam=0.1),
    "recipe + diversity-sensitive term 1 (DSGAN)": dict(diversity_sensitive=1.0),
    "recipe + mode seeking 0.1": dict(mode_seeking=0.1),
    "recipe, matching-aware term faded out over epochs 5-10": dict(mismatch_epochs=10, mismatch_fade=6),
    "recipe + rotation self-supervision of D (beta 1, G's alpha 0.2)": dict(rotation=1.0),
}
# name -> settings over the model's recipe
VARIANTS = {
    "maxout_cgan": {
        "recipe: projection D, GAN-CLS 0.5, EMA (spectral norm, batch 128 since 2026-12-03; "
        "2 D steps per G step, the label modulating G since 2026-12-04; no dropout in D, EMA "
        "half-life 50,000 since 2026-12-05; D twice as wide, D lr 2e-3 since the evening)": {},
        "concat D (the paper's), GAN-CLS 0.5, EMA": dict(d_conditioning="concat"),
        "projection D, no matching-aware term, EMA": dict(mismatch_weight=0.0),
        "recipe, matching-aware term off after 8 epochs": dict(mismatch_epochs=8),
        "projection D, hinge, lr 2e-4, no matching-aware term, EMA": dict(
            mismatch_weight=0.0, loss="hinge", real_label=1.0, g_lr=2e-4, d_lr=2e-4),
        "concat D, GAN-CLS 0.5, EMA, 40 epochs, linear decay over the second half": dict(
            d_conditioning="concat", epochs=40, lr_linear_decay=0.5, eval_every=5),
        "batch 256 + spectral norm in D": dict(spectral_norm=True, batch_size=256),
        "batch 256 + spectral norm, hinge": dict(spectral_norm=True, batch_size=256, loss="hinge",
                                                 real_label=1.0),
        "recipe, batch 64": dict(batch_size=64),
        "recipe, lr 2e-4": dict(g_lr=2e-4, d_lr=2e-4),
        "recipe + mode seeking 1": dict(mode_seeking=1.0),
        "recipe + mode seeking 1, concat D": dict(mode_seeking=1.0, d_conditioning="concat"),
        "recipe + mode seeking 5": dict(mode_seeking=5.0),
        "batch 256 + spectral norm, R1 1": dict(spectral_norm=True, batch_size=256, r1_gamma=1.0),
        "spectral norm, batch 128 (the recipe since 2026-12-03)": dict(spectral_norm=True, batch_size=128),
        "batch 256 + spectral norm, minibatch stddev": dict(spectral_norm=True, batch_size=256,
                                                            minibatch_stddev=True),
        "spectral norm, batch 128, minibatch stddev": dict(
            spectral_norm=True, batch_size=128, minibatch_stddev=True),
        "spectral norm, batch 64": dict(spectral_norm=True, batch_size=64),
        "the recipe before 2026-12-03: batch 256, no spectral norm": dict(batch_size=256,
                                                                          spectral_norm=False),
        "recipe, hinge, no matching-aware term": dict(loss="hinge", mismatch_weight=0.0),
        "recipe, hinge, TTUR (G 1e-4, D 4e-4, Adam 0 / 0.9), no matching-aware term": dict(
            loss="hinge", mismatch_weight=0.0, g_lr=1e-4, d_lr=4e-4, beta1=0.0, beta2=0.9),
        "WGAN-GP critic (no spectral norm), no matching-aware term": dict(
            loss="wgan_gp", spectral_norm=False, mismatch_weight=0.0),
        "recipe, G twice as wide (--ngf=128)": dict(ngf=128),
        "recipe, G four times as wide (--ngf=256)": dict(ngf=256),
        "recipe, --ngf=128, no matching-aware term": dict(ngf=128, mismatch_weight=0.0),
        "the recipe before 2026-12-04: 1 D step per G step, the label beside the noise": dict(
            n_critic=1, g_conditioning="concat"),
        "recipe + the label modulating G (--g_conditioning=modulation)": dict(
            g_conditioning="modulation"),
        "recipe + the label modulating G, no matching-aware term": dict(
            g_conditioning="modulation", mismatch_weight=0.0),
        "recipe, 2 D steps per G step": dict(n_critic=2),
        "recipe, D lr 2e-3": dict(d_lr=2e-3),
        "recipe, G lr 5e-4": dict(g_lr=5e-4),
        "recipe, matching-aware weight 0.25": dict(mismatch_weight=0.25),
        "recipe, EMA half-life 5,000 images": dict(ema_half_life=5000),
        "recipe, uniform noise": dict(noise="uniform"),
        "recipe, no label smoothing": dict(real_label=1.0),
        "recipe, EMA half-life 50,000 images": dict(ema_half_life=50000),
        "recipe, 2 D steps per G step, EMA half-life 50,000 images": dict(
            n_critic=2, ema_half_life=50000),
        "recipe, 2 D steps per G step, the label modulating G": dict(
            n_critic=2, g_conditioning="modulation"),
        # measured over the recipe before 2026-12-05 (D's dropout 0.5, EMA half-life 20,000):
        # --settings='{"d_dropout": 0.5, "ema_half_life": 20000}' gives it back
        "recipe, dropout 0.25 in D": dict(d_dropout=0.25),
        "recipe, no dropout in D": dict(d_dropout=0.0),
        "recipe, no dropout in D, no matching-aware term": dict(d_dropout=0.0, mismatch_weight=0.0),
        "recipe, no dropout in D, 1 D step per G step": dict(d_dropout=0.0, n_critic=1),
        "recipe, no dropout in D, batch 64": dict(d_dropout=0.0, batch_size=64),
        "recipe, no dropout in D, matching-aware weight 0.25": dict(d_dropout=0.0,
                                                                    mismatch_weight=0.25),
        "recipe, no dropout in D, EMA half-life 50,000 images": dict(d_dropout=0.0,
                                                                     ema_half_life=50000),
        "recipe, no dropout in D, lr 5e-4 (both)": dict(d_dropout=0.0, g_lr=5e-4, d_lr=5e-4),
        "recipe, no dropout in D, EMA 50,000, 50 epochs, linear decay over the last 30%": dict(
            d_dropout=0.0, ema_half_life=50000, epochs=50, lr_linear_decay=0.3),
        "recipe, no dropout in D, EMA 50,000, G twice as wide (--ngf=128)": dict(
            d_dropout=0.0, ema_half_life=50000, ngf=128),
        "recipe, no dropout in D, EMA 50,000, no spectral norm": dict(
            d_dropout=0.0, ema_half_life=50000, spectral_norm=False),
        "recipe, no dropout in D, EMA 50,000, R1 0.1": dict(
            d_dropout=0.0, ema_half_life=50000, r1_gamma=0.1),
        "recipe, no dropout in D, EMA 50,000, --ngf=128, R1 0.1": dict(
            d_dropout=0.0, ema_half_life=50000, ngf=128, r1_gamma=0.1),
        # measured over the recipe of 2026-12-05 (no dropout in D, EMA half-life 50,000)
        "recipe, D twice as wide (--ndf=128)": dict(ndf=128),
        "recipe, --ndf=128, 1 D step per G step": dict(ndf=128, n_critic=1),
        "recipe, 3 D steps per G step": dict(n_critic=3),
        "recipe, D lr 3e-3": dict(d_lr=3e-3),
        "recipe, D lr 2e-3, --ndf=96": dict(d_lr=2e-3, ndf=96),
        "recipe, D lr 2e-3, --ndf=128": dict(d_lr=2e-3, ndf=128),
        "recipe, lr 2e-3 (both)": dict(d_lr=2e-3, g_lr=2e-3),
        "recipe, D lr 2e-3, --ndf=128, 30 epochs": dict(d_lr=2e-3, ndf=128, epochs=30),
        **LOSS_TERMS,
    },
    "conv_cgan": {
        "recipe: label channels and projection D (since 2026-12-03), EMA": {},
        "recipe + projection D, spectral norm, no BatchNorm in D": dict(
            d_conditioning="projection", spectral_norm=True, d_norm="none"),
        "recipe + projection D, spectral norm, no BatchNorm in D, GAN-CLS 0.5": dict(
            d_conditioning="projection", spectral_norm=True, d_norm="none", mismatch_weight=0.5),
        "the recipe before 2026-12-03: label channels into D only": dict(d_conditioning="concat"),
        "recipe + GAN-CLS 0.5 (D's BatchNorm kept)": dict(mismatch_weight=0.5),
    },
    "mlp_cgan": {
        "recipe (since 2026-12-04: maxout_cgan's training, 2 D steps per G step, conditional "
        "BatchNorm in G; since 2026-12-05 no spectral norm in D, R1 0.1 every 4 D steps)": {},
        "the recipe before 2026-12-04: published settings, projection D, GAN-CLS 0.5, EMA": dict(
            g_lr=2e-4, d_lr=2e-4, noise="uniform", real_label=1.0, spectral_norm=False,
            d_norm="batch", n_critic=1, g_conditioning="concat", ema_half_life=10000,
            lr_decay_epochs="30,40"),
        "recipe + mode seeking 1": dict(mode_seeking=1.0),
        "recipe + mode seeking 5": dict(mode_seeking=5.0),
        "recipe + spectral norm, no BatchNorm in D": dict(spectral_norm=True, d_norm="none"),
        "recipe + spectral norm, no BatchNorm in D, minibatch stddev": dict(
            spectral_norm=True, d_norm="none", minibatch_stddev=True),
        "recipe + spectral norm, no BatchNorm in D, conditional BatchNorm in G": dict(
            spectral_norm=True, d_norm="none", g_conditioning="modulation"),
        "recipe + conditional BatchNorm in G": dict(g_conditioning="modulation"),
        "maxout_cgan's training (Adam 1e-3, normal noise, real target 0.9, spectral norm in a "
        "D without BatchNorm, EMA 20,000)": dict(
            g_lr=1e-3, d_lr=1e-3, noise="normal", real_label=0.9, spectral_norm=True,
            d_norm="none", ema_half_life=20000, lr_decay_epochs=""),
        "the same, 2 D steps per G step, conditional BatchNorm in G": dict(
            g_lr=1e-3, d_lr=1e-3, noise="normal", real_label=0.9, spectral_norm=True,
            d_norm="none", ema_half_life=20000, lr_decay_epochs="", n_critic=2,
            g_conditioning="modulation"),
        # measured over the recipe before 2026-12-05 (spectral norm in D):
        # --settings='{"spectral_norm": true}' gives it back
        "recipe, EMA half-life 50,000 images": dict(ema_half_life=50000),
        "recipe, no spectral norm in D": dict(spectral_norm=False),
        "recipe, 1 D step per G step": dict(n_critic=1),
        # measured over the recipe of 2026-12-05 (no spectral norm in D)
        "recipe, D lr 2e-3": dict(d_lr=2e-3),
        "recipe, D lr 5e-4": dict(d_lr=5e-4),
        "recipe, R1 0.1": dict(r1_gamma=0.1),
        "recipe, R1 0.1 every 4 D steps": dict(r1_gamma=0.1, r1_every=4),
        "recipe, R1 0.1, D lr 2e-3": dict(r1_gamma=0.1, d_lr=2e-3),
        # measured over the recipe of the evening (R1 0.1 every 4 D steps)
        "recipe, D twice as wide (--ndf=128)": dict(ndf=128),
        **LOSS_TERMS,
    },
    # LFW faces as the results table trains them: pass --dataset=folder:DIR and
    # --settings='{"center_crop": 0.5, "ngf": 32, "ndf": 32}'
    "dcgan": {
        "recipe (BCE, real target 0.9, Adam 2e-4, batch 64)": {},
        "+ EMA of G (half-life 10,000 images)": dict(ema_half_life=10000),
        "+ EMA, DiffAugment translation, cutout": dict(
            ema_half_life=10000, diffaugment="translation,cutout"),
        "+ EMA, DiffAugment color, translation, cutout": dict(
            ema_half_life=10000, diffaugment="color,translation,cutout"),
        "+ EMA, DiffAugment translation, cutout, lr 5e-4": dict(
            ema_half_life=10000, diffaugment="translation,cutout", g_lr=5e-4, d_lr=5e-4),
        "+ EMA, DiffAugment translation, cutout, batch 32": dict(
            ema_half_life=10000, diffaugment="translation,cutout", batch_size=32),
    },
}
# the scores a table shows, of those the run measured (metrics.csv; diversity from loss.csv's
# 100 samples where the scorer does not measure it)
SCORES = ("label_accuracy", "FID", "recall", "worst_class_coverage", "SWD", "diversity")

flags.DEFINE_string("model", "maxout_cgan", "Model whose variants to train.")
flags.DEFINE_string("dataset", "fashion_mnist", "Data set.")
flags.DEFINE_integer("epochs", 20, "Epochs per variant.")
flags.DEFINE_integer("eval_every", 4, "Score every N epochs.")
flags.DEFINE_integer("eval_samples", 2000, "Samples per score.")
flags.DEFINE_string("variants", "", "Comma-separated indices or name prefixes (default: all).")
flags.DEFINE_string("settings", "{}", "JSON settings under every variant's own (e.g. an earlier "
                    "recipe's, or a seed).")
flags.DEFINE_string("out_dir", "runs/ablation", "Where the variants' run dirs go.")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    from gan_zoo.settings import config
    from gan_zoo import data
    from gan_zoo.run import loop
    from gan_zoo.run.run_files import RunFiles, read_csv
    from gan_zoo.settings import speed_defaults
    variants = list(enumerate(VARIANTS[FLAGS.model].items()))
    if FLAGS.variants:
        wanted = FLAGS.variants.split(",")
        variants = [(i, (n, v)) for i, (n, v) in variants
                    if str(i) in wanted or any(n.startswith(w) for w in wanted)]
    rows = []
    for i, (name, settings) in variants:  # run dir MODEL_i: variant i of the table
        run_dir = os.path.join(FLAGS.out_dir, f"{FLAGS.model}_{i}")
        shutil.rmtree(run_dir, ignore_errors=True)
        run = dict(model=FLAGS.model, dataset=FLAGS.dataset, epochs=FLAGS.epochs,
                   eval_every=FLAGS.eval_every, eval_samples=FLAGS.eval_samples,
                   run_dir=run_dir, progress=False)
        run.update({**json.loads(FLAGS.settings), **settings})  # the variant's own win
        cfg = config.resolve(save_every=run["epochs"], **run)
        start = time.perf_counter()
        loop.train(cfg, data.for_config(cfg))
        seconds = time.perf_counter() - start
        files = RunFiles(run_dir)
        scores = {"diversity": files.read_column("diversity"), **read_csv(files.metrics_csv)}
        rows.append((name, {k: float(scores[k][-1]) for k in SCORES if len(scores.get(k, []))},
                     seconds))
        print(name, rows[-1][1], f"{seconds:.0f} s", flush=True)
    print(f"\n{FLAGS.model} on {FLAGS.dataset}, {FLAGS.epochs} epochs, {FLAGS.eval_samples} "
          f"samples, CPU: {speed_defaults.isa()}, {os.cpu_count()} cores\n")
    shown = [k for k in SCORES if any(k in scores for _, scores, _ in rows)]
    print("| variant | " + " | ".join(shown) + " | wall s |")
    print("|---" * (len(shown) + 2) + "|")
    for name, scores, seconds in rows:
        print(f"| {name} | " + " | ".join(f"{scores[k]:.3g}" if k in scores else "" for k in shown)
              + f" | {seconds:.0f} |")


if __name__ == "__main__":
    app.run(main)
