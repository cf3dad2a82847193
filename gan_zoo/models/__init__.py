"""The model registry: the one place a `--model` name is tied to its builder file.

A builder module exposes `build(spec, config) -> (generator, discriminator)` and a
`DEFAULTS` dict of hyperparameters; adding a model is one file here plus one flagfile.
Conditional models take [noise, condition] and [image, condition]; an unconditional one
(`CONDITIONAL = False` in its module) takes noise and image alone; an image-to-image one
(`PAIRED = True`: it trains on paired images) maps an input image to an image, with no noise
input. `generate` and `judge` call any kind, so trainers, export and plots need not care.
"""
import dataclasses
import importlib

from gan_zoo.errors import UserError

# --model name -> module under gan_zoo.models
_MODULES = {
    "maxout_cgan": "gan_zoo.models.maxout_cgan",
    "mlp_cgan": "gan_zoo.models.mlp_cgan",
    "conv_cgan": "gan_zoo.models.conv_cgan",
    "dcgan": "gan_zoo.models.dcgan",
    "img2img": "gan_zoo.models.img2img",
}


@dataclasses.dataclass(frozen=True)
class DataSpec:
    """What a builder needs to know about the data; comes from the data set, not constants.

    Conditions are one-hot classes (`condition_names` empty: condition_dim == number of
    classes) or any fixed-length float vector, e.g. multi-hot tags (`condition_names` are
    the vector's entries, `grid_conditions` the example vectors the sample grid shows),
    or an image (`condition_shape`: paired data, where the input image is the condition).
    """
    image_shape: tuple  # (H, W, C)
    condition_dim: int  # length of the condition vector
    class_names: tuple = ()
    condition_names: tuple = ()
    grid_conditions: tuple = ()  # vector conditions only: one grid column per vector
    grid_names: tuple = ()
    condition_shape: tuple = ()  # (H, W, C) of the input image of paired data; () otherwise

    @property
    def is_conditional(self):
        return self.condition_dim > 0 or self.is_paired

    @property
    def is_paired(self):
        return bool(self.condition_shape)

    @property
    def is_class_conditional(self):
        return self.condition_dim > 0 and not self.condition_names

    def unconditional(self):
        """The same images with no condition (what an unconditional model trains on)."""
        return DataSpec(image_shape=self.image_shape, condition_dim=0)

    def grid_condition_matrix(self):
        import numpy as np
        if self.is_class_conditional:
            return np.eye(self.condition_dim, dtype=np.float32)
        return np.asarray(self.grid_conditions, dtype=np.float32)

    def to_json(self):
        return {"image_shape": list(self.image_shape), "condition_dim": self.condition_dim,
                "class_names": list(self.class_names), "condition_names": list(self.condition_names),
                "grid_conditions": [list(v) for v in self.grid_conditions],
                "grid_names": list(self.grid_names), "condition_shape": list(self.condition_shape)}

    @classmethod
    def from_json(cls, d):
        return cls(tuple(d["image_shape"]), int(d["condition_dim"]), tuple(d.get("class_names", ())),
                   tuple(d.get("condition_names", ())),
                   tuple(tuple(v) for v in d.get("grid_conditions", ())), tuple(d.get("grid_names", ())),
                   tuple(d.get("condition_shape", ())))


def is_conditional(name):
    return getattr(get(name), "CONDITIONAL", True)


def is_paired(name):
    """Whether the model trains on (input image, target image) pairs."""
    return getattr(get(name), "PAIRED", False)


def generate(generator, noise, condition=None, training=False):
    """generator(noise[, condition]): conditional generators take both, unconditional ones noise
    alone, image-to-image ones (no noise input) the condition image alone."""
    if len(generator.inputs) == 1:
        alone = noise if generator.inputs[0].name == "noise" else condition
        return _float32(generator(alone, training=training))
    return _float32(generator([noise, condition], training=training))


def judge(discriminator, images, condition=None, training=False):
    """discriminator(images[, condition]) -> logits [batch, ...]."""
    if len(discriminator.inputs) == 1:
        return _float32(discriminator(images, training=training))
    return _float32(discriminator([images, condition], training=training))


def _float32(outputs):
    """Losses and images in float32 whatever the model computes in (mixed precision)."""
    import keras
    return keras.ops.cast(outputs, "float32")


def names():
    return sorted(_MODULES)


def get(name):
    """The builder module for `name`, or a UserError listing the registered models."""
    if name not in _MODULES:
        raise UserError(f"Unknown model {name!r}. Registered models: {', '.join(names())}. "
                        "Pass one of them with --model=NAME.")
    return importlib.import_module(_MODULES[name])
