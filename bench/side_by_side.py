"""Every model's trainer against a plain two-tape Keras step on the same builders, in one run.

    TFDS_DATA_DIR=... python bench/side_by_side.py [--models=maxout_cgan,conv_cgan] [--rounds=3]

For each model (its recipe's batch size; img2img at 64x64 with 2 PatchGAN layers, as the
pix2pix recipe suggests for a CPU) three sides are timed, each in its own process:
  plain    the step a user writes from the keras.io examples: one @tf.function, two tapes,
           BCE (+ the recipe's mismatch term, + L1 for img2img), keras' Adam, one step per call;
  trainer  gan_zoo's trainer with the recipe's settings and --fused_adam (steps per call, EMA, ...);
  trainer_keras_adam  the same with keras' Adam (--nofused_adam), so the fused update's gain shows.
The sides of one model run back to back in a shuffled order, for --rounds rounds; the report
is the median of each side, the trainer / plain ratio of the medians, the ratio per FLOP
(each side's own FLOPs per image, from TF's profiler) and the share of the float32 matmul
roof (measured at the start and at the end). Each timing records the cores other processes
used meanwhile. Both sides train on the same 8 real batches, cached and repeated. Each
timing is printed as it is made. On a 2-core CPU the 3 rounds take about 35 minutes, most of
it dcgan and img2img.
"""
import argparse
import dataclasses
import json
import os
import random
import statistics
import subprocess
import sys
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(BENCH))
sys.path.insert(0, BENCH)
import bench_data  # noqa: E402

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

MODELS = ("maxout_cgan", "mlp_cgan", "conv_cgan", "dcgan", "img2img")
SIDES = ("plain", "trainer", "trainer_keras_adam")
# what each trainer side sets on top of the recipe (--sides picks them; the report's ratios
# are against `plain` and, for the rest, against `trainer_keras_adam`, the float32 trainer
# with keras' Adam and BatchNorm, the default before 2026-12-05), not the defaults (auto,
# fused Adam and BatchNorm): each side runs what its name says
_PLAIN_PATH = dict(jit_compile="off", mixed_precision="off", fused_batch_norm=False, fused_adam=False)
SIDE_SETTINGS = {"trainer": dict(_PLAIN_PATH, fused_adam=True), "trainer_keras_adam": _PLAIN_PATH,
                 "trainer_xla": dict(_PLAIN_PATH, jit_compile="on"),
                 "trainer_bf16": dict(_PLAIN_PATH, mixed_precision="bfloat16"),
                 "trainer_xla_bf16": dict(_PLAIN_PATH, jit_compile="on", mixed_precision="bfloat16"),
                 "trainer_fused": dict(_PLAIN_PATH, fused_adam=True, fused_batch_norm=True),
                 "trainer_fused_xla": dict(_PLAIN_PATH, fused_adam=True, fused_batch_norm=True,
                                           jit_compile="on"),
                 "trainer_fused_bf16": dict(_PLAIN_PATH, fused_adam=True, fused_batch_norm=True,
                                            mixed_precision="bfloat16")}
# timed steps per side: about 10 s each on a 2-core CPU (the warm-up is half as many more)
STEPS = {"maxout_cgan": 120, "mlp_cgan": 100, "conv_cgan": 40, "dcgan": 8, "img2img": 40}
SETTINGS = {"dcgan": dict(recipe="dcgan"), "img2img": dict(recipe="pix2pix", image_size=64,
                                                          patch_layers=2, batch_size=4)}


def model_config(model, faces, facades, **extra):
    from gan_zoo.settings import config
    settings = SETTINGS.get(model, dict(recipe=model))
    if model == "dcgan":
        settings = {**settings, "dataset": faces, "center_crop": 0.5}
    if model == "img2img":
        settings = {**settings, "data_dir": facades}
    return config.resolve(**settings, progress=False, eval_every=0, **extra)


def real_batches(cfg, source):
    import tensorflow as tf
    batches = source.epoch_batches(cfg.batch_size, 0, cfg.seed).take(8).cache().repeat()
    return batches.prefetch(tf.data.AUTOTUNE)


def plain_step(cfg, spec):
    """(train_step(images, condition), its FLOPs) of the keras.io-style two-tape step."""
    import keras
    import tensorflow as tf

    from gan_zoo import models
    keras.utils.set_random_seed(cfg.seed)
    # Keras' own layers, as a user's step has them (not the trainer's fused BatchNorm)
    generator, discriminator = models.build(spec, dataclasses.replace(cfg, fused_batch_norm=False))
    g_opt = keras.optimizers.Adam(cfg.g_lr, beta_1=cfg.beta1, beta_2=cfg.beta2)
    d_opt = keras.optimizers.Adam(cfg.d_lr, beta_1=cfg.beta1, beta_2=cfg.beta2)
    bce = keras.losses.BinaryCrossentropy(from_logits=True)
    conditional, paired = models.describe(cfg.model).takes_condition, models.describe(cfg.model).paired

    @tf.function
    def train_step(images, condition):
        condition = condition if conditional else None
        noise = None if paired else tf.random.normal((tf.shape(images)[0], cfg.noise_dim))
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            fake = models.generate(generator, noise, condition, training=True)
            real_logits = models.judge(discriminator, images, condition, training=True)
            fake_logits = models.judge(discriminator, fake, condition, training=True)
            w = cfg.mismatch_weight if conditional and not paired else 0.0
            d_loss = (bce(tf.ones_like(real_logits), real_logits)
                      + (1.0 - w) * bce(tf.zeros_like(fake_logits), fake_logits))
            if w:
                wrong = models.judge(discriminator, images, tf.roll(condition, 1, axis=0), training=True)
                d_loss += w * bce(tf.zeros_like(wrong), wrong)
            g_loss = bce(tf.ones_like(fake_logits), fake_logits)
            if paired:
                g_loss += cfg.l1_weight * tf.reduce_mean(tf.abs(images - fake))
        d_opt.apply_gradients(zip(d_tape.gradient(d_loss, discriminator.trainable_variables),
                                  discriminator.trainable_variables))
        g_opt.apply_gradients(zip(g_tape.gradient(g_loss, generator.trainable_variables),
                                  generator.trainable_variables))
        return d_loss

    return train_step


def worker(side, model, steps, faces, facades):
    """Time one side of one model; prints one JSON line."""
    import tensorflow as tf

    from gan_zoo import data
    from gan_zoo.training import trainer
    from measure import OtherCores, step_flops, trainer_flops_per_batch
    cfg = model_config(model, faces, facades, **SIDE_SETTINGS.get(side, {}))
    source = data.for_config(cfg)
    batches = real_batches(cfg, source)
    iterator = iter(batches)
    images, condition = next(iterator)
    specs = (tf.TensorSpec(images.shape, images.dtype), tf.TensorSpec(condition.shape, condition.dtype))
    if side == "plain":
        step = plain_step(cfg, source.spec)
        flops = step_flops(step.get_concrete_function(*specs))

        def run(n):
            for _ in range(n):
                out = step(*next(iterator))
            out.numpy()
    else:
        t = trainer.Trainer(cfg, source)
        flops = trainer_flops_per_batch(t, specs)

        def run(n):
            done = 0
            while done < n:
                done += t.run_steps(iterator, min(cfg.steps_per_call, n - done))
            t.step.numpy()
    run(max(3, steps // 2))  # trace, compile, warm the caches
    others = OtherCores().start()
    start = time.perf_counter()
    run(steps)
    seconds = time.perf_counter() - start
    print(json.dumps({"side": side, "model": model, "images_per_sec": steps * cfg.batch_size / seconds,
                      "flops_per_image": flops / cfg.batch_size if flops else None,
                      "batch": cfg.batch_size, "other_cores": others.stop(),
                      "jit_compile": cfg.jit_compile, "steps_per_call": cfg.steps_per_call}))


def _run_side(side, model, args):
    out = subprocess.run([sys.executable, os.path.abspath(__file__), f"--worker={side}",
                          f"--models={model}", f"--steps={args.steps or STEPS[model]}", f"--faces={args.faces}",
                          f"--facades={args.facades}"], capture_output=True, text=True)
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode or not lines:
        raise SystemExit(f"{side} {model} failed:\n{out.stderr[-3000:]}")
    return json.loads(lines[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=0, help="timed steps per side (0: STEPS)")
    parser.add_argument("--faces", default="folder:" + bench_data.path("faces", "lfw_gray"))
    parser.add_argument("--facades", default=bench_data.path("facades"))
    parser.add_argument("--sides", default=",".join(SIDES),
                        help=f"plain and any of {', '.join(SIDE_SETTINGS)}")
    parser.add_argument("--max_other_cores", type=float, default=0.25,
                        help="retake a timing (twice at most) when other processes used more")
    parser.add_argument("--speed_table", default="",
                        help="write this machine class's auto choices (jit_compile, mixed_precision) "
                             "into this JSON file (gan_zoo/settings/recipes/speed.json)")
    parser.add_argument("--worker", default="")
    args = parser.parse_args()
    models = args.models.split(",")
    if args.worker:
        return worker(args.worker, models[0], args.steps, args.faces, args.facades)
    if "dcgan" in models:
        bench_data.required(args.faces, "faces")
    if "img2img" in models:
        bench_data.required(args.facades, "facades")
    import measure
    roof_start = measure.matmul_gflops()
    print(f"ISA {' '.join(measure.isa_flags())}, {os.cpu_count()} cores, {measure.versions()}; "
          f"float32 matmul roof {roof_start:.0f} GFLOP/s", flush=True)
    sides = args.sides.split(",")
    unknown = set(sides) - {"plain", *SIDE_SETTINGS}
    if unknown:
        raise SystemExit(f"unknown --sides {sorted(unknown)}: choose from plain, {', '.join(SIDE_SETTINGS)}")
    results = {m: {s: [] for s in sides} for m in models}
    rng = random.Random(0)
    for round_ in range(args.rounds):
        for model in rng.sample(models, len(models)):
            for side in rng.sample(sides, len(sides)):
                r = _run_side(side, model, args)
                for _ in range(2):  # a timing shared with another process is taken again
                    if r["other_cores"] <= args.max_other_cores:
                        break
                    print(f"round {round_ + 1} {model:12s} {side:19s} retaken: other processes "
                          f"used {r['other_cores']:.2f} cores", flush=True)
                    r = _run_side(side, model, args)
                results[model][side].append(r)
                flops = f"{r['flops_per_image'] / 1e6:.1f} MFLOP/img" if r["flops_per_image"] else "FLOPs n/a"
                print(f"round {round_ + 1} {model:12s} {side:19s} {r['images_per_sec']:8.1f} img/s "
                      f"{flops} (other processes: {r['other_cores']:.2f} cores)", flush=True)
    roof_end = measure.matmul_gflops()
    print(f"\nfloat32 matmul roof: {roof_start:.0f} GFLOP/s at the start, {roof_end:.0f} at the end\n")
    report(results, sides, (roof_start + roof_end) / 2)
    if args.speed_table:
        write_speed_table(args.speed_table, results,
                          f"--models={args.models} --sides={args.sides} --rounds={args.rounds}")


# the trainer sides auto chooses between: (--jit_compile, --mixed_precision) of each
AUTO_SIDES = {"trainer_keras_adam": (False, "off"), "trainer_xla": (True, "off"),
              "trainer_bf16": (False, "bfloat16"), "trainer_xla_bf16": (True, "bfloat16")}
AUTO_MARGIN = 1.05  # a side must beat the plain float32 trainer by 5% (the rounds' spread)


def write_speed_table(path, results, arguments):
    """This machine class's entry of gan_zoo/settings/recipes/speed.json: per model measured, the
    fastest of the AUTO_SIDES measured (by median), where it beats the float32 trainer by
    AUTO_MARGIN (and a bfloat16 side the fastest float32 one by as much), with the run that
    measured it. The table's `bfloat16_quality` (short runs in
    both precisions, which auto also requires), the models not in this run and the other
    classes are kept."""
    import datetime
    import measure
    from gan_zoo.settings import speed_defaults
    table = json.load(open(path)) if os.path.exists(path) else {"classes": {}}
    chosen = {}
    for model, by_side in results.items():
        med = {s: statistics.median(r["images_per_sec"] for r in by_side[s])
               for s in AUTO_SIDES if by_side.get(s)}
        if "trainer_keras_adam" not in med:
            continue
        best = max(med, key=med.get)
        full = max((s for s in med if AUTO_SIDES[s][1] == "off"), key=med.get)
        if AUTO_SIDES[best][1] != "off" and med[best] < AUTO_MARGIN * med[full]:
            best = full  # bfloat16 must beat float32's best by the margin too, or float32 stays
        if med[best] < AUTO_MARGIN * med["trainer_keras_adam"]:
            best = "trainer_keras_adam"
        jit, precision = AUTO_SIDES[best]
        chosen[model] = {"jit_compile": jit, "mixed_precision": precision,
                         "speedup": round(med[best] / med["trainer_keras_adam"], 2)}
    klass = speed_defaults.machine_class()
    entry = table["classes"].setdefault(klass, {"models": {}})
    entry.update({"measured": f"{datetime.date.today()}, {os.cpu_count()} cores, ISA "
                              f"{' '.join(measure.isa_flags())}",
                  "command": f"python bench/side_by_side.py {arguments}"})
    for model in chosen:  # a run of some models leaves the others' choices as they were
        chosen[model]["measured_by"] = entry["command"] + f" ({datetime.date.today()})"
    entry["models"].update(chosen)
    with open(path, "w") as f:
        json.dump(table, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"\n{path}: {klass} -> {json.dumps(chosen)}")


def report(results, sides, roof):
    """One markdown row per model: each side's median img/s; the float32 trainer with keras'
    Adam (trainer_keras_adam) against plain, per image and per FLOP, and its share of the roof;
    every other trainer side against it."""
    base = "trainer_keras_adam" if "trainer_keras_adam" in sides else next(s for s in sides if s != "plain")
    others = [s for s in sides if s not in ("plain", base)]
    head = ["model (batch)", *[f"{s} img/s" for s in sides], f"{base} / plain", "per FLOP",
            f"{base} % of roof", *[f"{s} / {base}" for s in others]]
    print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    for model, by_side in results.items():
        med = {s: statistics.median(r["images_per_sec"] for r in by_side[s]) for s in sides}
        flops = {s: by_side[s][0]["flops_per_image"] for s in sides}
        cells = [f"{model} ({by_side[base][0]['batch']})", *[f"{med[s]:.1f}" for s in sides]]
        if "plain" in sides and flops["plain"] and flops[base]:
            per_flop = med[base] * flops[base] / (med["plain"] * flops["plain"])
            cells += [f"{med[base] / med['plain']:.2f}", f"{per_flop:.2f}"]
        else:
            cells += ["", ""]
        cells.append(f"{med[base] * flops[base] / 1e9 / roof:.0%}" if flops[base] else "")
        cells += [f"{med[s] / med[base]:.2f}" for s in others]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
