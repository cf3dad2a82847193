"""Training settings: one dataclass in sections, turned into absl flags, filled from recipes.

Precedence: a flag given on the command line or in a --flagfile; then the --recipe named;
then, when --loss differs from the model's own, that loss's settings (recipes/losses/LOSS.flags);
then the model's own recipe (recipes/MODEL.flags); then the defaults below.
"""
import dataclasses
import functools
import os
import re
import types

from gan_zoo.settings import config_rules, recipes, registry, speed_defaults
from gan_zoo.settings.config_switches import SwitchParser, switch
from gan_zoo.settings.fields import SECTIONS, setting as _field
from gan_zoo.settings.loss_terms import LossTerms
from gan_zoo.errors import UserError
from gan_zoo.settings.choices import (
    CONDITIONING_CHOICES, DIRECTION_CHOICES, DISCRIMINATOR_CHOICES, G_CONDITIONING_CHOICES, GENERATOR_CHOICES,
    LOSS_CHOICES, NOISE_CHOICES, NORM_CHOICES, OPTIMIZER_CHOICES, PRECISION_CHOICES, STRATEGY_CHOICES)

FOLDER_KIMG = 120  # a folder's length when none is given: read off docs/data.md's curve


@dataclasses.dataclass
class TrainConfig(LossTerms):
    recipe: str = _field("run", "", "A recipe shipped with gan_zoo, by name ("
                         f"{', '.join(recipes.names())}): its settings, under the flags given "
                         "beside it.", choices=None)
    model: str = _field("model", "maxout_cgan", f"Model to train; one of: {', '.join(registry.names())}.",
                        choices=None)
    dataset: str = _field("data", "mnist", "folder:PATH (your images), a tfds set (mnist, fashion_mnist, ...), "
                          "idx:DIR or olivetti. A folder holds a sub-folder per class, or images "
                          "alone. img2img: facades, edges2fashion, or paired:PATH (A|B images, or "
                          "A/ and B/ folders).")
    data_dir: str = _field("data", "", "TFDS data_dir; empty means tfds' default, which honours TFDS_DATA_DIR.")
    class_tags: str = _field("data", "", "Condition on tags instead of one class: a JSON file mapping each "
                             "class name to its tags (multi-hot), or a packaged name "
                             "(fashion_mnist).")
    condition_csv: str = _field("data", "", "For --dataset=folder:PATH: a CSV of `file,tag;tag;...` rows "
                                "giving each image its tags (multi-hot conditions).")
    condition_feature: str = _field("data", "", "Condition on a tfds multi-label feature instead of 'label' "
                                    "(e.g. attributes for celeb_a): a multi-hot vector.")
    download: bool = _field("data", True, "Let tfds download a data set that is not prepared in --data_dir.")
    run_dir: str = _field("run", "", "Where loss.csv, samples/, checkpoints/ and tb/ go "
                          "(default runs/<model>_<dataset>). A run dir with a checkpoint is resumed.")
    epochs: int = _field("run", 150, "Total number of epochs (a resumed run continues up to this).",
                         bounds="[1, inf)")
    kimg: float = _field("run", 0.0, "Length in thousands of images shown to D, for any data set size "
                         "(rounded up to whole epochs; replaces --epochs). 0: --epochs; a folder "
                         "given neither gets a default (docs/data.md).", bounds="[0, inf) 0: --epochs")
    batch_size: int = _field("run", 256, "Images per training step.", bounds="[1, inf)")
    max_images: int = _field("data", 0, "Train on the first N images only (0: all).",
                             bounds="[0, inf) 0: all")
    data_memory_mb: int = _field("data", 1024, "Decoded images held in memory, at most; a larger data set "
                                 "streams from a decoded copy on disk (docs/data.md).", bounds="[0, inf)")
    data_cache_dir: str = _field("data", "", "Where a streamed data set's decoded copy is written, once "
                                 "(default ~/.cache/gan_zoo/decoded).")
    image_size: int = _field("data", 0, "Square size images are brought to (0: the data's own). Up to 8 "
                             "pixels larger is padded with background (28 -> 32), else resized.",
                             bounds="[0, inf) 0: the data's own")
    center_crop: float = _field("data", 0.0, "Before resizing, keep a centred square whose side is this "
                                "fraction of the shorter side (LFW reference: 0.5, the middle "
                                "half; celeb_a: 0.6); 0 keeps the whole image.",
                                bounds="[0, 1] the kept fraction of each side; 0: no crop")
    direction: str = _field("data", "AtoB", "Paired images: AtoB maps the left (A) image to the right (B), "
                            "BtoA the right to the left (facades: BtoA = label map -> photo).",
                            choices=DIRECTION_CHOICES)
    jitter: float = _field("data", 0.0, "Paired images, training only: resize up by this fraction, then "
                           "crop a random window of the image size (pix2pix: 286/256 - 1 = 0.117).",
                           bounds="[0, inf)")
    mirror: bool = _field("data", False, "Paired images, training only: flip each pair left-right at random.")
    noise_dim: int = _field("model", 100, "Length of the generator's noise vector.",
                            bounds="[1, inf)")
    noise: str = _field("model", "normal", "Noise distribution: normal N(0,1) or uniform [0,1).",
                        choices=NOISE_CHOICES)
    ngf: int = _field("model", 64, "Generator width: conv models' channels of the last hidden layer; "
                      "the MLP models' hidden widths scale with it (64: the papers').",
                      bounds="[1, inf)")
    ndf: int = _field("model", 64, "Discriminator width: conv models' channels of its first layer; "
                      "the MLP models' D widths scale with it (64: the papers').",
                      bounds="[1, inf)")
    generator: str = _field("model", "encoder_decoder", "img2img: the generator, encoder_decoder (the "
                            "TensorFlow 1 image-to-image tutorial's) or unet (pix2pix's, with skip connections).",
                            choices=GENERATOR_CHOICES)
    discriminator: str = _field("model", "global", "img2img: the discriminator, global (one logit per "
                                "image) or patch (PatchGAN: a grid of logits).",
                                choices=DISCRIMINATOR_CHOICES)
    patch_layers: int = _field("model", 3, "PatchGAN: stride-2 layers; 3 gives pix2pix's 70x70 receptive "
                               "field, 2 a 34x34 one, 4 a 142x142 one.", bounds="[1, inf)")
    g_dropout: float = _field("model", 0.0, "img2img: dropout rate in the generator's decoder (pix2pix: "
                              "0.5, its only source of noise).", bounds="[0, 1) a rate")
    d_dropout: float = _field("model", 0.5, "maxout_cgan: dropout rate on the pieces of D's Maxout "
                              "layers (Mirza & Osindero: 0.5); 0 turns it off.")
    l1_weight: float = _field("loss", 0.0, "Paired images: weight of the L1 distance of G's output to the "
                              "target in G's loss (reference 0.7, pix2pix 100); 0 turns it off.",
                              bounds="[0, inf)")
    adv_weight: float = _field("loss", 1.0, "Weight of the adversarial term in G's loss (reference "
                               "img2img 0.3); 0 turns it off (then G learns L1 alone).",
                               bounds="[0, inf)")
    d_norm: str = _field("model", "batch", "Conv models: normalisation in D's hidden layers. WGAN-GP needs "
                         "one that treats examples separately (instance or layer).",
                         choices=NORM_CHOICES)
    d_conditioning: str = _field("model", "concat", "Conditional models: how the condition reaches D: "
                                 "concat (its own input branch, the papers') or projection (Miyato "
                                 "& Koyama 2018: its embedding dotted with D's last features).",
                                 choices=CONDITIONING_CHOICES)
    g_conditioning: str = _field("model", "concat", "MLP label models: how the condition reaches G: "
                                 "concat (its own input branch, the papers') or modulation (also "
                                 "a class gain and bias on the hidden units the noise reaches, as "
                                 "conditional BatchNorm: de Vries et al. 2017).",
                                 choices=G_CONDITIONING_CHOICES)
    spectral_norm: bool = _field("model", False, "Spectral normalisation of every D layer (Miyato et al. "
                                 "2018): W / sigma(W) by power iteration.")
    minibatch_stddev: bool = _field("model", False, "Label models: D's logit also sees the batch's spread "
                                    "(Salimans et al. 2016's minibatch features), against collapse.")
    stage: int = _field("model", 1, "stackgan: which stage to train, 1 (the coarse image) or 2 (its "
                        "refinement, stage I frozen, read from --stage1_run).")
    stage_factor: int = _field("model", 2, "stackgan: the data's size over stage I's (2 or 4).")
    ca_dim: int = _field("model", 32, "stackgan: length of the conditioning augmentation's sample (taken "
                         "from the noise's first numbers, so --noise_dim must be larger).")
    stage1_run: str = _field("model", "", "stackgan --stage=2: the run dir of the stage-1 run whose "
                             "generator (its best checkpoint, else its latest) is frozen under stage II.")
    kl_weight: float = _field("loss", 2.0, "stackgan: weight of the conditioning augmentation's KL to "
                              "N(0, I) in G's loss (StackGAN's code: 2); 0 turns it off.",
                              bounds="[0, inf)")
    loss: str = _field("loss", "bce", "Adversarial loss: bce (non-saturating), hinge, wgan (weight "
                       "clipping) or wgan_gp (gradient penalty); brings the settings it trains with.",
                       choices=LOSS_CHOICES)
    optimizer: str = _field("optimizer", "adam", "Optimizer of both networks: adam or rmsprop.",
                            choices=OPTIMIZER_CHOICES)
    g_lr: float = _field("optimizer", 2e-4, "Generator learning rate.", bounds="(0, inf)")
    d_lr: float = _field("optimizer", 2e-4, "Discriminator learning rate.", bounds="(0, inf)")
    beta1: float = _field("optimizer", 0.5, "Adam beta_1 for both networks.")
    beta2: float = _field("optimizer", 0.999, "Adam beta_2 for both networks.")
    fused_adam: bool = _field("optimizer", True, "Adam's update as one fused kernel per variable, Keras' "
                              "arithmetic and checkpoints with fewer kernel launches (docs/speed.md).")
    n_critic: int = _field("optimizer", 1, "Discriminator steps per generator step (each on its own batch).",
                           bounds="[1, inf)")
    adaptive_schedule: bool = _field("optimizer", False, "An adaptive schedule instead of --n_critic: on each "
                                     "batch measure D's and G's accuracy and train the weaker "
                                     "side (a burst of --adaptive_burst D steps, or one G step).")
    adaptive_burst: int = _field("optimizer", 5, "D steps in one burst of the adaptive schedule.",
                                 bounds="[1, inf)")
    clip: float = _field("loss", 0.0, "WGAN: clip every critic weight to [-clip, clip] after each D step (0: off).",
                         bounds="[0, inf)")
    gp_weight: float = _field("loss", 10.0, "WGAN-GP: weight of the gradient penalty.",
                              bounds="[0, inf)")
    lr_decay_epochs: str = _field("optimizer", "", "Comma-separated epochs at which both learning rates are "
                                  "multiplied by --lr_decay_factor (e.g. 30,40).")
    lr_decay_factor: float = _field("optimizer", 0.1, "Learning-rate factor applied at each --lr_decay_epochs.",
                                    bounds="(0, inf)")
    lr_linear_decay: float = _field("optimizer", 0.0, "Decay both learning rates linearly to zero over this "
                                    "last fraction of the run (0.5: the second half); 0: off.",
                                    bounds="[0, 1] a fraction of the run")
    ema_half_life: float = _field("optimizer", 0.0, "EMA of G's weights (Yazici et al. 2019): their half-life in "
                                  "images (e.g. 10000). The average is what grids, scores, the best "
                                  "checkpoint and export use; 0: off.", bounds="[0, inf)")
    ema_rampup: float = _field("optimizer", 0.05, "EMA ramp-up: the half-life is at most this fraction of the "
                               "images seen so far (early weights fade fast); 0: none.",
                               bounds="[0, inf)")
    real_label: float = _field("loss", 1.0, "Target for real images in D's loss; 0.9 is one-sided label smoothing.",
                               bounds="(0, 1]")
    fake_label: float = _field("loss", 0.0, "Target for fakes in D's loss; 0.1 (with --real_label=0.9) is "
                               "the DCGAN faces tutorial's two-sided smoothing.")
    seed: int = _field("run", 0, "Seed for weights, noise, dropout and data order.")
    save_every: int = _field("run", 15, "Save a checkpoint every N epochs (and always at the end); the "
                             "3 newest are kept.", bounds="[1, inf)")
    keep_every: int = _field("run", 0, "Also keep a checkpoint every N epochs for good, in "
                             "checkpoints/kept/ (to pick the best afterwards); 0: off.",
                             bounds="[0, inf)")
    eval_every: int = _field("eval", 1, "Score the generator every N epochs and at the end (FID, label "
                             "accuracy, recall, ...; SWD for faces; L1 for pairs) into metrics.csv, "
                             "keeping the best checkpoint in checkpoints/best/; 0: off.",
                             bounds="[0, inf)")
    eval_samples: int = _field("eval", 1000, "Samples (and real test images) each evaluation compares; "
                               "the results table uses 10,000 (gan-zoo eval).")
    select_by: str = _field("eval", "auto", "The metric that picks checkpoints/best/: auto (FID where it is "
                            "measured, else SWD, else L1), or one metrics.csv column "
                            "(label_accuracy, fid, precision, recall, coverage, swd, l1, psnr, ssim).")
    collapse_threshold: float = _field("eval", 0.2, "Warn when sample diversity (mean pairwise distance of "
                                       "a fixed sample batch over that of real images) falls under "
                                       "this; 0: off.", bounds="[0, inf)")
    steps_per_call: int = _field("run", 10, "Train steps run inside one tf.function call (fewer Python round trips).",
                                 bounds="[1, inf)")
    jit_compile: str = _field("run", "auto", "Compile the train step with XLA: on, off, or auto (on where "
                              "it measured faster for this model on this kind of CPU or GPU, "
                              "docs/speed.md). --jit_compile alone means on.",
                              choices=speed_defaults.SWITCH_CHOICES)
    fused_batch_norm: bool = _field("run", True, "BatchNorm's training pass as TensorFlow's fused kernel "
                                    "on one replica, Keras' weights and averages (docs/speed.md).")
    strategy: str = _field("run", "default", "tf.distribute strategy: default (one device), mirrored "
                           "(every GPU, or the --cpu_devices), multi_worker (the workers in "
                           "TF_CONFIG) or tpu. --batch_size is the global batch, split across "
                           "replicas.", choices=STRATEGY_CHOICES)
    cpu_devices: int = _field("run", 0, "Split the CPU into N logical devices (for --strategy=mirrored on "
                              "a machine without GPUs); 0: leave it as one.", bounds="[0, inf)")
    mixed_precision: str = _field("run", "auto", "Compute in 16 bits, keep weights and normalisation "
                                  "statistics in float32: float16 (with loss scaling; GPUs), "
                                  "bfloat16, off, or auto (float16 on a GPU; on a CPU bfloat16 "
                                  "where it measured faster for this model, as on CPUs with "
                                  "AVX512_BF16 or AMX, else off; docs/speed.md).",
                                  choices=PRECISION_CHOICES)
    deterministic: bool = _field("run", False, "Op determinism (tf.config.experimental.enable_op_determinism) "
                                 "on top of the fixed seeds: two runs write identical loss.csv files.")
    max_nan_recoveries: int = _field("run", 3, "NaN guard: how many times a run goes back to its last good "
                                     "checkpoint after a non-finite loss or gradient before it stops.",
                                     bounds="[0, inf)")
    nan_lr_factor: float = _field("run", 0.5, "NaN guard: learning-rate factor applied at each recovery "
                                  "(1: keep the learning rates).", bounds="(0, 1]")
    progress: bool = _field("run", True, "Show progress: a tqdm bar in a terminal or notebook, else a "
                            "log line every 30 s.")

    def validate(self):
        """Refuse a setting out of range or a combination that cannot train (UserError)."""
        config_rules.check(self)
        return self

    def decay_epochs(self):
        return config_rules.decay_epochs(self.lr_decay_epochs)

    def lr_scale(self, epoch, progress=0.0):
        """Learning-rate multiplier during 0-based `epoch` (a decay at epoch 30 applies from the
        31st), `progress` the fraction of the run's steps done (the linear decay's clock)."""
        scale = self.lr_decay_factor ** sum(epoch >= e for e in self.decay_epochs())
        if self.lr_linear_decay:
            scale *= min(1.0, max(0.0, 1.0 - progress) / self.lr_linear_decay)
        return scale

    def resolved_run_dir(self):
        """--run_dir, else runs/<model>_<data set> (a path's last folder), so runs never collide."""
        data = os.path.basename(os.path.normpath(self.dataset.split(":", 1)[-1])) or "data"
        return self.run_dir or os.path.join("runs", self.model + "_" + re.sub(r"[^\w.-]", "_", data))

    def to_json(self):
        return dataclasses.asdict(self)

    def section(self, name):
        """A read-only view of one section's settings (data, model, loss, optimizer, run, eval)."""
        if name not in SECTIONS:
            raise ValueError(f"no config section {name!r}; sections: {', '.join(SECTIONS)}")
        return types.MappingProxyType({k: getattr(self, k) for k, s in SECTION_OF.items() if s == name})


SECTION_OF = {f.name: f.metadata["section"] for f in dataclasses.fields(TrainConfig)}  # declared


def define_flags(flag_values=None):
    """Declare one absl flag per TrainConfig field, with no default: unset means 'model default'."""
    from absl import flags
    fv = flags.FLAGS if flag_values is None else flag_values
    for f in dataclasses.fields(TrainConfig):
        help_text = f"{f.metadata['help']} (default: model recipe, else {f.default!r})"
        definer = {int: flags.DEFINE_integer, float: flags.DEFINE_float,
                   str: flags.DEFINE_string, bool: flags.DEFINE_boolean}[_type_of(f)]
        if f.metadata["choices"] == speed_defaults.SWITCH_CHOICES:  # --name, --noname, --name=auto
            flags.DEFINE_flag(flags.Flag(SwitchParser(), flags.ArgumentSerializer(), f.name, None,
                                         help_text, boolean=True), flag_values=fv)
        elif f.metadata["choices"]:
            flags.DEFINE_enum(f.name, None, f.metadata["choices"], help_text, flag_values=fv)
        else:
            definer(f.name, None, help_text, flag_values=fv)


_SWITCHES = tuple(f.name for f in dataclasses.fields(TrainConfig)  # on / off / auto (or bools)
                  if f.metadata["choices"] == speed_defaults.SWITCH_CHOICES)


def _type_of(f):
    return {"int": int, "float": float, "str": str, "bool": bool}.get(f.type, f.type)


def from_flags(flag_values=None):
    from absl import flags
    fv = flags.FLAGS if flag_values is None else flag_values
    given = {f.name: fv[f.name].value for f in dataclasses.fields(TrainConfig)
             if fv[f.name].value is not None}
    return resolve(**given)


def resolve(**given):
    """A validated TrainConfig from `given` settings and the recipes under them (see the top)."""
    unknown = set(given) - {f.name for f in dataclasses.fields(TrainConfig)}
    if unknown:
        raise UserError(f"Unknown setting(s): {', '.join(sorted(unknown))}.")
    chosen = {**(recipe_settings(given["recipe"]) if given.get("recipe") else {}), **given}
    chosen.update({name: switch(chosen[name]) for name in _SWITCHES if name in chosen})
    model = chosen.get("model", TrainConfig.model)
    if str(chosen.get("dataset", "")).startswith("folder:") and not {"epochs", "kimg"} & set(given):
        chosen["kimg"] = FOLDER_KIMG  # a recipe's epochs are for its own data set
    defaults = recipe_settings(registry.recipe_name(model))
    loss = chosen.get("loss")
    if loss is not None and loss != defaults.get("loss", TrainConfig.loss):
        loss_flags = recipes.loss_path(loss)
        defaults.update(_recipe_settings(loss_flags) if loss_flags else {})
    return TrainConfig(**{**defaults, **chosen}).validate()


def from_saved(saved, where="config.json"):
    """The TrainConfig of a config.json or a pretrained card: a setting it lacks (added since)
    takes its recipe's value; one it holds that is refused (a hand edit) names the file."""
    if not isinstance(saved, dict):
        raise UserError(f"{where} holds no settings: restore it from a copy, or pass a new --run_dir.")
    try:
        return resolve(**saved)
    except UserError as e:
        raise UserError(f"{where}: {e} Restore the file from a copy, or pass a new --run_dir.") from None


def recipe_settings(name):
    """The settings recipe `name` sets, typed as its flags are."""
    return dict(_recipe_settings(recipes.path(name)))


@functools.lru_cache(maxsize=None)
def _recipe_settings(path):
    from absl import flags
    fv = flags.FlagValues()
    define_flags(fv)
    try:
        fv(["recipe", f"--flagfile={path}"])
    except flags.Error as e:
        raise UserError(f"Recipe {path}: {e}") from None
    return tuple((f.name, fv[f.name].value) for f in dataclasses.fields(TrainConfig)
                 if fv[f.name].value is not None)
