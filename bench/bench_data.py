"""Where the benchmarks and the release script find real data: only where a flag or the
environment says. GAN_ZOO_BENCH_DATA names a folder holding `faces/lfw_gray/` (grayscale
face photos, one per file), `faces/olivetti/` and `facades/` (pix2pix A|B pairs);
TFDS_DATA_DIR a prepared tfds data_dir for mnist and fashion_mnist. Unset, a data set that
needs them is refused with the fix, and nothing else is looked at."""
import os

VARIABLE = "GAN_ZOO_BENCH_DATA"


def path(*parts):
    """A path under GAN_ZOO_BENCH_DATA, or '' when it is unset (so a flag's default is empty)."""
    root = os.environ.get(VARIABLE, "")
    return os.path.join(root, *parts) if root else ""


def required(value, flag):
    """`value`, or exit naming the flag and the variable that would give it."""
    if not value or value == "folder:":
        raise SystemExit(f"--{flag} names no data: pass it, or set {VARIABLE} to the folder "
                         "holding faces/lfw_gray/ and facades/.")
    return value
