"""TensorFlow Datasets image-classification sets (any set with `image` and `label` features)."""
import difflib
import os
import socket

import numpy as np

import tensorflow as tf
from absl import logging

from gan_zoo.errors import UserError
from gan_zoo.data.spec import DataSpec


class NotPrepared(UserError):
    """The set is not in the data_dir and cannot be downloaded (offline, or --nodownload)."""


def load(name, data_dir="", download=True, split="train", condition_feature="", labels=True):
    """A Source of (image, int label), of (image, condition vector) with `condition_feature`,
    or of images alone (label 0, no condition) with `labels=False`."""
    from gan_zoo.data.source import Source
    import tensorflow_datasets as tfds

    data_dir = data_dir or None
    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except tfds.core.registered.DatasetNotFoundError:
        close = difflib.get_close_matches(name, [*tfds.list_builders(), "olivetti"], n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise UserError(f"Unknown data set {name!r}: tfds has no such builder.{hint} Use a tfds "
                        "image-classification set (e.g. mnist, fashion_mnist, cifar10), "
                        "olivetti, folder:PATH for your own images or idx:PATH for "
                        "MNIST-format files.") from None
    features = builder.info.features
    wanted = condition_feature or "label"
    if "image" not in features or (labels and wanted not in features):
        raise UserError(f"Data set {name!r} has features {sorted(features)}; gan_zoo needs 'image' "
                        f"and {wanted!r}" + ("" if condition_feature else
                                             " (or --condition_feature=NAME for a multi-label one)") + ".")
    ds = _read(builder, name, split, download)
    image_shape = tuple(features["image"].shape)
    if None in image_shape:
        raise UserError(f"Data set {name!r} has images of varying size {image_shape}; "
                        "gan_zoo needs a fixed image size.")
    if not labels:
        ds = ds.map(lambda ex: (ex["image"], tf.zeros([], tf.int32)))
        spec, table = DataSpec(image_shape=image_shape, condition_dim=0), np.zeros((1, 0), np.float32)
    elif condition_feature:
        to_vector, names = condition_vectors(features[condition_feature], name, condition_feature)
        ds = ds.map(lambda ex: (ex["image"], to_vector(ex[condition_feature])))
        grid = _first_distinct(ds, limit=10)
        spec = DataSpec(image_shape=image_shape, condition_dim=len(names), condition_names=tuple(names),
                        grid_conditions=grid, grid_names=tuple(
                            "+".join(n for n, v in zip(names, g) if v) or "none" for g in grid))
        table = None
    else:
        if not hasattr(features["label"], "num_classes"):
            raise UserError(f"{name!r}'s 'label' is not a class label ({type(features['label']).__name__}); "
                            "train an unconditional model on it (--model=dcgan).")
        ds = ds.map(lambda ex: (ex["image"], tf.cast(ex["label"], tf.int32)))
        spec = DataSpec(image_shape=image_shape, condition_dim=features["label"].num_classes,
                        class_names=tuple(features["label"].names))
        table = np.eye(spec.condition_dim, dtype=np.float32)
    split_info = builder.info.splits[split] if split in builder.info.splits else None
    count = split_info.num_examples if split_info else int(ds.reduce(0, lambda n, _: n + 1))
    return Source(name=name, images_and_labels=ds, num_examples=count, spec=spec,
                  condition_table=table)


def condition_vectors(feature, name, feature_name):
    """(fn: feature value -> float32 multi-hot vector, entry names) for a tfds multi-label feature."""
    import tensorflow_datasets as tfds
    if isinstance(feature, tfds.features.FeaturesDict):  # e.g. celeb_a's 40 boolean attributes
        keys = list(feature.keys())
        return (lambda value: tf.stack([tf.cast(value[k], tf.float32) for k in keys])), keys
    if isinstance(feature, tfds.features.Sequence) and isinstance(feature.feature, tfds.features.ClassLabel):
        n = feature.feature.num_classes  # e.g. voc's `labels`: the classes present in the image
        # a zero row first, so an image with no labels gives zeros, not reduce_max's -inf
        return (lambda value: tf.reduce_max(tf.concat([tf.zeros([1, n]), tf.one_hot(value, n)], 0),
                                            axis=0)), list(feature.feature.names)
    raise UserError(f"--condition_feature={feature_name!r} of {name!r} is a {type(feature).__name__}; "
                    "gan_zoo turns a dict of booleans (like celeb_a's attributes) or a sequence of "
                    "class labels into a multi-hot vector.")


def _first_distinct(ds, limit):
    seen = {}
    for _, vector in ds.take(2000).as_numpy_iterator():
        seen.setdefault(tuple(float(v) for v in vector), None)
        if len(seen) == limit:
            break
    return tuple(seen)


def _read(builder, name, split, download):
    """The split as a dataset of feature dicts, preparing it first where it is not."""
    try:
        return builder.as_dataset(split=split, shuffle_files=False)
    except ValueError as e:  # unknown split
        if "split" in str(e).lower() and builder.info.splits:
            raise UserError(f"Data set {name!r} has no split {split!r} "
                            f"(it has {', '.join(builder.info.splits)}).") from None
        if builder.is_prepared():
            raise
    except Exception:  # not prepared: tfds raises AssertionError or NotFoundError
        if builder.is_prepared():
            raise
    _prepare(builder, name, download)
    return builder.as_dataset(split=split, shuffle_files=False)


def _prepare(builder, name, download):
    looked_in = builder.data_dir
    fixes = ("Fixes: (1) run once on a machine with internet access, and tfds downloads and "
             "prepares it; or (2) pass --data_dir=DIR (or set TFDS_DATA_DIR) to a TFDS data_dir "
             f"that already holds {name!r}.")
    if not download:
        raise NotPrepared(f"Data set {name!r} is not prepared in {looked_in} and --nodownload "
                        f"was given. {fixes}")
    if not online():
        raise NotPrepared(f"Data set {name!r} is not prepared in {looked_in}, and this machine "
                        f"cannot reach the internet to download it. {fixes}")
    try:
        builder.download_and_prepare()
    except Exception as e:  # tfds raises many types; the user needs the same two fixes
        raise UserError(f"Downloading {name!r} into {looked_in} failed ({type(e).__name__}: "
                        f"{str(e)[:300]}). {fixes}") from None


def online(host="storage.googleapis.com"):
    """A name lookup answers at once offline, where tfds' own retries take minutes."""
    if os.environ.get("GAN_ZOO_OFFLINE"):
        return False
    try:
        socket.getaddrinfo(host, 443)
        return True
    except OSError:
        return False


def load_or_offline_copy(name, data_dir="", download=True, split="train", condition_feature="",
                         labels=True):
    """`load`; offline, Fashion-MNIST falls back to Debian's dataset-fashion-mnist files."""
    from gan_zoo.data import idx
    try:
        return load(name, data_dir=data_dir, download=download, split=split,
                    condition_feature=condition_feature, labels=labels)
    except NotPrepared:
        debian = idx.DEBIAN_FASHION_MNIST
        if name != "fashion_mnist" or condition_feature or not idx.has_split(debian, split):
            raise
        logging.info("fashion_mnist: tfds has no prepared copy and cannot download it; reading "
                     "the IDX files of Debian's dataset-fashion-mnist in %s", debian)
        return idx.load(debian, split, name="fashion_mnist", class_names=idx.FASHION_MNIST_CLASSES)
