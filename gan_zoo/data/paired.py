"""Paired images for image-to-image models: (target image, input image) pairs.

  paired:PATH    pix2pix's layout (each file is A|B side by side), or PATH/A/ and PATH/B/
                 holding files of the same names. Splits: PATH/train and PATH/test (or val)
                 when they exist; otherwise the last 10% of the files (by name) is held out.
  facades        pix2pix's CMP Facades: --data_dir (a copy with train/ and test/ inside),
                 else keras' cache, else downloaded into it when the machine is online.
  edges2fashion  Fashion-MNIST (tfds) with edge maps derived in the pipeline: edges -> item.

A pair Source yields (uint8 target, uint8 input) and `Source.conditions` scales the input
like the target. Its `held_out` Source (the test split) feeds the per-epoch metrics and
figure; its `augment` (--jitter, --mirror) is applied to training batches only.
"""
import os

import numpy as np
import tensorflow as tf

from gan_zoo.errors import UserError
from gan_zoo.data.spec import DataSpec

PAIRED_PREFIX = "paired:"
NAMES = ("facades", "edges2fashion")
FACADES_URL = "http://efrosgans.eecs.berkeley.edu/pix2pix/datasets/facades.tar.gz"
HELD_OUT_FRACTION = 0.1
EDGES2FASHION_SIZE = 64


def is_paired_dataset(dataset):
    return dataset in NAMES or dataset.startswith(PAIRED_PREFIX)


def load(dataset, data_dir="", download=True, split="train", direction="AtoB", image_size=0,
         jitter=0.0, mirror=False, max_images=0):
    """The pairs of `split` (train: with `held_out`, the test split, and `augment`)."""
    if dataset == "edges2fashion":
        source = _edges2fashion(data_dir, download, split, image_size or EDGES2FASHION_SIZE)
        held_out = (_edges2fashion(data_dir, download, "test", image_size or EDGES2FASHION_SIZE)
                    if split == "train" else None)
    else:
        root = facades_dir(data_dir, download) if dataset == "facades" else dataset[len(PAIRED_PREFIX):]
        source = from_folder(root, split, direction, image_size)
        held_out = from_folder(root, "test", direction, image_size) if split == "train" else None
    if max_images and max_images < source.num_examples:
        source.num_examples = max_images
        source.images_and_labels = source.images_and_labels.take(max_images)
    source.images_and_labels = source.images_and_labels.cache()
    if held_out is not None:
        held_out.images_and_labels = held_out.images_and_labels.cache()
    source.held_out = held_out
    if split == "train" and (jitter or mirror):
        source.augment = jitter_and_mirror(source.spec, jitter, mirror)
    return source


def facades_dir(data_dir="", download=True):
    """A folder holding the facades' train/ (and test/) A|B images, or a UserError with the fixes."""
    cache = os.path.join(os.path.expanduser("~"), ".keras", "datasets")
    candidates = [data_dir] if data_dir else []
    candidates += [os.path.join(cache, "facades"), os.path.join(cache, "facades", "facades")]
    for path in candidates:
        if os.path.isdir(os.path.join(path, "train")):
            return path
    if data_dir:
        raise UserError(f"--data_dir={data_dir!r} holds no facades: expected {data_dir}/train/ "
                        "(and test/) with pix2pix's A|B images.")
    from gan_zoo.data.tfds_source import online
    if download and online(host="efrosgans.eecs.berkeley.edu"):
        import keras
        keras.utils.get_file("facades.tar.gz", FACADES_URL, extract=True)
        for path in candidates + [os.path.join(cache, "facades.tar.gz_extracted", "facades")]:
            if os.path.isdir(os.path.join(path, "train")):
                return path
        raise UserError(f"Downloaded {FACADES_URL} but found no facades/train in {cache}.")
    raise UserError(f"The facades pairs are not in keras' cache ({cache}/facades) and they cannot "
                    f"be downloaded{' (--nodownload)' if not download else ' (offline)'}. Pass "
                    "--data_dir=DIR with DIR/train and DIR/test holding the A|B images, or run once "
                    f"online to fetch {FACADES_URL}.")


def _split_files(root, split):
    """(folder of the split, names kept): PATH/<split> when it exists (test also as val), else
    PATH itself with the last HELD_OUT_FRACTION of the names held out as the test split."""
    from gan_zoo.data.image_folder import IMAGE_EXTENSIONS
    if not os.path.isdir(root):
        raise UserError(f"Paired-image folder {root!r} does not exist. Pass --dataset=paired:PATH "
                        "with PATH holding A|B images, or A/ and B/ folders of matching names.")
    for name in ((split, "val") if split == "test" else (split,)):
        if os.path.isdir(os.path.join(root, name)):
            folder = os.path.join(root, name)
            return folder, _names(folder, IMAGE_EXTENSIONS)
    if os.path.isdir(os.path.join(root, "train")):
        raise UserError(f"{root!r} has a train/ split but no {split}/ one.")
    names = _names(root, IMAGE_EXTENSIONS)
    cut = len(names) - max(1, int(round(len(names) * HELD_OUT_FRACTION)))
    if cut < 1:
        raise UserError(f"{root!r} has {len(names)} pair(s): too few to hold some out for testing.")
    return root, names[:cut] if split == "train" else names[cut:]


def _names(folder, extensions):
    side = os.path.join(folder, "A") if os.path.isdir(os.path.join(folder, "A")) else folder
    names = sorted((f for f in os.listdir(side) if f.lower().endswith(extensions)),
                   key=lambda f: (len(f), f))  # 2.jpg before 10.jpg
    if not names:
        raise UserError(f"No images in {side!r}.")
    return names


def from_folder(root, split="train", direction="AtoB", image_size=0):
    """A Source of pairs from A|B files or A/ + B/ folders (see the module's docstring)."""
    from gan_zoo.data.source import Source, resize_uint8
    from gan_zoo.data.image_folder import image_dataset
    folder, names = _split_files(root, split)
    if os.path.isdir(os.path.join(folder, "A")):
        a_paths, b_paths = _matching(folder, names)
        a, a_shape, a_count = image_dataset(a_paths, np.zeros(len(a_paths), np.int32), resize=True,
                                             skip_failures=False)
        b, b_shape, b_count = image_dataset(b_paths, np.zeros(len(b_paths), np.int32), resize=True,
                                             skip_failures=False)
        if a_count != len(names) or b_count != len(names):
            raise UserError(f"Some images in {folder}/A or {folder}/B are unreadable (see the "
                            "warning above): remove or fix them, so every input keeps its target.")
        pairs, count = tf.data.Dataset.zip(a, b).map(lambda a, b: (a[0], b[0])), len(names)
    else:
        paths = [os.path.join(folder, n) for n in names]
        whole, (height, width, channels), count = image_dataset(paths, np.zeros(len(paths), np.int32))
        if width % 2:
            raise UserError(f"The images in {folder!r} are {width} pixels wide: an A|B pair is two "
                            "images of the same width side by side, so the width must be even.")
        half = width // 2
        a_shape = b_shape = (height, half, channels)
        pairs = whole.map(lambda image, _: (image[:, :half], image[:, half:]))
    if direction == "BtoA":
        a_shape, b_shape = b_shape, a_shape
        pairs = pairs.map(lambda a, b: (b, a))
    if image_size:
        a_shape, b_shape = ((image_size, image_size, s[-1]) for s in (a_shape, b_shape))
        pairs = pairs.map(lambda a, b: (resize_uint8(a, image_size, image_size),
                                        resize_uint8(b, image_size, image_size)),
                          num_parallel_calls=tf.data.AUTOTUNE)
    # (target, input): the target is what the generator draws, the input its condition.
    spec = DataSpec(image_shape=tuple(b_shape), condition_dim=0, condition_shape=tuple(a_shape))
    return Source(name=f"paired:{root}", images_and_labels=pairs.map(lambda a, b: (b, a)),
                  num_examples=count, spec=spec)  # unreadable A|B files are skipped, with a warning


def _matching(folder, names):
    b_folder = os.path.join(folder, "B")
    if not os.path.isdir(b_folder):
        raise UserError(f"{folder!r} has an A/ folder but no B/ folder of matching file names.")
    b_names = set(os.listdir(b_folder))
    missing = [n for n in names if n not in b_names]
    if missing:
        raise UserError(f"{len(missing)} file(s) of {folder}/A have no namesake in {folder}/B, "
                        f"e.g. {missing[0]!r}: each input needs its target under the same name.")
    return [os.path.join(folder, "A", n) for n in names], [os.path.join(b_folder, n) for n in names]


def edge_map(image):
    """uint8 [H, W, 1] -> uint8 [H, W, 1]: dark lines where the Sobel gradient is strong, on
    white (how edges2shoes / edges2handbags draw their inputs)."""
    x = tf.cast(image, tf.float32)[None] / 255.0
    gradients = tf.image.sobel_edges(x)[0]  # [H, W, 1, 2]
    magnitude = tf.sqrt(tf.reduce_sum(tf.square(gradients), axis=-1))
    return tf.where(magnitude > 0.5, tf.zeros_like(image), tf.fill(tf.shape(image), tf.constant(255, tf.uint8)))


def _edges2fashion(data_dir, download, split, size):
    from gan_zoo.data import tfds_source
    from gan_zoo.data.source import Source, resize_uint8
    # offline, Fashion-MNIST's fallback (Debian's dataset-fashion-mnist) as for --dataset
    items = tfds_source.load_or_offline_copy("fashion_mnist", data_dir, download, split, labels=False)
    pairs = items.images_and_labels.map(
        lambda image, _: (lambda item: (item, edge_map(item)))(resize_uint8(image, size, size)),
        num_parallel_calls=tf.data.AUTOTUNE)
    shape = (size, size, 1)
    return Source(name="edges2fashion", images_and_labels=pairs, num_examples=items.num_examples,
                  spec=DataSpec(image_shape=shape, condition_dim=0, condition_shape=shape))


def jitter_and_mirror(spec, jitter, mirror):
    """pix2pix's training augmentation, the same for input and target: resize up by `jitter`,
    crop a random window of the original size, flip left-right half the time. Stateless,
    seeded by (epoch seed, example index), so a resumed epoch sees the same crops."""
    height, width, channels = spec.image_shape
    total = channels + spec.condition_shape[-1]
    big = (int(round(height * (1 + jitter))), int(round(width * (1 + jitter))))

    def augment(target, condition, seed):
        both = tf.concat([target, condition], axis=-1)
        if jitter:
            both = tf.image.resize(both, big, method="nearest")
            both = tf.image.stateless_random_crop(both, (height, width, total), seed)
        if mirror:
            both = tf.image.stateless_random_flip_left_right(both, seed + [0, 1])
        return both[..., :channels], both[..., channels:]
    return augment
