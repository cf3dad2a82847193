"""What a run writes to its directory: config.json, loss.csv, samples/, tb/.

loss.csv is appended one flushed row per epoch; on resume the rows past the restored
epoch are dropped first, so the file never holds torn or duplicated epochs.
"""
import csv
import os

import numpy as np
import tensorflow as tf

from gan_zoo import images as image_utils

# Real_P / Fake_P: D's mean sigmoid; Real_score / Fake_score: its raw logits (a WGAN critic's
# scores, whose difference estimates the Wasserstein distance); GP: the gradient penalty;
# D_acc / G_acc: D's share right and G's share of fakes passed; D_steps / G_steps: updates
# of each side this epoch; diversity: of the fixed samples, relative to real (collapse alarm).
LOSS_COLUMNS = ("epoch", "Real_P", "Fake_P", "Gen_loss", "Dis_loss", "D_acc", "G_acc",
                "Real_score", "Fake_score", "GP", "D_steps", "G_steps", "diversity", "lr", "steps",
                "seconds", "images_per_sec")


class RunFiles:
    def __init__(self, run_dir):
        self.run_dir = run_dir
        self.loss_csv = os.path.join(run_dir, "loss.csv")
        self.samples_dir = os.path.join(run_dir, "samples")
        self.checkpoint_dir = os.path.join(run_dir, "checkpoints")
        self.kept_dir = os.path.join(self.checkpoint_dir, "kept")  # --keep_every, never deleted
        self.config_json = os.path.join(run_dir, "config.json")
        self._tb = None

    def create(self):
        os.makedirs(self.samples_dir, exist_ok=True)
        os.makedirs(self.checkpoint_dir, exist_ok=True)

    @property
    def tb(self):
        if self._tb is None:
            self._tb = tf.summary.create_file_writer(os.path.join(self.run_dir, "tb"))
        return self._tb

    def truncate_losses(self, last_epoch):
        """Keep only rows for epochs <= last_epoch (the restored checkpoint's)."""
        if not os.path.exists(self.loss_csv):
            return
        with open(self.loss_csv, newline="") as fh:
            rows = list(csv.reader(fh))
        kept = [rows[0]] + [r for r in rows[1:] if len(r) == len(rows[0]) and int(r[0]) <= last_epoch]
        tmp = self.loss_csv + ".tmp"
        with open(tmp, "w", newline="") as fh:
            csv.writer(fh).writerows(kept)
        os.replace(tmp, self.loss_csv)

    def read_column(self, name):
        """The values of one loss.csv column (empty when there is no file or no such column)."""
        if not os.path.exists(self.loss_csv):
            return []
        with open(self.loss_csv, newline="") as fh:
            return [float(r[name]) for r in csv.DictReader(fh) if r.get(name) not in (None, "")]

    def append_losses(self, row):
        new = not os.path.exists(self.loss_csv)
        with open(self.loss_csv, "a", newline="") as fh:
            writer = csv.writer(fh)
            if new:
                writer.writerow(LOSS_COLUMNS)
            writer.writerow([row[c] if isinstance(row[c], int) else f"{row[c]:.6g}" for c in LOSS_COLUMNS])
            fh.flush()
            os.fsync(fh.fileno())

    def write_samples(self, epoch, grid_image):
        path = os.path.join(self.samples_dir, f"epoch_{epoch:04d}.png")
        image_utils.write_png(path, grid_image)
        with self.tb.as_default(step=epoch):
            tf.summary.image("samples", grid_image[None], max_outputs=1)
        return path

    def write_alarm(self, epoch, message):
        with self.tb.as_default(step=epoch):
            tf.summary.text("alarm", message)
        self.tb.flush()

    def write_scalars(self, epoch, row):
        with self.tb.as_default(step=epoch):
            for name in LOSS_COLUMNS[1:]:
                tf.summary.scalar(name, row[name])
        self.tb.flush()


def read_losses(path):
    """loss.csv as {column: np.array}."""
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    return {k: np.array([float(r[k]) for r in rows]) for k in (rows[0] if rows else LOSS_COLUMNS)}
