"""A folder of images: one sub-folder per class (PATH/<class_name>/<image>), or images alone
(PATH/<image>: an unlabelled set, e.g. faces for an unconditional model)."""
import os

import numpy as np
import tensorflow as tf

from gan_zoo.errors import UserError
from gan_zoo.data.spec import DataSpec

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")


def _images_in(folder):
    return [os.path.join(folder, f) for f in sorted(os.listdir(folder))
            if f.lower().endswith(IMAGE_EXTENSIONS)]


def list_images(root):
    """(paths, labels, class_names) with classes in sorted sub-folder order; a folder of images
    with no class sub-folders gives labels all 0 and no class names."""
    if not os.path.isdir(root):
        what = "is a file, not a folder" if os.path.exists(root) else "does not exist"
        raise UserError(f"Image folder {root!r} {what}. Pass --dataset=folder:PATH with "
                        "PATH a folder of images, or of one sub-folder of images per class.")
    class_names = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
    if not class_names:
        paths = _images_in(root)
        if not paths:
            raise UserError(f"No images ({', '.join(IMAGE_EXTENSIONS)}) in {root!r}.")
        return paths, [0] * len(paths), []
    paths, labels = [], []
    for label, name in enumerate(class_names):
        found = _images_in(os.path.join(root, name))
        paths += found
        labels += [label] * len(found)
    if not paths:
        raise UserError(f"No images ({', '.join(IMAGE_EXTENSIONS)}) found in sub-folders of "
                        f"{root!r}. Expected PATH/<class_name>/<image files>.")
    return paths, labels, class_names


def load(root, resize=False):
    """`resize`: images of other sizes are kept (the pipeline resizes them, --image_size);
    otherwise only the most common size is."""
    from gan_zoo.data.source import Source
    paths, labels, class_names = list_images(root)
    ds, (height, width, channels), count = image_dataset(paths, np.asarray(labels, np.int32), resize)
    spec = DataSpec(image_shape=(height, width, channels), condition_dim=len(class_names),
                    class_names=tuple(class_names))
    table = np.eye(len(class_names), dtype=np.float32) if class_names else np.zeros((1, 0), np.float32)
    return Source(name=f"folder:{root}", images_and_labels=ds, num_examples=count, spec=spec,
                  condition_table=table)


_CHANNELS = {"1": 1, "L": 1, "I": 1, "I;16": 1, "F": 1, "LA": 2, "P": 3, "RGB": 3, "YCbCr": 3,
             "RGBA": 4}


def _inspect(path):
    """((height, width), channels) of a whole, decodable image, or the reason it is not."""
    from PIL import Image
    try:
        with Image.open(path) as image:
            image.load()  # decodes every byte: truncated files fail here
            return (image.height, image.width), _CHANNELS.get(image.mode, 3)
    except Exception as e:  # noqa: BLE001 - PIL raises many types for bad files
        return None, f"{type(e).__name__}: {str(e)[:80]}"


def usable_images(paths, resize=False):
    """(kept indices, (height, width), channels) after skipping unreadable files (corrupt,
    truncated, not an image) and, unless `resize`, images of a size other than the most
    common one; warns with the counts, UserError when nothing is left."""
    from collections import Counter
    from concurrent.futures import ThreadPoolExecutor

    from absl import logging
    with ThreadPoolExecutor(max_workers=8) as pool:
        found = list(pool.map(_inspect, paths))
    broken = [(p, why) for p, (size, why) in zip(paths, found) if size is None]
    readable = [(i, size, channels) for i, (size, channels) in enumerate(found) if size is not None]
    if not readable:
        raise UserError(f"None of the {len(paths)} image files is readable, e.g. {broken[0][0]!r} "
                        f"({broken[0][1]}).")
    size = Counter(s for _, s, _ in readable).most_common(1)[0][0]
    channels = Counter(c for _, _, c in readable).most_common(1)[0][0]
    kept = [i for i, s, _ in readable if resize or s == size]
    other_size = len(readable) - len(kept)
    converted = sum(1 for i, _, c in readable if c != channels)
    if broken:
        logging.warning("Skipped %d unreadable file(s) (corrupt, truncated or not an image), e.g. "
                        "%s (%s).", len(broken), broken[0][0], broken[0][1])
    if other_size:
        logging.warning("Skipped %d image(s) not of the most common size %dx%d; pass "
                        "--image_size=N to resize every image instead.", other_size, *size)
    if converted:
        logging.warning("%d image(s) have another channel count than the majority's %d and are "
                        "converted to it.", converted, channels)
    return kept, size, channels


def image_dataset(paths, labels, resize=False):
    """((uint8 image, label) dataset, image shape, number of images) over the usable files;
    every image decoded to the common channel count (and resized to the common size)."""
    from gan_zoo.data.source import resize_uint8
    kept, (height, width), channels = usable_images(paths, resize)
    paths = [paths[i] for i in kept]
    labels = np.asarray(labels)[kept]

    def read(path, label):
        image = tf.io.decode_image(tf.io.read_file(path), channels=channels, expand_animations=False)
        return resize_uint8(image, height, width), label

    ds = tf.data.Dataset.from_tensor_slices((paths, labels))
    return ds.map(read, num_parallel_calls=tf.data.AUTOTUNE), (height, width, channels), len(paths)
