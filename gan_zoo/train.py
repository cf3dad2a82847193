"""gan-zoo train --recipe=NAME [--dataset=DATA] [--epochs=N] [--flag=value ...]
(also: python -m gan_zoo.train; --model=NAME instead of a recipe; --flagfile=PATH)

Trains into --run_dir (default runs/<model>_<dataset>); the same command again resumes it.
A flag given here overrides the --recipe, which overrides the model's own recipe.
"""
# From Python, `gan_zoo.train(model, dataset=..., **flags)` is this module called (gan_zoo.api.train):
# a module attribute of a package cannot be both, so the module is made callable.
from gan_zoo.cli import options as cli  # noqa: F401  (sets TF log level before TensorFlow loads)

import dataclasses
import sys
import textwrap
import types

from absl import flags, logging

from gan_zoo import api, models
from gan_zoo.core.faults import fault_point
from gan_zoo.run import signals
from gan_zoo.settings import config as config_lib, recipes

FLAGS = flags.FLAGS


def main():
    fault_point("start")  # tests: a signal while the command starts
    cfg = config_lib.from_flags()
    from gan_zoo import data
    from gan_zoo.core import distribute
    from gan_zoo.run import loop
    strategy = distribute.strategy_for(cfg)  # first: multi-worker set-up must precede other TF work
    source = data.for_config(cfg)
    logging.info("Training %s on %s (%d images, %s) into %s with %d replica(s)", cfg.model,
                 source.name, source.num_examples, source.spec.image_shape,
                 cfg.resolved_run_dir(), strategy.num_replicas_in_sync)
    loop.train(cfg, source, strategy=strategy)


def help_text(section=None, width=100):
    """--help: every training flag, by section, one line each; --help=SECTION: that section in
    full, with each flag's default."""
    fields = {f.name: f for f in dataclasses.fields(config_lib.TrainConfig)}
    if section is not None and section not in config_lib.SECTIONS:
        return (f"error: no section {section!r}; --help=SECTION takes one of "
                f"{', '.join(config_lib.SECTIONS)}.")
    lines = [__doc__.strip(), "", *textwrap.wrap(f"Recipes: {', '.join(recipes.names())}.", width),
             f"Models: {', '.join(models.names())}.", ""]
    for name in config_lib.SECTIONS if section is None else (section,):
        lines.append(f"{name} flags:" if section else f"{name} flags (--help={name} in full):")
        for flag in (n for n, s in config_lib.SECTION_OF.items() if s == name):
            help_ = fields[flag].metadata["help"]
            if section is None:
                head = f"  --{flag:<20} "
                lines.append(head + textwrap.shorten(help_, width - len(head), placeholder=" ..."))
            else:
                lines += textwrap.wrap(f"--{flag} (default {fields[flag].default!r}): {help_}",
                                       width, initial_indent="  ", subsequent_indent="      ")
        lines.append("")
    return "\n".join(lines + ["--helpfull lists every flag, TensorFlow's and absl's too."])


def command(argv=None):
    signals.stop_early_on_signal()  # first: a signal while TensorFlow and the data load says so
    config_lib.define_flags()
    cli.start(main, __doc__, help_text, argv)


class _CallableModule(types.ModuleType):
    def __call__(self, *args, **settings):
        return api.train(*args, **settings)

    __call__.__doc__ = api.train.__doc__


sys.modules[__name__].__class__ = _CallableModule

if __name__ == "__main__":
    command()
