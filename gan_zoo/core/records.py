"""What every train step records, and the loss.csv columns it becomes: one schema, read by the
step accumulators, run_files (the CSV header) and the logs.

A figure belongs to one side and is averaged over that side's records in the epoch: "d" over
D steps, "acc" over accuracy measurements (every D step, and every decision of the adaptive
schedule), "g" over G steps. Wall-clock figures go to timing.csv, so loss.csv is a function of
the settings alone (two --deterministic runs write identical files).
"""
import dataclasses

import tensorflow as tf

from gan_zoo.core import distribute


@dataclasses.dataclass(frozen=True)
class Figure:
    name: str
    side: str
    meaning: str


FIGURES = (  # in loss.csv's column order
    Figure("Real_P", "d", "D's mean sigmoid on real images"),
    Figure("Fake_P", "d", "D's mean sigmoid on fakes"),
    Figure("Gen_loss", "g", "G's loss"),
    Figure("Dis_loss", "d", "D's loss, its penalty included"),
    Figure("D_acc", "acc", "D's share right"),
    Figure("G_acc", "acc", "G's share of fakes called real"),
    Figure("Real_score", "d", "D's raw logit on real images (a WGAN critic's score)"),
    Figure("Fake_score", "d", "D's raw logit on fakes (their difference estimates W-1)"),
    Figure("GP", "d", "the gradient penalty"),
)
SIDES = ("d", "acc", "g")
# Per epoch: updates of each side, sample diversity (relative to real images: the collapse
# alarm), G's learning rate, batches consumed so far.
EPOCH_COLUMNS = ("D_steps", "G_steps", "diversity", "lr", "steps")
LOSS_COLUMNS = ("epoch", *(f.name for f in FIGURES), *EPOCH_COLUMNS)
TIMING_COLUMNS = ("epoch", "seconds", "images_per_sec")
LOGGED = ("Real_P", "Fake_P", "Gen_loss", "Dis_loss", "D_acc", "G_acc", "diversity",
          "images_per_sec")  # what the progress bar and the epoch's log line show


def names(side):
    return tuple(f.name for f in FIGURES if f.side == side)


class EpochMeans(tf.Module):
    """Per-side sums and counts of this epoch's figures, in variables the replica functions
    add to. They hold the first replica's value: what is added was reduced across replicas.
    They are checkpointed, so an epoch resumed from a mid-epoch checkpoint (Ctrl-C, SIGTERM)
    writes the row of the whole epoch, not of the steps after the resume."""

    def __init__(self):
        super().__init__(name="epoch_means")
        first = dict(trainable=False, aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
        self._sums = {s: tf.Variable(tf.zeros(len(names(s))), name=f"{s}_sums", **first)
                      for s in SIDES}
        self._counts = {s: tf.Variable(0.0, name=f"{s}_count", **first) for s in SIDES}

    def add(self, **by_side):
        """Record one step's figures, {side: {name: value}}, averaged across replicas in one
        all-reduce; returns the averaged figures by name."""
        order = [(side, name) for side in by_side for name in names(side)]
        averaged = distribute.mean_across_replicas(tf.stack([by_side[s][n] for s, n in order]))
        start = 0
        for side in by_side:
            count = len(names(side))
            self._sums[side].assign_add(averaged[start:start + count])
            self._counts[side].assign_add(1.0)
            start += count
        return {name: averaged[i] for i, (_, name) in enumerate(order)}

    def reset(self):
        for v in (*self._sums.values(), *self._counts.values()):
            v.assign(tf.zeros_like(v))

    def means(self):
        """This epoch's means so far by figure name (nan for a side with no record yet), and
        D_steps / G_steps, the updates of each side."""
        out = {}
        for side in SIDES:
            count = float(self._counts[side].numpy())
            out.update({name: float(v) / count if count else float("nan")
                        for name, v in zip(names(side), self._sums[side].numpy())})
        out.update(D_steps=int(self._counts["d"].numpy()), G_steps=int(self._counts["g"].numpy()))
        return out
