"""Test set-up: real data from ../shared (never the network), tiny training runs."""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get("GAN_ZOO_SHARED", os.path.join(os.path.dirname(ROOT), "shared"))
TFDS_DIR = os.environ.get("TFDS_DATA_DIR") or os.path.join(SHARED, "tfds")
os.environ["TFDS_DATA_DIR"] = TFDS_DIR
os.environ["GAN_ZOO_OFFLINE"] = "1"  # no test may try to download anything
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

FACES = os.path.join(SHARED, "data", "faces")
LFW = os.path.join(FACES, "lfw_gray")
OLIVETTI = os.path.join(FACES, "olivetti")

# Two logical CPU devices, so MirroredStrategy has two replicas to split a batch over. It must
# happen before TensorFlow touches a device; ops still run on CPU:0 unless a strategy says so.
import tensorflow as tf  # noqa: E402

tf.config.set_logical_device_configuration(
    tf.config.list_physical_devices("CPU")[0],
    [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()])

if not os.path.isdir(os.path.join(TFDS_DIR, "fashion_mnist")):
    raise RuntimeError(f"Prepared tfds data not found in {TFDS_DIR}: the tests read the real data "
                       "in ../shared/tfds (or set TFDS_DATA_DIR).")


def two_replicas():
    """MirroredStrategy over the two logical CPUs: one instance for the whole session, since
    strategies created side by side in one process can mix up their collective ops."""
    from gan_zoo import config, distribute
    return distribute.strategy_for(config.resolve(strategy="mirrored", cpu_devices=2))


def run_cli(*args, timeout=300):
    """Run `python -m <args>` from the repo root; returns the CompletedProcess."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="session")
def fashion_small():
    """The first 2,560 Fashion-MNIST training images (real data, cached)."""
    from gan_zoo import data
    return data.load("fashion_mnist", max_images=2560)


@pytest.fixture(scope="session")
def olivetti_small():
    """The 400 real Olivetti faces at 32x32, no labels (what the unconditional tests train on)."""
    from gan_zoo import data
    return data.load("olivetti", data_dir=OLIVETTI, image_size=32, conditional=False)


def tiny_faces_config(run_dir, **overrides):
    """dcgan at 32x32 with 8 filters: a few steps take about a second."""
    from gan_zoo import config
    settings = dict(model="dcgan", dataset="olivetti", data_dir=OLIVETTI, image_size=32, ngf=8,
                    ndf=8, batch_size=16, max_images=128, epochs=1, save_every=1,
                    run_dir=str(run_dir), progress=False)
    return config.resolve(**{**settings, **overrides})


@pytest.fixture(scope="session")
def short_run(tmp_path_factory, fashion_small):
    """One 2-epoch maxout_cgan run of 40 steps/epoch, shared by the tests that only read it."""
    from gan_zoo import config, trainer
    run_dir = str(tmp_path_factory.mktemp("short_run"))
    cfg = config.resolve(model="maxout_cgan", dataset="fashion_mnist", max_images=2560,
                         batch_size=64, epochs=2, save_every=1, run_dir=run_dir, progress=False)
    return trainer.train(cfg, fashion_small), run_dir
