"""The names a choice setting takes, for the settings to check and for the core modules that
act on them to share (the core imports them from here, so reading settings loads no
TensorFlow). A test keeps the loss and DiffAugment lists equal to what core implements."""
from gan_zoo.errors import UserError

LOSS_CHOICES = ("bce", "hinge", "wgan", "wgan_gp")  # gan_zoo/core/losses.py
NOISE_CHOICES = ("normal", "uniform")  # gan_zoo/core/noise.py
STRATEGY_CHOICES = ("default", "mirrored", "multi_worker", "tpu")  # gan_zoo/core/distribute.py
PRECISION_CHOICES = ("off", "auto", "bfloat16", "float16")
DIFFAUGMENT_CHOICES = ("color", "translation", "cutout")  # gan_zoo/core/augment.py
OPTIMIZER_CHOICES = ("adam", "rmsprop")
NORM_CHOICES = ("batch", "instance", "layer", "none")
DIRECTION_CHOICES = ("AtoB", "BtoA")
GENERATOR_CHOICES = ("encoder_decoder", "unet")  # img2img
DISCRIMINATOR_CHOICES = ("global", "patch")
CONDITIONING_CHOICES = ("concat", "projection")
G_CONDITIONING_CHOICES = ("concat", "modulation")


def parse_policy(policy, flag="diffaugment"):
    """('color', 'translation', ...) from --diffaugment's (or --`flag`'s) "color,translation";
    a UserError for unknown names."""
    names = tuple(p.strip() for p in policy.split(",") if p.strip())
    unknown = [n for n in names if n not in DIFFAUGMENT_CHOICES]
    if unknown:
        raise UserError(f"--{flag}: unknown augmentation(s) {', '.join(unknown)}; pick from "
                        f"{', '.join(DIFFAUGMENT_CHOICES)} (comma-separated), or leave it empty.")
    return names
