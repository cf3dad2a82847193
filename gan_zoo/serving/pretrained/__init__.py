"""Generators trained by this project, shipped in the package and loaded by name.

    from gan_zoo.serving import pretrained
    generator, card = pretrained.load("maxout_cgan/fashion_mnist")
    gan-zoo generate --pretrained=maxout_cgan/fashion_mnist --out=grid.png

Each lives in gan_zoo/serving/pretrained/<model>/<dataset>/: `generator.npz` (the weights in
float16, to keep the package small) and `card.json` (the training config, the data spec,
the command that trained it, CPU minutes, and its metrics, measured on the float16 weights
as shipped). `tools/ship_results.py` trains, scores and writes them; nothing here is typed in.
"""
import json
import os

import numpy as np

from gan_zoo.errors import UserError

ROOT = os.path.dirname(os.path.abspath(__file__))
WEIGHTS, CARD = "generator.npz", "card.json"


def names():
    """'model/dataset' of every shipped generator."""
    found = []
    for model in sorted(os.listdir(ROOT)):
        folder = os.path.join(ROOT, model)
        if os.path.isdir(folder) and not model.startswith("_"):
            found += [f"{model}/{d}" for d in sorted(os.listdir(folder))
                      if os.path.exists(os.path.join(folder, d, CARD))]
    return found


def path(name):
    folder = os.path.join(ROOT, *name.split("/"))
    if "/" not in name or not os.path.exists(os.path.join(folder, CARD)):
        raise UserError(f"No pretrained generator {name!r}. Shipped: "
                        f"{', '.join(names()) or 'none'} (names are model/dataset).")
    return folder


def card(name):
    with open(os.path.join(path(name), CARD)) as fh:
        return json.load(fh)


def build(config_json, spec_json):
    """(an untrained generator, its config, its data spec) from a card's config and spec."""
    from gan_zoo.settings import config as config_lib
    from gan_zoo import models
    from gan_zoo.data.spec import DataSpec
    config = config_lib.from_saved(config_json)
    spec = DataSpec.from_json(spec_json)
    generator, _ = models.build(spec, config)
    return generator, config, spec


def load(name):
    """(generator, card) of a shipped generator; the card holds config, data_spec and metrics."""
    info = card(name)
    generator, _, _ = build(info["config"], info["data_spec"])
    with np.load(os.path.join(path(name), WEIGHTS)) as stored:
        generator.set_weights([stored[f"w{i}"].astype(np.float32) for i in range(len(stored.files))])
    return generator, info


def save(generator, folder, info):
    """Write the weights in float16 and the card; returns the float16-rounded weights, which
    are what the card's metrics must be measured on."""
    os.makedirs(folder, exist_ok=True)
    halves = [np.asarray(w, np.float16) for w in generator.get_weights()]
    np.savez_compressed(os.path.join(folder, WEIGHTS), **{f"w{i}": w for i, w in enumerate(halves)})
    with open(os.path.join(folder, CARD), "w") as fh:
        json.dump(info, fh, indent=2, sort_keys=True)
    return [w.astype(np.float32) for w in halves]


class _Served:
    """A shipped generator behind the signatures of a loaded export (`.signatures[name](...)`
    -> {"images": uint8}), so gan_zoo.serving.generate and gan_zoo.serving.explore take either."""

    def __init__(self, module, functions):
        self.module = module
        self.signatures = {k: f.get_concrete_function() for k, f in functions.items()}


def served(name):
    """(export-like model, metadata) of a shipped generator; metadata as an export's, plus
    the card's metrics."""
    from gan_zoo.settings import config as config_lib
    from gan_zoo.serving import export
    from gan_zoo.data.spec import DataSpec
    generator, info = load(name)
    config = config_lib.from_saved(info["config"])
    spec = DataSpec.from_json(info["data_spec"])
    module, functions = export.serving_module(generator, config, spec)
    metadata = {**export.describe(config, spec, functions), "step": info["step"],
                "epoch": info["epoch"], "metrics": info.get("metrics", {}), "pretrained": name}
    return _Served(module, functions), metadata


def open_model(export_dir="", name=""):
    """(model, metadata) of `--export_dir` or `--pretrained`, exactly one of them."""
    if bool(export_dir) == bool(name):
        raise UserError("Pass one of --export_dir=DIR (a gan_zoo.serving.export export) or "
                        f"--pretrained=NAME (shipped: {', '.join(names()) or 'none'}).")
    if name:
        return served(name)
    from gan_zoo.serving import export
    return export.load(export_dir)
