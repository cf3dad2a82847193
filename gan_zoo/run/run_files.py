"""What a run writes to its directory: config.json, loss.csv, timing.csv, metrics.csv (the
--eval_every scores, gan_zoo.eval.scoring), best.json, samples/, tb/.

loss.csv and timing.csv are appended one fsynced row per epoch; on resume the rows past
the restored epoch, and a last row torn by a kill, are dropped first, so the files never
hold torn or duplicated epochs.
"""
import csv
import json
import os

import numpy as np
import tensorflow as tf

from gan_zoo.run import disk_space
from gan_zoo import images as image_utils
from gan_zoo.core.records import LOSS_COLUMNS, TIMING_COLUMNS
from gan_zoo.errors import UserError

# loss.csv's columns are gan_zoo.core.records' schema; metrics.csv: epoch, the metrics the run
# measures (which depend on the data; see gan_zoo.eval.scoring), steps.


class RunFiles:
    def __init__(self, run_dir):
        self.run_dir = run_dir
        self.loss_csv = os.path.join(run_dir, "loss.csv")
        self.timing_csv = os.path.join(run_dir, "timing.csv")
        self.metrics_csv = os.path.join(run_dir, "metrics.csv")
        self.samples_dir = os.path.join(run_dir, "samples")
        self.checkpoint_dir = os.path.join(run_dir, "checkpoints")
        self.kept_dir = os.path.join(self.checkpoint_dir, "kept")  # --keep_every, never deleted
        self.best_dir = os.path.join(self.checkpoint_dir, "best")  # the --select_by best so far
        self.best_json = os.path.join(run_dir, "best.json")
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

    def truncate_after(self, last_epoch):
        """Keep only whole rows for epochs <= last_epoch (the restored checkpoint's), each once,
        in loss.csv, timing.csv and metrics.csv."""
        for path, columns in ((self.loss_csv, LOSS_COLUMNS), (self.timing_csv, TIMING_COLUMNS),
                              (self.metrics_csv, None)):
            _truncate(path, columns, last_epoch)

    def mend_history(self, last_epoch, steps_per_epoch):
        """On resume: the loss.csv and timing.csv rows of epochs 1..last_epoch that are missing
        (a file deleted, a row torn or damaged) rebuilt from the TensorBoard log, which holds
        every figure of each row; returns {file name: [epochs still missing]} for a warning."""
        logged, gone = None, {}
        for path, columns in ((self.loss_csv, LOSS_COLUMNS), (self.timing_csv, TIMING_COLUMNS)):
            rows = _rows_by_epoch(path, columns)
            missing = [e for e in range(1, last_epoch + 1) if e not in rows]
            if not missing:
                continue
            logged = _logged_scalars(os.path.join(self.run_dir, "tb")) if logged is None else logged
            for e in missing:
                found = {"epoch": e, "steps": e * steps_per_epoch, **logged.get(e, {})}
                if all(c in found for c in columns):
                    rows[e] = [str(found[c]) if isinstance(found[c], int) else f"{found[c]:.6g}"
                               for c in columns]
            _write_rows(path, columns, [rows[e] for e in sorted(rows)])
            still = [e for e in missing if e not in rows]
            if still:
                gone[os.path.basename(path)] = still
        return gone

    def read_column(self, name):
        """The values of one loss.csv column (empty when there is no file or no such column)."""
        if not os.path.exists(self.loss_csv):
            return []
        with open(self.loss_csv, newline="") as fh:
            return [float(r[name]) for r in csv.DictReader(fh) if r.get(name) not in (None, "")]

    def append_losses(self, row):
        _append(self.loss_csv, LOSS_COLUMNS, row)

    def append_timing(self, row):
        _append(self.timing_csv, TIMING_COLUMNS, row)

    def append_metrics(self, row):
        """`row`: epoch, then the metrics, then steps. A file written with other metrics (a
        run resumed after a metric was added) is first rewritten under the new header, its
        rows kept by column name."""
        if os.path.exists(self.metrics_csv):
            with open(self.metrics_csv, newline="") as fh:
                header = next(csv.reader(fh), None)
            if header is not None and tuple(header) != tuple(row):
                _truncate(self.metrics_csv, tuple(row), last_epoch=row["epoch"])
        _append(self.metrics_csv, tuple(row), row)

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
            for name, value in row.items():
                if name not in ("epoch", "steps") and isinstance(value, (int, float)):
                    tf.summary.scalar(name, value)
        self.tb.flush()


def _append(path, columns, row):
    """One whole line per write, fsynced: a kill leaves at most one torn last line."""
    new = not os.path.exists(path)
    line = [row[c] if isinstance(row[c], int) else f"{row[c]:.6g}" for c in columns]
    with disk_space.naming(path), open(path, "a", newline="") as fh:
        writer = csv.writer(fh)
        if new:
            writer.writerow(columns)
        writer.writerow(line)
        fh.flush()
        os.fsync(fh.fileno())


def _truncate(path, columns, last_epoch):
    """Rewrite `path` (atomically) with its whole rows of epochs 1..last_epoch, in order, once
    each, under today's header (an older run's columns are carried over by name); `columns`
    None keeps the file's own header."""
    if not os.path.exists(path):
        return
    with open(path, newline="") as fh:
        text = fh.read()
    lines = text.split("\n")
    if not text.endswith("\n"):
        lines = lines[:-1]  # torn by a kill in the middle of a write
    rows = list(csv.reader(line for line in lines if line))
    if not rows:
        os.remove(path)
        return
    header, kept, seen = rows[0], [], set()
    columns = header if columns is None else columns
    for r in rows[1:]:
        if len(r) != len(header) or not all(map(_is_number, r)):  # torn or damaged: dropped
            continue
        record = dict(zip(header, r))
        try:
            epoch = int(record["epoch"])
        except (KeyError, ValueError):
            continue
        if epoch <= last_epoch and epoch not in seen:
            seen.add(epoch)
            kept.append([record.get(c, "nan") for c in columns])
    _write_rows(path, columns, kept)


def _is_number(cell):
    try:
        float(cell)
        return True
    except ValueError:
        return False


def _write_rows(path, columns, rows):
    """`path` rewritten atomically: the header, then `rows`."""
    tmp = path + ".tmp"
    with disk_space.naming(tmp), open(tmp, "w", newline="") as fh:
        csv.writer(fh).writerows([list(columns)] + rows)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _rows_by_epoch(path, columns):
    """{epoch: cells} of a CSV that _truncate has cleaned (empty where there is no file)."""
    if not os.path.exists(path):
        return {}
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    return {int(r["epoch"]): [r.get(c, "nan") for c in columns] for r in rows}


def _logged_scalars(tb_dir):
    """{epoch: {name: value}} of the scalars in a run's TensorBoard log; the latest written
    wins where an epoch was logged twice (a rerun after a kill)."""
    found = {}
    for path in sorted(tf.io.gfile.glob(os.path.join(tb_dir, "events.out.tfevents.*"))):
        try:
            for event in tf.compat.v1.train.summary_iterator(path):
                for value in event.summary.value:
                    if value.HasField("tensor") and not value.tensor.string_val:
                        scalar = float(tf.make_ndarray(value.tensor))
                    elif value.HasField("simple_value"):
                        scalar = value.simple_value
                    else:
                        continue
                    found.setdefault(int(event.step), {})[value.tag] = scalar
        except tf.errors.DataLossError:  # a log cut by a kill: what was read before it counts
            continue
    return found


def read_csv(path):
    """A CSV of numbers (loss.csv, timing.csv, metrics.csv) as {column: np.array}; a UserError
    naming the line and column of a cell that is not a number (a hand edit, a damaged disk)."""
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    columns = rows[0] if rows else LOSS_COLUMNS
    for line, row in enumerate(rows, 2):
        for k in columns:
            try:
                float(row[k])
            except (TypeError, ValueError):
                raise UserError(f"{path} line {line}: {k} is {row[k]!r}, not a number. Mend or "
                                "delete that line; training the run again rebuilds a missing "
                                "epoch's row from its TensorBoard log.") from None
    return {k: np.array([float(r[k]) for r in rows]) for k in columns}


def save_json(path, obj):
    """Write JSON atomically, so a crash never leaves a half-written file behind."""
    tmp = f"{path}.tmp"
    with disk_space.naming(tmp), open(tmp, "w") as fh:
        json.dump(obj, fh, indent=2, sort_keys=True)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def load_json(path):
    """A run dir's JSON file (config.json, best.json); a UserError naming it where it is damaged."""
    try:
        with open(path, "rb") as fh:
            found = json.loads(fh.read().decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as e:  # JSONDecodeError is a ValueError
        raise UserError(f"{path} is damaged (not JSON: {str(e)[:80]}). Restore it from a copy, or "
                        "pass a new --run_dir to start afresh.") from None
    if not isinstance(found, dict):
        raise UserError(f"{path} is damaged (JSON, but not an object of settings). Restore it from "
                        "a copy, or pass a new --run_dir to start afresh.")
    return found
