"""Training settings: one dataclass, turned into absl flags, filled from the model's DEFAULTS.

Precedence: a flag given on the command line or in a --flagfile, then the model's
DEFAULTS (gan_zoo/models/<model>.py), then the defaults below.
"""
import dataclasses
import json
import os

from gan_zoo import models
from gan_zoo.errors import UserError

NOISE_CHOICES = ("normal", "uniform")


def _field(default, help, choices=None):
    return dataclasses.field(default=default, metadata={"help": help, "choices": choices})


@dataclasses.dataclass
class TrainConfig:
    model: str = _field("maxout_cgan", f"Model to train; one of: {', '.join(models.names())}.",
                        choices=None)
    dataset: str = _field("mnist", "A tfds image-classification set (mnist, fashion_mnist, ...) or "
                          "folder:PATH, a folder with one sub-folder of images per class.")
    data_dir: str = _field("", "TFDS data_dir; empty means tfds' default, which honours TFDS_DATA_DIR.")
    class_tags: str = _field("", "Condition on tags instead of one class: a JSON file mapping each "
                             "class name to its tags (multi-hot), or a packaged name "
                             "(fashion_mnist).")
    condition_csv: str = _field("", "For --dataset=folder:PATH: a CSV of `file,tag;tag;...` rows "
                                "giving each image its tags (multi-hot conditions).")
    condition_feature: str = _field("", "Condition on a tfds multi-label feature instead of 'label' "
                                    "(e.g. attributes for celeb_a): a multi-hot vector.")
    download: bool = _field(True, "Let tfds download a data set that is not prepared in --data_dir.")
    run_dir: str = _field("", "Where loss.csv, samples/, checkpoints/ and tb/ go "
                          "(default runs/<model>). A run dir with a checkpoint is resumed.")
    epochs: int = _field(150, "Total number of epochs (a resumed run continues up to this).")
    batch_size: int = _field(256, "Images per training step.")
    max_images: int = _field(0, "Train on the first N images only (0: all).")
    image_size: int = _field(0, "Square size images are brought to (0: the data's own). Up to 8 "
                             "pixels larger is padded with background (28 -> 32), else resized.")
    noise_dim: int = _field(100, "Length of the generator's noise vector.")
    noise: str = _field("normal", "Noise distribution: normal N(0,1) or uniform [0,1).",
                        choices=NOISE_CHOICES)
    g_lr: float = _field(2e-4, "Generator Adam learning rate.")
    d_lr: float = _field(2e-4, "Discriminator Adam learning rate.")
    beta1: float = _field(0.5, "Adam beta_1 for both networks.")
    beta2: float = _field(0.999, "Adam beta_2 for both networks.")
    lr_decay_epochs: str = _field("", "Comma-separated epochs at which both learning rates are "
                                  "multiplied by --lr_decay_factor (e.g. 30,40).")
    lr_decay_factor: float = _field(0.1, "Learning-rate factor applied at each --lr_decay_epochs.")
    real_label: float = _field(1.0, "Target for real images in D's loss; 0.9 is one-sided label smoothing.")
    mismatch_weight: float = _field(0.0, "Weight of D's loss on real images with a wrong condition "
                                    "(GAN-CLS matching-aware D); 0 turns it off.")
    seed: int = _field(0, "Seed for weights, noise, dropout and data order.")
    save_every: int = _field(15, "Save a checkpoint every N epochs (and always at the end).")
    steps_per_call: int = _field(10, "Train steps run inside one tf.function call (fewer Python round trips).")
    jit_compile: bool = _field(False, "Compile the train step with XLA.")
    progress: bool = _field(True, "Show a tqdm progress bar.")

    def validate(self):
        models.get(self.model)  # raises a UserError naming the registered models
        positive = ("epochs", "batch_size", "noise_dim", "save_every", "steps_per_call")
        for name in positive:
            if getattr(self, name) <= 0:
                raise UserError(f"--{name} must be a positive integer, got {getattr(self, name)}.")
        for name in ("g_lr", "d_lr"):
            if not getattr(self, name) > 0:
                raise UserError(f"--{name} must be > 0, got {getattr(self, name)}.")
        if self.max_images < 0:
            raise UserError(f"--max_images must be >= 0 (0 means all), got {self.max_images}.")
        if self.image_size < 0:
            raise UserError(f"--image_size must be >= 0 (0: the data's own), got {self.image_size}.")
        self.decay_epochs()  # raises on a malformed list
        if not self.lr_decay_factor > 0:
            raise UserError(f"--lr_decay_factor must be > 0, got {self.lr_decay_factor}.")
        if self.mismatch_weight < 0:
            raise UserError(f"--mismatch_weight must be >= 0, got {self.mismatch_weight}.")
        if not 0.0 < self.real_label <= 1.0:
            raise UserError(f"--real_label must be in (0, 1], got {self.real_label}.")
        if self.noise not in NOISE_CHOICES:
            raise UserError(f"--noise must be one of {NOISE_CHOICES}, got {self.noise!r}.")
        return self

    def decay_epochs(self):
        try:
            epochs = sorted(int(e) for e in self.lr_decay_epochs.split(",") if e.strip())
        except ValueError:
            raise UserError(f"--lr_decay_epochs must be comma-separated epoch numbers, got "
                            f"{self.lr_decay_epochs!r}.") from None
        if any(e <= 0 for e in epochs):
            raise UserError(f"--lr_decay_epochs must be positive, got {self.lr_decay_epochs!r}.")
        return epochs

    def lr_scale(self, epoch):
        """Learning-rate multiplier during 0-based `epoch` (a decay at epoch 30 applies from the 31st)."""
        return self.lr_decay_factor ** sum(epoch >= e for e in self.decay_epochs())

    def resolved_run_dir(self):
        return self.run_dir or os.path.join("runs", self.model)

    def to_json(self):
        return dataclasses.asdict(self)


def define_flags(flag_values=None):
    """Declare one absl flag per TrainConfig field, with no default: unset means 'model default'."""
    from absl import flags
    fv = flags.FLAGS if flag_values is None else flag_values
    for f in dataclasses.fields(TrainConfig):
        help_text = f"{f.metadata['help']} (default: model recipe, else {f.default!r})"
        definer = {int: flags.DEFINE_integer, float: flags.DEFINE_float,
                   str: flags.DEFINE_string, bool: flags.DEFINE_boolean}[_type_of(f)]
        if f.metadata["choices"]:
            flags.DEFINE_enum(f.name, None, f.metadata["choices"], help_text, flag_values=fv)
        else:
            definer(f.name, None, help_text, flag_values=fv)


def _type_of(f):
    return {"int": int, "float": float, "str": str, "bool": bool}.get(f.type, f.type)


def from_flags(flag_values=None):
    from absl import flags
    fv = flags.FLAGS if flag_values is None else flag_values
    given = {f.name: fv[f.name].value for f in dataclasses.fields(TrainConfig)
             if fv[f.name].value is not None}
    return resolve(**given)


def resolve(**given):
    """A validated TrainConfig: `given` values, then the model's DEFAULTS, then ours."""
    model = given.get("model", TrainConfig.model)
    defaults = dict(models.get(model).DEFAULTS)
    unknown = set(given) - {f.name for f in dataclasses.fields(TrainConfig)}
    if unknown:
        raise UserError(f"Unknown setting(s): {', '.join(sorted(unknown))}.")
    return TrainConfig(**{**defaults, **given}).validate()


def save_json(path, obj):
    """Write JSON atomically, so a crash never leaves a half-written file behind."""
    tmp = f"{path}.tmp"
    with open(tmp, "w") as fh:
        json.dump(obj, fh, indent=2, sort_keys=True)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def load_json(path):
    with open(path) as fh:
        return json.load(fh)
