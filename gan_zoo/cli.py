"""Shared command-line plumbing: user mistakes become one clear line and exit code 2."""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # hide TF's C++ start-up chatter in CLIs

from gan_zoo.errors import TrainingInterrupted, UserError  # noqa: E402


def define_generator_flags():
    """--export_dir and --pretrained: where the tools that draw from a trained generator
    (generate, explore, eval) take it from."""
    from absl import flags
    flags.DEFINE_string("export_dir", "", "An export of gan_zoo.export: its base folder (the "
                        "newest version) or one version folder.")
    flags.DEFINE_string("pretrained", "", "A generator shipped in the package instead, "
                        "model/dataset (e.g. maxout_cgan/fashion_mnist).")


def run(main):
    """absl `app.run(run(main))`: print a UserError as `error: ...` instead of a traceback."""
    def wrapped(argv):
        if len(argv) > 1:
            print(f"error: unexpected arguments {argv[1:]}; all options are --flags "
                  "(see --helpfull).", file=sys.stderr)
            sys.exit(2)
        try:
            main()
        except UserError as e:
            print(f"error: {e}", file=sys.stderr)
            sys.exit(2)
        except TrainingInterrupted as e:
            print(f"stopped: {e}", file=sys.stderr)
            sys.exit(e.exit_code)
    return wrapped
