"""Input pipelines: image-classification data -> batches of (images in [-1, 1], condition vectors).

Sources (each returns a `Source`): tfds sets (`tfds_source.py`), a folder of images with
or without one sub-folder per class (`image_folder.py`), MNIST-format IDX files (`idx.py`),
the Olivetti faces (`olivetti.py`), and tag conditions (`conditions.py`). Unconditional models get the same
pipeline with empty [batch, 0] conditions (`Source.without_conditions`).
`Source.epoch_batches` is the one tf.data pipeline every trainer reads: cached uint8
images, an epoch-seeded shuffle (so a resumed run sees the same order), batch, scale,
labels -> condition vectors (one-hot or multi-hot), prefetch.
"""
import dataclasses

import numpy as np
import tensorflow as tf

from gan_zoo.data import idx
from gan_zoo.data import source as source_lib
from gan_zoo.data.source import Source, resize_uint8, scale_images, to_uint8  # noqa: F401
from gan_zoo.data.spec import DataSpec  # noqa: F401
from gan_zoo.errors import UserError

FOLDER_PREFIX = "folder:"


def load(dataset, data_dir="", download=True, split="train", max_images=0, image_size=0,
         class_tags="", condition_csv="", condition_feature="", center_crop=0.0, conditional=True,
         paired=False, direction="AtoB", jitter=0.0, mirror=False, unlabelled_ok=False,
         memory_mb=source_lib.IN_MEMORY_BYTES >> 20, cache_dir=""):
    """A `Source` for a tfds name, `olivetti`, `folder:PATH` or `idx:PATH` (MNIST-format files);
    UserError with the fix when it cannot.

    `paired=True` (image-to-image models) reads pairs instead: facades, edges2fashion or
    paired:PATH, with `direction`, and `jitter` / `mirror` on training batches (paired.py).

    `conditional=False` drops labels (unconditional models; tfds sets need no label then);
    `unlabelled_ok=True` takes images without labels as they are (a model that is conditional
    only on labelled data: StackGAN).
    `center_crop` keeps a centred square first, its side that fraction of the shorter side
    (the LFW reference keeps the middle half: 0.5).
    `image_size` > 0 brings images to that square size: padded with background when at
    most 8 pixels larger (MNIST's 28 -> 32, the digit untouched), else resized.
    `memory_mb`: decoded images held in memory at most; a larger set streams from a decoded
    copy written once under `cache_dir` (gan_zoo.data.disk_cache).
    `class_tags` (a JSON file or a packaged name) turns classes into multi-hot tag vectors;
    `condition_csv` gives a folder data set per-image tags (see gan_zoo/data/conditions.py);
    `condition_feature` conditions on a tfds multi-label feature (celeb_a's `attributes`).
    """
    from gan_zoo.data import conditions, paired as paired_data
    if paired or paired_data.is_paired_dataset(dataset):
        if not paired:
            raise UserError(f"{dataset!r} is a set of image pairs, for --model=img2img; this "
                            "model draws from noise (and labels).")
        if not paired_data.is_paired_dataset(dataset):
            raise UserError(f"img2img trains on image pairs: --dataset=facades, edges2fashion or "
                            f"paired:PATH, not {dataset!r}.")
        for name, value in (("class_tags", class_tags), ("condition_csv", condition_csv),
                            ("condition_feature", condition_feature), ("center_crop", center_crop)):
            if value:
                raise UserError(f"--{name} does not apply to image pairs; leave it out.")
        return paired_data.load(dataset, data_dir, download, split, direction, image_size,
                                jitter, mirror, max_images)
    if condition_csv:
        if not dataset.startswith(FOLDER_PREFIX):
            raise UserError("--condition_csv gives per-image tags for a folder data set: use it "
                            "with --dataset=folder:PATH.")
        source = conditions.folder_with_csv(dataset[len(FOLDER_PREFIX):], condition_csv)
    elif dataset.startswith(FOLDER_PREFIX):
        from gan_zoo.data import image_folder
        source = image_folder.load(dataset[len(FOLDER_PREFIX):], resize=bool(image_size),
                                   cache_dir=cache_dir)
    elif dataset == "olivetti":
        from gan_zoo.data import olivetti
        source = olivetti.load(data_dir, download, split)
    elif dataset.startswith(idx.PREFIX):
        source = idx.load(dataset[len(idx.PREFIX):], split)
    else:
        from gan_zoo.data import tfds_source
        source = tfds_source.load_or_offline_copy(dataset, data_dir, download, split,
                                                  condition_feature, conditional)
    if class_tags:
        source = conditions.with_class_tags(source, class_tags)
    if not conditional:
        if source.spec.is_conditional:
            source = source.without_conditions()
    elif not source.spec.is_conditional and not unlabelled_ok:
        raise UserError(f"{dataset!r} has no labels, and this model is conditional. Use an "
                        "unconditional model (--model=dcgan), or give the images classes "
                        "(one sub-folder per class) or tags (--condition_csv).")
    if max_images and max_images < source.num_examples:
        source = dataclasses.replace(source, num_examples=max_images,
                                     images_and_labels=source.images_and_labels.take(max_images))
    if center_crop and center_crop < 1.0:
        source = _cropped(source, center_crop)
    if image_size and source.spec.image_shape[:2] != (image_size, image_size):
        source = _resized(source, image_size)
    source.memory_limit, source.cache_root = memory_mb << 20, cache_dir
    if source.streams():
        from gan_zoo.data import disk_cache
        source.fingerprint = _fingerprint(source, dataset, split, data_dir, max_images, image_size,
                                          class_tags, condition_csv, condition_feature, center_crop)
        disk_cache.check_space(cache_dir or disk_cache.default_root(), source)
    else:
        _check_memory(source)
        source.images_and_labels = source.images_and_labels.cache()
    return source


def _fingerprint(source, *how_read):
    """Names a streamed set's decoded copy: how it was read, and for a folder each file's name,
    size and time, so a changed folder gets a new copy."""
    import hashlib
    import json
    digest = hashlib.sha256(json.dumps([source.name, source.num_examples,
                                        list(source.spec.image_shape), *map(str, how_read)]).encode())
    if source.name.startswith(FOLDER_PREFIX):
        import os
        for folder, _, files in sorted(os.walk(source.name[len(FOLDER_PREFIX):])):
            for name in sorted(files):
                stat = os.stat(os.path.join(folder, name))
                digest.update(f"{folder}/{name}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:24]


def _check_memory(source):
    """Refuse, before decoding anything, a data set whose decoded images would not fit in the
    memory this machine has free (the pipeline keeps them all): one line, not an OOM later."""
    needed = source.num_examples * int(np.prod(source.spec.image_shape))  # uint8 bytes
    try:
        with open("/proc/meminfo") as fh:
            free = next(int(line.split()[1]) * 1024 for line in fh if line.startswith("MemAvailable:"))
    except (OSError, StopIteration, ValueError, IndexError):
        return  # not Linux: nothing to compare with
    if needed > free:
        error = UserError(f"The {source.num_examples} images at {'x'.join(map(str, source.spec.image_shape))} "
                          f"need {needed / 2**30:.1f} GiB of memory once decoded, and this machine "
                          f"has {free / 2**30:.1f} GiB free: lower --image_size, or --max_images.")
        error.exit_code = 1  # a resource, not a usage mistake
        raise error


def for_config(config, split="train"):
    """The data a TrainConfig trains on (data set, data_dir, download, subset, crop, size)."""
    from gan_zoo import models
    return load(config.dataset, data_dir=config.data_dir, download=config.download, split=split,
                max_images=config.max_images, image_size=config.image_size,
                class_tags=config.class_tags, condition_csv=config.condition_csv,
                condition_feature=config.condition_feature, center_crop=config.center_crop,
                conditional=models.describe(config.model).takes_condition,
                unlabelled_ok=models.describe(config.model).labels_optional,
                paired=models.describe(config.model).paired, direction=config.direction,
                jitter=config.jitter, mirror=config.mirror, memory_mb=config.data_memory_mb,
                cache_dir=config.data_cache_dir)


def _cropped(source, fraction):
    """A centred square, its side `fraction` of the shorter side (LFW 250 at 0.5 -> 125;
    celeb_a 218x178 at 0.6 -> the usual 107x107 face crop)."""
    height, width, channels = source.spec.image_shape
    side = max(1, int(round(fraction * min(height, width))))
    top, left = (height - side) // 2, (width - side) // 2
    spec = dataclasses.replace(source.spec, image_shape=(side, side, channels))
    return dataclasses.replace(source, spec=spec, images_and_labels=source.images_and_labels.map(
        lambda image, label: (image[top:top + side, left:left + side], label),
        num_parallel_calls=tf.data.AUTOTUNE))


def _resized(source, size):
    height, width, channels = source.spec.image_shape
    pad = 0 <= size - height <= 8 and 0 <= size - width <= 8

    def fit(image, label):
        if pad:  # background is the darkest value, 0 in uint8
            top, left = (size - height) // 2, (size - width) // 2
            return tf.image.pad_to_bounding_box(image, top, left, size, size), label
        return resize_uint8(image, size, size), label

    spec = dataclasses.replace(source.spec, image_shape=(size, size, channels))
    return dataclasses.replace(source, spec=spec, images_and_labels=source.images_and_labels.map(
        fit, num_parallel_calls=tf.data.AUTOTUNE))
