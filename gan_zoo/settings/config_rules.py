"""The rules a training config obeys: ranges of single settings and combinations that cannot
train. Each refusal is a UserError naming the flag, what it must be and what was given."""
import dataclasses

from gan_zoo.core import augment
from gan_zoo import models
from gan_zoo.errors import UserError

_INF = float("inf")
# setting -> (lower bound, upper bound, what it is); "(" / ")" exclusive, "[" / "]" inclusive
_INTERVALS = {
    "g_lr": (("(", 0), (")", _INF), ""), "d_lr": (("(", 0), (")", _INF), ""),
    "lr_decay_factor": (("(", 0), (")", _INF), ""),
    "max_images": (("[", 0), (")", _INF), " (0: all)"),
    "image_size": (("[", 0), (")", _INF), " (0: the data's own)"),
    "mismatch_weight": (("[", 0), (")", 1), " (the wrong-condition share of D's fake term; "
                                            "0.5: GAN-CLS)"),
    "lr_linear_decay": (("[", 0), ("]", 1), " (a fraction of the run)"),
    "real_label": (("(", 0), ("]", 1), ""), "nan_lr_factor": (("(", 0), ("]", 1), ""),
    "center_crop": (("[", 0), ("]", 1), " (the kept fraction of each side; 0: no crop)"),
    "g_dropout": (("[", 0), (")", 1), " (a rate)"),
}


def check(config):
    models.describe(config.model)  # raises a UserError naming the registered models
    positive = ("epochs", "batch_size", "noise_dim", "save_every", "steps_per_call", "ngf",
                "ndf", "n_critic", "adaptive_burst", "patch_layers", "r1_every")
    for name in positive:
        if getattr(config, name) <= 0:
            raise UserError(f"--{name} must be a positive integer, got {getattr(config, name)}.")
    for name, (low, high, meaning) in _INTERVALS.items():
        value = getattr(config, name)
        if not (low[1] < value if low[0] == "(" else low[1] <= value) or not (
                value < high[1] if high[0] == ")" else value <= high[1]):
            raise UserError(f"--{name} must be in {low[0]}{low[1]:g}, {high[1]:g}{high[0]}"
                            f"{meaning}; got {value}.")
    config.decay_epochs()  # raises on a malformed list
    if augment.parse_policy(config.diffaugment) and models.describe(config.model).paired:
        raise UserError("--diffaugment with paired data: D also sees the input image, which "
                        "would need the same transform. Leave --diffaugment empty.")
    if config.mode_seeking and models.describe(config.model).paired:
        raise UserError("--mode_seeking needs a generator that draws from noise; img2img's "
                        "takes only its input image. Leave --mode_seeking at 0.")
    if config.d_conditioning == "projection" and not models.describe(config.model).takes_vector_condition:
        raise UserError(f"--d_conditioning=projection needs a class or vector condition, "
                        f"which {config.model} does not take: leave it at concat.")
    if config.g_conditioning == "modulation" and not models.supports(config.model, models.G_MODULATION):
        raise UserError(f"--g_conditioning=modulation is built into the MLP label models' G "
                        f"(maxout_cgan, mlp_cgan), not {config.model}'s: leave it at concat.")
    if config.minibatch_stddev and not models.supports(config.model, models.MINIBATCH_STDDEV):
        raise UserError(f"--minibatch_stddev is built into the MLP label models' D (maxout_cgan, "
                        f"mlp_cgan), not {config.model}'s: leave it out.")
    if not 0.0 <= config.d_dropout < 1.0:
        raise UserError(f"--d_dropout must be in [0, 1), got {config.d_dropout}.")
    if config.d_dropout != type(config).d_dropout and not models.supports(config.model, models.D_DROPOUT):
        raise UserError(f"--d_dropout is the dropout of maxout_cgan's Maxout D, which "
                        f"{config.model}'s D does not have: leave it out.")
    if not 0.0 <= config.fake_label < config.real_label:
        raise UserError(f"--fake_label must be in [0, --real_label), got {config.fake_label}.")
    for f in dataclasses.fields(config):
        choices = f.metadata["choices"]
        if choices and getattr(config, f.name) not in choices:
            raise UserError(f"--{f.name} must be one of {', '.join(choices)}; got "
                            f"{getattr(config, f.name)!r}.")
    if config.eval_samples < 10:
        raise UserError(f"--eval_samples must be at least 10 (the k-NN metrics need "
                        f"neighbours), got {config.eval_samples}.")
    for name in ("clip", "gp_weight", "r1_gamma", "ema_half_life", "ema_rampup",
                 "mismatch_epochs", "keep_every", "eval_every", "collapse_threshold", "max_nan_recoveries",
                 "cpu_devices", "jitter", "l1_weight", "adv_weight", "mode_seeking", "kl_weight"):
        if getattr(config, name) < 0:
            raise UserError(f"--{name} must be >= 0, got {getattr(config, name)}.")
    if config.l1_weight == 0 and config.adv_weight == 0:
        raise UserError("--l1_weight=0 and --adv_weight=0 leave the generator nothing to "
                        "learn: give one of them a positive weight.")
    _check_stages(config)
    paired = models.describe(config.model).paired
    if config.l1_weight and not paired:
        raise UserError(f"--l1_weight needs a target image for each output: use it with "
                        f"--model=img2img on paired images, not with {config.model}.")


def _check_stages(config):
    """StackGAN's settings: a stage that exists, an augmentation the noise can feed, and stage
    2 with the stage-1 run it refines; other models take none of them."""
    if not models.describe(config.model).staged:
        if config.stage != 1 or config.stage1_run:
            raise UserError(f"--stage and --stage1_run are for models trained in stages "
                            f"(stackgan): {config.model} trains in one. Pass --model=stackgan, "
                            "or leave them out.")
        return
    if config.stage not in (1, 2):
        raise UserError(f"--stage must be 1 (the coarse image) or 2 (its refinement), got {config.stage}.")
    if config.stage_factor not in (2, 4):
        raise UserError(f"--stage_factor must be 2 or 4 (the data's size over stage I's), got "
                        f"{config.stage_factor}.")
    if not 0 < config.ca_dim < config.noise_dim:
        raise UserError(f"--ca_dim={config.ca_dim} must be positive and below --noise_dim="
                        f"{config.noise_dim}: the augmentation's draw is the noise's first "
                        "--ca_dim numbers, the rest is z.")
    if config.stage == 2 and not config.stage1_run:
        raise UserError("--stage=2 refines a trained stage I: pass --stage1_run=DIR, the run "
                        "dir of a --model=stackgan --stage=1 run on the same data.")
    if config.stage == 1 and config.stage1_run:
        raise UserError("--stage1_run is read by --stage=2 only: leave it out of a stage-1 run.")
