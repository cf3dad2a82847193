"""Decoded images on disk, for a data set larger than the memory it may take (--data_memory_mb).

The reader's images are written once, in its order, as one file of uint8 rows (a pass that
holds only tf.data's buffers), and every epoch then gathers its batches from that file by
index, as the in-memory path gathers them from one tensor: the same shuffled permutation,
so a streamed epoch is as deterministic and as resumable as an in-memory one, and memory
holds a few batches, not the data set. Reads go through the page cache (os.preadv), which
the kernel gives back under pressure and which a process's RSS does not count.

A cache is a folder named by the data's fingerprint, written under a temporary name and
renamed whole: a killed write is never read, and two processes building it race harmlessly.
"""
import json
import os
import shutil
import tempfile
import time

import numpy as np
import tensorflow as tf

IMAGES, LABELS, DONE = "images.u8", "labels.npy", "done.json"
WRITE_BATCH = 256
PROGRESS_EVERY_S = 30.0


CACHE_VARIABLE = "GAN_ZOO_CACHE_DIR"  # overrides the default folder (the tests point it at theirs)


def default_root():
    return os.environ.get(CACHE_VARIABLE) or os.path.join(os.path.expanduser("~"), ".cache",
                                                          "gan_zoo", "decoded")


class DecodedCache:
    """A finished cache folder: `rows(indices)` of uint8 images, `labels` in memory."""

    def __init__(self, folder):
        with open(os.path.join(folder, DONE)) as fh:
            done = json.load(fh)
        self.folder, self.count = folder, int(done["count"])
        self.image_shape = tuple(done["image_shape"])
        self.row_bytes = int(np.prod(self.image_shape))
        self.labels = np.load(os.path.join(folder, LABELS))
        self._fd = os.open(os.path.join(folder, IMAGES), os.O_RDONLY)

    def __del__(self, close=os.close):  # bound now: at interpreter exit `os` may be gone
        if getattr(self, "_fd", None) is not None:
            close(self._fd)

    def rows(self, indices):
        """uint8 images [len(indices), H, W, C], in the order asked."""
        out = np.empty((len(indices), self.row_bytes), np.uint8)
        for row, index in zip(out, np.asarray(indices, np.int64)):
            os.preadv(self._fd, [row], int(index) * self.row_bytes)
        return out.reshape(-1, *self.image_shape)

    def gather(self, indices):
        """`rows` inside a tf.data map (the reads release the GIL: parallel calls overlap).
        The batch keeps the indices' static length, as a gather from memory does: a train step
        traced for [None, ...] is optimised into other kernels, whose float rounding differs."""
        images = tf.numpy_function(self.rows, [indices], tf.uint8, stateful=False)
        return tf.ensure_shape(images, (indices.shape[0], *self.image_shape))


def build(root, key, images_and_labels, expected, image_shape, log):
    """The DecodedCache of `key` under `root`, written from `images_and_labels` (uint8 image,
    label) pairs when it is not there yet; `log(message)` reports the pass."""
    final = os.path.join(root, key)
    if os.path.exists(os.path.join(final, DONE)):
        return DecodedCache(final)
    _check_space(root, expected * int(np.prod(image_shape)))
    try:
        os.makedirs(root, exist_ok=True)
        partial = tempfile.mkdtemp(prefix=f"{key}.partial-", dir=root)
    except OSError as e:
        from gan_zoo.errors import UserError
        raise UserError(f"Cannot write the decoded copy in {root} ({e.strerror}): pass "
                        "--data_cache_dir=DIR, a folder you can write to.") from None
    try:
        labels, written, started, last = [], 0, time.monotonic(), time.monotonic()
        with open(os.path.join(partial, IMAGES), "wb") as fh:
            for images, batch_labels in images_and_labels.batch(WRITE_BATCH).prefetch(2):
                fh.write(np.ascontiguousarray(images.numpy()).tobytes())
                labels.append(batch_labels.numpy())
                written += len(labels[-1])
                if time.monotonic() - last >= PROGRESS_EVERY_S:
                    last = time.monotonic()
                    log(f"Decoding to {final}: {written:,} of {expected:,} images "
                        f"({written / (last - started):.0f}/s)")
            fh.flush()
            os.fsync(fh.fileno())
        np.save(os.path.join(partial, LABELS), np.concatenate(labels) if labels else np.zeros(0))
        with open(os.path.join(partial, DONE), "w") as fh:
            json.dump({"count": written, "image_shape": list(image_shape)}, fh)
        try:
            os.rename(partial, final)
        except OSError:  # another process finished it first: theirs is the same data
            shutil.rmtree(partial, ignore_errors=True)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return DecodedCache(final)


def check_space(root, source):
    """Refuse, before decoding anything, a streamed set whose decoded copy is not written yet
    and would not fit on the disk of `root`."""
    if not os.path.exists(os.path.join(root, source.fingerprint, DONE)):
        _check_space(root, source.num_examples * int(np.prod(source.spec.image_shape)))


def _check_space(root, needed):
    from gan_zoo.errors import UserError
    existing = root
    while not os.path.exists(existing):  # the cache folder may not be made yet
        existing = os.path.dirname(existing) or "."
    free = shutil.disk_usage(existing).free
    if needed > free:
        error = UserError(f"The decoded images need {needed / 2**30:.1f} GiB in {root}, which has "
                          f"{free / 2**30:.1f} GiB free: pass --data_cache_dir on a larger disk, "
                          "or lower --image_size or --max_images.")
        error.exit_code = 1
        raise error
