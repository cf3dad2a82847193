"""Training throughput in images/second: gan_zoo's trainer against the plain Keras step
(bench/plain_step.py) and against itself with other settings, every model, in one run.

    python bench/throughput.py [--models=maxout_cgan,conv_cgan] [--rounds=3]   # --mode=trainer
    python bench/throughput.py --mode=options     # XLA, bfloat16, the fused kernels
    python bench/throughput.py --mode=devices     # one device or mirrored over --cpu_devices
    python bench/throughput.py --mode=epochs      # the recipes as shipped, then with all logging
    python bench/throughput.py --sides=plain,trainer_xla --models=dcgan

A side is one way to train a model: `plain`, or the trainer with settings on top of the recipe
(SIDES). A mode is the list of sides that answers one question (MODES); --sides lists them
instead. The sides of a model run back to back in a shuffled order, each in its own process,
for --rounds rounds, on the same 8 real batches, cached and repeated; the `*_epochs` side
trains whole epochs of the data set through the epoch loop instead (input pipeline, loss.csv,
sample grids, TensorBoard and progress bar; scoring off). Each timing records the cores other
processes used meanwhile and is taken again where they used more than --max_other_cores.

Reported per model: each side's median images/s and seconds per epoch of its data set; the
base side (trainer_keras_adam where run, else the first trainer side) against plain, per image
and per FLOP (TF's graph profiler), and its share of the float32 matmul roof (bench/measure.py,
measured at the start and the end); every other side against the base.

Data: label models on --dataset; unconditional ones (dcgan and its WGAN recipes) on --faces (each photo's middle half at 64x64, 2,000 of
them); img2img on --facades at 64x64 with 2 PatchGAN layers and batch 4, as pix2pix's recipe
suggests for a CPU.
"""
import argparse
import dataclasses
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(BENCH))
sys.path.insert(0, BENCH)
import bench_data  # noqa: E402

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

MODELS = ("maxout_cgan", "mlp_cgan", "conv_cgan", "dcgan", "img2img")
# each side: the settings it puts on top of the recipe (None: the plain step). The trainer
# sides fix every speed option they do not name to the plain path, so each runs what its
# name says whatever auto would choose on the day's machine.
_PLAIN_PATH = dict(jit_compile="off", mixed_precision="off", fused_batch_norm=False, fused_adam=False)
SIDES = {
    "plain": None,
    "recipe": {},  # as shipped: auto's choices and the fused kernels
    "recipe_epochs": {},  # the same, whole epochs through the epoch loop
    "trainer": dict(_PLAIN_PATH, fused_adam=True),
    "trainer_keras_adam": _PLAIN_PATH,
    "trainer_1_step_per_call": dict(_PLAIN_PATH, steps_per_call=1),
    "trainer_xla": dict(_PLAIN_PATH, jit_compile="on"),
    "trainer_bf16": dict(_PLAIN_PATH, mixed_precision="bfloat16"),
    "trainer_xla_bf16": dict(_PLAIN_PATH, jit_compile="on", mixed_precision="bfloat16"),
    "trainer_fused": dict(_PLAIN_PATH, fused_adam=True, fused_batch_norm=True),
    "trainer_fused_xla": dict(_PLAIN_PATH, fused_adam=True, fused_batch_norm=True, jit_compile="on"),
    "trainer_fused_bf16": dict(_PLAIN_PATH, fused_adam=True, fused_batch_norm=True,
                               mixed_precision="bfloat16"),
    "mirrored": dict(_PLAIN_PATH, strategy="mirrored"),
    "mirrored_xla": dict(_PLAIN_PATH, strategy="mirrored", jit_compile="on"),
}
MODES = {
    "trainer": "plain,trainer,trainer_keras_adam",  # what the trainer adds to a plain step
    "options": "trainer_keras_adam,trainer_fused,trainer_xla,trainer_bf16,trainer_xla_bf16",
    "devices": "trainer_keras_adam,mirrored,mirrored_xla",  # the strategy's overhead on a CPU
    "epochs": "recipe,recipe_epochs",  # how much of an epoch is not the step
}
# timed steps per side: about 10 s each on a 2-core CPU (the warm-up is half as many more)
STEPS = {"maxout_cgan": 120, "mlp_cgan": 100, "conv_cgan": 40, "dcgan": 8, "img2img": 40}


def model_of(name):
    """The model a --models entry trains: a model's name, or a recipe's (dcgan_wgan_gp)."""
    from gan_zoo.settings import config, recipes
    return config.recipe_settings(name).get("model", name) if name in recipes.names() else name


def model_config(name, args, **settings):
    from gan_zoo.settings import config, recipes
    from gan_zoo import models
    model = model_of(name)
    recipe = name if name in recipes.names() else models.recipe_name(model)
    if not models.describe(model).takes_condition:
        data = dict(dataset=args.faces, center_crop=0.5, max_images=2000)
    elif models.describe(model).paired:
        data = dict(data_dir=args.facades, image_size=64, patch_layers=2, batch_size=4)
    else:
        data = dict(dataset=args.dataset)
    if settings.get("strategy") == "mirrored":
        import tensorflow as tf
        settings["cpu_devices"] = 0 if tf.config.list_physical_devices("GPU") else args.cpu_devices
    kinds = {f.name: str(getattr(f.type, "__name__", f.type)) for f in dataclasses.fields(config.TrainConfig)}
    parse = {"int": int, "float": float, "bool": lambda v: v.lower() in ("1", "true", "yes")}
    given = {k: parse.get(kinds.get(k), str)(v)
             for k, v in (item.split("=", 1) for item in args.settings.split(",") if item)}
    return config.resolve(recipe=recipe, **data, progress=False, eval_every=0, **{**settings, **given})


def worker(side, model, args):
    """Time one side of one model; prints one JSON line."""
    import tensorflow as tf

    from gan_zoo import data
    from gan_zoo.core import distribute
    from gan_zoo.errors import UserError
    from gan_zoo.training import trainer
    from measure import OtherCores, step_flops, trainer_flops_per_batch
    from plain_step import plain_step
    cfg = model_config(model, args, **(SIDES[side] or {}))
    strategy = distribute.strategy_for(cfg)  # before anything runs: it may split the CPU
    source = data.for_config(cfg)
    result = {"side": side, "model": model, "batch": cfg.batch_size,
              "epoch_images": source.steps_per_epoch(cfg.batch_size) * cfg.batch_size}
    if side.endswith("_epochs"):
        result.update(images_per_sec=whole_epoch_rate(cfg, source, args.epochs), flops_per_image=None,
                      other_cores=0.0)
        return print(json.dumps(result))
    batches = source.epoch_batches(cfg.batch_size, 0, cfg.seed).take(8).cache().repeat()
    images, condition = next(iter(batches))
    specs = (tf.TensorSpec(images.shape, images.dtype), tf.TensorSpec(condition.shape, condition.dtype))
    if side == "plain":
        step, iterator = plain_step(cfg, source.spec), iter(batches.prefetch(tf.data.AUTOTUNE))
        flops = step_flops(step.get_concrete_function(*specs))

        def run(n):
            for _ in range(n):
                out = step(*next(iterator))
            out.numpy()
    else:
        try:
            t = trainer.Trainer(cfg, source, strategy=strategy)
        except UserError as e:
            return print(json.dumps({**result, "refused": str(e)}))
        flops = trainer_flops_per_batch(t, specs) if t.replicas == 1 else None
        iterator = iter(distribute.distribute_batches(strategy, batches.prefetch(tf.data.AUTOTUNE)))

        def run(n):
            done = 0
            while done < n:
                done += t.run_steps(iterator, min(cfg.steps_per_call, n - done))
            t.step.numpy()
    steps = args.steps or STEPS.get(model_of(model), 20)
    run(max(3, steps // 2))  # trace, compile, warm the caches
    others = OtherCores().start()
    start = time.perf_counter()
    run(steps)
    seconds = time.perf_counter() - start
    result.update(images_per_sec=steps * cfg.batch_size / seconds, other_cores=others.stop(),
                  flops_per_image=flops / cfg.batch_size if flops else None)
    print(json.dumps(result))


def whole_epoch_rate(cfg, source, epochs):
    """Median images/s of epochs 2 to `epochs` - 1, from the end of one to the end of the next
    (epoch 1 also fills the data cache and traces the step; the last saves a checkpoint)."""
    from gan_zoo.run import loop
    ends = []
    with tempfile.TemporaryDirectory() as run_dir:
        run_cfg = type(cfg)(**{**cfg.to_json(), "run_dir": run_dir, "epochs": epochs, "progress": True})
        t = loop.train(run_cfg, source, on_epoch_end=lambda *_: ends.append(time.perf_counter()))
    return statistics.median(t.steps_per_epoch * cfg.batch_size / (b - a)
                             for a, b in zip(ends[:-1], ends[1:-1]))


def time_side(side, model, args):
    """The worker's JSON for one side of one model, run in a fresh process."""
    command = [sys.executable, os.path.abspath(__file__), f"--worker={side}", f"--models={model}",
               *(f"--{k}={v}" for k, v in vars(args).items() if k not in ("worker", "models", "sides", "mode"))]
    out = subprocess.run(command, capture_output=True, text=True)
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode or not lines:
        raise SystemExit(f"{side} {model} failed:\n{out.stderr[-3000:]}")
    return json.loads(lines[-1])


def measure_all(models, sides, args, on_timing=None):
    """{model: {side: [worker results]}} over args.rounds shuffled rounds; a refused side is
    printed and dropped. `on_timing(round, result)` sees each timing as it is made."""
    results = {m: {s: [] for s in sides} for m in models}
    rng = random.Random(0)
    for round_ in range(args.rounds):
        for model in rng.sample(models, len(models)):
            for side in rng.sample(sides, len(sides)):
                if side not in results[model]:
                    continue
                r = time_side(side, model, args)
                for _ in range(2):  # a timing shared with another process is taken again
                    if "refused" in r or r["other_cores"] <= args.max_other_cores:
                        break
                    print(f"round {round_ + 1} {model:12s} {side:23s} retaken: other processes "
                          f"used {r['other_cores']:.2f} cores", flush=True)
                    r = time_side(side, model, args)
                if "refused" in r:
                    print(f"{model:12s} {side:23s} refused: {r['refused']}", flush=True)
                    del results[model][side]
                    continue
                results[model][side].append(r)
                (on_timing or _print_timing)(round_, r)
    return results


def _print_timing(round_, r):
    flops = f"{r['flops_per_image'] / 1e6:.1f} MFLOP/img" if r["flops_per_image"] else "FLOPs n/a"
    print(f"round {round_ + 1} {r['model']:12s} {r['side']:23s} {r['images_per_sec']:8.1f} img/s "
          f"{flops} (other processes: {r['other_cores']:.2f} cores)", flush=True)


def report(results, roof):
    """One markdown row per model: each side's median img/s and s/epoch; the base side against
    plain, per image and per FLOP, and its share of the roof; every other side against the base."""
    for model, by_side in results.items():
        sides = list(by_side)
        trainers = [s for s in sides if s != "plain"]
        base = "trainer_keras_adam" if "trainer_keras_adam" in sides else (trainers or sides)[0]
        med = {s: statistics.median(r["images_per_sec"] for r in by_side[s]) for s in sides}
        flops = {s: by_side[s][0]["flops_per_image"] for s in sides}
        rows = [f"| {s} | {med[s]:.1f} | {by_side[s][0]['epoch_images'] / med[s]:.1f} | "
                + (f"{med[s] / med[base]:.2f} |" if s != base else "1.00 |")
                + (f" {med[s] * flops[s] / 1e9 / roof:.0%} |" if flops[s] else " |") for s in sides]
        print(f"\n{model} (batch {by_side[base][0]['batch']}), base {base}\n\n"
              "| side | img/s | s/epoch | vs base | % of roof |\n|---|---|---|---|---|\n" + "\n".join(rows))
        if "plain" in sides and base != "plain" and flops["plain"] and flops[base]:
            print(f"\n{base} / plain: {med[base] / med['plain']:.2f} per image, "
                  f"{med[base] * flops[base] / (med['plain'] * flops['plain']):.2f} per FLOP")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", default="trainer", choices=sorted(MODES))
    parser.add_argument("--sides", default="", help=f"instead of the mode's: any of {', '.join(SIDES)}")
    parser.add_argument("--models", default=",".join(MODELS),
                        help="models, or recipes (dcgan_wgan_gp) to time with their settings")
    parser.add_argument("--settings", default="",
                        help="settings every side trains with, e.g. ngf=32,ndf=32")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=0, help="timed steps per side (0: STEPS)")
    parser.add_argument("--epochs", type=int, default=4, help="epochs of the *_epochs sides")
    parser.add_argument("--dataset", default="fashion_mnist", help="data of the label models")
    parser.add_argument("--faces", default="folder:" + bench_data.path("faces", "lfw_gray"))
    parser.add_argument("--facades", default=bench_data.path("facades"))
    parser.add_argument("--cpu_devices", type=int, default=2,
                        help="logical CPU devices the mirrored sides split the CPU into (no GPU)")
    parser.add_argument("--max_other_cores", type=float, default=0.25,
                        help="retake a timing (twice at most) when other processes used more")
    parser.add_argument("--worker", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.sides = args.sides or MODES[args.mode]
    unknown = set(args.sides.split(",")) - set(SIDES)
    if unknown:
        parser.error(f"unknown --sides {sorted(unknown)}: choose from {', '.join(SIDES)}")
    return args


def start(args):
    """Checks the data the models need and prints the machine; returns the matmul roof."""
    import measure
    from gan_zoo import models
    kinds = [models.describe(model_of(name)) for name in args.models.split(",")]
    if any(not m.takes_condition for m in kinds):
        bench_data.required(args.faces, "faces")
    if any(m.paired for m in kinds):
        bench_data.required(args.facades, "facades")
    roof = measure.matmul_gflops()
    print(f"ISA {' '.join(measure.isa_flags())}, {os.cpu_count()} cores, {measure.versions()}; "
          f"float32 matmul roof {roof:.0f} GFLOP/s", flush=True)
    return roof


def main():
    args = parse_args()
    if args.worker:
        return worker(args.worker, args.models.split(",")[0], args)
    roof_start = start(args)
    results = measure_all(args.models.split(","), args.sides.split(","), args)
    import measure
    roof_end = measure.matmul_gflops()
    print(f"\nfloat32 matmul roof: {roof_start:.0f} GFLOP/s at the start, {roof_end:.0f} at the end")
    report(results, (roof_start + roof_end) / 2)


if __name__ == "__main__":
    main()
