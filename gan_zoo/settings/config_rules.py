"""The rules a training config obeys: ranges of single settings and combinations that cannot
train. Each refusal is a UserError naming the flag, what it must be and what was given."""
import dataclasses
import re

from gan_zoo.errors import UserError
from gan_zoo.settings import registry
from gan_zoo.settings.choices import parse_policy

def decay_epochs(text):
    """--lr_decay_epochs as a sorted list of positive epoch numbers."""
    try:
        epochs = sorted(int(e) for e in text.split(",") if e.strip())
    except ValueError:
        raise UserError(f"--lr_decay_epochs must be comma-separated epoch numbers, got {text!r}.") from None
    if any(e <= 0 for e in epochs):
        raise UserError(f"--lr_decay_epochs must be positive, got {text!r}.")
    return epochs


def check(config):
    for f in dataclasses.fields(config):  # a value from Python or a saved file may be any type
        value, kind = getattr(config, f.name), type(f.default)
        if not isinstance(value, (int, float) if kind is float else kind) or (
                isinstance(value, bool) and kind is not bool):
            what = {int: "a whole number", float: "a number", bool: "true or false"}.get(kind, "text")
            raise UserError(f"--{f.name} must be {what}, got {value!r}.")
    registry.describe(config.model)  # raises a UserError naming the registered models
    for f in dataclasses.fields(config):
        if f.metadata["bounds"]:
            _check_bounds(f.name, f.metadata["bounds"], getattr(config, f.name))
    config.decay_epochs()  # raises on a malformed list
    if parse_policy(config.diffaugment) and registry.describe(config.model).paired:
        raise UserError("--diffaugment with paired data: D also sees the input image, which "
                        "would need the same transform. Leave --diffaugment empty.")
    for name in ("mode_seeking", "diversity_sensitive"):
        if getattr(config, name) and registry.describe(config.model).paired:
            raise UserError(f"--{name} needs a generator that draws from noise; img2img's "
                            f"takes only its input image. Leave --{name} at 0.")
    if config.consistency and (registry.describe(config.model).paired or parse_policy(config.diffaugment)):
        raise UserError("--consistency augments what D judges, which paired data's input image and "
                        "--diffaugment both rule out (D would need both transforms at once): "
                        "leave --consistency at 0, or --diffaugment empty.")
    if config.rotation and registry.describe(config.model).paired:
        raise UserError("--rotation turns the images D judges, which paired data's input image "
                        "would need too: leave --rotation at 0.")
    if config.consistency and not parse_policy(config.consistency_augment, "consistency_augment"):
        raise UserError("--consistency needs augmentations: set --consistency_augment (e.g. translation).")
    if config.mismatch_fade and not (config.mismatch_weight and config.mismatch_epochs >= config.mismatch_fade):
        raise UserError(f"--mismatch_fade={config.mismatch_fade} fades the matching-aware term out over "
                        "the epochs before --mismatch_epochs: it needs --mismatch_weight > 0 and "
                        f"--mismatch_epochs >= {config.mismatch_fade} (got {config.mismatch_weight} and "
                        f"{config.mismatch_epochs}).")
    if config.d_conditioning == "projection" and not registry.describe(config.model).takes_vector_condition:
        raise UserError(f"--d_conditioning=projection needs a class or vector condition, "
                        f"which {config.model} does not take: leave it at concat.")
    if config.g_conditioning == "modulation" and not registry.supports(config.model, registry.G_MODULATION):
        raise UserError(f"--g_conditioning=modulation is built into the MLP label models' G "
                        f"(maxout_cgan, mlp_cgan), not {config.model}'s: leave it at concat.")
    if config.minibatch_stddev and not registry.supports(config.model, registry.MINIBATCH_STDDEV):
        raise UserError(f"--minibatch_stddev is built into the MLP label models' D (maxout_cgan, "
                        f"mlp_cgan), not {config.model}'s: leave it out.")
    if not 0.0 <= config.d_dropout < 1.0:
        raise UserError(f"--d_dropout must be in [0, 1), got {config.d_dropout}.")
    if config.d_dropout != type(config).d_dropout and not registry.supports(config.model, registry.D_DROPOUT):
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
    if config.l1_weight == 0 and config.adv_weight == 0:
        raise UserError("--l1_weight=0 and --adv_weight=0 leave the generator nothing to "
                        "learn: give one of them a positive weight.")
    _check_stages(config)
    paired = registry.describe(config.model).paired
    if config.l1_weight and not paired:
        raise UserError(f"--l1_weight needs a target image for each output: use it with "
                        f"--model=img2img on paired images, not with {config.model}.")


def _check_bounds(name, bounds, value):
    """A UserError unless `value` lies in `bounds` ("(0, inf)", "[0, 1]", ...; "[1, inf)" is a
    positive integer, "[0, inf)" one that is not negative)."""
    opening, low, high, closing, meaning = re.fullmatch(
        r"([\[(])\s*([^,]+),\s*([^\])]+)([\])])\s*(.*)", bounds).groups()
    above = float(low) < value if opening == "(" else float(low) <= value
    below = value < float(high) if closing == ")" else value <= float(high)
    if above and below:
        return
    interval = f"{opening}{low}, {high}{closing}"
    if interval == "[1, inf)":
        raise UserError(f"--{name} must be a positive integer, got {value}.")
    if interval == "[0, inf)":
        raise UserError(f"--{name} must be >= 0, got {value}.")
    raise UserError(f"--{name} must be in {interval}{f' ({meaning})' if meaning else ''}; got {value}.")


def _check_stages(config):
    """StackGAN's settings: a stage that exists, an augmentation the noise can feed, and stage
    2 with the stage-1 run it refines; other models take none of them."""
    if not registry.describe(config.model).staged:
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
