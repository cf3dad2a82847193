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


# Each figure declared once: a step records it by this object, loss.csv heads its column
# with the name.
REAL_P = Figure("Real_P", "d", "D's mean sigmoid on real images")
FAKE_P = Figure("Fake_P", "d", "D's mean sigmoid on fakes")
GEN_LOSS = Figure("Gen_loss", "g", "G's loss")
DIS_LOSS = Figure("Dis_loss", "d", "D's loss, its penalty included")
D_ACC = Figure("D_acc", "acc", "D's share right")
G_ACC = Figure("G_acc", "acc", "G's share of fakes called real")
REAL_SCORE = Figure("Real_score", "d", "D's raw logit on real images (a WGAN critic's score)")
FAKE_SCORE = Figure("Fake_score", "d", "D's raw logit on fakes (their difference estimates W-1)")
GP = Figure("GP", "d", "the gradient penalty")
FIGURES = (REAL_P, FAKE_P, GEN_LOSS, DIS_LOSS, D_ACC, G_ACC, REAL_SCORE, FAKE_SCORE, GP)  # loss.csv's order
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

    def add(self, values):
        """Record one step's figures, {Figure: value}, every figure of each side it touches,
        averaged across replicas in one all-reduce; returns the averaged values by Figure."""
        sides = [side for side in SIDES if any(f.side == side for f in values)]
        order = [f for side in sides for f in FIGURES if f.side == side]
        missing = [f.name for f in order if f not in values]
        if missing or len(values) != len(order):
            raise ValueError(f"a step records all of a side's figures at once; missing {missing}")
        averaged = distribute.mean_across_replicas(tf.stack([values[f] for f in order]))
        start = 0
        for side in sides:
            count = len(names(side))
            self._sums[side].assign_add(averaged[start:start + count])
            self._counts[side].assign_add(1.0)
            start += count
        return {f: averaged[i] for i, f in enumerate(order)}

    def reset(self):
        for v in (*self._sums.values(), *self._counts.values()):
            v.assign(tf.zeros_like(v))

    def named_variables(self):
        """{name: variable} of the sums and counts (what a checkpoint of the epoch holds)."""
        return {**{f"{s}_sums": v for s, v in self._sums.items()},
                **{f"{s}_count": v for s, v in self._counts.items()}}

    def mean_tensors(self):
        """means() as tensors, read inside a graph (Keras' fit() logs): 0 / 0 is nan."""
        out = {}
        for side in SIDES:
            total = self._sums[side].read_value() / self._counts[side].read_value()
            out.update({name: total[i] for i, name in enumerate(names(side))})
        out.update(D_steps=self._counts["d"].read_value(), G_steps=self._counts["g"].read_value())
        return out

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
