"""A folder of images: one sub-folder per class (PATH/<class_name>/<image>), or images alone
(PATH/<image>: an unlabelled set, e.g. faces for an unconditional model)."""
import os
import re

import numpy as np
import tensorflow as tf

from gan_zoo.errors import UserError
from gan_zoo.data import scan_manifest
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


def load(root, resize=False, cache_dir=""):
    """`resize`: images of other sizes are kept (the pipeline resizes them, --image_size);
    otherwise only the most common size is. The scan's findings are remembered under
    `cache_dir` (scan_manifest), so the next run rechecks only files that changed."""
    from gan_zoo.data.source import Source
    paths, labels, class_names = list_images(root)
    ds, (height, width, channels), kept = _decoded(paths, np.asarray(labels, np.int32), resize,
                                                   manifest=scan_manifest.path_for(root, cache_dir))
    spec = DataSpec(image_shape=(height, width, channels), condition_dim=len(class_names),
                    class_names=tuple(class_names))
    table = np.eye(len(class_names), dtype=np.float32) if class_names else np.zeros((1, 0), np.float32)
    return Source(name=f"folder:{root}", images_and_labels=ds, num_examples=len(kept), spec=spec,
                  condition_table=table, unreadable=lambda: unreadable(kept))


def unreadable(paths):
    """[(path, reason)] of the files that do not decode now."""
    return [(p, why) for p, (size, why) in zip(paths, map(_inspect, paths)) if size is None]


def _inspect(path):
    """((height, width), channels) of a whole image, decoded by the decoder the pipeline uses
    (TensorFlow's: it refuses some files PIL reads, e.g. a PNG cut before its end chunk), or
    None and the reason it is not readable."""
    try:
        image = tf.io.decode_image(tf.io.read_file(path), expand_animations=False)
        return tuple(int(d) for d in image.shape[:2]), int(image.shape[2])
    except (tf.errors.OpError, ValueError) as e:
        return None, _short_reason(e)


def _short_reason(error):
    """TensorFlow's message without its node and op decorations."""
    message = getattr(error, "message", str(error))
    message = re.sub(r"\{\{[^}]*\}\}\s*|\s*\[Op:[^\]]*\].*$|\s*\[\[.*", "", message, flags=re.S)
    return f"{type(error).__name__}: {message.strip()[:80]}"


_SCANNED = {}  # path -> ((mtime, size), _inspect's answer): a process scans a file once
_WARNED = set()


def _inspect_once(path):
    try:
        stat = os.stat(path)
        signature = (stat.st_mtime_ns, stat.st_size)
    except OSError:
        return _inspect(path)
    known = _SCANNED.get(path)
    if known is None or known[0] != signature:
        known = _SCANNED[path] = (signature, _inspect(path))
    return known[1]


def _warn_once(message, *args):
    """A warning about the same files is given once, though the scorer reads the folder again."""
    from absl import logging
    if (message, args) not in _WARNED:
        _WARNED.add((message, args))
        logging.warning(message, *args)


def usable_images(paths, resize=False, manifest=None):
    """(kept indices, (height, width), channels) after skipping unreadable files (corrupt,
    truncated, not an image) and, unless `resize`, images of a size other than the most
    common one; warns with the counts, UserError when nothing is left. Files are decoded in
    parallel threads (TensorFlow's decoder releases the GIL), each once: a file `manifest`
    (scan_manifest) holds unchanged is taken from it."""
    from collections import Counter
    from concurrent.futures import ThreadPoolExecutor

    known = scan_manifest.read(manifest)
    with ThreadPoolExecutor(max_workers=8) as pool:
        found = list(pool.map(lambda path: known.get(path) or _inspect_once(path), paths))
    scan_manifest.write(manifest, paths, found, known)
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
        _warn_once("Skipped %d unreadable file(s) (corrupt, truncated or not an image), e.g. "
                        "%s (%s).", len(broken), broken[0][0], broken[0][1])
    if other_size:
        _warn_once("Skipped %d image(s) not of the most common size %dx%d; pass "
                        "--image_size=N to resize every image instead.", other_size, *size)
    if converted:
        _warn_once("%d image(s) have another channel count than the majority's %d and are "
                        "converted to it.", converted, channels)
    return kept, size, channels


def image_dataset(paths, labels, resize=False, skip_failures=True):
    """((uint8 image, label) dataset, image shape, number of images) over the usable files;
    every image decoded to the common channel count (and resized to the common size).
    A file that fails to decode when read (changed since the scan) is left out, unless
    `skip_failures` is False (pairs read from two folders must stay aligned)."""
    ds, shape, kept = _decoded(paths, labels, resize, skip_failures)
    return ds, shape, len(kept)


def _decoded(paths, labels, resize=False, skip_failures=True, manifest=None):
    """image_dataset's dataset and shape, and the paths it reads."""
    from gan_zoo.data.source import resize_uint8
    kept, (height, width), channels = usable_images(paths, resize, manifest)
    paths = [paths[i] for i in kept]
    labels = np.asarray(labels)[kept]

    def read(path, label):
        image = tf.io.decode_image(tf.io.read_file(path), channels=channels, expand_animations=False)
        return resize_uint8(image, height, width), label

    ds = tf.data.Dataset.from_tensor_slices((paths, labels)).map(read, num_parallel_calls=tf.data.AUTOTUNE)
    if skip_failures:
        ds = ds.ignore_errors()
    return ds, (height, width, channels), paths
