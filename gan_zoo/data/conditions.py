"""Conditions beyond one class: multi-hot tag vectors (Mirza & Osindero's multi-label case).

* `with_class_tags`: each class stands for a set of tags (a JSON `{class name: [tags]}`),
  so a tfds classification set trains on overlapping tags, e.g. Fashion-MNIST's
  {top, footwear, warm, ...} (`--class_tags=fashion_mnist`, packaged in data/tags/).
* `folder_with_csv`: a user's images with their own per-image tags, one CSV row each:
  `relative/path.png,tag1;tag2`.
Either way the model sees a float vector of `condition_dim` entries, one per tag.
"""
import csv
import dataclasses
import json
import os

import numpy as np

from gan_zoo.errors import UserError
from gan_zoo.data.spec import DataSpec

TAGS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tags")
MAX_GRID_COLUMNS = 10


def read_class_tags(name_or_path):
    path = name_or_path if os.path.exists(name_or_path) else os.path.join(TAGS_DIR, f"{name_or_path}.json")
    if not os.path.exists(path):
        packaged = sorted(f[:-5] for f in os.listdir(TAGS_DIR) if f.endswith(".json"))
        raise UserError(f"--class_tags={name_or_path!r}: no such file, and no packaged tag set of "
                        f"that name (packaged: {', '.join(packaged)}).")
    try:
        with open(path) as fh:
            mapping = json.load(fh)
        assert isinstance(mapping, dict) and all(isinstance(v, list) for v in mapping.values())
    except (ValueError, AssertionError):
        raise UserError(f"{path}: expected a JSON object {{class name: [tag, ...]}}.") from None
    return mapping


def tag_order(tag_lists):
    """Tags in order of first appearance: the layout of the condition vector."""
    return list(dict.fromkeys(t for tags in tag_lists for t in tags))


def multi_hot(tags, names):
    unknown = [t for t in tags if t not in names]
    if unknown:
        raise UserError(f"Unknown tag(s) {unknown}; this model knows: {', '.join(names)}.")
    return np.array([t in tags for t in names], np.float32)


def with_class_tags(source, name_or_path):
    mapping = read_class_tags(name_or_path)
    classes = source.spec.class_names
    missing = [c for c in classes if c not in mapping]
    extra = [c for c in mapping if c not in classes]
    if missing or extra:
        raise UserError(f"--class_tags must name every class of {source.name} exactly: missing "
                        f"{missing}, not classes {extra}. Its classes: {list(classes)}.")
    names = tag_order(mapping[c] for c in classes)
    table = np.stack([multi_hot(mapping[c], names) for c in classes])
    spec = dataclasses.replace(
        source.spec, condition_dim=len(names), condition_names=tuple(names),
        grid_conditions=tuple(tuple(float(v) for v in row) for row in table),
        grid_names=tuple(f"{c}: {'+'.join(mapping[c])}" for c in classes))
    return dataclasses.replace(source, spec=spec, condition_table=table)


def folder_with_csv(root, csv_path):
    from gan_zoo.data.source import Source
    from gan_zoo.data.image_folder import image_dataset
    if not os.path.exists(csv_path):
        raise UserError(f"--condition_csv {csv_path!r} does not exist.")
    with open(csv_path, newline="") as fh:
        rows = [r for r in csv.reader(fh) if r and not r[0].startswith("#")]
    if rows and rows[0][0].strip().lower() in ("file", "filename", "path"):
        rows = rows[1:]
    bad = [i + 1 for i, r in enumerate(rows) if len(r) != 2]
    if not rows or bad:
        raise UserError(f"{csv_path}: expected rows `file,tag1;tag2`; bad rows: {bad[:5] or 'none found'}.")
    paths = [os.path.join(root, r[0].strip()) for r in rows]
    missing = [p for p in paths if not os.path.exists(p)]
    if missing:
        raise UserError(f"{len(missing)} image(s) named in {csv_path} are not under {root!r}, "
                        f"e.g. {missing[0]!r}.")
    tag_lists = [[t.strip() for t in r[1].split(";") if t.strip()] for r in rows]
    names = tag_order(tag_lists)
    vectors = np.stack([multi_hot(tags, names) for tags in tag_lists])
    ds, shape, count = image_dataset(paths, vectors)  # unreadable files skipped, with a warning
    grid = list(dict.fromkeys(tuple(float(v) for v in row) for row in vectors))[:MAX_GRID_COLUMNS]
    spec = DataSpec(image_shape=shape, condition_dim=len(names), condition_names=tuple(names),
                    grid_conditions=tuple(grid),
                    grid_names=tuple("+".join(n for n, v in zip(names, g) if v) for g in grid))
    return Source(name=f"folder:{root}", images_and_labels=ds, num_examples=count, spec=spec)
