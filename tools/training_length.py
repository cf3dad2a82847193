"""Measure quality against images shown for a label model on a few hundred images, and write
docs/data.md's "How long to train your own data" table and docs/training_length.png.

    python tools/training_length.py [--run_dir=runs/length] [--images=300] [--kimg=150]

Trains (unless --run_dir already holds a finished run) conv_cgan's recipe on the first
--images Fashion-MNIST training images for --kimg thousand images, scored against the test
split as it goes (the run's own metrics.csv), then writes the figure and the table. The
default length of a folder data set (gan_zoo.settings.config.FOLDER_KIMG) is read off this
curve. Fashion-MNIST comes from TFDS_DATA_DIR or Debian's dataset-fashion-mnist.
"""
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from absl import app, flags  # noqa: E402

flags.DEFINE_string("run_dir", "runs/length", "The measured run (trained here when unfinished).")
flags.DEFINE_integer("images", 300, "Training images: a folder of a few hundred.")
flags.DEFINE_float("kimg", 150, "Length of the measured run, in thousands of images shown to D.")
flags.DEFINE_string("model", "conv_cgan", "The label model measured.")
FLAGS = flags.FLAGS
START, END = "<!-- length:start -->", "<!-- length:end -->"
FIGURE = os.path.join("docs", "training_length.png")
COLUMNS = ("label_accuracy", "FID", "recall", "coverage")


def command():
    return ["gan-zoo", "train", f"--model={FLAGS.model}", "--dataset=fashion_mnist",
            f"--max_images={FLAGS.images}", f"--kimg={FLAGS.kimg:g}", f"--run_dir={FLAGS.run_dir}",
            "--progress=false"]


def trained():
    """(metrics rows with a kimg column, the run's config)."""
    from gan_zoo.run.run_files import RunFiles, load_json, read_csv
    files = RunFiles(FLAGS.run_dir)
    config = load_json(files.config_json)["config"] if os.path.exists(files.config_json) else {}
    rows = read_csv(files.metrics_csv) if os.path.exists(files.metrics_csv) else {}
    if not rows or int(rows["epoch"][-1]) < config.get("epochs", 1):
        args = [a.replace("gan-zoo", "") for a in command()[2:]]
        subprocess.run([sys.executable, "-m", "gan_zoo.train", *args], check=True, cwd=ROOT)
        return trained()
    rows["kimg"] = rows["steps"] * config["batch_size"] / 1000
    return rows, config


def figure(rows):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(COLUMNS), figsize=(4 * len(COLUMNS), 3.2))
    for ax, name in zip(axes, COLUMNS):
        ax.plot(rows["kimg"], rows[name], "o-")
        ax.set_xlabel("thousands of images shown to D (kimg)")
        ax.set_title(name)
        ax.grid(alpha=0.3)
    fig.suptitle(f"{FLAGS.model} on {FLAGS.images} Fashion-MNIST images")
    fig.tight_layout()
    fig.savefig(os.path.join(ROOT, FIGURE), dpi=90)
    plt.close(fig)


def section(rows, config):
    from gan_zoo.run.run_files import RunFiles, read_csv
    from gan_zoo.settings import speed_defaults
    timing = read_csv(RunFiles(FLAGS.run_dir).timing_csv)
    minutes = timing["seconds"].cumsum() / 60
    per_epoch = {int(e): m for e, m in zip(timing["epoch"], minutes)}
    lines = [f"Measured: `{' '.join(command())}` ({os.cpu_count()} CPU cores, ISA {speed_defaults.isa()}; "
             f"scores of {config['eval_samples']:,} samples against the test split, so FID is "
             "higher than the 10,000-sample figures of the results table).", "",
             f"![quality against images shown]({os.path.basename(FIGURE)})", "",
             "| kimg | training minutes | " + " | ".join(COLUMNS) + " |",
             "|---|---|" + "---|" * len(COLUMNS)]
    for i, epoch in enumerate(rows["epoch"]):
        values = " | ".join(f"{rows[c][i]:.3g}" for c in COLUMNS)
        lines.append(f"| {rows['kimg'][i]:.0f} | {per_epoch.get(int(epoch), float('nan')):.1f} | {values} |")
    return "\n".join(lines)


def main(_):
    rows, config = trained()
    figure(rows)
    path = os.path.join(ROOT, "docs", "data.md")
    with open(path) as fh:
        text = fh.read()
    head, rest = text.split(START)
    _, tail = rest.split(END)
    with open(path, "w") as fh:
        fh.write(f"{head}{START}\n{section(rows, config)}\n{END}{tail}")
    print(json.dumps({c: rows[c].tolist() for c in ("kimg", *COLUMNS)}))


if __name__ == "__main__":
    app.run(main)
