"""The model registry: the one place a `--model` name is tied to its builder file.

A builder module exposes `build(spec, config) -> (generator, discriminator)`, where `config`
is the model section of the settings, and may set `DEFAULTS` (settings its architecture needs
that differ from the general defaults) and `RECIPE` (its own recipe in gan_zoo/recipes, by
default the model's name). Adding a model is one file here plus one recipe.
Conditional models take [noise, condition] and [image, condition]; an unconditional one
(`CONDITIONAL = False` in its module) takes noise and image alone, one with `CONDITIONAL =
"optional"` is conditional on labelled data and unconditional on images alone; an image-to-image one
(`PAIRED = True`: it trains on paired images) maps an input image to an image, with no noise
input. `MINIBATCH_STDDEV = True` marks a D that can see its batch's spread
(`--minibatch_stddev`), `G_MODULATION = True` a G whose hidden units the label can scale
(`--g_conditioning=modulation`). A model with `STAGES = 2` trains stage by stage (`--stage`, `--stage1_run`).
`generate` and `judge` call any kind, so trainers, export and plots need not care.
"""
import difflib
import importlib
import types

from gan_zoo.errors import UserError

# --model name -> module under gan_zoo.models
_MODULES = {
    "maxout_cgan": "gan_zoo.models.maxout_cgan",
    "mlp_cgan": "gan_zoo.models.mlp_cgan",
    "conv_cgan": "gan_zoo.models.conv_cgan",
    "dcgan": "gan_zoo.models.dcgan",
    "img2img": "gan_zoo.models.img2img",
    "stackgan": "gan_zoo.models.stackgan",
}


def build(spec, config):
    """(generator, discriminator) of `config.model` for data `spec`; the builder sees only the
    model section of the settings (`fused_batch_norm` picks the BatchNorm kernel, nothing else)."""
    from gan_zoo.models.layers import fused_batch_norms
    with fused_batch_norms(getattr(config, "fused_batch_norm", False)):
        return get(config.model).build(spec, types.SimpleNamespace(**config.section("model")))


def recipe_name(name):
    """The recipe (gan_zoo/recipes/NAME.flags) whose settings are model `name`'s defaults."""
    return getattr(get(name), "RECIPE", name)


def is_conditional(name):
    """Whether the model takes a condition (on labelled data, for an "optional" one)."""
    return getattr(get(name), "CONDITIONAL", True) is not False


def labels_optional(name):
    """Whether the model also trains on images alone, unconditional then (CONDITIONAL = "optional")."""
    return getattr(get(name), "CONDITIONAL", True) == "optional"


def takes_vector_condition(name):
    """Whether the model is conditioned on a class or vector (not unconditional, not paired)."""
    return is_conditional(name) and not is_paired(name)


def takes_g_modulation(name):
    """Whether the model's G can take --g_conditioning=modulation (a class gain and bias)."""
    return getattr(get(name), "G_MODULATION", False)


def takes_d_dropout(name):
    """Whether the model's D has a dropout rate to set (--d_dropout: maxout_cgan's Maxout D)."""
    return getattr(get(name), "D_DROPOUT", False)


def takes_minibatch_stddev(name):
    """Whether the model's D can take --minibatch_stddev (the batch's spread before its logit)."""
    return getattr(get(name), "MINIBATCH_STDDEV", False)


def is_staged(name):
    """Whether the model trains in stages (StackGAN: --stage=1, then --stage=2 over it)."""
    return getattr(get(name), "STAGES", 1) > 1


def is_paired(name):
    """Whether the model trains on (input image, target image) pairs."""
    return getattr(get(name), "PAIRED", False)


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
    return sorted(_MODULES)


def get(name):
    """The builder module for `name`, or a UserError listing the registered models."""
    if name not in _MODULES:
        close = difflib.get_close_matches(name, names(), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise UserError(f"Unknown model {name!r}.{hint} Registered models: {', '.join(names())}. "
                        "Pass one of them with --model=NAME.")
    return importlib.import_module(_MODULES[name])
