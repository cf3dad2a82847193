"""TensorFlow Datasets image-classification sets (any set with `image` and `label` features)."""
import os
import socket

import numpy as np

import tensorflow as tf

from gan_zoo.errors import UserError
from gan_zoo.models import DataSpec


def load(name, data_dir="", download=True, split="train"):
    from gan_zoo.data import Source
    import tensorflow_datasets as tfds

    data_dir = data_dir or None
    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except tfds.core.registered.DatasetNotFoundError:
        raise UserError(f"Unknown data set {name!r}: tfds has no such builder. Use a tfds "
                        "image-classification set (e.g. mnist, fashion_mnist, cifar10) or "
                        "--dataset=folder:PATH for your own images.") from None
    features = builder.info.features
    if "image" not in features or "label" not in features:
        raise UserError(f"Data set {name!r} has features {sorted(features)}; gan_zoo's label "
                        "pipeline needs 'image' and 'label'.")
    if not builder.is_prepared():
        _prepare(builder, name, download)
    try:
        ds = builder.as_dataset(split=split, shuffle_files=False, as_supervised=True)
    except ValueError as e:  # unknown split
        raise UserError(f"Data set {name!r} has no split {split!r} "
                        f"(it has {', '.join(builder.info.splits)}): {e}") from None
    ds = ds.map(lambda image, label: (image, tf.cast(label, tf.int32)))
    spec = DataSpec(image_shape=tuple(features["image"].shape),
                    condition_dim=features["label"].num_classes,
                    class_names=tuple(features["label"].names))
    if None in spec.image_shape:
        raise UserError(f"Data set {name!r} has images of varying size {spec.image_shape}; "
                        "gan_zoo needs a fixed image size.")
    return Source(name=name, images_and_labels=ds,
                  num_examples=builder.info.splits[split].num_examples, spec=spec,
                  condition_table=np.eye(spec.condition_dim, dtype=np.float32))


def _prepare(builder, name, download):
    looked_in = builder.data_dir
    fixes = ("Fixes: (1) run once on a machine with internet access, and tfds downloads and "
             "prepares it; or (2) pass --data_dir=DIR (or set TFDS_DATA_DIR) to a TFDS data_dir "
             f"that already holds {name!r}.")
    if not download:
        raise UserError(f"Data set {name!r} is not prepared in {looked_in} and --nodownload "
                        f"was given. {fixes}")
    if not _online():
        raise UserError(f"Data set {name!r} is not prepared in {looked_in}, and this machine "
                        f"cannot reach the internet to download it. {fixes}")
    try:
        builder.download_and_prepare()
    except Exception as e:  # tfds raises many types; the user needs the same two fixes
        raise UserError(f"Downloading {name!r} into {looked_in} failed ({type(e).__name__}: "
                        f"{str(e)[:300]}). {fixes}") from None


def _online(host="storage.googleapis.com"):
    """A name lookup answers at once offline, where tfds' own retries take minutes."""
    if os.environ.get("GAN_ZOO_OFFLINE"):
        return False
    try:
        socket.getaddrinfo(host, 443)
        return True
    except OSError:
        return False
