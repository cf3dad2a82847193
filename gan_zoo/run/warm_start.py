"""A run that starts from another run's trained weights: StackGAN's stage 2, whose frozen
stage I is the generator a stage-1 run sampled from (its EMA where it kept one, at its best
checkpoint, else its latest).

The weights are copied into the new generator before the trainer clones it for its EMA, so
both hold them; a resumed run then restores its own checkpoint over them (which holds the
same frozen values). The loop hands `from_earlier_stage` to the Trainer (which reads no run
dir itself).
"""
from absl import logging

from gan_zoo import models
from gan_zoo.errors import UserError
from gan_zoo.run.run_dir import default_checkpoint, restore_generator

STAGE1_LAYER = "stage1_generator"
# Settings stage I was built with that a stage-2 run must share to hold its weights.
_SHARED = ("dataset", "noise_dim", "noise", "ca_dim", "ngf", "stage_factor", "image_size",
           "class_tags", "condition_csv", "condition_feature", "center_crop")


def from_earlier_stage(generator, config, spec):
    """Fill `generator`'s frozen stage I from --stage1_run (stackgan --stage=2); else nothing."""
    if not models.describe(config.model).staged or config.stage != 2:
        return
    run_dir = config.stage1_run
    which = default_checkpoint(run_dir)
    stage1, stage1_config, stage1_spec, step = restore_generator(run_dir, which=which)
    if stage1_config.model != config.model or stage1_config.stage != 1:
        raise UserError(f"--stage1_run={run_dir!r} is a {stage1_config.model} run"
                        f"{' of stage 2' if stage1_config.model == config.model else ''}: pass the "
                        f"run dir of a --model={config.model} --stage=1 run.")
    clashes = [f"--{k}={getattr(stage1_config, k)!r} there, {getattr(config, k)!r} here"
               for k in _SHARED if getattr(stage1_config, k) != getattr(config, k)]
    if tuple(stage1_spec.image_shape) != tuple(spec.image_shape) or \
            stage1_spec.condition_dim != spec.condition_dim:
        clashes.append(f"data {stage1_spec.image_shape} with {stage1_spec.condition_dim} "
                       f"conditions there, {spec.image_shape} with {spec.condition_dim} here")
    if clashes:
        raise UserError(f"--stage1_run={run_dir!r} was trained with other settings "
                        f"({'; '.join(clashes)}): stage 2 must use its data, noise and sizes.")
    generator.get_layer(STAGE1_LAYER).set_weights(stage1.get_layer(STAGE1_LAYER).get_weights())
    logging.info("Stage I from %s (%s checkpoint, step %d), frozen", run_dir, which, step)
