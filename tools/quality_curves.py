"""Quality against training minutes for each shipped label recipe, from the release runs'
own files: docs/quality_vs_minutes.png and the table between docs/results.md's markers.

    python tools/quality_curves.py [--runs=runs/results]

Reads the run dirs tools/ship_results.py trained (metrics.csv: the in-loop scores of each
epoch, --eval_samples of them; timing.csv: each epoch's seconds of training steps, scoring
excluded). A two-stage recipe's second stage starts where its first stage's minutes end.
Each recipe's points are kept in docs/quality_curves.json per CPU they were measured on (a
run on another kind of CPU adds a curve; one on the same kind replaces it), so a later call
with only some runs at hand redraws the others from there. Run it after ship_results.py, on
the same machine; it trains nothing.
"""
import json
import csv
import os
import platform
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tools"))
sys.path.insert(0, os.path.join(ROOT, "bench"))  # ship_results' bench_data

from absl import app  # noqa: E402

import ship_results  # noqa: E402  (its --runs flag names the release runs)

FLAGS = ship_results.FLAGS
FIGURE = os.path.join("docs", "quality_vs_minutes.png")
POINTS = os.path.join("docs", "quality_curves.json")  # {recipe: {cpu: [point, ...]}}
LINE_STYLES = ("-", "--", ":", "-.")  # one per CPU, in the order the CPUs were first measured
START, END = "<!-- curves:start -->", "<!-- curves:end -->"
PANELS = (("FID", "FID (classifier features, log scale)"), ("recall", "recall"),
          ("worst_class_coverage", "worst-class coverage"), ("label_accuracy", "label accuracy"))


def _rows(path):
    with open(path) as fh:
        return list(csv.DictReader(fh))


def curve(run_dir, offset=0.0, prefix=""):
    """[(minutes of training so far, epoch, {metric: value})] per scored epoch of one run dir,
    the epoch as `prefix` + its number."""
    metrics, timing = (os.path.join(run_dir, f) for f in ("metrics.csv", "timing.csv"))
    if not (os.path.exists(metrics) and os.path.exists(timing)):
        return []
    minutes, total = {}, offset
    for row in _rows(timing):
        total += float(row["seconds"]) / 60
        minutes[int(row["epoch"])] = total
    return [(minutes[int(r["epoch"])], prefix + r["epoch"],
             {k: float(v) for k, v in r.items() if k != "epoch" and v})
            for r in _rows(metrics) if int(r["epoch"]) in minutes]


def curves():
    """{recipe name: its curve} for every release recipe with a finished run here."""
    found = {}
    for name in ship_results.RECIPES:
        _, run_dirs = ship_results.train_commands(name)
        points, offset = [], 0.0
        for number, run_dir in enumerate(run_dirs, 1):
            stage = curve(os.path.join(ROOT, run_dir), offset,
                          f"stage {number} epoch " if len(run_dirs) > 1 else "")
            offset = stage[-1][0] if stage else offset
            points += stage
        if points and "FID" in points[-1][2]:
            found[name] = points
    return found


def cpu():
    """This machine in a few words: architecture, the ISA extensions that move TF's speed, cores."""
    from gan_zoo.settings import speed_defaults
    return f"{platform.machine()}, {speed_defaults.isa()}, {os.cpu_count()} cores"


def merged(found):
    """{recipe: {cpu: points}}: the curves of the runs found here now, on this CPU, and every
    other curve as last stored."""
    path = os.path.join(ROOT, POINTS)
    stored = {}
    if os.path.exists(path):
        with open(path) as fh:
            stored = {name: {c: [tuple(p) for p in points] for c, points in by_cpu.items()}
                      for name, by_cpu in json.load(fh).items()}
    for name, points in found.items():
        stored.setdefault(name, {})[cpu()] = points
    ordered = {name: stored[name] for name in ship_results.RECIPES if name in stored}
    with open(path, "w") as fh:  # one point a line: [minutes, epoch, {score: value}]
        fh.write("{\n" + ",\n".join(
            f" {json.dumps(name)}: {{\n" + ",\n".join(
                f"  {json.dumps(c)}: [\n   " + ",\n   ".join(json.dumps(list(p)) for p in points) + "]"
                for c, points in by_cpu.items()) + "}"
            for name, by_cpu in ordered.items()) + "\n}\n")
    return ordered


def _flat(found):
    """(recipe, cpu, points) for every stored curve, a recipe's CPUs in the order first measured."""
    return [(name, c, points) for name, by_cpu in found.items() for c, points in by_cpu.items()]


def plot(found):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(PANELS), figsize=(4 * len(PANELS), 3.8))
    colours = {name: f"C{i}" for i, name in enumerate(found)}
    cpus = list(dict.fromkeys(c for _, c, _ in _flat(found)))
    for ax, (key, title) in zip(axes, PANELS):
        for name, c, points in _flat(found):
            ax.plot([m for m, _, _ in points], [s.get(key, float("nan")) for _, _, s in points], marker=".",
                    color=colours[name], linestyle=LINE_STYLES[cpus.index(c) % len(LINE_STYLES)],
                    label=f"{name} ({c.split(', ')[1].split()[-1]})" if len(cpus) > 1 else name)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("training minutes (2 CPU cores)")
        if key == "FID":
            ax.set_yscale("log")
    handles, labels = axes[0].get_legend_handles_labels()  # below the panels, hiding no curve
    rows = -(-len(labels) // 3)
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.07 * rows, 1, 1))
    fig.savefig(os.path.join(ROOT, FIGURE), dpi=80)


def table(found):
    lines = ["| recipe | minutes | best in-loop FID (epoch, minute) | recall there | worst-class coverage there | "
             "label accuracy there | CPU |", "|---|---|---|---|---|---|---|"]
    for name, machine, points in _flat(found):
        minute, epoch, best = min(points, key=lambda point: point[2]["FID"])
        lines.append(f"| `{name}` | {points[-1][0]:.1f} | {best['FID']:.1f} ({epoch}, {minute:.1f}) | "
                     f"{best.get('recall', float('nan')):.3f} | {best.get('worst_class_coverage', float('nan')):.3f} | "
                     f"{best.get('label_accuracy', float('nan')):.3f} | {machine} |")
    lines += ["", "Made by `python tools/quality_curves.py` from runs of the release commands (under the "
              "README's table; a curve may come from a later run of the command than the shipped "
              "generator's, `tools/ship_results.py --score=false` trains one without shipping): "
              "their metrics.csv (in-loop scores of each epoch, on `--eval_samples` samples) and timing.csv "
              "(training steps only, scoring excluded), kept in quality_curves.json, a curve per "
              "recipe and kind of CPU (a line style per CPU in the figure). Minutes on one CPU "
              "compare only with minutes on the same kind of CPU. A two-stage recipe's curve runs through both stages (stage "
              "I's images nearest-upsampled), its minutes added up."]
    return "\n".join(lines)


def main(_):
    found = merged(curves())
    if not found:
        raise SystemExit(f"no finished release runs under {FLAGS.runs}: run tools/ship_results.py first.")
    plot(found)
    page = os.path.join(ROOT, "docs", "results.md")
    with open(page) as fh:
        text = fh.read()
    head, rest = text.split(START) if START in text else (text + "\n## Quality against training minutes\n\n", f"\n{END}\n")
    _, tail = rest.split(END)
    with open(page, "w") as fh:
        fh.write(f"{head}{START}\n{table(found)}\n\n![quality against training minutes](quality_vs_minutes.png)\n{END}{tail}")
    print(table(found))


if __name__ == "__main__":
    app.run(main)
