"""The model registry: each `--model` name, its builder module and what the model is (its
`Model` descriptor). It lives with the settings, which check each flag against the model, and
loads no TensorFlow; gan_zoo.models builds from it. Adding a model is one builder file in
gan_zoo/models/, one recipe (recipes/NAME.flags) and one line in REGISTRY.
"""
import dataclasses
import difflib

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


def describe(name):
    """The Model descriptor of `name`, or a UserError listing the registered models."""
    if name not in REGISTRY:
        close = difflib.get_close_matches(name, names(), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise UserError(f"Unknown model {name!r}.{hint} Registered models: {', '.join(names())}. "
                        "Pass one of them with --model=NAME.")
    return REGISTRY[name]


def recipe_name(name):
    """The recipe (recipes/NAME.flags) whose settings are model `name`'s defaults."""
    return describe(name).recipe or name


def supports(name, option):
    """Whether model `name`'s builder supports `option` (MINIBATCH_STDDEV, ...)."""
    return option in describe(name).options


def names():
    return sorted(REGISTRY)
