"""Image grids and PNG files (numpy + tf.io; no plotting library needed)."""
import os

import numpy as np
import tensorflow as tf


def grid(images, rows, cols, pad=1):
    """Tile uint8 images [rows*cols, H, W, C] row-major into one [rows*(H+pad), cols*(W+pad), C] image."""
    images = np.asarray(images)
    n, h, w, c = images.shape
    if n != rows * cols:
        raise ValueError(f"grid of {rows}x{cols} needs {rows * cols} images, got {n}")
    out = np.zeros((rows * (h + pad) - pad, cols * (w + pad) - pad, c), np.uint8)
    for i, image in enumerate(images):
        r, col = divmod(i, cols)
        out[r * (h + pad):r * (h + pad) + h, col * (w + pad):col * (w + pad) + w] = image
    return out


def rows_of(images, columns=8):
    """Any number of images as one grid, `columns` wide (fewer if there are fewer images), the
    last row filled with black."""
    images = np.asarray(images)
    columns = max(1, min(columns, len(images)))
    rows = -(-len(images) // columns)
    blank = np.zeros((rows * columns - len(images), *images.shape[1:]), images.dtype)
    return grid(np.concatenate([images, blank]), rows, columns)


PNG_MAX_SIDE = 1_000_000  # libpng's default limit on a PNG's width and height, in pixels


def check_png_size(path, height, width):
    """A UserError naming the fix where a PNG of height x width pixels cannot be written."""
    if max(height, width) > PNG_MAX_SIDE:
        from gan_zoo.errors import UserError
        raise UserError(f"{path}: a {height}x{width} grid is past PNG's limit of {PNG_MAX_SIDE:,} "
                        "pixels a side. Write an .npz instead (--out=NAME.npz), or fewer images.")


def grid_size(count, columns, image_height, image_width, pad=1):
    """(height, width) of grid() / rows_of() over `count` images in `columns` columns."""
    rows = -(-count // columns)
    return rows * (image_height + pad) - pad, columns * (image_width + pad) - pad


def write_png(path, image):
    """Written beside, then renamed: a kill never leaves a half PNG under the real name."""
    check_png_size(path, *np.shape(image)[:2])
    folder, name = os.path.split(path)
    tmp = os.path.join(folder, f".{name}.tmp")  # hidden: globs of *.png never see it
    try:
        tf.io.write_file(tmp, tf.io.encode_png(np.asarray(image, np.uint8)))
    except tf.errors.OpError:  # a full disk: no half file left behind
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    os.replace(tmp, path)


def read_png(path):
    return tf.io.decode_png(tf.io.read_file(path)).numpy()
