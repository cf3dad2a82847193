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
    unreadable: object = None  # files: fn() -> [(path, reason)] of those that no longer decode
    memory_limit: int = IN_MEMORY_BYTES  # decoded bytes held in memory; a larger set streams
    cache_root: str = ""  # where a streamed set's decoded copy goes (disk_cache.default_root())
    fingerprint: str = ""  # the data and how it is read: names that copy

    def streams(self):
        """Whether the decoded set is larger than it may take in memory (--data_memory_mb)."""
        return self.num_examples * int(np.prod(self.spec.image_shape)) > self.memory_limit

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
        if self.augment is None:
            self._stored()  # reading settles the count, should a file fail to decode then
        return self.num_examples // batch_size

    def epoch_batches(self, batch_size, epoch, seed, skip_batches=0, shard=(0, 1)):
        """Batches of one epoch: (images float32 [-1,1], conditions float32 [batch, condition_dim]).
        `shard` = (index, count): the index-th of `count` equal slices of each batch's rows,
        what one of `count` workers reads (the same order everywhere, each row read once).

        Data that fits --data_memory_mb is gathered a batch at a time from one uint8 tensor by
        a shuffled index, instead of shuffled and batched element by element: the same batches,
        in the same order, with a fraction of tf.data's per-element work on the cores the train
        step needs. Larger data is gathered by the same index from its decoded copy on disk."""
        shuffle_seed = seed * 100_003 + epoch  # a different, reproducible order every epoch
        buffer = min(self.num_examples, _SHUFFLE_BUFFER_CAP)
        stored = self._stored() if self.augment is None else None
        if stored is not None:
            gather_images, labels = stored
            # tf.data's shuffle of the indices: the permutation it would give the examples
            order = tf.data.Dataset.range(self.num_examples).shuffle(
                buffer, seed=shuffle_seed, reshuffle_each_iteration=False)
            order = _rows_of(order.batch(batch_size, drop_remainder=True), batch_size, shard)
            ds = (order.skip(skip_batches) if skip_batches else order).map(
                lambda index: (scale_images(gather_images(index)),
                               self.conditions(tf.gather(labels, index))),
                num_parallel_calls=tf.data.AUTOTUNE)
            return _prefetched(ds)
        ds = self.images_and_labels.shuffle(buffer, seed=shuffle_seed, reshuffle_each_iteration=False)
        if self.augment is not None:  # seeded by the example's place in the epoch: resumable
            ds = ds.enumerate().map(
                lambda i, pair: self.augment(*pair, tf.stack([tf.constant(shuffle_seed, tf.int64), i])),
                num_parallel_calls=tf.data.AUTOTUNE)
        ds = _rows_of(ds.batch(batch_size, drop_remainder=True), batch_size, shard)
        ds = ds.map(lambda x, y: (scale_images(x), self.conditions(y)),
                    num_parallel_calls=tf.data.AUTOTUNE)
        if skip_batches:
            ds = ds.skip(skip_batches)
        return _prefetched(ds)

    def _stored(self):
        """(gather(indices) -> uint8 images, labels [N, ...]) of the whole set, read once: from
        one tensor when the decoded set fits --data_memory_mb, else from its decoded copy on
        disk (gan_zoo.data.disk_cache); None for an empty set. Says which, and why, once."""
        if "_store" not in self.__dict__:
            store = None
            if self.num_examples > 0:
                store = self._on_disk() if self.streams() else self._in_memory()
            self.__dict__["_store"] = store
        return self.__dict__["_store"]

    def _in_memory(self):
        table = next(iter(self.images_and_labels.batch(self.num_examples)), None)
        read = 0 if table is None else int(table[0].shape[0])
        if read < self.num_examples:
            self._skipped_when_read(read)
        _log_choice(f"{self.name}: {read:,} images, {_gib(self._bytes(read))} decoded, held in "
                    f"memory (up to --data_memory_mb={self.memory_limit >> 20}).")
        images = table[0]
        return (lambda index: tf.gather(images, index)), table[1]

    def _on_disk(self):
        from gan_zoo.data import disk_cache
        root = self.cache_root or disk_cache.default_root()
        _log_choice(f"{self.name}: {self.num_examples:,} images, {_gib(self._bytes(self.num_examples))} "
                    f"decoded, over --data_memory_mb={self.memory_limit >> 20}: streamed from a "
                    f"decoded copy in {root} (written once), a batch at a time.")
        cache = disk_cache.build(root, self.fingerprint or _fallback_key(self), self.images_and_labels,
                                 self.num_examples, self.spec.image_shape, _log_choice)
        if cache.count < self.num_examples:
            self._skipped_when_read(cache.count)
        return cache.gather, cache.labels

    def _bytes(self, count):
        return count * int(np.prod(self.spec.image_shape))

    def _skipped_when_read(self, read):
        """A file the scan decoded failed when read (changed or removed since): named, counted,
        and the epoch made of the images that were read."""
        from absl import logging
        from gan_zoo.errors import UserError
        broken = self.unreadable() if self.unreadable else []
        example = f", e.g. {broken[0][0]} ({broken[0][1]})" if broken else ""
        if not read:
            raise UserError(f"None of the {self.num_examples} images of {self.name} could be "
                            f"read{example}.")
        logging.warning("Skipped %d image(s) that failed to decode when read (changed since the "
                        "scan?)%s.", self.num_examples - read, example)
        self.num_examples = read


def _rows_of(batches, batch_size, shard):
    """Each batch's rows of `shard` (index, count): the index-th of count equal slices."""
    index, count = shard
    if count == 1:
        return batches
    rows = batch_size // count
    return batches.map(lambda *batch: tf.nest.map_structure(
        lambda part: part[index * rows:(index + 1) * rows], batch if len(batch) > 1 else batch[0]))


def _log_choice(message):
    from absl import logging
    logging.info("%s", message)


def _gib(size):
    return f"{size / 2**30:.2f} GiB" if size >= 2**28 else f"{size / 2**20:.0f} MiB"


def _fallback_key(source):
    """A cache name for a Source built without a fingerprint (by hand, in a tool)."""
    import hashlib
    text = f"{source.name}|{source.num_examples}|{source.spec.image_shape}"
    return hashlib.sha256(text.encode()).hexdigest()[:20]


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
