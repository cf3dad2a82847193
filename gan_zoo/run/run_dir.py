"""Reading a run dir for the tools that come after training (export, plot, eval, the bench):
its generator at a checkpoint, its best record, and whether a new run may write into it. None
of it imports training code."""
import os

import tensorflow as tf
from absl import logging

from gan_zoo.run import checkpoints
from gan_zoo import models
from gan_zoo.settings.config import SECTION_OF, from_saved
from gan_zoo.data.spec import DataSpec
from gan_zoo.errors import UserError
from gan_zoo.run.run_files import RunFiles, load_json

# Settings that must match to resume a run dir (others, like epochs, may change).
RESUME_KEYS = ("model", "dataset", "noise_dim", "batch_size", "max_images", "image_size",
               "class_tags", "condition_csv", "condition_feature", "center_crop", "ngf", "ndf",
               "d_norm", "loss", "optimizer", "direction", "generator", "discriminator",
               "patch_layers", "d_conditioning", "spectral_norm", "ema_half_life", "stage",
               "stage_factor", "ca_dim", "stage1_run", "minibatch_stddev", "g_conditioning")
# Model settings a resume may change (no weight depends on them), said as the training ones are.
RESUMABLE_MODEL_KEYS = ("d_dropout",)


def check_run_dir(files, config, spec):
    """Refuse a run dir that belongs to a different run; returns its config.json or None."""
    if not os.path.exists(files.config_json):
        if tf.train.latest_checkpoint(files.checkpoint_dir):
            raise UserError(f"Run dir {files.run_dir!r} holds checkpoints but no config.json, so "
                            "gan_zoo cannot tell which run they belong to. Pass a new --run_dir.")
        return None
    previous = load_json(files.config_json)
    old = previous.get("config", {})
    clashes = [f"{k}: {old.get(k)!r} there, {getattr(config, k)!r} now" if k in old else
               f"{k}: not recorded there (a run dir of an earlier version), {getattr(config, k)!r} now"
               for k in RESUME_KEYS if k not in old or old[k] != getattr(config, k)]
    old_shape = tuple(previous.get("data_spec", {}).get("image_shape", spec.image_shape))
    if old_shape != tuple(spec.image_shape):
        clashes.append(f"images: {old_shape} there, {tuple(spec.image_shape)} now (grayscale vs RGB?)")
    if clashes:
        raise UserError(f"Run dir {files.run_dir!r} holds a different run ({'; '.join(clashes)}). "
                        "Pass a new --run_dir, or the same settings to resume it.")
    changed = changed_training_settings(old, config)
    if changed:
        logging.warning("Resuming %s with other training settings than it had (%s): they apply "
                        "from its last checkpoint on. For a fresh run, pass a new --run_dir.",
                        files.run_dir, "; ".join(changed))
    return previous


def changed_training_settings(old, config):
    """'name: old -> new' for the loss and optimizer settings a resume would change, by name (they may
    change, unlike RESUME_KEYS; a user who meant a fresh run should hear of it)."""
    return [f"{k}: {old[k]!r} -> {getattr(config, k)!r}" for k, section in sorted(SECTION_OF.items())
            if (section in ("loss", "optimizer") or k in RESUMABLE_MODEL_KEYS)
            and k not in RESUME_KEYS and k in old and old[k] != getattr(config, k)]


def best_record(run_dir):
    """best.json of a run dir (metric, value, epoch, step, scores), or a UserError."""
    path = RunFiles(run_dir).best_json
    if not os.path.exists(path):
        raise UserError(f"{run_dir!r} has no best checkpoint: it is kept when a run scores its "
                        "samples (--eval_every=N, on by default). Use --which=latest, or train "
                        "with --eval_every.")
    return load_json(path)


def default_checkpoint(run_dir):
    """"best" where the run scored itself and kept one, else "latest": the checkpoint to use
    when the user names none (export from the API, a stage-2 run's frozen stage I)."""
    return "best" if os.path.exists(RunFiles(run_dir).best_json) else "latest"


def restore_generator(run_dir, epoch=None, which="latest"):
    """(generator, config, data spec, step) rebuilt from a run dir's config and latest checkpoint,
    the one kept at `epoch` (--keep_every), or with which="best" the one that scored best."""
    files = RunFiles(run_dir)
    if not os.path.isdir(run_dir):
        raise UserError(f"Run dir {run_dir!r} does not exist. Pass --run_dir=DIR of a "
                        "`gan-zoo train` run.")
    if not os.path.exists(files.config_json):
        raise UserError(f"{run_dir!r} has no config.json, so it is not a gan_zoo run dir.")
    saved = load_json(files.config_json)
    if not isinstance(saved.get("data_spec"), dict):
        raise UserError(f"{files.config_json} is damaged (no data_spec). Restore it from a copy, "
                        "or pass a new --run_dir to start afresh.")
    config = from_saved(saved.get("config"), files.config_json)
    spec = DataSpec.from_json(saved["data_spec"])
    if which not in ("latest", "best"):
        raise UserError(f"--which must be latest or best, got {which!r}.")
    if which == "best":
        if epoch is not None:
            raise UserError("--which=best and --epoch name two checkpoints: pass one of them.")
        best_record(run_dir)  # a clear error when the run kept none
        paths, where = checkpoints.newest_first(files.best_dir), files.best_dir
    elif epoch is not None:
        paths, where = [os.path.join(files.kept_dir, f"epoch-{epoch}")], files.kept_dir
        if not tf.io.gfile.exists(paths[0] + ".index"):
            kept = sorted(int(f[6:-6]) for f in os.listdir(files.kept_dir) if f.endswith(".index")) \
                if os.path.isdir(files.kept_dir) else []
            raise UserError(f"{run_dir!r} kept no checkpoint of epoch {epoch}; kept epochs: "
                            f"{kept or 'none (train with --keep_every=N)'}.")
    else:
        paths, where = checkpoints.newest_first(files.checkpoint_dir), files.checkpoint_dir
    if not paths:
        raise UserError(f"{run_dir!r} has no checkpoint yet (checkpoints are saved every "
                        f"--save_every={config.save_every} epochs and at the end).")
    generator, _ = models.build(spec, config)
    step = tf.Variable(0, dtype=tf.int64)
    # A run that kept an EMA of G is sampled, scored and exported from it (gan_zoo.core.ema).
    slot = "generator_ema" if config.ema_half_life else "generator"
    reader = tf.train.Checkpoint(**{slot: generator}, step=step)
    # the newest whole one: a checkpoint being written, or broken, is skipped with a warning
    checkpoints.restore_newest_whole(
        lambda path: reader.restore(path).expect_partial().assert_existing_objects_matched(),
        paths, where)
    return generator, config, spec, int(step)
