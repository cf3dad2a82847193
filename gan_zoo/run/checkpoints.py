"""Checkpoint series whose state file never names a checkpoint that is gone.

tf.train.CheckpointManager deletes the oldest checkpoint's files before it rewrites the state
file without it, so a kill in between leaves `checkpoint` listing files that no longer exist.
Here the manager never deletes: after each save the state file is rewritten (atomically)
with only the newest `keep`, and only then are the other files of the series removed.
"""
import glob
import os
import shutil

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
        try:
            path = self._manager.save(checkpoint_number=checkpoint_number)
        except Exception:  # e.g. a full disk: drop what TensorFlow left of this one
            prefix = os.path.join(self.directory, f"{self.name}-{checkpoint_number}")
            shutil.rmtree(prefix + "_temp", ignore_errors=True)
            raise
        listed = self._manager.checkpoints
        if self.keep is not None and len(listed) > self.keep:
            kept = listed[-self.keep:]
            _write_state(self.directory, path, kept)
            self._manager = self._open()  # reads the state just written
            # every file of this series the state no longer names, leftovers of a kill included
            pattern = os.path.join(glob.escape(self.directory), f"{glob.escape(self.name)}-*.*")
            names = {os.path.basename(p) for p in kept}
            for file in glob.glob(pattern):
                if os.path.basename(file).split(".", 1)[0] not in names:
                    os.remove(file)
        return path


def _write_state(directory, latest, listed):
    """Rewrite the `checkpoint` state file (the text proto TensorFlow wrote) naming only `listed`
    with their timestamps, whole, then renamed into place."""
    from google.protobuf import text_format
    state = tf.train.get_checkpoint_state(directory)
    stamps = dict(zip(state.all_model_checkpoint_paths, state.all_model_checkpoint_timestamps))
    state.model_checkpoint_path = os.path.relpath(latest, directory)
    del state.all_model_checkpoint_paths[:]
    del state.all_model_checkpoint_timestamps[:]
    for path in listed:
        state.all_model_checkpoint_paths.append(os.path.relpath(path, directory))
        if path in stamps:
            state.all_model_checkpoint_timestamps.append(stamps[path])
    if len(state.all_model_checkpoint_timestamps) != len(listed):
        del state.all_model_checkpoint_timestamps[:]
    target = os.path.join(directory, "checkpoint")
    with open(target + ".tmp", "w") as fh:
        fh.write(text_format.MessageToString(state))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(target + ".tmp", target)


def newest_first(directory):
    """Every checkpoint of `directory`, newest (highest number) first: those its state file
    names and any other on disk (an index file), so a state file that names a missing or
    broken checkpoint still leaves the older whole ones to fall back to."""
    if not os.path.isdir(directory):
        return []
    prefixes = {os.path.normpath(p[:-len(".index")])
                for p in glob.glob(os.path.join(glob.escape(directory), "*.index"))}
    try:
        state = tf.train.get_checkpoint_state(directory)  # its paths joined to `directory`
    except (tf.errors.OpError, ValueError):  # a state file that is not a text proto
        state = None
    if state is not None:
        prefixes |= {os.path.normpath(p) for p in
                     [*state.all_model_checkpoint_paths, state.model_checkpoint_path] if p}
    return sorted(prefixes, key=_number, reverse=True)


def restore_newest_whole(restore, paths, where):
    """Call restore(path) on `paths` in order until one succeeds; returns that path (None when
    `paths` is empty). A checkpoint that is missing, truncated or zero-filled is skipped with a
    warning naming it; when none is whole, a UserError names each and why."""
    from absl import logging

    from gan_zoo.errors import UserError
    skipped = []
    for path in paths:
        try:
            restore(path)
        except Exception as e:  # a broken file raises OpError, IndexError, ValueError, ...
            reason = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
            skipped.append(f"{os.path.basename(path)} ({type(e).__name__}: {reason})")
            continue
        if skipped:
            logging.warning("Skipped broken checkpoint(s) in %s: %s; restored %s instead.",
                            where, "; ".join(skipped), os.path.basename(path))
        return path
    if skipped:
        raise UserError(f"No whole checkpoint in {where}: {'; '.join(skipped)}. The files are "
                        "missing, truncated or overwritten; restore them from a backup, or pass "
                        "a new --run_dir to start over.")
    return None


def _number(prefix):
    tail = os.path.basename(prefix).rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else -1
