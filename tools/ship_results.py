"""Train each family's recipe, score its best checkpoint, ship it, and write the results table.

    TFDS_DATA_DIR=DIR GAN_ZOO_BENCH_DATA=DIR python tools/ship_results.py [--only=maxout_cgan/fashion_mnist]
    python tools/ship_results.py --train=false --score=false --real_rows=false   # the table only

For every recipe below (data, not code): run the training command (in a fresh run dir; with
--train=false the run dir as it is), take the checkpoint that scored best while training
(--select_by; SHIP_LAST_EPOCH: the last), round it to
float16 and save it to gan_zoo/serving/pretrained/<name>/, score those shipped weights on 10,000
samples (python -m gan_zoo eval's metrics, Parzen for labelled data), and write
docs/results.json and the README table between its markers. The real-data reference row
scores real training images the same way. Every number in the table comes from here.
"""
import json
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "bench"))  # bench_data: where the real data is

from absl import app, flags, logging  # noqa: E402

import bench_data  # noqa: E402

FACES_DIR = bench_data.path("faces")
FACES = f"folder:{os.path.join(FACES_DIR, 'lfw_gray')}" if FACES_DIR else ""
# What each training set's licence lets a user do with a generator trained on it (on its card)
DATA_LICENSES = {
    "fashion_mnist": "Fashion-MNIST, Zalando Research: MIT licence",
    "mnist": "MNIST, LeCun, Cortes and Burges: CC BY-SA 3.0",
    "lfw_gray": "Labeled Faces in the Wild, University of Massachusetts Amherst: published for "
                "research; no licence for commercial use is stated",
}
# name (model/data set of the shipped generator): flagfile + overrides. Epoch counts fit a
# 2-core CPU; each recipe's own flagfile trains longer.
RECIPES = {
    "maxout_cgan/fashion_mnist": ("flags/maxout_cgan.flags", {"dataset": "fashion_mnist", "epochs": 30}),
    # half the matching-aware weight, and the last epoch shipped (docs/quality.md: with the
    # recipe of 2026-12-04 the best in-loop FID came at epoch 8, before recall had grown);
    # the paper's D width and D lr 1e-3, as the shipped MNIST generator was trained (2026-12-05)
    "maxout_cgan/mnist": ("flags/maxout_cgan.flags", {"dataset": "mnist", "epochs": 20,
                                                      "mismatch_weight": 0.25, "ndf": 64,
                                                      "d_lr": 1e-3}),
    "mlp_cgan/fashion_mnist": ("flags/mlp_cgan.flags", {"dataset": "fashion_mnist", "epochs": 35}),
    "conv_cgan/fashion_mnist": ("flags/conv_cgan.flags", {"dataset": "fashion_mnist", "epochs": 8}),
    "dcgan/lfw_gray": ("flags/dcgan.flags", {"dataset": FACES, "center_crop": 0.5, "ngf": 32,
                                             "ndf": 32, "epochs": 50}),
    "stackgan/fashion_mnist": ("flags/stackgan.flags", {"dataset": "fashion_mnist", "epochs": 3}),
}
# two-stage recipes: the second stage's overrides. It trains over the first stage's run dir
# (--stage=2 --stage1_run=...), and its card also scores the shipped G's own stage-I images
# upsampled bicubically to the data's size: what the second stage buys.
SECOND_STAGE = {"stackgan/fashion_mnist": {"epochs": 2}}
SHIP_LAST_EPOCH = {"maxout_cgan/mnist"}  # the others ship the best checkpoint by in-loop score
SPREAD_SEEDS = (0, 1, 2, 3, 4)  # sampling seeds each shipped generator is scored with
REAL_ROWS = {"fashion_mnist": {}, "mnist": {}}  # data set: load settings of the real-data reference row
TABLE_START, TABLE_END = "<!-- results:start -->", "<!-- results:end -->"

flags.DEFINE_list("only", [], "Recipes to (re)do; default all. The table keeps the others' rows.")
flags.DEFINE_string("runs", "runs/results", "Where the training run dirs go.")
flags.DEFINE_integer("num_samples", 10000, "Samples scored per model.")
flags.DEFINE_boolean("score", True, "Score and ship each run's best checkpoint (false: take the "
                     "shipped cards as they are, to rewrite the table).")
flags.DEFINE_boolean("real_rows", True, "Also score the real-data reference rows.")
flags.DEFINE_boolean("rescore", False, "Score the shipped weights again (gan_zoo/serving/pretrained/) "
                     "and update their cards' metrics, training and shipping nothing: after a "
                     "change to how generators are scored.")
flags.DEFINE_boolean("train", True, "Run the training commands (false: score the run dirs as they are).")
FLAGS = flags.FLAGS


def train_commands(name):
    """([training command of each stage], the run dir shipped from: the last stage's)."""
    flagfile, overrides = RECIPES[name]
    run_dir = os.path.join(FLAGS.runs, name.replace("/", "_"))
    stages = [(overrides, run_dir)]
    if name in SECOND_STAGE:
        first = run_dir + "_stage1"
        stages = [(overrides, first), ({**overrides, **SECOND_STAGE[name], "stage": 2,
                                        "stage1_run": first}, run_dir)]
    commands = [["python", "-m", "gan_zoo.train", f"--flagfile={flagfile}",
                 *(f"--{k}={v}" for k, v in settings.items()), f"--run_dir={folder}",
                 "--eval_every=1", "--progress=false"] for settings, folder in stages]
    return commands, [folder for _, folder in stages]


def _shown(command):
    """The command as a user types it: the console script, recipes by name, and the LFW
    folder by its name (`folder:lfw_gray`, a folder of LFW faces as grayscale images); a
    two-stage recipe's commands joined by &&."""
    if command and isinstance(command[0], list):
        return " && ".join(_shown(c) for c in command)
    text = " ".join(command).replace("python -m gan_zoo.", "gan-zoo ")
    text = text.replace(f"folder:{FACES_DIR}{os.sep}", "folder:")
    for recipe in {f for f, _ in RECIPES.values()}:
        text = text.replace(f"--flagfile={recipe}", f"--recipe={os.path.basename(recipe)[:-len('.flags')]}")
    return text


def score_and_ship(name, run_dir, train_minutes, command):
    from gan_zoo.serving import pretrained
    from gan_zoo.run.run_dir import best_record, restore_generator
    last = name in SHIP_LAST_EPOCH
    generator, config, spec, step = restore_generator(run_dir, which="latest" if last else "best")
    record = {"epoch": config.epochs, "metric": "last epoch"} if last else best_record(run_dir)
    card = {"name": name, "config": config.to_json(), "data_spec": spec.to_json(), "step": step,
            "epoch": record["epoch"], "selected_by": record["metric"],
            "train_command": _shown(command), "train_minutes": round(train_minutes, 1),
            "trained_on": "2 CPU cores", "data_license": DATA_LICENSES[name.split("/")[1]]}
    card["config"]["data_dir"] = ""
    card["config"]["dataset"] = _shown([config.dataset])
    card["config"]["run_dir"] = ""
    folder = os.path.join(pretrained.ROOT, *name.split("/"))
    generator.set_weights(pretrained.save(generator, folder, card))  # score what ships
    card.update(_scores(name, config.dataset, generator, config, spec))
    card["samples"] = write_samples(name, generator, spec, config)
    card["eval_command"] = f"gan-zoo eval --pretrained={name}" + (
        f" --dataset={card['config']['dataset']}" if config.dataset.startswith("folder:") else "")
    with open(os.path.join(folder, pretrained.CARD), "w") as fh:
        json.dump(card, fh, indent=2, sort_keys=True, default=float)
    return card


def _scores(name, dataset, generator, config, spec):
    """{"metrics": the shipped generator's scores} and, for a two-stage recipe,
    "stage1_upsampled_metrics": its own stage-I images' scores, upsampled."""
    from gan_zoo import models
    load_kwargs = _load_kwargs(config.to_json(), spec)
    found = {"metrics": evaluate(dataset, spec, config.noise_dim, config.noise,
                                 lambda z, c: models.generate(generator, z, c, training=False).numpy(),
                                 load_kwargs)}
    if name in SECOND_STAGE:
        found["stage1_upsampled_metrics"] = evaluate(dataset, spec, config.noise_dim, config.noise,
                                                     _stage1_upsampled(generator), load_kwargs)
    return found


def _stage1_upsampled(generator):
    """generate(z, c) giving a two-stage G's stage-I images, bicubically upsampled to its
    output's size (the baseline its second stage has to beat)."""
    import tensorflow as tf

    from gan_zoo import models
    both = models.with_stage1_image(generator)
    size = generator.output.shape[1:3]

    def generate(z, c):
        _, coarse = both(models.generator_inputs(both, z, c), training=False)
        return tf.clip_by_value(tf.image.resize(tf.cast(coarse, tf.float32), size, "bicubic"),
                                -1, 1).numpy()
    return generate


def rescore_shipped(name):
    """The shipped card of `name` with its metrics measured again on the shipped weights."""
    from gan_zoo.serving import pretrained
    from gan_zoo.settings import config as config_lib
    generator, card = pretrained.load(name)
    config, spec = config_lib.from_saved(card["config"]), models_spec(card)
    dataset = config.dataset
    if dataset.startswith("folder:"):  # the card names the folder, not where it is here
        if not FACES_DIR:
            raise SystemExit(f"{name} is scored on the face photos in $GAN_ZOO_BENCH_DATA/faces/"
                             f"lfw_gray: set {bench_data.VARIABLE}.")
        dataset = "folder:" + os.path.join(FACES_DIR, dataset[len("folder:"):])
    card.update(_scores(name, dataset, generator, config, spec))
    card["samples"] = write_samples(name, generator, spec, config)
    with open(os.path.join(pretrained.ROOT, *name.split("/"), pretrained.CARD), "w") as fh:
        json.dump(card, fh, indent=2, sort_keys=True, default=float)
    return card


def write_samples(name, generator, spec, config, rows=4):
    """docs/pretrained/<model>_<data>.png from the shipped weights: a column per class (rows of
    fixed noise), or an 8-wide grid for unconditional models."""
    import numpy as np

    from gan_zoo import models
    from gan_zoo.data import to_uint8
    from gan_zoo.images import grid, write_png
    cols = spec.condition_dim if spec.is_class_conditional else 8
    rng = np.random.default_rng(0)
    noise = rng.standard_normal((rows * cols, config.noise_dim)).astype(np.float32)
    if config.noise == "uniform":
        noise = rng.uniform(0, 1, noise.shape).astype(np.float32)
    condition = (np.eye(cols, dtype=np.float32)[np.tile(np.arange(cols), rows)]
                 if spec.is_class_conditional else None)
    images = to_uint8(models.generate(generator, noise, condition)).numpy()
    path = os.path.join("docs", "pretrained", name.replace("/", "_") + ".png")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    write_png(path, grid(images, rows, cols))
    return path


def models_spec(card):
    from gan_zoo.data.spec import DataSpec
    return DataSpec.from_json(card["data_spec"])


def _load_kwargs(cfg, spec):
    from gan_zoo.serving.export import DATA_SETTINGS
    kw = {k: cfg[k] for k in DATA_SETTINGS if cfg.get(k)}
    kw["conditional"] = spec.is_conditional
    return kw


def evaluate(dataset, spec, noise_dim, noise, generate, load_kwargs):
    """The scores of seed 0's samples (what `gan-zoo eval` measures by default), and under
    "spread" each metric's standard deviation over SPREAD_SEEDS samplings, so a user can tell
    a sampling seed's noise from a change."""
    import numpy as np

    from gan_zoo.eval import scoring
    from gan_zoo.cli.evaluate import _parzen
    by_seed = []
    for seed in SPREAD_SEEDS:
        scorer = scoring.Scorer(dataset, spec, noise_dim, noise, num_samples=FLAGS.num_samples,
                                seed=seed, load_kwargs=load_kwargs)
        samples = scorer.samples(generate)
        by_seed.append(scorer.score_samples(samples))
        by_seed[-1].pop("class_coverage", None)
        if seed == 0:
            first_samples, first_scorer = samples, scorer
    result = dict(by_seed[0])
    result["spread"] = {k: float(np.std([r[k] for r in by_seed], ddof=1)) for k in result}
    result["spread_seeds"] = len(SPREAD_SEEDS)
    if first_scorer.kind == "labels":
        result.update(_parzen(dataset, load_kwargs, first_samples))
        result["classifier"] = first_scorer.classifier_card["fingerprint"]
    return result


def real_row(dataset, load_kwargs):
    from gan_zoo.cli.evaluate import real_answers
    generate, spec = real_answers(dataset, dict(load_kwargs))
    result = evaluate(dataset, spec, 1, "normal", generate, {**load_kwargs, "conditional": True})
    return {"name": f"real/{dataset}", "metrics": result,
            "eval_command": f"gan-zoo eval --real --dataset={dataset}"}


def write_table(rows):
    lines = ["| model / data | label accuracy | FID (classifier) | precision | recall | density | "
             "coverage (worst class) | Parzen log-lik. | SWD | diversity (1 = real) | epoch "
             "shipped | train minutes (2 CPU cores) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    samples = []

    def fmt(m, k, d=3):
        spread = m.get("spread", {}).get(k)
        return "" if k not in m else f"{m[k]:.{d}f}" + (f" ± {spread:.{d}f}" if spread else "")

    def with_stage1(row):  # a two-stage generator's row, then its stage I upsampled
        yield row
        if "stage1_upsampled_metrics" in row:
            yield {"name": f"{row['name']}, stage I upsampled", "metrics": row["stage1_upsampled_metrics"]}

    for row in (r for shipped in rows for r in with_stage1(shipped)):
        m = row["metrics"]
        coverage = f"{fmt(m, 'coverage')} ({m['worst_class_coverage']:.3f})" if "coverage" in m else ""
        parzen = f"{m['parzen_ll']:.0f} ± {m['parzen_stderr']:.1f}" if "parzen_ll" in m else ""
        lines.append(f"| `{row['name']}` | {fmt(m, 'label_accuracy')} | {fmt(m, 'FID', 2)} | "
                     f"{fmt(m, 'precision')} | {fmt(m, 'recall')} | {fmt(m, 'density')} | {coverage} | {parzen} | "
                     f"{fmt(m, 'SWD', 2)} | {fmt(m, 'diversity', 2)} | {row.get('epoch', '')} | {row.get('train_minutes', '')} |")
        if row.get("samples"):
            samples.append(row)
    lines += ["", f"a ± b: the score of sampling seed 0 (what `gan-zoo eval` draws), and its standard "
              f"deviation over {len(SPREAD_SEEDS)} sampling seeds; Parzen: mean ± standard error."]
    if samples:
        lines += ["", "Samples of the shipped generators (fixed noise; a column per class):", "",
                  "| model / data | samples |", "|---|---|"]
        lines += [f"| `{r['name']}` | ![{r['name']}]({r['samples']}) |" for r in samples]
    lines.append("")
    lines.append("Reproduce a row: its training command, then its scoring command "
                 "(`folder:lfw_gray`: a folder of the LFW faces as grayscale images):")
    lines.append("")
    for row in rows:
        if "train_command" in row:
            lines.append(f"    {row['train_command']}")
        lines.append(f"    {row['eval_command']}")
    table = "\n".join(lines)
    readme = os.path.join(ROOT, "README.md")
    with open(readme) as fh:
        text = fh.read()
    if TABLE_START in text:
        head, rest = text.split(TABLE_START)
        _, tail = rest.split(TABLE_END)
        with open(readme, "w") as fh:
            fh.write(f"{head}{TABLE_START}\n{table}\n{TABLE_END}{tail}")
    return table


def main(_):
    logging.set_verbosity(logging.WARNING)
    os.chdir(ROOT)
    results_path = os.path.join(ROOT, "docs", "results.json")
    rows = {}
    if os.path.exists(results_path):
        with open(results_path) as fh:
            rows = {r["name"]: r for r in json.load(fh)}
    for name in FLAGS.only or list(RECIPES):
        if name not in RECIPES:
            raise SystemExit(f"unknown recipe {name!r}; recipes: {', '.join(RECIPES)}")
        commands, run_dirs = train_commands(name)
        command, run_dir = commands if len(commands) > 1 else commands[0], run_dirs[-1]
        if FLAGS.train and not FLAGS.rescore and RECIPES[name][1].get("dataset") == "":
            raise SystemExit(f"{name} trains on the face photos in $GAN_ZOO_BENCH_DATA/faces/"
                             f"lfw_gray: set {bench_data.VARIABLE}.")
        if FLAGS.train and not FLAGS.rescore:
            # from scratch: an earlier run there would be resumed (and a finished one kept)
            for stage, folder in zip(commands, run_dirs):
                shutil.rmtree(folder, ignore_errors=True)
                print(f"training {name}: {_shown(stage)}", flush=True)
                subprocess.run([sys.executable, *stage[1:]], check=True)
        minutes = sum(_train_minutes(d) or 0 for d in run_dirs) \
            if FLAGS.score and not FLAGS.rescore else None
        if FLAGS.rescore:
            card = rescore_shipped(name)
        elif FLAGS.score:
            card = score_and_ship(name, run_dir, minutes, command)
        else:  # the shipped card as it is (scored when it was shipped)
            from gan_zoo.settings import config as config_lib
            from gan_zoo.serving import pretrained
            card = pretrained.card(name)
            generator, _ = pretrained.load(name)
            card["samples"] = write_samples(name, generator, models_spec(card),
                                            config_lib.from_saved(card["config"]))
        rows[name] = card
        print(f"{name}: {json.dumps(card['metrics'], default=float)}", flush=True)
    for dataset, load_kwargs in (REAL_ROWS if FLAGS.real_rows else {}).items():
        rows[f"real/{dataset}"] = real_row(dataset, load_kwargs)
    order = [f"real/{d}" for d in REAL_ROWS] + list(RECIPES)
    data_order = [name.split("/")[1] for name in order]
    ordered = sorted((rows[k] for k in order if k in rows), key=lambda r: (
        data_order.index(r["name"].split("/")[1]), order.index(r["name"])))
    with open(results_path, "w") as fh:
        json.dump([{k: v for k, v in r.items() if k not in ("config", "data_spec")} | {"name": r["name"]}
                   for r in ordered], fh, indent=2, default=float)
    print(write_table(ordered))


def _train_minutes(run_dir):
    """Minutes of training steps (timing.csv), which is what two machines can compare."""
    import csv
    path = os.path.join(run_dir, "timing.csv")
    if not os.path.exists(path):
        return None
    with open(path) as fh:
        return sum(float(r["seconds"]) for r in csv.DictReader(fh)) / 60


if __name__ == "__main__":
    app.run(main)
