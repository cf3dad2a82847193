"""A folder of images: one sub-folder per class (PATH/<class_name>/<image>), or images alone
(PATH/<image>: an unlabelled set, e.g. faces for an unconditional model)."""
import os

import numpy as np
import tensorflow as tf

from gan_zoo.errors import UserError
from gan_zoo.models import DataSpec

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")


def _images_in(folder):
    return [os.path.join(folder, f) for f in sorted(os.listdir(folder))
            if f.lower().endswith(IMAGE_EXTENSIONS)]


def list_images(root):
    """(paths, labels, class_names) with classes in sorted sub-folder order; a folder of images
    with no class sub-folders gives labels all 0 and no class names."""
    if not os.path.isdir(root):
        raise UserError(f"Image folder {root!r} does not exist. Pass --dataset=folder:PATH with "
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


def load(root):
    from gan_zoo.data import Source
    paths, labels, class_names = list_images(root)
    ds, (height, width, channels) = image_dataset(paths, np.asarray(labels, np.int32))
    spec = DataSpec(image_shape=(height, width, channels), condition_dim=len(class_names),
                    class_names=tuple(class_names))
    table = np.eye(len(class_names), dtype=np.float32) if class_names else np.zeros((1, 0), np.float32)
    return Source(name=f"folder:{root}", images_and_labels=ds, num_examples=len(paths), spec=spec,
                  condition_table=table)


def image_dataset(paths, labels):
    """((uint8 image, label) dataset, image shape); every image decoded to the first one's shape."""
    first = tf.io.decode_image(tf.io.read_file(paths[0]), expand_animations=False)
    height, width, channels = first.shape

    def read(path, label):
        image = tf.io.decode_image(tf.io.read_file(path), channels=channels, expand_animations=False)
        image = tf.image.resize(image, (height, width), antialias=True)
        return tf.cast(tf.round(image), tf.uint8), label

    ds = tf.data.Dataset.from_tensor_slices((paths, labels))
    return ds.map(read, num_parallel_calls=tf.data.AUTOTUNE), (height, width, channels)
