"""Shared command-line plumbing: `--help` that lists the command's own flags, and every usage
mistake (a bad flag value as much as a bad setting) as one `error: ...` line with exit code 2."""
import os
import re
import sys
import tempfile
import textwrap

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # hide TF's C++ start-up chatter in CLIs

from gan_zoo.errors import StoppedBeforeTraining, TrainingInterrupted, UserError  # noqa: E402


def define_generator_flags():
    """--export_dir and --pretrained: where the tools that draw from a trained generator
    (generate, explore, eval) take it from."""
    from absl import flags
    flags.DEFINE_string("export_dir", "", "An export of gan_zoo.serving.export: its base folder (the "
                        "newest version) or one version folder.")
    flags.DEFINE_string("pretrained", "", "A generator shipped in the package instead, "
                        "model/dataset (e.g. maxout_cgan/fashion_mnist).")


def run(main):
    """absl `app.run(run(main))`: print a UserError as `error: ...` instead of a traceback."""
    def wrapped(argv):
        if len(argv) > 1:
            print(f"error: unexpected arguments {argv[1:]}; all options are --flags "
                  "(see --help).", file=sys.stderr)
            sys.exit(USAGE_ERROR)
        try:
            main()
        except UserError as e:
            print(f"error: {e}", file=sys.stderr)
            sys.exit(getattr(e, "exit_code", USAGE_ERROR))  # a full disk is not a usage error
        except (TrainingInterrupted, StoppedBeforeTraining) as e:
            print(f"stopped: {e}", file=sys.stderr)
            sys.exit(e.exit_code)
        except Exception as e:
            if type(e).__name__ != "ResourceExhaustedError":  # TensorFlow's, not imported here
                raise
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            print(f"error: out of memory ({first[:200]}): lower --batch_size or --image_size "
                  "(or free memory), then run the same command again.", file=sys.stderr)
            sys.exit(RESOURCE_ERROR)
    return wrapped


USAGE_ERROR = 2
RESOURCE_ERROR = 1  # memory or disk: not the command's fault
_HELP_ARGS = ("-h", "--help", "-help", "--helpshort", "-?")


# TensorFlow's start-up chatter on a machine without a GPU: its C++ lines (written before its
# log level applies), CUDA's probes, oneDNN's notice. A user reads them as failures.
_CHATTER = re.compile(r"absl::InitializeLog|cudart_stub|cuda_platform|cuInit|Unable to register "
                      r"cu|oneDNN custom operations|rebuild TensorFlow with the appropriate|"
                      r"TensorFlow binary is optimized|computation placer already registered")
VERBOSE_VARIABLE = "GAN_ZOO_TF_LOGS"  # set (to anything) to see TensorFlow's start-up lines


def start_tensorflow_quietly():
    """Import TensorFlow and find its devices with the process's stderr (fd 2) caught, then
    write back every line that is not start-up chatter (_CHATTER), so a command's output begins
    with its own lines. GAN_ZOO_TF_LOGS=1 shows everything."""
    if os.environ.get(VERBOSE_VARIABLE) or "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 2)
        try:
            import tensorflow as tf
            tf.config.list_physical_devices()  # CUDA's probe happens here, not at the import
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            kept = [line for line in caught.read().decode(errors="replace").splitlines()
                    if line.strip() and not _CHATTER.search(line)]
            if kept:
                print("\n".join(kept), file=sys.stderr)
    import logging
    logging.getLogger("absl").addFilter(_QuietTfdsNotices())


class _QuietTfdsNotices:
    """tfds warns, for every prepared data set read, that a variant folder has no
    dataset_info.json (the data loads all the same); TensorFlow's checkpoint saver logs each
    save's sharding time. Neither tells a user anything."""

    def filter(self, record):
        message = record.getMessage()
        return "has no dataset_info.json" not in message and "Sharding callback duration" not in message


def start(main, doc, help_text=None, argv=None):
    """Parse the flags and run `main` (absl's app.run) as a command whose usage is `doc`.

    `--help` prints `doc` and the command's own flags (`help_text(section)` when given, with
    `--help=SECTION` for one section in full), not absl's; `--helpfull` stays absl's list of
    everything. A flag parse error is one line and exit 2, as the project's own errors are."""
    from absl import app
    argv = list(sys.argv if argv is None else argv)
    asked = [a for a in argv[1:] if a.split("=", 1)[0] in _HELP_ARGS]
    if asked:
        section = asked[0].split("=", 1)[1] if "=" in asked[0] else None
        print(help_text(section) if help_text else command_help(doc))
        sys.exit(0)
    start_tensorflow_quietly()
    app.run(run(main), argv=argv, flags_parser=_parse_or_exit)


def command_help(doc):
    """The docstring's usage lines and each flag this project defines, one line each."""
    from absl import flags
    lines = [doc.strip(), "", "Flags:"]
    for module, module_flags in sorted(flags.FLAGS.flags_by_module_dict().items()):
        if module.startswith("gan_zoo") or module == sys.argv[0]:
            lines += [flag_line(f) for f in sorted(module_flags, key=lambda f: f.name)]
    return "\n".join(lines + ["", "--helpfull lists every flag, TensorFlow's and absl's too."])


def flag_line(flag, width=100):
    """`  --name=DEFAULT  help`, cut to one line of `width` at a word."""
    default = "" if flag.default in (None, "") else f"={flag.default}"
    head = f"  --{flag.name}{default:<{max(0, 22 - len(flag.name))}} "
    return head + textwrap.shorten(flag.help, max(20, width - len(head)), placeholder=" ...")


def _parse_or_exit(argv):
    from absl import flags
    flagfiles = [a.split("=", 1)[1] for a in argv[1:] if a.startswith("--flagfile=")]
    for path in flagfiles:
        _check_flagfile(path)
    try:
        return flags.FLAGS(argv)
    except flags.Error as e:
        where = [f"{path} line {n}" for path in flagfiles for n, line in _lines(path)
                 if getattr(e, "flagname", None) and line.lstrip("-").split("=")[0] in
                 (e.flagname, "no" + e.flagname)]
        print(f"error: {e}{' (' + ', '.join(where) + ')' if where else ''} (see --help)", file=sys.stderr)
        sys.exit(USAGE_ERROR)


def _lines(path):
    """(number, stripped line) of a flagfile's non-blank, non-comment lines ([] if unreadable)."""
    try:
        with open(path, encoding="utf-8") as fh:
            return [(n, line.strip()) for n, line in enumerate(fh, 1)
                    if line.strip() and not line.strip().startswith(("#", "//"))]
    except (OSError, UnicodeDecodeError):
        return []


def _check_flagfile(path):
    """One `error:` line for a flagfile that is not text, or holds a line that is not a flag."""
    try:
        with open(path, encoding="utf-8") as fh:
            fh.read()
    except UnicodeDecodeError as e:
        print(f"error: --flagfile={path} is not a text file (byte {e.object[e.start]:#04x} at "
              f"offset {e.start}): a flagfile holds one --flag=value per line.", file=sys.stderr)
        sys.exit(USAGE_ERROR)
    except OSError:
        return  # absl names a missing file itself
    for n, line in _lines(path):
        if not line.startswith("-"):
            print(f"error: --flagfile={path} line {n}: {line[:60]!r} is not a --flag=value line "
                  "(comments start with #).", file=sys.stderr)
            sys.exit(USAGE_ERROR)
