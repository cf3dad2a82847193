"""The Olivetti faces (AT&T Laboratories Cambridge): 400 images of 40 people, 64x64 grayscale.

Read from the original `olivettifaces.mat` (Sam Roweis' copy, the one scikit-learn fetches):
in --data_dir (or --data_dir pointing at the file itself), else downloaded into keras' cache
when the machine is online. Labels are the person (0-39), so class-conditional models can
use it too.
"""
import os

import numpy as np
import tensorflow as tf

from gan_zoo.errors import UserError
from gan_zoo.data.spec import DataSpec

FILE_NAME = "olivettifaces.mat"
URL = "https://cs.nyu.edu/~roweis/data/olivettifaces.mat"
PEOPLE, PER_PERSON, SIZE = 40, 10, 64


def find(data_dir="", download=True):
    """Path of olivettifaces.mat, or a UserError naming where it looked and the fixes."""
    candidates = [data_dir] if data_dir.endswith(".mat") else (
        [os.path.join(data_dir, FILE_NAME)] if data_dir else [])
    candidates.append(os.path.join(os.path.expanduser("~"), ".keras", "datasets", FILE_NAME))
    for path in candidates:
        if os.path.isfile(path):
            return path
    from gan_zoo.data.tfds_source import online
    if download and online(host="cs.nyu.edu"):
        import keras
        return keras.utils.get_file(FILE_NAME, URL)
    raise UserError(f"{FILE_NAME} not found (looked in: {', '.join(candidates)}) and it cannot be "
                    f"downloaded{' (--nodownload)' if not download else ' (offline)'}. Pass "
                    f"--data_dir=DIR holding {FILE_NAME}, or run once online to fetch {URL}.")


def read(path):
    """(uint8 images [400, 64, 64, 1], int labels [400])."""
    try:
        from scipy.io import loadmat
        faces = loadmat(path)["faces"]
    except (ValueError, KeyError, OSError) as e:
        raise UserError(f"{path!r} is not the Olivetti faces .mat file ({e}).") from None
    if faces.shape != (SIZE * SIZE, PEOPLE * PER_PERSON):
        raise UserError(f"{path!r} holds faces of shape {faces.shape}, expected (4096, 400).")
    # MATLAB stores each 64x64 face column-major
    images = faces.T.reshape(-1, SIZE, SIZE, order="F").astype(np.uint8)[..., None]
    return images, np.repeat(np.arange(PEOPLE, dtype=np.int32), PER_PERSON)


def load(data_dir="", download=True, split="train"):
    from gan_zoo.data.source import Source
    if split != "train":
        raise UserError(f"olivetti has one split, 'train' (400 faces); got {split!r}.")
    images, labels = read(find(data_dir, download))
    spec = DataSpec(image_shape=(SIZE, SIZE, 1), condition_dim=PEOPLE,
                    class_names=tuple(f"person_{i + 1:02d}" for i in range(PEOPLE)))
    return Source(name="olivetti", images_and_labels=tf.data.Dataset.from_tensor_slices((images, labels)),
                  num_examples=len(images), spec=spec, condition_table=np.eye(PEOPLE, dtype=np.float32))
