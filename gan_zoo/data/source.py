"""A cached data set (Source) and its one tf.data pipeline, plus the uint8 <-> [-1, 1] helpers
every data module, the scorer and the tools share."""
import dataclasses

import numpy as np
import tensorflow as tf

from gan_zoo.data.spec import DataSpec

_SHUFFLE_BUFFER_CAP = 100_000


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
        """Batches of one epoch: (images float32 [-1,1], conditions float32 [batch, condition_dim])."""
        shuffle_seed = seed * 100_003 + epoch  # a different, reproducible order every epoch
        ds = self.images_and_labels.shuffle(min(self.num_examples, _SHUFFLE_BUFFER_CAP),
                                            seed=shuffle_seed, reshuffle_each_iteration=False)
        if self.augment is not None:  # seeded by the example's place in the epoch: resumable
            ds = ds.enumerate().map(
                lambda i, pair: self.augment(*pair, tf.stack([tf.constant(shuffle_seed, tf.int64), i])),
                num_parallel_calls=tf.data.AUTOTUNE)
        ds = ds.batch(batch_size, drop_remainder=True)
        ds = ds.map(lambda x, y: (scale_images(x), self.conditions(y)),
                    num_parallel_calls=tf.data.AUTOTUNE)
        if skip_batches:
            ds = ds.skip(skip_batches)
        return ds.prefetch(tf.data.AUTOTUNE)


def scale_images(uint8_images):
    return tf.cast(uint8_images, tf.float32) / 127.5 - 1.0


def resize_uint8(image, height, width):
    """A uint8 image (or batch) resized with antialiasing, rounded back to uint8."""
    resized = tf.image.resize(image, (height, width), antialias=True)
    return tf.cast(tf.round(tf.clip_by_value(resized, 0, 255)), tf.uint8)


def to_uint8(images):
    """[-1, 1] floats -> uint8, rounding to nearest."""
    return tf.cast(tf.round(tf.clip_by_value((images + 1.0) * 127.5, 0.0, 255.0)), tf.uint8)
