"""Running a training: the epoch loop around the core's steps, and the run dir it writes.

The loop, the run dir's files (loss.csv, metrics, grids, config.json), checkpoints and the best
one, the run lock, disk-space checks, signals, progress, each epoch's figures, and starting
from an earlier stage's weights.
"""
