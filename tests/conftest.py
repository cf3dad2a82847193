"""Test set-up: data a fresh machine has (Debian's Fashion-MNIST, fixtures drawn by
tests/fixtures.py, a committed MNIST subset), never the network; tiny training runs."""
import os
import subprocess
import sys

import pytest

import fixtures

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = fixtures.data_root()
# tfds finds no prepared set here, so `fashion_mnist` reads Debian's files on every machine
# (a copy a user prepared elsewhere is never read); no test may try to download anything.
os.makedirs(os.path.join(FIXTURES, "tfds_empty"), exist_ok=True)
os.environ["TFDS_DATA_DIR"] = os.path.join(FIXTURES, "tfds_empty")
os.environ["GAN_ZOO_OFFLINE"] = "1"
# Decoded copies and scan manifests go to the fixtures' folder, never the user's ~/.cache.
os.environ["GAN_ZOO_CACHE_DIR"] = os.path.join(FIXTURES, "data_cache")
# Reference classifiers: the packaged ones, never a copy a user trained into the cache.
os.environ["GAN_ZOO_MODELS_DIR"] = os.path.join(ROOT, "tests", "no_cached_classifiers")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# --jit_compile=auto and --mixed_precision=auto take the plain path (float32, no XLA) whatever
# the day's CPU, so a test's numbers do not depend on it; test_speed_defaults.py checks what
# auto chooses on each machine class.
os.environ["GAN_ZOO_MACHINE_CLASS"] = "plain"

OLIVETTI = os.path.join(FIXTURES, "olivetti")  # drawn faces in olivettifaces.mat
FACE_FOLDER = os.path.join(FIXTURES, "faces_folder")  # drawn faces, LFW's layout
FACADES = os.path.join(FIXTURES, "facades")  # drawn facade pairs, pix2pix's layout
MNIST_SUBSET = fixtures.MNIST_SUBSET

# Two logical CPU devices, so MirroredStrategy has two replicas to split a batch over. It must
# happen before TensorFlow touches a device; ops still run on CPU:0 unless a strategy says so.
import tensorflow as tf  # noqa: E402

tf.config.set_logical_device_configuration(
    tf.config.list_physical_devices("CPU")[0],
    [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()])

from gan_zoo.data import idx  # noqa: E402

if not idx.has_split(idx.DEBIAN_FASHION_MNIST, "test"):
    raise RuntimeError(f"Fashion-MNIST's IDX files are not in {idx.DEBIAN_FASHION_MNIST}: install "
                       "Debian's dataset-fashion-mnist package (`bash tests/run.sh` does it).")


def two_replicas():
    """MirroredStrategy over the two logical CPUs: one instance for the whole session, since
    strategies created side by side in one process can mix up their collective ops."""
    from gan_zoo.settings import config
    from gan_zoo.core import distribute
    return distribute.strategy_for(config.resolve(strategy="mirrored", cpu_devices=2))


def assert_trained_alike(a, b, learning_rate, updates, atol=2e-5, rtol=1e-4, outliers=1e-3):
    """Weights of the same training run on two kernel paths (two replicas vs one device, two
    worker processes): oneDNN sums in another order per CPU (AVX2 vs AVX-512), and where a
    gradient is near zero its sign can flip, so Adam's normalised step turns a 1e-7 difference
    into one of up to `learning_rate` per update. What the comparison can promise: all but a
    fraction `outliers` of the elements agree to float tolerance (a wrong replica scaling, noise
    draw or BatchNorm statistic moves nearly all of them), and none differs by more than the
    two runs' optimizers could have moved it apart (2 x learning_rate x updates)."""
    import numpy as np
    a = np.concatenate([np.ravel(x) for x in a])
    b = np.concatenate([np.ravel(x) for x in b])
    assert a.shape == b.shape
    diff = np.abs(a - b)
    off = diff > atol + rtol * np.abs(b)
    bound = 2 * learning_rate * updates
    assert off.mean() <= outliers, (f"{off.sum()} of {off.size} elements differ by more than "
                                    f"atol={atol}, rtol={rtol} (max {diff.max():.3g})")
    assert diff.max() <= bound, f"max difference {diff.max():.3g} > 2 x lr x updates = {bound:.3g}"


def run_cli(*args, timeout=300, env=None):
    """Run `python -m <args>` from the repo root (with `env` added to the environment);
    returns the CompletedProcess."""
    env = dict(os.environ, PYTHONUNBUFFERED="1", **(env or {}))
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
    from gan_zoo.settings import config
    settings = dict(model="dcgan", dataset="olivetti", data_dir=OLIVETTI, image_size=32, ngf=8,
                    ndf=8, batch_size=16, max_images=128, epochs=1, save_every=1,
                    run_dir=str(run_dir), progress=False)
    return config.resolve(**{**settings, **overrides})


@pytest.fixture(scope="session")
def fashion_judge():
    """The packaged reference classifier of Fashion-MNIST (gan_zoo.eval.classifier): what the
    quality tests ask whether generated samples look like the requested class."""
    from gan_zoo.eval import classifier
    return classifier.load("fashion_mnist")[0]


@pytest.fixture(scope="session")
def short_run(tmp_path_factory, fashion_small):
    """One 2-epoch maxout_cgan run of 40 steps/epoch, shared by the tests that only read it."""
    from gan_zoo.settings import config
    from gan_zoo.run import loop
    run_dir = str(tmp_path_factory.mktemp("short_run"))
    cfg = config.resolve(model="maxout_cgan", dataset="fashion_mnist", max_images=2560,
                         batch_size=64, epochs=2, save_every=1, run_dir=run_dir, progress=False)
    return loop.train(cfg, fashion_small), run_dir


@pytest.fixture(scope="session")
def exports(tmp_path_factory, short_run):
    """{family: (export base, metadata, a request's inputs as numpy)}: a label cGAN, an
    unconditional DCGAN and an img2img model, each trained for a few steps and exported."""
    import numpy as np

    from gan_zoo.settings import config
    from gan_zoo import data
    from gan_zoo.serving import export
    from gan_zoo.run import loop
    root = tmp_path_factory.mktemp("serving")
    _, label_run = short_run
    faces_cfg = tiny_faces_config(root / "faces_run")
    loop.train(faces_cfg, data.for_config(faces_cfg))
    pairs_cfg = config.resolve(model="img2img", data_dir=FACADES,
                               image_size=32, ngf=8, ndf=8, batch_size=8, max_images=16, epochs=1,
                               save_every=1, run_dir=str(root / "pairs_run"), progress=False)
    pairs = data.for_config(pairs_cfg)
    loop.train(pairs_cfg, pairs)
    rng = np.random.default_rng(0)
    _, facade_inputs = next(iter(pairs.held_out.images_and_labels.batch(2)))
    requests = {
        "label": (label_run, {}, {"labels": np.array([1, 7], np.int32),
                                  "noise": rng.normal(size=(2, 100)).astype(np.float32)}),
        "unconditional": (faces_cfg.run_dir, {}, {"noise": rng.normal(size=(3, 100)).astype(np.float32)}),
        "img2img": (pairs_cfg.run_dir, {"inference_mode": "eval"}, {"images": facade_inputs.numpy()}),
    }
    made = {}
    for family, (run_dir, options, inputs) in requests.items():
        base = str(root / family)
        metadata = export.export(run_dir, base, **options)
        made[family] = (base, metadata, inputs)
    return made



# The longest test files, longest first (`bash tests/run.sh` lists the slowest tests at the end).
# tests/run.sh passes --no-loadscope-reorder, so the two workers take the files in collection
# order: the long ones start first and no long file starts last, alone, at the end. (xdist's
# default orders files by their number of tests, which put the one-test quality file last.)
LONGEST_FIRST = ("test_quality.py", "test_crash_safety.py", "test_distribute.py",
                 "test_faces_family.py", "test_notebooks.py", "test_label_family.py",
                 "test_first_hour.py", "test_run_dir_faults.py", "test_nothing_lost.py")


def pytest_collection_modifyitems(items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(os.path.basename(str(item.fspath)), len(rank)))
    # `exports` reads `short_run`, so a file that needs either lists it among its fixtures
    readers = {os.path.basename(str(item.fspath)) for item in items
               if "short_run" in getattr(item, "fixturenames", ())}
    if readers - SHARED_RUN_FILES:
        raise pytest.UsageError(f"{sorted(readers - SHARED_RUN_FILES)} read the short_run/exports "
                                "fixtures: add them to SHARED_RUN_FILES in tests/conftest.py")


# The files that read the session fixtures `short_run` and `exports`: a session fixture is
# built once per worker process, so under plain --dist loadfile both workers trained and
# exported the same runs. These files go to one worker together, which builds them once.
SHARED_RUN_FILES = frozenset({"test_training.py", "test_label_family.py", "test_nothing_lost.py",
                              "test_serving.py", "test_explore.py", "test_pretrained.py"})


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """--dist loadfile, with SHARED_RUN_FILES as one unit of work (where the unit stands in
    the queue: where its first file stands in LONGEST_FIRST's order)."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class SharedRunFilesTogether(LoadFileScheduling):
        def _split_scope(self, nodeid):
            path = super()._split_scope(nodeid)
            return "shared runs" if os.path.basename(path) in SHARED_RUN_FILES else path

    return SharedRunFilesTogether(config, log)
