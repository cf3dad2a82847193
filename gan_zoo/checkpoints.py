"""Checkpoint series whose state file never names a checkpoint that is gone.

tf.train.CheckpointManager deletes the oldest checkpoint's files before it rewrites the state
file without it, so a kill in between leaves `checkpoint` listing files that no longer exist.
Here the manager never deletes: after each save the state file is rewritten (atomically)
with only the newest `keep`, and only then are the older files removed.
"""
import glob
import os

import tensorflow as tf


class CheckpointSeries:
    def __init__(self, checkpoint, directory, keep=None, name="ckpt"):
        self.checkpoint, self.directory, self.keep, self.name = checkpoint, directory, keep, name
        self._manager = self._open()

    def _open(self):
        return tf.train.CheckpointManager(self.checkpoint, self.directory, max_to_keep=None,
                                          checkpoint_name=self.name)

    @property
    def latest_checkpoint(self):
        return self._manager.latest_checkpoint

    def save(self, checkpoint_number):
        path = self._manager.save(checkpoint_number=checkpoint_number)
        listed = self._manager.checkpoints
        if self.keep is not None and len(listed) > self.keep:
            kept = listed[-self.keep:]
            tf.compat.v1.train.update_checkpoint_state(self.directory, path, kept)
            self._manager = self._open()  # reads the state just written
            for prefix in listed[:-self.keep]:
                for file in glob.glob(glob.escape(prefix) + ".*"):
                    os.remove(file)
        return path
