"""gan-zoo export --run_dir=runs/maxout_cgan_fashion_mnist --export_dir=export/maxout_cgan [--which=best]
(or python -m gan_zoo export)

Writes a SavedModel that TF Serving loads as the next version under --export_dir (never
overwriting one). Signatures: `serving_default` (labels int32 [batch] or condition float32
[batch, dim], noise float32 [batch, noise_dim] -> images uint8), `generate_from_seed`
(labels or count, seed int64) and `generate_png` (the same inputs -> png_bytes, one PNG per
image; base64 over REST); an unconditional model takes noise alone; img2img maps images
uint8 -> images uint8 in the --inference_mode it names (eval: moving averages, no dropout;
pix2pix: each request's own batch statistics, dropout on). Bad requests fail with
InvalidArgumentError. The metadata (shapes, classes, noise, step, the epoch's figures) is in
the SavedModel (`.metadata()`) and in <version>/assets.extra/gan_zoo.json. The same
generator is <version>/generator.keras, for keras.saving.load_model (safe mode; the zoo's
layers are registered once gan_zoo is imported): noise [and condition] -> images in [-1, 1].
"""
import json
import os
import shutil

import numpy as np
import tensorflow as tf

from gan_zoo.run import disk_space
from gan_zoo.errors import UserError
from gan_zoo.serving.versions import check_free, claim, publish, versions  # noqa: F401  (versions: read here too)
from gan_zoo.serving.serving_graph import (MAX_COUNT, PNG_SIGNATURE, SEED_SIGNATURE,  # noqa: F401
                                   GeneratorModule, ImageToImageModule)

METADATA_FILE = os.path.join("assets.extra", "gan_zoo.json")
KERAS_FILE = "generator.keras"  # the exported generator as a Keras model (TF Serving ignores it)
INFERENCE_MODES = ("eval", "pix2pix")


def _refuse_non_finite(generator, step):
    """A generator with a NaN or Inf weight would serve NaN images (uint8 garbage): refuse it."""
    bad = [(w.path, int(np.size(v) - np.isfinite(v).sum())) for w in generator.weights
           if not np.isfinite(v := np.asarray(w.numpy(), np.float64)).all()]
    if bad:
        where = ", ".join(f"{path} ({n} values)" for path, n in bad[:3])
        raise UserError(f"The generator at step {step} has non-finite weights ({where}); it "
                        "would serve garbage. Export another checkpoint: --which=best, or "
                        "--epoch=N of one kept with --keep_every.")


def describe(config, spec, signatures, inference_mode=None):
    """The metadata of a generator that clients (generate, explore, eval) read."""
    return {"model": config.model, "dataset": config.dataset, "conditional": spec.is_conditional,
            "loss": config.loss, "image_shape": list(spec.image_shape),
            "num_classes": spec.condition_dim if spec.is_class_conditional else 0,
            "class_names": list(spec.class_names), "condition_dim": spec.condition_dim,
            "condition_names": list(spec.condition_names), "noise_dim": config.noise_dim,
            "noise": config.noise, "signatures": list(signatures), "paired": spec.is_paired,
            "input_shape": list(spec.condition_shape), "inference_mode": inference_mode or "eval",
            # how the training images were read, so gan_zoo.eval reads its reference alike
            "data_settings": {k: getattr(config, k) for k in DATA_SETTINGS}}


DATA_SETTINGS = ("image_size", "center_crop", "class_tags", "condition_csv", "condition_feature",
                 "direction")


def serving_module(generator, config, spec, inference_mode=None):
    """(tf.Module, {name: tf.function}) serving `generator` (see the module docstring)."""
    from gan_zoo.models.layers import batch_statistics_twin
    if spec.is_paired:
        if inference_mode is None:
            raise UserError("img2img exports need --inference_mode: eval (BatchNorm's moving "
                            "averages, no dropout: deterministic) or pix2pix (each request's own "
                            "batch statistics and dropout on, as pix2pix runs at test time). "
                            "See `gan-zoo export --helpfull`.")
        if inference_mode == "pix2pix":
            generator = batch_statistics_twin(generator)
        module = ImageToImageModule(generator, spec)
        return module, {"serving_default": module.serving_default}
    if inference_mode == "pix2pix":
        raise UserError(f"--inference_mode=pix2pix is for img2img models; {config.model} "
                        "exports in eval mode (leave the flag out, or pass eval).")
    module = GeneratorModule(generator, spec, config.noise_dim, config.noise)
    return module, {"serving_default": module.serving_default,
                    SEED_SIGNATURE: module.generate_from_seed, PNG_SIGNATURE: module.generate_png}


def export(run_dir, export_base, version=None, epoch=None, inference_mode=None, which="latest",
           allow_untrained=False):
    """Export the latest generator of `run_dir` (or the one kept at `epoch`) as a new version
    under `export_base` (the next number, or `version`); an existing version is never touched.
    which="best" exports the checkpoint that scored best (checkpoints/best/, --select_by).
    Returns the metadata, which the SavedModel also carries. `inference_mode` (see the module's
    docstring) is required for image-to-image models; the other families export in `eval` mode.
    A run with no trained step (killed before its first batch) is refused unless `allow_untrained`."""
    from gan_zoo.run.run_dir import best_record, restore_generator
    check_free(export_base, version)
    if inference_mode not in (None, *INFERENCE_MODES):
        raise UserError(f"--inference_mode must be one of {', '.join(INFERENCE_MODES)}; got "
                        f"{inference_mode!r}.")
    generator, config, spec, step = restore_generator(run_dir, epoch, which)
    if step == 0 and not allow_untrained:
        raise UserError(f"{run_dir!r} has not trained a step yet (its checkpoint is step 0, saved "
                        "before the first batch): its generator draws noise. Train it first, or "
                        "pass --allow_untrained to export it anyway.")
    _refuse_non_finite(generator, step)
    selected = None
    if which == "best":
        record = best_record(run_dir)
        epoch, selected = record["epoch"], {"by": record["metric"], "value": record["value"]}
    module, signatures = serving_module(generator, config, spec, inference_mode)
    with disk_space.reported(export_base, lambda: "Nothing was exported and the versions already "
                             "there are untouched: free some space, then export again."):
        version, staging = claim(export_base, version)  # the number is ours from here on
        metadata = {**describe(config, spec, signatures, inference_mode), "step": step,
                    "epoch": epoch, "version": version, "which": which, "selected": selected,
                    "metrics": metrics_at(run_dir, epoch)}
        # Readable from the SavedModel itself (`loaded.metadata()`), and as a file beside it.
        text = json.dumps(metadata, indent=2)
        module.metadata = tf.function(lambda: tf.constant(text), input_signature=[])
        try:  # written into the claimed staging folder, then renamed (serving/versions.py)
            tf.saved_model.save(module, staging, signatures=signatures)
            os.makedirs(os.path.join(staging, "assets.extra"), exist_ok=True)
            with open(os.path.join(staging, METADATA_FILE), "w") as fh:
                fh.write(text)
            module.generator.save(os.path.join(staging, KERAS_FILE))
            publish(staging, export_base, version)
        except BaseException:  # an error or Ctrl-C: nothing half-done is left behind
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return metadata


def metrics_at(run_dir, epoch=None):
    """The loss.csv and metrics.csv figures of the exported epoch."""
    from gan_zoo.run.run_files import RunFiles, read_csv
    files, found = RunFiles(run_dir), {}
    for path in (files.loss_csv, files.metrics_csv):
        if not os.path.exists(path):
            continue
        rows = read_csv(path)
        at = np.flatnonzero(rows["epoch"] == epoch) if epoch is not None else np.arange(len(rows["epoch"]))[-1:]
        if not len(at):  # no row (yet) for that epoch
            continue
        i = int(at[0])
        found.update({k: float(v[i]) for k, v in rows.items() if k not in ("epoch", "steps", "lr")})
    return found


def version_dir(export_dir):
    """`export_dir` itself when it is one version, else its newest version; UserError if none."""
    if os.path.exists(os.path.join(export_dir, "saved_model.pb")):
        return export_dir
    found = versions(export_dir)
    if not found:
        raise UserError(f"No SavedModel in {export_dir!r} (nor a numbered version under it). "
                        "Create one with `gan-zoo export --run_dir=RUN --export_dir=DIR`.")
    return os.path.join(export_dir, str(found[-1]))


def load(export_dir):
    """(loaded SavedModel, metadata dict) of a version folder, or of the newest version under a
    base folder; a UserError naming what is missing."""
    path = version_dir(export_dir)
    loaded = tf.saved_model.load(path)
    if not hasattr(loaded, "metadata"):
        raise UserError(f"{path!r} is a SavedModel without gan_zoo's metadata() function: "
                        "not an export of gan_zoo. Export a run with `gan-zoo export`.")
    return loaded, json.loads(loaded.metadata().numpy().decode())


def main():
    from absl import flags
    FLAGS = flags.FLAGS
    if not FLAGS.run_dir or not FLAGS.export_dir:
        raise UserError("Both --run_dir and --export_dir are required.")
    metadata = export(FLAGS.run_dir, FLAGS.export_dir, version=FLAGS.version,
                      epoch=FLAGS.epoch, inference_mode=FLAGS.inference_mode, which=FLAGS.which,
                      allow_untrained=FLAGS.allow_untrained)
    where = os.path.join(FLAGS.export_dir, str(metadata["version"]))
    picked = metadata["selected"]
    chosen = (f"the best checkpoint by {picked['by']} ({picked['value']:.4g}, epoch "
              f"{metadata['epoch']})" if picked else f"step {metadata['step']}")
    print(f"Exported {metadata['model']} ({chosen}) to {where} "
          f"with signatures {', '.join(metadata['signatures'])}, inference mode "
          f"{metadata['inference_mode']}")


def command(argv=None):
    """The command line: its flags, then main (gan-zoo export, python -m gan_zoo export)."""
    from absl import flags

    from gan_zoo.cli import options as cli
    flags.DEFINE_string("run_dir", None, "Run directory written by gan_zoo.train.")
    flags.DEFINE_string("export_dir", None, "Base folder of the model's versions: the export goes "
                        "to EXPORT_DIR/<version>/ (TF Serving's model_base_path layout).")
    flags.DEFINE_integer("version", None, "Version number to write (default: one more than the "
                         "newest); an existing version is never overwritten.")
    flags.DEFINE_integer("epoch", None, "Export the checkpoint kept at this epoch (--keep_every) "
                         "instead of the latest.")
    flags.DEFINE_enum("which", "latest", ("latest", "best"),
                      "latest: the newest checkpoint; best: the one that scored best on "
                      "--select_by while training (checkpoints/best/).")
    flags.DEFINE_enum("inference_mode", None, INFERENCE_MODES,
                      "How the generator runs when served; required for img2img. eval: "
                      "BatchNorm's moving averages, no dropout (deterministic). pix2pix: each "
                      "request's own batch statistics and dropout on, as pix2pix tests (outputs "
                      "vary). Neither ever updates statistics. Other families: eval.")
    flags.DEFINE_boolean("allow_untrained", False, "Export a run that has not trained a step "
                         "(its generator draws noise), e.g. to test a serving setup.")
    cli.start(main, __doc__, argv=argv)


if __name__ == "__main__":
    command()
