"""A cached data set (Source) and its one tf.data pipeline, plus the uint8 <-> [-1, 1] helpers
every data module, the scorer and the tools share."""
import dataclasses

import numpy as np
import tensorflow as tf

from gan_zoo.data.spec import DataSpec

_SHUFFLE_BUFFER_CAP = 100_000
IN_MEMORY_BYTES = 1 << 30  # data sets up to 1 GiB of uint8 are gathered a batch at a time


@dataclasses.dataclass
class Source:
    """A cached data set of (uint8 HxWxC image, label) pairs and what models need to know.

    `label` is an int class for class data sets, or the condition vector itself for data
    with per-image conditions; `condition_table` [classes, condition_dim] turns int labels
    into condition vectors (identity = one-hot; class tags = multi-hot).
    """
    name: str
    images_and_labels: tf.data.Dataset
    num_examples: int
    spec: DataSpec
    condition_table: object = None  # np.ndarray or None (labels are already vectors)
    held_out: object = None  # paired data: the test split's Source (metrics, figures)
    augment: object = None  # paired data, training: fn(target, input, seed) -> (target, input)

    def conditions(self, labels):
        if self.spec.is_paired:  # the "label" is the input image
            return scale_images(labels)
        if self.condition_table is None:
            return tf.cast(labels, tf.float32)
        return tf.gather(tf.constant(self.condition_table, tf.float32), labels)

    def without_conditions(self):
        """The same images with [batch, 0] conditions, for unconditional models."""
        images = self.images_and_labels.map(lambda image, label: (image, tf.zeros([], tf.int32)))
        return dataclasses.replace(self, spec=self.spec.unconditional(), images_and_labels=images,
                                   condition_table=np.zeros((1, 0), np.float32))

    def steps_per_epoch(self, batch_size):
        return self.num_examples // batch_size

    def epoch_batches(self, batch_size, epoch, seed, skip_batches=0):
        """Batches of one epoch: (images float32 [-1,1], conditions float32 [batch, condition_dim]).

        Data that fits in memory (most sets: MNIST is 47 MB) is gathered a batch at a time
        from one uint8 tensor by a shuffled index, instead of shuffled and batched element by
        element: the same batches, in the same order, with a fraction of tf.data's per-element
        work on the cores the train step needs."""
        shuffle_seed = seed * 100_003 + epoch  # a different, reproducible order every epoch
        buffer = min(self.num_examples, _SHUFFLE_BUFFER_CAP)
        table = self._in_memory() if self.augment is None else None
        if table is not None:
            images, labels = table
            # tf.data's shuffle of the indices: the permutation it would give the examples
            order = tf.data.Dataset.range(self.num_examples).shuffle(
                buffer, seed=shuffle_seed, reshuffle_each_iteration=False)
            ds = order.batch(batch_size, drop_remainder=True).map(
                lambda index: (scale_images(tf.gather(images, index)),
                               self.conditions(tf.gather(labels, index))),
                num_parallel_calls=tf.data.AUTOTUNE)
            return _prefetched(ds.skip(skip_batches) if skip_batches else ds)
        ds = self.images_and_labels.shuffle(buffer, seed=shuffle_seed, reshuffle_each_iteration=False)
        if self.augment is not None:  # seeded by the example's place in the epoch: resumable
            ds = ds.enumerate().map(
                lambda i, pair: self.augment(*pair, tf.stack([tf.constant(shuffle_seed, tf.int64), i])),
                num_parallel_calls=tf.data.AUTOTUNE)
        ds = ds.batch(batch_size, drop_remainder=True)
        ds = ds.map(lambda x, y: (scale_images(x), self.conditions(y)),
                    num_parallel_calls=tf.data.AUTOTUNE)
        if skip_batches:
            ds = ds.skip(skip_batches)
        return _prefetched(ds)

    def _in_memory(self):
        """(uint8 images [N, H, W, C], labels [N, ...]) of the whole set, read once, when it
        takes at most IN_MEMORY_BYTES; else None (batches then stream element by element)."""
        if "_table" not in self.__dict__:
            size = self.num_examples * int(np.prod(self.spec.image_shape))
            table = None
            if 0 < self.num_examples and size <= IN_MEMORY_BYTES:
                table = next(iter(self.images_and_labels.batch(self.num_examples)))
                if int(table[0].shape[0]) != self.num_examples:
                    table = None
            self.__dict__["_table"] = table
        return self.__dict__["_table"]


def scale_images(uint8_images):
    return tf.cast(uint8_images, tf.float32) / 127.5 - 1.0


def resize_uint8(image, height, width):
    """A uint8 image (or batch) resized with antialiasing, rounded back to uint8."""
    resized = tf.image.resize(image, (height, width), antialias=True)
    return tf.cast(tf.round(tf.clip_by_value(resized, 0, 255)), tf.uint8)


def to_uint8(images):
    """[-1, 1] floats -> uint8, rounding to nearest."""
    return tf.cast(tf.round(tf.clip_by_value((images + 1.0) * 127.5, 0.0, 255.0)), tf.uint8)


def _prefetched(ds):
    """`ds` two batches ahead, without tf.data's autotuning thread. That thread wakes at 10 ms, 20 ms, 40 ms, ...
    after the iterator starts (so at 10.2 s, then 20.5 s), and deleting an iterator could wait
    for its next wake-up: an epoch that ended 10.2-20.5 s after it began (maxout_cgan's
    Fashion-MNIST epoch takes ~15 s) then sat idle until 20.5 s, a third of the epoch lost,
    in some epochs and not others. The parallel maps keep AUTOTUNE's width (one call per
    core)."""
    options = tf.data.Options()
    options.autotune.enabled = False
    return ds.prefetch(2).with_options(options)
