"""The tests' data, drawn here so a fresh clone needs nothing beside it.

Fashion-MNIST comes from Debian's `dataset-fashion-mnist` (through the project's own fallback);
MNIST's first test images are committed in tests/data/mnist (see LICENSE.md there). The rest
is drawn procedurally, in the formats users bring:
  - faces: 40 people x 10 shots at 64x64 written as `olivettifaces.mat` (the Olivetti reader's
    input), and a folder of 250x250 grayscale JPEGs (LFW's layout, one face per file);
  - facade pairs: pix2pix's layout, 512x256 JPEGs with the photo (A) left of its label map (B);
  - a tiny tfds data set, prepared into a data_dir (the path tfds names take).
Everything is seeded, so every run draws the same pixels. The files are written once per
version of this module into the temp folder (`data_root`), atomically, so parallel test
workers share them.
"""
import hashlib
import os
import shutil
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
MNIST_SUBSET = os.path.join(HERE, "data", "mnist")
MNIST_SUBSET_SIZE = 2000
PEOPLE, SHOTS, FACE_SIZE = 40, 10, 64
FOLDER_FACES, FOLDER_FACE_SIZE = 160, 250
FACADES_TRAIN, FACADES_TEST = 128, 32
# pix2pix facades' label colours (background, wall, window, door, balcony, cornice) and the
# photo's colour for each region: saturated labels, unsaturated photos
FACADE_LABELS = ((0, 0, 170), (0, 0, 255), (0, 85, 255), (170, 255, 85), (255, 85, 0), (0, 255, 255))
FACADE_PHOTO = ((120, 130, 140), (178, 160, 136), (52, 58, 66), (96, 72, 52), (140, 140, 132),
                (200, 190, 170))


def data_root():
    """The folder holding every generated fixture (made on first use)."""
    with open(os.path.abspath(__file__), "rb") as fh:
        version = hashlib.sha256(fh.read()).hexdigest()[:12]
    root = os.path.join(tempfile.gettempdir(), f"gan_zoo_test_data_{version}")
    if not os.path.isdir(root):
        staging = tempfile.mkdtemp(prefix=".gan_zoo_test_data_", dir=tempfile.gettempdir())
        _write_all(staging)
        try:
            os.rename(staging, root)
        except OSError:  # another worker finished first: its copy is the same
            shutil.rmtree(staging, ignore_errors=True)
    return root


def _write_all(root):
    faces, _ = drawn_faces()
    os.makedirs(os.path.join(root, "olivetti"))
    from scipy.io import savemat
    # the original's layout: one column per face, each 64x64 face stored column-major
    columns = faces.reshape(len(faces), -1, order="F").T
    savemat(os.path.join(root, "olivetti", "olivettifaces.mat"), {"faces": columns})
    _face_folder(os.path.join(root, "faces_folder"))
    _facades(os.path.join(root, "facades"))


# --- faces ------------------------------------------------------------------------------------
def drawn_faces(people=PEOPLE, shots=SHOTS, size=FACE_SIZE, seed=0):
    """(uint8 [people * shots, size, size], int person [people * shots]): upright, left-right
    symmetric faces; a person keeps head shape, tones, hair and features, a shot moves the
    head a little, lights it otherwise and changes the mouth."""
    rng = np.random.default_rng(seed)
    images = []
    for _ in range(people):
        person = dict(head_w=rng.uniform(0.30, 0.38), head_h=rng.uniform(0.38, 0.46),
                      skin=rng.uniform(120, 200), hair=rng.uniform(20, 90),
                      hairline=rng.uniform(0.05, 0.14), eye_dx=rng.uniform(0.11, 0.16),
                      eye_y=rng.uniform(-0.08, 0.0), nose=rng.uniform(0.08, 0.14),
                      background=rng.uniform(30, 110))
        for _ in range(shots):
            images.append(_face(size, rng, **person))
    labels = np.repeat(np.arange(people, dtype=np.int32), shots)
    return np.stack(images), labels


def _face(size, rng, head_w, head_h, skin, hair, hairline, eye_dx, eye_y, nose, background):
    y, x = np.mgrid[0:size, 0:size] / size - 0.5
    x = x - rng.uniform(-0.03, 0.03)
    y = y - rng.uniform(-0.03, 0.03)
    light = rng.uniform(0.85, 1.15)
    image = np.full((size, size), background) + 25 * y  # a darker floor, a lighter top
    head = (x / head_w) ** 2 + ((y - 0.05) / head_h) ** 2 <= 1
    image[head] = skin - 40 * np.abs(x[head]) / head_w
    top = head & (y < -head_h + 0.05 + hairline)
    image[top] = hair
    for side in (-1, 1):
        eye = ((x - side * eye_dx) / 0.05) ** 2 + ((y - eye_y) / 0.025) ** 2 <= 1
        image[eye] = 35
        brow = (np.abs(x - side * eye_dx) < 0.06) & (np.abs(y - eye_y + 0.06) < 0.012)
        image[brow] = hair
    image[(np.abs(x) < 0.02) & (y > eye_y + 0.03) & (y < eye_y + 0.03 + nose)] = skin - 50
    mouth_y, smile = eye_y + 0.06 + nose + 0.05, rng.uniform(-0.15, 0.6)
    curve = mouth_y + smile * (0.1 - 10 * x ** 2) * 0.3
    image[(np.abs(x) < 0.1) & (np.abs(y - curve) < 0.015)] = 60
    image = image * light + rng.normal(0, 4, (size, size))
    return np.clip(image, 0, 255).astype(np.uint8)


def _face_folder(folder, count=FOLDER_FACES, size=FOLDER_FACE_SIZE):
    """LFW's layout: one grayscale JPEG per face, the face in the middle half of the frame."""
    from PIL import Image
    os.makedirs(folder)
    faces, _ = drawn_faces(people=count, shots=1, size=size // 2, seed=1)
    rng = np.random.default_rng(2)
    for i, face in enumerate(faces):
        frame = rng.normal(rng.uniform(60, 180), 20, (size, size))  # a cluttered surround
        frame[size // 4:size // 4 + size // 2, size // 4:size // 4 + size // 2] = face
        Image.fromarray(np.clip(frame, 0, 255).astype(np.uint8), "L").save(
            os.path.join(folder, f"face_{i:04d}.jpg"), quality=90)


# --- facade pairs -----------------------------------------------------------------------------
def _facades(root):
    from PIL import Image
    rng = np.random.default_rng(3)
    for split, count in (("train", FACADES_TRAIN), ("test", FACADES_TEST)):
        os.makedirs(os.path.join(root, split))
        for i in range(count):
            photo, labels = facade_pair(rng)
            Image.fromarray(np.concatenate([photo, labels], axis=1)).save(
                os.path.join(root, split, f"{i + 1}.jpg"), quality=90)


def facade_pair(rng, size=256):
    """(photo, label map), uint8 [size, size, 3] each: a wall with a grid of windows, a door,
    balconies under some windows and a cornice; the photo colours each region with texture
    and shading, the label map with its flat label colour."""
    regions = np.zeros((size, size), np.int64)  # 0: background (sky)
    top = rng.integers(10, 40)
    regions[top:, 8:size - 8] = 1
    regions[top:top + 10, 8:size - 8] = 5
    rows, cols = rng.integers(3, 6), rng.integers(3, 6)
    cell_h, cell_w = (size - top - 60) // rows, (size - 16) // cols
    win_h, win_w = int(cell_h * rng.uniform(0.45, 0.7)), int(cell_w * rng.uniform(0.35, 0.6))
    for r in range(rows):
        for c in range(cols):
            y0 = top + 16 + r * cell_h + (cell_h - win_h) // 2
            x0 = 8 + c * cell_w + (cell_w - win_w) // 2
            regions[y0:y0 + win_h, x0:x0 + win_w] = 2
            if rng.random() < 0.3:
                regions[y0 + win_h:y0 + win_h + 5, x0 - 3:x0 + win_w + 3] = 4
    door_x = 8 + rng.integers(0, cols) * cell_w + cell_w // 2
    regions[size - 50:size, door_x - 12:door_x + 12] = 3
    labels = np.array(FACADE_LABELS, np.uint8)[regions]
    shade = rng.uniform(0.8, 1.2) * (1 - 0.2 * np.linspace(0, 1, size))[None, :, None]
    photo = np.array(FACADE_PHOTO, np.float64)[regions] * shade
    photo += rng.normal(0, 8, (size, size, 1))  # texture, the same in every channel
    return np.clip(photo, 0, 255).astype(np.uint8), labels


# --- a tfds data set ----------------------------------------------------------------------------
def tfds_data_dir(folder):
    """Prepares `gan_zoo_test_shapes` (64 28x28 grayscale images, 4 classes) into `folder` and
    returns (data_dir, name): a tfds name read the way `mnist` or `celeb_a` are."""
    builder = _shapes_builder()(data_dir=folder)
    builder.download_and_prepare()
    return folder, builder.name


_BUILDER = []


def _shapes_builder():
    """The builder class, defined once per process (tfds registers each class by name)."""
    if _BUILDER:
        return _BUILDER[0]
    import tensorflow_datasets as tfds

    class GanZooTestShapes(tfds.core.GeneratorBasedBuilder):
        VERSION = tfds.core.Version("1.0.0")

        def _info(self):
            return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
                "image": tfds.features.Image(shape=(28, 28, 1)),
                "label": tfds.features.ClassLabel(names=["square", "bar", "cross", "dot"])}))

        def _split_generators(self, dl_manager):
            return {"train": self._generate_examples(64, 0), "test": self._generate_examples(16, 1)}

        def _generate_examples(self, count, seed):
            rng = np.random.default_rng(seed)
            for i in range(count):
                label = i % 4
                yield i, {"image": _shape(label, rng), "label": label}

    _BUILDER.append(GanZooTestShapes)
    return GanZooTestShapes


def _shape(label, rng):
    image = np.zeros((28, 28, 1), np.uint8)
    cy, cx = rng.integers(9, 19, 2)
    if label == 0:
        image[cy - 6:cy + 6, cx - 6:cx + 6] = 255
    elif label == 1:
        image[4:24, cx - 2:cx + 2] = 255
    elif label == 2:
        image[cy - 1:cy + 2, 4:24] = image[4:24, cx - 1:cx + 2] = 255
    else:
        image[cy - 2:cy + 2, cx - 2:cx + 2] = 255
    return image
