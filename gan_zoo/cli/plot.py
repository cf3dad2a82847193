"""gan-zoo plot --run_dir=runs/maxout_cgan_fashion_mnist   (or python -m gan_zoo plot)

Writes, into the run dir:
  loss.png           D and G loss, Real_P / Fake_P (a WGAN critic's scores instead) and
                     the sample diversity, per epoch (from loss.csv)
  samples.gif        the per-epoch sample grids as an animation, the epoch on each frame
  interpolation.png  the latest generator walking between two noise vectors, one row per class
                     (models that draw from noise)
  metrics.png        the metrics.csv scores per epoch (--eval_every), the best marked
"""
import glob
import os
import re

import numpy as np

from gan_zoo.errors import UserError


def plot_losses(run_dir, out=None):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gan_zoo.run.run_files import RunFiles, read_csv
    files = RunFiles(run_dir)
    path = files.loss_csv
    if not os.path.exists(path):
        if os.path.exists(files.config_json):  # a run stopped before its first epoch ended
            raise UserError(f"{run_dir!r} has no loss.csv yet: its first epoch has not finished "
                            "(a row is written at the end of each). Train it further, then plot.")
        raise UserError(f"No loss.csv in {run_dir!r}: is it a run dir of `gan-zoo train`?")
    losses = read_csv(path)
    critic = _loss_name(run_dir).startswith("wgan")  # scores, not probabilities
    panels = 3 if "diversity" in losses else 2
    fig, axes = plt.subplots(1, panels, figsize=(5.5 * panels, 4))
    left, right = axes[0], axes[1]
    left.plot(losses["epoch"], losses["Dis_loss"], "o-", label="D loss")
    left.plot(losses["epoch"], losses["Gen_loss"], "s-", label="G loss")
    if critic:
        right.plot(losses["epoch"], losses["Real_score"], "o-", label="Real_score: D(real)")
        right.plot(losses["epoch"], losses["Fake_score"], "s-", label="Fake_score: D(G(z))")
        titles = ["losses", "critic's mean score"]
    else:
        right.plot(losses["epoch"], losses["Real_P"], "o-", label="Real_P: D(real)")
        right.plot(losses["epoch"], losses["Fake_P"], "s-", label="Fake_P: D(G(z))")
        right.set_ylim(0, 1)
        titles = ["losses", "D's mean probability 'real'"]
    if panels == 3:
        axes[2].plot(losses["epoch"], losses["diversity"], "o-", label="samples / real")
        axes[2].axhline(_collapse_threshold(run_dir), color="red", ls="--", label="collapse alarm")
        titles.append("sample diversity")
    for ax, title in zip(axes, titles):
        epoch_axis(ax, losses["epoch"])
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(os.path.basename(os.path.normpath(run_dir)))
    fig.tight_layout()
    out = out or os.path.join(run_dir, "loss.png")
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def plot_metrics(run_dir, out=None):
    """The --eval_every scores of metrics.csv, one panel per metric, the best epoch marked."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gan_zoo.eval.scoring import LOWER_IS_BETTER
    from gan_zoo.run.run_files import RunFiles, read_csv
    metrics = read_csv(RunFiles(run_dir).metrics_csv)
    names = [n for n in metrics if n not in ("epoch", "steps")]
    fig, axes = plt.subplots(1, len(names), figsize=(5 * len(names), 3.8), squeeze=False)
    for ax, name in zip(axes[0], names):
        lower = name in LOWER_IS_BETTER
        ax.plot(metrics["epoch"], metrics[name], "o-")
        best = int(np.nanargmin(metrics[name]) if lower else np.nanargmax(metrics[name]))
        ax.plot(metrics["epoch"][best], metrics[name][best], "r*", markersize=12)
        ax.set_title(f"{name} ({'lower' if lower else 'higher'} is better)")
        epoch_axis(ax, metrics["epoch"])
        ax.grid(alpha=0.3)
    fig.tight_layout()
    out = out or os.path.join(run_dir, "metrics.png")
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def epoch_axis(ax, epochs):
    """An x axis of whole epochs: ticks on integers, and a lone epoch in the middle of 0..2E
    rather than matplotlib's +-4% around it (0.96 to 1.04)."""
    from matplotlib.ticker import MaxNLocator
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if len(set(np.asarray(epochs).tolist())) == 1:
        ax.set_xlim(0, 2 * float(np.asarray(epochs)[0]))


def _saved_config(run_dir):
    from gan_zoo.run.run_files import RunFiles, load_json
    path = RunFiles(run_dir).config_json
    return load_json(path).get("config", {}) if os.path.exists(path) else {}


def _loss_name(run_dir):
    return _saved_config(run_dir).get("loss", "bce")


def _collapse_threshold(run_dir):
    return _saved_config(run_dir).get("collapse_threshold", 0.2)


def samples_gif(run_dir, out=None, seconds_per_frame=0.4):
    """One frame per epoch grid in samples/, with 'epoch N' drawn on a band above it."""
    from PIL import Image, ImageDraw
    from gan_zoo.run.run_files import RunFiles
    folder = RunFiles(run_dir).samples_dir
    paths = sorted(glob.glob(os.path.join(folder, "epoch_*.png")))
    if not paths:
        raise UserError(f"No sample grids in {folder!r} yet "
                        "(one is written at the end of every epoch).")
    frames = []
    for path in paths:
        epoch = int(re.search(r"epoch_(\d+)", path).group(1))
        grid = Image.open(path)
        grid = grid.convert("L" if grid.mode in ("L", "LA", "I;16") else "RGB")
        frame = Image.new(grid.mode, (grid.width, grid.height + 16), 0)
        frame.paste(grid, (0, 16))
        ImageDraw.Draw(frame).text((3, 2), f"epoch {epoch}", fill=255 if grid.mode == "L" else (255,) * 3)
        frames.append(frame)
    out = out or os.path.join(run_dir, "samples.gif")
    frames[0].save(out, save_all=True, append_images=frames[1:], loop=0,
                   duration=int(seconds_per_frame * 1000))
    return out


def slerp(a, b, t):
    """Spherical interpolation: in-between points keep the norm Gaussian noise has."""
    cos = np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b))
    omega = np.arccos(np.clip(cos, -1.0, 1.0))
    if omega < 1e-6:
        return (1 - t) * a + t * b
    return (np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / np.sin(omega)


def interpolation_grid(run_dir, out=None, steps=10, seed=0):
    """Rows: classes (or grid conditions; for unconditional models, 4 walks); columns: the walk
    from noise vector A to B."""
    from gan_zoo import data, images, models
    from gan_zoo.core import noise as noise_lib
    from gan_zoo.run.run_dir import restore_generator
    import tensorflow as tf
    generator, config, spec, _ = restore_generator(run_dir)
    rng = tf.random.Generator.from_seed(seed)
    a, b = noise_lib.from_generator(rng, 2, config.noise_dim, config.noise).numpy()
    path = np.stack([slerp(a, b, t) for t in np.linspace(0.0, 1.0, steps)]).astype(np.float32)
    if spec.is_conditional:
        rows = spec.grid_condition_matrix()
        k = len(rows)
        noise, condition = np.tile(path, (k, 1)), np.repeat(rows, steps, axis=0)
    else:  # one walk per row, from different pairs of noise vectors
        k = 4
        ends = noise_lib.from_generator(rng, 2 * (k - 1), config.noise_dim, config.noise).numpy()
        walks = [path] + [np.stack([slerp(ends[2 * i], ends[2 * i + 1], t)
                                    for t in np.linspace(0.0, 1.0, steps)]) for i in range(k - 1)]
        noise, condition = np.concatenate(walks).astype(np.float32), None
    pictures = data.to_uint8(models.generate(generator, noise, condition)).numpy()
    out = out or os.path.join(run_dir, "interpolation.png")
    images.write_png(out, images.grid(pictures, k, steps))
    return out


def main():
    from absl import flags
    FLAGS = flags.FLAGS
    if not os.path.isdir(FLAGS.run_dir):
        raise UserError(f"Run dir {FLAGS.run_dir!r} does not exist.")
    written = [plot_losses(FLAGS.run_dir), samples_gif(FLAGS.run_dir)]
    from gan_zoo.run.run_files import RunFiles
    if os.path.exists(RunFiles(FLAGS.run_dir).metrics_csv):
        written.append(plot_metrics(FLAGS.run_dir))
    from gan_zoo import models
    paired = models.describe(_saved_config(FLAGS.run_dir).get("model", "maxout_cgan")).paired
    if FLAGS.interpolation and not paired:  # an image-to-image generator takes no noise
        written.append(interpolation_grid(FLAGS.run_dir))
    print("Wrote " + ", ".join(written))


def command(argv=None):
    """The command line: its flags, then main (gan-zoo plot, python -m gan_zoo plot)."""
    from absl import flags

    from gan_zoo.cli import options as cli
    flags.DEFINE_string("run_dir", None, "Run directory written by gan_zoo.train.", required=True)
    flags.DEFINE_boolean("interpolation", True, "Also draw the latent interpolation grid "
                         "(needs a checkpoint).")
    cli.start(main, __doc__, argv=argv)


if __name__ == "__main__":
    command()
