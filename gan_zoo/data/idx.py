"""MNIST-format IDX files (`--dataset=idx:DIR`): the format MNIST, Fashion-MNIST and KMNIST
ship in, read with numpy so a machine with no internet and no tfds copy can still train.

DIR holds `train-images-idx3-ubyte` and `train-labels-idx1-ubyte` (and the `t10k-` pair for
the test split), each optionally gzipped. Debian's `dataset-fashion-mnist` package installs
Fashion-MNIST's in DEBIAN_FASHION_MNIST, which `fashion_mnist` falls back to (tfds_source.py).
"""
import gzip
import os

import numpy as np

from gan_zoo.errors import UserError

PREFIX = "idx:"
DEBIAN_FASHION_MNIST = "/usr/share/datasets/fashion-mnist"
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
                         "Shirt", "Sneaker", "Bag", "Ankle boot")
_SPLIT_PREFIX = {"train": "train", "test": "t10k"}
_DTYPE = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def has_split(directory, split="train"):
    return all(_find(directory, split, kind) for kind in ("images-idx3", "labels-idx1"))


def load(directory, split="train", name=None, class_names=None):
    """A Source of (uint8 image [28, 28, 1], int label) from the IDX files in `directory`."""
    from gan_zoo.data.source import Source
    from gan_zoo.data.spec import DataSpec
    import tensorflow as tf

    if not os.path.isdir(directory):
        what = "is a file" if os.path.exists(directory) else "does not exist"
        raise UserError(f"--dataset=idx:{directory}: {directory!r} {what}; give the folder that "
                        "holds the IDX files (train-images-idx3-ubyte[.gz], "
                        "train-labels-idx1-ubyte[.gz]).")
    if split not in _SPLIT_PREFIX:
        raise UserError(f"IDX data has the splits train and test, not {split!r}.")
    paths = {kind: _find(directory, split, kind) for kind in ("images-idx3", "labels-idx1")}
    missing = [f"{_SPLIT_PREFIX[split]}-{kind}-ubyte[.gz]" for kind, p in paths.items() if not p]
    if missing:
        raise UserError(f"{directory!r} has no {' or '.join(missing)} (the {split} split of an "
                        "MNIST-format data set).")
    images, labels = read(paths["images-idx3"]), read(paths["labels-idx1"])
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise UserError(f"{paths['images-idx3']} and {paths['labels-idx1']} do not match: images "
                        f"{images.shape}, labels {labels.shape}; expected [N, H, W] and [N].")
    labels = labels.astype(np.int32)
    num_classes = int(labels.max()) + 1
    class_names = tuple(class_names or (str(c) for c in range(num_classes)))
    images = images.astype(np.uint8)[..., None]
    ds = tf.data.Dataset.from_tensor_slices((images, labels))
    spec = DataSpec(image_shape=images.shape[1:], condition_dim=len(class_names),
                    class_names=class_names)
    return Source(name=name or f"{PREFIX}{directory}", images_and_labels=ds,
                  num_examples=len(images), spec=spec,
                  condition_table=np.eye(len(class_names), dtype=np.float32))


def read(path):
    """One IDX file as a numpy array (magic: two zero bytes, the dtype code, the rank)."""
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as fh:
            data = fh.read()
    except (OSError, EOFError) as e:
        raise UserError(f"Cannot read the IDX file {path}: {e}.") from None
    if len(data) < 4 or data[:2] != b"\0\0" or data[2] not in _DTYPE:
        raise UserError(f"{path} is not an IDX file (its first bytes are {data[:4]!r}).")
    rank = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(rank))
    dtype = np.dtype(_DTYPE[data[2]])
    body = data[4 + 4 * rank:]
    if len(body) != int(np.prod(shape)) * dtype.itemsize:
        raise UserError(f"{path} is truncated: its header says {shape}, it holds {len(body)} "
                        "bytes of data.")
    return np.frombuffer(body, dtype).reshape(shape)


def _find(directory, split, kind):
    stem = os.path.join(directory, f"{_SPLIT_PREFIX.get(split, split)}-{kind}-ubyte")
    for path in (stem, stem + ".gz"):
        if os.path.isfile(path):
            return path
    return None
