"""The `gan-zoo` console script: one name for the command-line tools.

    gan-zoo train|export|generate|eval|plot|explore [--flags]   (or python -m gan_zoo COMMAND)
    gan-zoo --version
"""
import difflib
import importlib
import sys

from gan_zoo import __version__
from gan_zoo.cli import options as cli

COMMANDS = {  # name: (module, what it does)
    "train": ("gan_zoo.train", "train a model (or resume its run dir)"),
    "export": ("gan_zoo.serving.export", "export a run's checkpoint as a SavedModel for TF Serving"),
    "generate": ("gan_zoo.serving.generate", "draw images from an export or a shipped generator"),
    "eval": ("gan_zoo.cli.evaluate", "score a generator (FID, label accuracy, recall, ...)"),
    "plot": ("gan_zoo.cli.plot", "draw a run's losses, metrics and sample grids"),
    "explore": ("gan_zoo.serving.explore", "the latent explorer: a web page of sliders"),
}


def usage():
    rows = "\n".join(f"  {name:<10} {what}" for name, (_, what) in COMMANDS.items())
    return (f"usage: gan-zoo COMMAND [--flags]   (gan_zoo {__version__})\n\n{rows}\n\n"
            "gan-zoo COMMAND --help lists a command's flags; gan-zoo --version prints the version.")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv:  # a command is missing: usage, as a mistake (exit 2), on stderr
        print(usage(), file=sys.stderr)
        return cli.USAGE_ERROR
    if argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    if argv[0] == "--version":
        print(f"gan_zoo {__version__}")
        return 0
    name = argv[0]
    if name not in COMMANDS:
        close = difflib.get_close_matches(name, COMMANDS, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        print(f"error: unknown command {name!r}.{hint} Commands: {', '.join(COMMANDS)} "
              "(gan-zoo --help).", file=sys.stderr)
        return cli.USAGE_ERROR
    if not any(a.split("=", 1)[0] in ("-h", "--help", "--helpshort") for a in argv[1:]):
        cli.start_tensorflow_quietly()  # before the command's module imports TensorFlow
    module = importlib.import_module(COMMANDS[name][0])
    sys.argv = [f"gan-zoo {name}", *argv[1:]]
    module.command(sys.argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
