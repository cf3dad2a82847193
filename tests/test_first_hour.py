"""A newcomer's first hour: the README's Quickstart pasted as written, short help, the console
script, the Python API, offline data (IDX files, Debian's Fashion-MNIST), class names as
labels, and no development path or undefined letter in anything a user reads."""
import glob
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from conftest import MNIST_SUBSET, ROOT
from gan_zoo import images

BIN = os.path.dirname(sys.executable)  # the environment's scripts: gan-zoo is installed there
QUICKSTART = re.compile(r"<!-- quickstart:start -->\s*```bash\n(.*?)```\s*<!-- quickstart:end -->", re.S)


def _readme():
    with open(os.path.join(ROOT, "README.md")) as fh:
        return fh.read()


def _gan_zoo(*args, cwd=ROOT, timeout=300):
    env = dict(os.environ, PATH=BIN + os.pathsep + os.environ["PATH"], PYTHONUNBUFFERED="1")
    return subprocess.run(["gan-zoo", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_the_readme_quickstart_works_when_pasted(tmp_path):
    """The block as written, top to bottom in a fresh folder, EPOCHS=1 (the README says so)."""
    block = QUICKSTART.search(_readme())
    assert block, "README.md has no quickstart block between its markers"
    script = block.group(1)
    assert "EPOCHS" in script and "EPOCHS=1" in _readme()
    env = dict(os.environ, PATH=BIN + os.pathsep + os.environ["PATH"], EPOCHS="1")
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    shipped = images.read_png(str(tmp_path / "shipped.png"))
    assert shipped.shape[1] > shipped.shape[0] / 2 and shipped.std() > 10  # ten class columns
    run = tmp_path / "runs" / "maxout_cgan_fashion_mnist"
    with open(run / "loss.csv") as fh:
        assert len(fh.read().splitlines()) == 2  # header + the one epoch
    assert (run / "samples" / "epoch_0001.png").exists() and (run / "loss.png").exists()
    assert (run / "best.json").exists()
    version = tmp_path / "export" / "maxout_cgan" / "1"
    listing = subprocess.run([sys.executable, "-m", "tensorflow.python.tools.saved_model_cli",
                              "show", "--dir", str(version), "--all"], capture_output=True, text=True)
    for signature in ("serving_default", "generate_from_seed", "generate_png"):
        assert f"signature_def['{signature}']" in listing.stdout, listing.stderr[-2000:]
    mine = images.read_png(str(tmp_path / "mine.png"))
    expected = images.grid(np.zeros((24, 28, 28, 1), np.uint8), 8, 3)  # 8 rows x 3 labels
    assert mine.shape == expected.shape
    bad = _gan_zoo("generate", "--export_dir=export/maxout_cgan", "--labels=3,10", "--out=x.npz",
                   cwd=tmp_path)
    assert bad.returncode == 2 and "out of range" in bad.stderr and "0..9" in bad.stderr
    assert not (tmp_path / "x.npz").exists()


def _user_facing_files():
    paths = [os.path.join(ROOT, "README.md"), *glob.glob(os.path.join(ROOT, "docs", "*.md")),
             *glob.glob(os.path.join(ROOT, "notebooks", "*.ipynb")),
             *glob.glob(os.path.join(ROOT, "gan_zoo", "recipes", "*.flags")),
             *glob.glob(os.path.join(ROOT, "gan_zoo", "pretrained", "*", "*", "card.json")),
             os.path.join(ROOT, "docs", "results.json"),
             # error messages and help texts live in the package's code
             *glob.glob(os.path.join(ROOT, "gan_zoo", "**", "*.py"), recursive=True)]
    assert len(paths) > 40
    return paths


DEVELOPMENT_TEXT = re.compile(r"\.\./shared|shared/(tfds|data)|/work/|reference (design )?[A-E]\b|"
                              r"references [A-E]\b|this project's (sessions|CI machine)")


def test_nothing_a_user_reads_names_a_development_path_or_an_undefined_letter():
    found = []
    for path in _user_facing_files():
        with open(path, encoding="utf-8") as fh:
            for number, line in enumerate(fh, 1):
                if DEVELOPMENT_TEXT.search(line):
                    found.append(f"{os.path.relpath(path, ROOT)}:{number}: {line.strip()[:100]}")
    assert not found, "\n".join(found)


def test_readme_is_a_first_page_and_its_links_resolve():
    text = _readme()
    assert len(text.splitlines()) < 250
    first_screen = "\n".join(text.splitlines()[:60])
    for needed in ("pip install", "gan-zoo", "## Quickstart"):
        assert needed in first_screen
    for page in [os.path.join(ROOT, "README.md"), *glob.glob(os.path.join(ROOT, "docs", "*.md"))]:
        with open(page) as fh:
            for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", fh.read()):
                if "://" not in target:
                    assert os.path.exists(os.path.join(os.path.dirname(page), target)), (page, target)


def test_train_help_lists_the_training_flags_in_sections_and_is_short():
    done = _gan_zoo("train", "--help")
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert len(lines) < 120 and max(map(len, lines)) <= 100
    for flag in ("--epochs", "--kimg", "--dataset", "--recipe", "--ema_half_life", "--d_conditioning",
                 "--diffaugment", "--eval_every"):
        assert any(line.strip().startswith(flag + " ") for line in lines), flag
    assert "folder:PATH" in next(line for line in lines if line.strip().startswith("--dataset "))
    for section in ("data", "model", "loss", "optimizer", "run", "eval"):
        assert f"{section} flags" in done.stdout
    assert "cudart" not in done.stdout and "--tpu" not in done.stdout  # not absl's or TF's flags
    from gan_zoo import train  # the command's module (callable: gan_zoo.train(...) trains)
    assert callable(train)
    loss = train.help_text("loss")
    assert "--r1_gamma (default 0.0): R1 penalty (Mescheder et al. 2018)" in loss
    assert "  --epochs" not in loss and "no section" in train.help_text("losses")


def test_usage_errors_are_one_line_and_exit_2():
    bad_value = _gan_zoo("train", "--epochs=ten")
    assert bad_value.returncode == 2
    assert bad_value.stderr.strip().splitlines()[-1].startswith("error: flag --epochs=ten")
    typo = _gan_zoo("train", "--model=maxout_cgn", "--epochs=1")
    assert typo.returncode == 2 and "Did you mean 'maxout_cgan'?" in typo.stderr
    command = _gan_zoo("trian")
    assert command.returncode == 2 and "Did you mean 'train'?" in command.stderr
    version = _gan_zoo("--version")
    assert version.returncode == 0 and version.stdout.strip().startswith("gan_zoo 0.")


def test_a_mistyped_data_set_gets_a_suggestion():
    from gan_zoo import data
    from gan_zoo.errors import UserError
    with pytest.raises(UserError, match="Did you mean 'fashion_mnist'"):
        data.load("fashion_mnst")
    with pytest.raises(UserError, match="is a file, not a folder"):
        data.load(f"folder:{os.path.join(ROOT, 'README.md')}")


def test_labels_by_number_or_class_name():
    from gan_zoo.errors import UserError
    from gan_zoo.serving.generate import parse_labels
    names = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
             "Sneaker", "Bag", "Ankle boot")
    assert parse_labels("shirt,Bag, 0,ankle boot", 10, names) == [6, 8, 0, 9]
    assert parse_labels(["t-shirt/top", 3], 10, names) == [0, 3]
    with pytest.raises(UserError, match="Did you mean 'Sneaker'"):
        parse_labels("sneeker", 10, names)
    with pytest.raises(UserError, match="out of range"):
        parse_labels("10", 10, names)


def test_idx_files_read_as_written(tmp_path):
    """idx:DIR on MNIST's official (gzipped) files: the header's count and shape, the labels'
    class counts, and every pixel as numpy reads the file; plain files read alike."""
    import gzip

    from gan_zoo import data
    from gan_zoo.errors import UserError
    source = data.load(f"idx:{MNIST_SUBSET}", split="test")
    assert source.num_examples == 2000 and source.spec.image_shape == (28, 28, 1)
    images, labels = zip(*source.images_and_labels.as_numpy_iterator())
    with gzip.open(os.path.join(MNIST_SUBSET, "t10k-images-idx3-ubyte.gz")) as fh:
        raw = np.frombuffer(fh.read()[16:], np.uint8).reshape(2000, 28, 28, 1)
    np.testing.assert_array_equal(np.stack(images), raw)
    # MNIST's first 2,000 test labels (LeCun's files), class by class
    assert np.bincount(labels).tolist() == [175, 234, 219, 207, 217, 179, 178, 205, 192, 194]
    plain = tmp_path / "plain"
    plain.mkdir()
    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        with gzip.open(os.path.join(MNIST_SUBSET, name + ".gz")) as fh:
            (plain / name).write_bytes(fh.read())
    again = data.load(f"idx:{plain}", split="test")
    first, label = next(again.images_and_labels.as_numpy_iterator())
    assert np.array_equal(first, raw[0]) and label == labels[0] == 7
    # a truncated file and a missing one are named, not a numpy traceback
    with open(tmp_path / "train-images-idx3-ubyte", "wb") as fh:
        fh.write(b"\0\0\x08\x03" + (5).to_bytes(4, "big") + (2).to_bytes(4, "big") * 2 + b"\0" * 7)
    with pytest.raises(UserError, match="train-labels-idx1-ubyte"):
        data.load(f"idx:{tmp_path}")
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(b"\0\0\x08\x01" + (5).to_bytes(4, "big") + b"\0" * 5)
    with pytest.raises(UserError, match="truncated"):
        data.load(f"idx:{tmp_path}")


def _write_idx(path, array):
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    with open(path, "wb") as fh:
        fh.write(header + array.astype(np.uint8).tobytes())


def test_fashion_mnist_offline_falls_back_to_debians_files(tmp_path, monkeypatch, caplog):
    from gan_zoo import data
    from gan_zoo.data import idx
    debian = tmp_path / "fashion-mnist"
    debian.mkdir()
    pictures = np.random.default_rng(0).integers(0, 256, (20, 28, 28))
    _write_idx(debian / "train-images-idx3-ubyte", pictures)
    _write_idx(debian / "train-labels-idx1-ubyte", np.arange(20) % 10)
    monkeypatch.setattr(idx, "DEBIAN_FASHION_MNIST", str(debian))
    empty = tmp_path / "no_tfds_here"
    empty.mkdir()
    with caplog.at_level("INFO", logger="absl"):  # absl's own level may have been raised
        source = data.load("fashion_mnist", data_dir=str(empty))
    assert source.num_examples == 20 and source.spec.class_names[6] == "Shirt"
    first, label = next(source.images_and_labels.as_numpy_iterator())
    assert np.array_equal(first[..., 0], pictures[0]) and label == 0
    assert any("dataset-fashion-mnist" in r.getMessage() for r in caplog.records)
    monkeypatch.setattr(idx, "DEBIAN_FASHION_MNIST", str(tmp_path / "not_installed"))
    from gan_zoo.errors import UserError
    with pytest.raises(UserError, match="not prepared"):
        data.load("fashion_mnist", data_dir=str(empty))


def test_the_python_api_in_five_lines(tmp_path):
    import gan_zoo
    from gan_zoo.errors import UserError
    seen = []
    run = gan_zoo.train("maxout_cgan", dataset="fashion_mnist", epochs=2, max_images=1024,
                        eval_samples=200, run_dir=str(tmp_path / "run"), progress=False,
                        on_epoch=lambda run, epoch: seen.append((epoch, len(run.losses["epoch"]))))
    assert seen == [(1, 1), (2, 2)]  # the hook sees each epoch's files written
    assert run.grid().shape == run.grid(epoch=2).shape and len(run.metrics["FID"]) == 2
    columns = [label.get_text() for label in run.show().axes[0].get_xticklabels()]
    assert columns[0] == "T-shirt/top" and columns[-1] == "Ankle boot" and len(columns) == 10
    generator = run.export(str(tmp_path / "export"))
    assert json.load(open(tmp_path / "run" / "best.json"))["epoch"] == generator.metadata["epoch"]
    shirts = generator.generate(labels=["shirt", "bag"], num_per_label=4, seed=3)
    assert shirts.shape == (8, 28, 28, 1) and shirts.dtype == np.uint8
    assert np.array_equal(shirts, gan_zoo.load(str(tmp_path / "export")).generate(
        labels=[6, 8], num_per_label=4, seed=3))
    with pytest.raises(UserError, match="conditioned on classes"):
        generator.generate(tags="bag")
    reopened = gan_zoo.open_run(str(tmp_path / "run"))
    assert reopened.losses["epoch"].tolist() == [1, 2] and reopened.config["epochs"] == 2
    faces = gan_zoo.load(pretrained="dcgan/lfw_gray")
    assert faces.generate(count=3).shape[0] == 3
    with pytest.raises(UserError, match="unconditional"):
        faces.generate(labels=[1])


def test_progress_is_a_plain_line_when_nobody_watches_a_terminal(caplog):
    import ipykernel  # noqa: F401  (imported by a library is not running in a notebook)
    from gan_zoo.run import progress
    assert isinstance(progress.epoch_bar(10, 0, "epoch 1/3"), progress.PlainProgress)  # pytest captures
    clock = iter([0.0, 5.0, 31.0, 32.0, 62.5]).__next__
    plain = progress.PlainProgress(100, 0, "epoch 1/3", every_s=30, clock=clock)
    plain.set_postfix({"D": "0.693"})
    with caplog.at_level("INFO", logger="absl"):  # absl's own level may have been raised
        for _ in range(4):
            plain.update(10)
    lines = [r.getMessage() for r in caplog.records]
    assert lines == ["epoch 1/3: 20/100 steps (20%), 0.6 steps/s, D=0.693",
                     "epoch 1/3: 40/100 steps (40%), 0.6 steps/s, D=0.693"]


def test_default_run_dir_names_model_and_data_set():
    from gan_zoo.settings import config
    assert config.resolve(model="dcgan", dataset="folder:/data/my faces/").resolved_run_dir() == \
        os.path.join("runs", "dcgan_my_faces")
    assert config.resolve(recipe="maxout_cgan", dataset="mnist").resolved_run_dir() == \
        os.path.join("runs", "maxout_cgan_mnist")


def test_licence_and_every_shipped_generator_names_its_datas_licence():
    assert "Apache License" in open(os.path.join(ROOT, "LICENSE")).read()
    from gan_zoo.serving import pretrained
    for name in pretrained.names():
        assert pretrained.card(name)["data_license"], name
    assert "research" in pretrained.card("dcgan/lfw_gray")["data_license"]


def test_ci_runs_the_readme_test_command_and_no_test_reads_beside_the_clone():
    """CI adds nothing to what README.md tells a contributor; the tests' data is in the clone
    or made by tests/fixtures.py, never a folder beside it."""
    readme = open(os.path.join(ROOT, "README.md")).read()
    command = re.search(r"^## Tests\n\n    (.+)$", readme, re.M).group(1)
    with open(os.path.join(ROOT, ".ci", "run")) as fh:
        steps = [line.strip() for line in fh if line.strip() and not line.startswith(("#", "set ", "cd "))]
    assert steps == [command]
    beside = ("..", "sha" + "red")  # spelled apart, so this file does not name it
    for path in glob.glob(os.path.join(ROOT, "tests", "*.py")):
        text = open(path).read()
        assert "/".join(beside) not in text and f', "{beside[1]}"' not in text, path


def test_labels_match_as_a_user_types_them_and_suggest_the_class_sharing_a_word():
    from gan_zoo.errors import UserError
    from gan_zoo.serving.generate import parse_labels
    names = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
             "Sneaker", "Bag", "Ankle boot")
    assert parse_labels("t-shirt,tshirt,T-Shirt,top,TOP,boot,ankle-boot,shirt", 10, names) == [
        0, 0, 0, 0, 0, 9, 9, 6]
    with pytest.raises(UserError, match="Did you mean 'T-shirt/top'"):
        parse_labels("t-shirts", 10, names)  # never 'Shirt', a different class
    with pytest.raises(UserError, match="Did you mean 'Shirt'"):
        parse_labels("red shirt", 10, names)


def test_gan_zoo_without_a_command_prints_usage_and_exits_2(capsys):
    from gan_zoo.cli import console
    assert console.main([]) == 2
    assert "usage: gan-zoo COMMAND" in capsys.readouterr().err
    assert console.main(["--help"]) == 0


def test_a_finished_run_run_again_says_it_is_done(tmp_path, caplog):
    import logging

    from conftest import tiny_faces_config
    from gan_zoo import data
    from gan_zoo.run import loop
    cfg = tiny_faces_config(tmp_path, epochs=1, eval_every=0)
    loop.train(cfg, data.for_config(cfg))
    with caplog.at_level(logging.INFO, logger="absl"):  # absl's own level, whatever ran before
        again = loop.train(cfg, data.for_config(cfg))
    assert int(again.step) == 8
    assert "has already trained its 1 epoch(s) (step 8): nothing to do" in caplog.text
    assert "larger --epochs" in caplog.text


def test_a_command_starts_with_its_own_lines_not_tensorflows_chatter(tmp_path):
    """No GPU here: TensorFlow's C++ start-up lines (cuInit, oneDNN, absl's notice) are caught
    and dropped; GAN_ZOO_TF_LOGS=1 shows them."""
    from conftest import run_cli
    command = ["gan_zoo", "generate", "--pretrained=maxout_cgan/fashion_mnist", "--labels=t-shirt,sneaker",
               "--num_per_label=2", f"--out={tmp_path / 'g.npz'}"]
    result = run_cli(*command, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    chatter = [line for line in result.stderr.splitlines() if any(t in line for t in (
        "cuInit", "E0000", "W0000", "I0000", "oneDNN", "dataset_info.json", "absl::InitializeLog"))]
    assert chatter == [] and "Wrote 4 images" in result.stdout, result.stderr[-2000:]
    loud = run_cli(*command, env={"GAN_ZOO_TF_LOGS": "1"}, timeout=120)
    assert loud.returncode == 0 and len(loud.stderr) >= len(result.stderr)  # asked for: nothing caught


def test_a_folder_given_no_length_trains_for_a_length_in_images(tmp_path, caplog):
    """--kimg is images shown to D, turned into whole epochs of the data set; a folder given
    neither --epochs nor --kimg gets FOLDER_KIMG, and checkpoints and scores come at most
    REPORTS times a run however short its epochs."""
    import logging

    from gan_zoo.run import length
    from gan_zoo.settings import config
    folder = config.resolve(model="conv_cgan", dataset="folder:photos")
    assert folder.kimg == config.FOLDER_KIMG and folder.epochs == config.resolve(model="conv_cgan").epochs
    assert config.resolve(model="conv_cgan", dataset="folder:photos", epochs=7).kimg == 0
    assert config.resolve(recipe="conv_cgan", dataset="folder:photos").kimg == config.FOLDER_KIMG
    assert config.resolve(model="conv_cgan", dataset="mnist").kimg == 0  # a recipe's own data: its epochs
    with caplog.at_level(logging.INFO, logger="absl"):
        long = length.with_length(folder, num_examples=300)  # 4 steps of 64: 256 images an epoch
    assert long.epochs == -(-config.FOLDER_KIMG * 1000 // 256)
    assert long.save_every == long.eval_every == -(-long.epochs // length.REPORTS)
    assert "the length for a folder given no --epochs or --kimg" in caplog.text
    assert length.with_length(folder, 60000).epochs == -(-config.FOLDER_KIMG * 1000 // (937 * 64))
    exact = config.resolve(model="conv_cgan", dataset="mnist", kimg=1.0, batch_size=100, eval_every=0)
    assert (length.with_length(exact, 500).epochs, length.with_length(exact, 500).eval_every) == (2, 0)
    assert length.with_length(exact, 450).epochs == 3  # 400 images an epoch: rounded up
    assert length.with_length(config.resolve(model="dcgan", epochs=5), 300).epochs == 5


def test_training_from_a_script_prints_each_epoch_and_says_where_show_put_the_grid(tmp_path):
    """A plain `python script.py`: absl has parsed no flags, so its INFO lines would be hidden;
    gan_zoo.train shows them as the command line does, and run.show() without a display writes
    the grid's path."""
    folder = tmp_path / "faces"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(64):
        images.write_png(str(folder / f"{i:02d}.png"), rng.integers(0, 255, (16, 16, 1), np.uint8))
    script = tmp_path / "train.py"
    script.write_text(
        "import gan_zoo\n"
        f"run = gan_zoo.train('dcgan', dataset='folder:{folder}', kimg=0.064, batch_size=16, ngf=8,"
        f" ndf=8, eval_every=0, run_dir='{tmp_path / 'run'}')\n"
        "run.show()\n")
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                            text=True, timeout=240, env=dict(os.environ, MPLBACKEND="Agg"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Training for 0.064 kimg: 1 epoch(s) of 64 images (--kimg)" in result.stderr
    assert re.search(r"epoch 1/1 .*Gen_loss=", result.stderr), result.stderr[-3000:]
    assert "cuInit" not in result.stderr and "oneDNN" not in result.stderr
    grid = tmp_path / "run" / "samples" / "epoch_0001.png"
    assert f"no display to show it on; the image is {grid}" in result.stdout


def test_a_one_epoch_plot_has_an_axis_of_whole_epochs():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gan_zoo.cli.plot import epoch_axis
    fig, (one, many) = plt.subplots(1, 2)
    one.plot([1], [0.7], "o-")
    epoch_axis(one, np.array([1]))
    many.plot([1, 2, 3], [0.7, 0.6, 0.5], "o-")
    epoch_axis(many, np.array([1, 2, 3]))
    fig.canvas.draw()
    assert one.get_xlim() == (0.0, 2.0)
    for ax in (one, many):
        ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        assert ticks and all(float(t).is_integer() for t in ticks), ticks
    plt.close(fig)


def test_no_error_message_points_a_console_user_to_python_dash_m():
    """Errors name the command a user typed: `gan-zoo export`, not `python -m gan_zoo.export`."""
    import ast
    offenders = []
    for path in glob.glob(os.path.join(ROOT, "gan_zoo", "**", "*.py"), recursive=True):
        for node in ast.walk(ast.parse(open(path).read())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", "").endswith("Error"):
                text = " ".join(n.value for n in ast.walk(node)
                                if isinstance(n, ast.Constant) and isinstance(n.value, str))
                if re.search(r"python -m\s+gan_zoo(\.train| |\.serving|\.cli)", text):  # a gan-zoo command
                    offenders.append(f"{os.path.relpath(path, ROOT)}:{node.lineno}")
    assert offenders == []
