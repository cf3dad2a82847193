"""gan-zoo generate --export_dir=export/maxout_cgan --labels=shirt,bag --num_per_label=100 --out=samples.npz
gan-zoo generate --pretrained=maxout_cgan/fashion_mnist --out=grid.png   (or python -m gan_zoo generate)

Writes `images` (uint8 N,H,W,C) and `labels` (int N) to an .npz, or a PNG grid (one
column per requested label) when --out ends in .png. A model trained on tags takes
`--tags='footwear;top,warm'` instead and writes `conditions` (float N,condition_dim).
An unconditional model (dcgan) takes `--count=N` and writes `images` only (PNG: 8 per row).
An image-to-image model (img2img) takes `--input=IMAGE_OR_FOLDER --out=FOLDER` and writes one
PNG per input, under the input's name; `--input_side=A|B` reads A|B pair files (pix2pix's
layout) and feeds the model that half. Inputs of another size are resized to the model's.
"""
import difflib
import os
import re

import numpy as np
import tensorflow as tf

from gan_zoo.errors import UserError


def _plain(text):
    """Lower case, letters and digits only: 't-shirt', 'T-Shirt' and 'tshirt' read alike."""
    return re.sub(r"[^0-9a-z]", "", str(text).lower())


def _words(name):
    """The words of a class name, each plain ('T-shirt/top' -> tshirt, top)."""
    return {_plain(w) for w in re.split(r"[/\s,;]+", str(name)) if _plain(w)}


def parse_labels(labels, num_classes, class_names=()):
    """Class ints from `labels`: comma-separated text or a list, of class numbers or class names
    as a user types them: any case and punctuation ('shirt' is 'Shirt', 'tshirt' 'T-shirt/top'),
    or one word of a name that only that class has ('top', 'boot')."""
    items = [v.strip() for v in labels.split(",")] if isinstance(labels, str) else list(labels)
    by_name = {_plain(n): i for i, n in enumerate(class_names)}
    by_word = {}
    for i, name in enumerate(class_names):
        for word in _words(name):
            by_word.setdefault(word, set()).add(i)
    parsed, unknown = [], []
    for item in (v for v in items if str(v).strip()):
        text = str(item).strip()
        if _plain(text) in by_name:
            parsed.append(by_name[_plain(text)])
        elif len(by_word.get(_plain(text), ())) == 1:
            parsed.append(next(iter(by_word[_plain(text)])))
        elif text.lstrip("-").isdigit():
            parsed.append(int(text))
        else:
            unknown.append(text)
    if unknown:
        close = [_suggest(u, by_name, by_word, class_names) for u in unknown]
        close = [c for c in close if c is not None]
        hint = f" Did you mean {', '.join(repr(class_names[c]) for c in close)}?" if close else ""
        named = f"a class name ({', '.join(map(str, class_names))}) or " if class_names else ""
        raise UserError(f"--labels {', '.join(map(repr, unknown))}: not {named}a class number "
                        f"in 0..{num_classes - 1}.{hint}")
    bad = [v for v in parsed if not 0 <= v < num_classes]
    if not parsed or bad:
        raise UserError(f"--labels {bad or labels!r} out of range: this model has {num_classes} "
                        f"classes, so labels must be in 0..{num_classes - 1}.")
    return parsed


def _suggest(text, by_name, by_word, class_names):
    """The class a mistyped label most likely meant: one sharing a word with it first (so
    't-shirts' never suggests 'Shirt'), else the closest spelling; None when nothing is close."""
    sharing = sorted({i for w in _words(text) for i in by_word.get(w, ())})
    if len(sharing) == 1:
        return sharing[0]
    words = [w for w in by_word if len(by_word[w]) == 1]
    found = difflib.get_close_matches(_plain(text), [*by_name, *words], n=1)
    if not found:
        return None
    return by_name[found[0]] if found[0] in by_name else next(iter(by_word[found[0]]))


def parse_tags(text, names):
    """'footwear;footwear,warm' -> one multi-hot vector per ';'-separated group."""
    from gan_zoo.data.conditions import multi_hot
    groups = [[t.strip() for t in g.split(",") if t.strip()] for g in text.split(";") if g.strip()]
    if not groups:
        raise UserError(f"--tags takes groups like 'footwear;top,warm'; got {text!r}. "
                        f"Tags: {', '.join(names)}.")
    return np.stack([multi_hot(g, names) for g in groups])


def generate(model, labels, num_per_label, seed=0):
    """(images uint8 [len(labels)*num_per_label, H, W, C], labels) of a loaded export, label-major.

    `labels` are class ints, or condition vectors for a model trained on tags."""
    from gan_zoo.serving import export
    fn = model.signatures[export.SEED_SIGNATURE]
    labels = np.asarray(labels)
    repeated = np.repeat(labels, num_per_label, axis=0)
    if labels.ndim == 1:
        kwargs = {"labels": tf.constant(repeated.astype(np.int32))}
    else:
        kwargs = {"condition": tf.constant(repeated.astype(np.float32))}
    images = fn(**kwargs, seed=tf.constant(seed, tf.int64))["images"].numpy()
    return images, repeated


def generate_unconditional(model, count, seed=0):
    from gan_zoo.serving import export
    if not 1 <= count <= export.MAX_COUNT:
        raise UserError(f"count={count}: an export draws 1 to {export.MAX_COUNT} images per "
                        "request. For more, call again with another seed.")
    fn = model.signatures[export.SEED_SIGNATURE]
    return fn(count=tf.constant(count, tf.int32), seed=tf.constant(seed, tf.int64))["images"].numpy()


def read_inputs(path, shape, side=""):
    """(names, uint8 [N, H, W, C] of `shape`) of an image file or a folder of images; `side`
    A or B takes that half of A|B pair files."""
    from gan_zoo.data import resize_uint8
    from gan_zoo.data.image_folder import IMAGE_EXTENSIONS
    if os.path.isdir(path):
        names = sorted(f for f in os.listdir(path) if f.lower().endswith(IMAGE_EXTENSIONS))
        paths = [os.path.join(path, n) for n in names]
        if not paths:
            raise UserError(f"No images ({', '.join(IMAGE_EXTENSIONS)}) in --input={path!r}.")
    elif os.path.isfile(path):
        paths, names = [path], [os.path.basename(path)]
    else:
        raise UserError(f"--input={path!r} does not exist: pass an image file or a folder of images.")
    height, width, channels = shape
    images = []
    for p in paths:
        try:
            image = tf.io.decode_image(tf.io.read_file(p), channels=channels, expand_animations=False)
        except tf.errors.InvalidArgumentError:
            raise UserError(f"{p!r} is not a readable image.") from None
        if side:
            half = int(image.shape[1]) // 2
            image = image[:, :half] if side == "A" else image[:, half:]
        images.append(resize_uint8(image, height, width).numpy())
    return names, np.stack(images)


def translate(model, inputs, batch_size=32):
    """uint8 outputs of a loaded image-to-image export for uint8 `inputs`, in batches."""
    fn = model.signatures["serving_default"]
    return np.concatenate([fn(images=tf.constant(inputs[i:i + batch_size]))["images"].numpy()
                           for i in range(0, len(inputs), batch_size)])


def _write_translations(FLAGS, model, metadata):
    from gan_zoo import images as image_utils
    if not FLAGS.input:
        raise UserError("This model translates images: pass --input=IMAGE_OR_FOLDER and "
                        "--out=FOLDER.")
    if FLAGS.out.endswith((".png", ".npz")):
        raise UserError(f"--out is a folder for an image-to-image model (one PNG per input), "
                        f"got {FLAGS.out!r}.")
    names, inputs = read_inputs(FLAGS.input, metadata["input_shape"], FLAGS.input_side)
    outputs = translate(model, inputs)
    os.makedirs(FLAGS.out, exist_ok=True)
    for name, image in zip(names, outputs):
        image_utils.write_png(os.path.join(FLAGS.out, os.path.splitext(name)[0] + ".png"), image)
    print(f"Wrote {len(outputs)} images to {FLAGS.out} (inference mode "
          f"{metadata['inference_mode']})")


def _write_unconditional(FLAGS, model):
    from gan_zoo import images as image_utils
    if FLAGS.labels or FLAGS.tags:
        raise UserError("This model is unconditional: it takes no --labels or --tags; pass "
                        "--count=N for N images.")
    if FLAGS.count <= 0:
        raise UserError(f"--count must be positive, got {FLAGS.count}.")
    images = generate_unconditional(model, FLAGS.count, FLAGS.seed)
    if FLAGS.out.endswith(".png"):
        image_utils.write_png(FLAGS.out, image_utils.rows_of(images, 8))
    else:
        np.savez_compressed(FLAGS.out, images=images)
    print(f"Wrote {len(images)} images to {FLAGS.out}")


def main():
    from absl import flags

    from gan_zoo import images as image_utils
    from gan_zoo.serving import pretrained
    FLAGS = flags.FLAGS
    model, metadata = pretrained.open_model(FLAGS.export_dir, FLAGS.pretrained)
    if metadata.get("paired"):
        return _write_translations(FLAGS, model, metadata)
    if FLAGS.input:
        raise UserError("--input is for image-to-image models; this one draws from noise.")
    if FLAGS.num_per_label <= 0:
        raise UserError(f"--num_per_label must be positive, got {FLAGS.num_per_label}.")
    if not FLAGS.out.endswith((".png", ".npz")):
        raise UserError(f"--out must end in .npz or .png, got {FLAGS.out!r}.")
    os.makedirs(os.path.dirname(os.path.abspath(FLAGS.out)), exist_ok=True)
    if not metadata.get("conditional", True):
        return _write_unconditional(FLAGS, model)
    if metadata.get("condition_names"):
        if FLAGS.labels or not FLAGS.tags:
            raise UserError("This model is conditioned on tags, not classes: pass --tags, e.g. "
                            f"--tags='{metadata['condition_names'][0]}'. Its tags: "
                            f"{', '.join(metadata['condition_names'])}.")
        labels = parse_tags(FLAGS.tags, metadata["condition_names"])
    elif FLAGS.tags:
        raise UserError("This model is conditioned on classes: pass --labels, not --tags.")
    else:
        labels = parse_labels(FLAGS.labels, metadata["num_classes"],
                              metadata.get("class_names") or ()) if FLAGS.labels else list(
            range(metadata["num_classes"]))
    if FLAGS.out.endswith(".png"):  # refused before drawing, not after
        height, width = metadata["image_shape"][:2]
        image_utils.check_png_size(FLAGS.out, *image_utils.grid_size(
            FLAGS.num_per_label * len(labels), len(labels), height, width))
    images, label_array = generate(model, labels, FLAGS.num_per_label, FLAGS.seed)
    if FLAGS.out.endswith(".png"):
        # label-major -> rows of samples, one column per label
        h, w, c = images.shape[1:]
        by_column = images.reshape(len(labels), FLAGS.num_per_label, h, w, c).transpose(1, 0, 2, 3, 4)
        image_utils.write_png(FLAGS.out, image_utils.grid(
            by_column.reshape(-1, h, w, c), FLAGS.num_per_label, len(labels)))
    else:
        key = "conditions" if label_array.ndim == 2 else "labels"
        np.savez_compressed(FLAGS.out, images=images, **{key: label_array})
    print(f"Wrote {len(images)} images to {FLAGS.out}")


def command(argv=None):
    """The command line: its flags, then main (gan-zoo generate, python -m gan_zoo generate)."""
    from absl import flags

    from gan_zoo.cli import options as cli
    cli.define_generator_flags()
    flags.DEFINE_string("labels", "", "Comma-separated classes, by number or name (default: every class).")
    flags.DEFINE_string("tags", "", "For a model trained on tags: ';'-separated groups of "
                        "','-separated tags, one condition per group (e.g. 'footwear;top,warm').")
    flags.DEFINE_integer("num_per_label", 10, "Images per label.")
    flags.DEFINE_integer("count", 64, "Unconditional models: how many images.")
    flags.DEFINE_integer("seed", 0, "Noise seed; the same seed gives the same images.")
    flags.DEFINE_string("out", "samples.npz", "Output .npz or .png file; a folder for img2img.")
    flags.DEFINE_string("input", "", "img2img: an input image, or a folder of them.")
    flags.DEFINE_enum("input_side", "", ["", "A", "B"], "img2img: the inputs are A|B pair files "
                      "(pix2pix's layout); feed the model this half.")
    cli.start(main, __doc__, argv=argv)


if __name__ == "__main__":
    command()
