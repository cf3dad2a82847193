"""The model registry: the one place a `--model` name is tied to its builder file and to what
the model is (its `Model` descriptor below). Reading it loads no TensorFlow: the settings read
it to check a flag against the model; the builder module loads when a model is built.

A builder module exposes `build(spec, config) -> (generator, discriminator)`, where `config`
is the model section of the settings. Adding a model is one builder file here, one recipe
(gan_zoo/settings/recipes/NAME.flags) and one line in REGISTRY.
Conditional models take [noise, condition] and [image, condition]; an unconditional one takes
noise and image alone; a paired (image-to-image) one maps an input image to an image, with no
noise input. `generate` and `judge` call any kind, so trainers, export and plots need not care.
"""
import dataclasses
import difflib
import importlib
import types

from gan_zoo.errors import UserError

# The --model options a builder may support (each off for the models that leave it out)
MINIBATCH_STDDEV = "minibatch_stddev"  # D sees its batch's spread before its logit
G_MODULATION = "g_modulation"  # --g_conditioning=modulation: the label scales G's hidden units
D_DROPOUT = "d_dropout"  # D has a dropout rate to set (maxout_cgan's Maxout pieces)


@dataclasses.dataclass(frozen=True)
class Model:
    """What a model is, for the settings, data and run layers.

    conditional: takes a condition; "optional" = conditional on labelled data and
    unconditional on images alone (StackGAN). paired: trains on (target, input) image pairs.
    stages: trained stage by stage (--stage, --stage1_run) when 2. recipe: the recipe whose
    settings are its defaults (default: the model's name). options: which of the options
    above its builder supports."""
    module: str
    conditional: object = True
    paired: bool = False
    stages: int = 1
    recipe: str = ""
    options: frozenset = frozenset()

    @property
    def takes_condition(self):
        """Takes a condition (on labelled data, for an "optional" one)."""
        return self.conditional is not False

    @property
    def labels_optional(self):
        """Also trains on images alone, unconditional then."""
        return self.conditional == "optional"

    @property
    def staged(self):
        return self.stages > 1

    @property
    def takes_vector_condition(self):
        """Conditioned on a class or vector (not unconditional, not paired)."""
        return self.conditional is not False and not self.paired


REGISTRY = {
    "maxout_cgan": Model("gan_zoo.models.maxout_cgan",
                         options=frozenset({MINIBATCH_STDDEV, G_MODULATION, D_DROPOUT})),
    "mlp_cgan": Model("gan_zoo.models.mlp_cgan", options=frozenset({MINIBATCH_STDDEV, G_MODULATION})),
    "conv_cgan": Model("gan_zoo.models.conv_cgan"),
    "dcgan": Model("gan_zoo.models.dcgan", conditional=False),
    # the TF1 tutorial's settings are its defaults (gan_zoo/settings/recipes/img2img_reference.flags)
    "img2img": Model("gan_zoo.models.img2img", paired=True, recipe="img2img_reference"),
    # class-conditional on labelled data, on images alone (faces) not; stage 2 over a stage-1 run
    "stackgan": Model("gan_zoo.models.stackgan", conditional="optional", stages=2),
}


def build(spec, config):
    """(generator, discriminator) of `config.model` for data `spec`; the builder sees only the
    model section of the settings (`fused_batch_norm` picks the BatchNorm kernel, nothing else)."""
    from gan_zoo.models.layers import fused_batch_norms
    with fused_batch_norms(getattr(config, "fused_batch_norm", False)):
        return builder(config.model).build(spec, types.SimpleNamespace(**config.section("model")))


def describe(name):
    """The Model descriptor of `name`, or a UserError listing the registered models."""
    if name not in REGISTRY:
        close = difflib.get_close_matches(name, names(), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise UserError(f"Unknown model {name!r}.{hint} Registered models: {', '.join(names())}. "
                        "Pass one of them with --model=NAME.")
    return REGISTRY[name]


def recipe_name(name):
    """The recipe (gan_zoo/settings/recipes/NAME.flags) whose settings are model `name`'s defaults."""
    return describe(name).recipe or name


def supports(name, option):
    """Whether model `name`'s builder supports `option` (MINIBATCH_STDDEV, ...)."""
    return option in describe(name).options


def generate(generator, noise, condition=None, training=False):
    """generator(noise[, condition]) as float32 images."""
    return _float32(generator(generator_inputs(generator, noise, condition), training=training))


def generator_inputs(generator, noise, condition=None):
    """What `generator` takes: conditional generators both, unconditional ones the noise
    alone, image-to-image ones (no noise input) the condition image alone."""
    if len(generator.inputs) == 1:
        return noise if generator.inputs[0].name == "noise" else condition
    return [noise, condition]


STAGE1_IMAGE = "stage1_image"  # a two-stage generator's layer holding its first stage's image


def with_stage1_image(generator):
    """A model giving (image, the stage-I image it was refined from) for a two-stage
    generator (StackGAN: the layer STAGE1_IMAGE), sharing its weights; None for any other."""
    import keras
    names = {layer.name for layer in generator.layers}
    if STAGE1_IMAGE not in names:
        return None
    return keras.Model(generator.input, [generator.output, generator.get_layer(STAGE1_IMAGE).output],
                       name=generator.name + "_with_stage1")


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
    return sorted(REGISTRY)


def builder(name):
    """The builder module of `name` (loads TensorFlow)."""
    return importlib.import_module(describe(name).module)
