"""The models: `build` one by its `--model` name, and call any kind of generator or
discriminator the same way. Which names exist, their builder modules and what each model is
(its `Model` descriptor) are in the registry, gan_zoo/settings/registry.py.

A builder module exposes `build(spec, config) -> (generator, discriminator)`, where `config`
is the model section of the settings. Adding a model is one builder file here, one recipe
(gan_zoo/settings/recipes/NAME.flags) and one line in the registry's REGISTRY.
Conditional models take [noise, condition] and [image, condition]; an unconditional one takes
noise and image alone; a paired (image-to-image) one maps an input image to an image, with no
noise input. `generate` and `judge` call any kind, so trainers, export and plots need not care.
"""
import importlib
import types

from gan_zoo.settings.registry import (  # noqa: F401  (the registry, read through here too)
    D_DROPOUT, G_MODULATION, MINIBATCH_STDDEV, REGISTRY, Model, describe, names, recipe_name, supports)


def build(spec, config):
    """(generator, discriminator) of `config.model` for data `spec`; the builder sees the model
    section of the settings and `fused_bn`, the run's --fused_batch_norm: which BatchNorm kernel
    to build, a speed choice that changes no weight or output beyond float rounding."""
    model_settings = types.SimpleNamespace(**config.section("model"), fused_bn=config.fused_batch_norm)
    return builder(config.model).build(spec, model_settings)


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


def last_features(discriminator):
    """A model of D's inputs giving the features its logit is computed from, sharing D's
    weights (where a self-supervision head attaches): what the layer named "logit" reads, a
    projection D's "logit_psi", or, where "logit" only reshapes, the final conv's input. None
    for a D without such a layer (a PatchGAN, a network of the user's own)."""
    import keras
    names = {layer.name for layer in discriminator.layers}
    name = next((n for n in ("logit_psi", "logit") if n in names), None)
    if name is None:
        return None
    layer = discriminator.get_layer(name)
    if not layer.weights:  # a Reshape of the final conv's output
        layer = layer.input._keras_history.operation
    return keras.Model(discriminator.input, layer.input, name=discriminator.name + "_features")


def _float32(outputs):
    """Losses and images in float32 whatever the model computes in (mixed precision)."""
    import keras
    return keras.ops.cast(outputs, "float32")


def builder(name):
    """The builder module of `name` (loads TensorFlow)."""
    return importlib.import_module(describe(name).module)
