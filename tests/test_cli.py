"""The README's commands, run as a user runs them: quickstart flow and bad input."""
import glob
import os

import pytest

from gan_zoo import models

from conftest import ROOT, run_cli


def _fails_clearly(result, *phrases):
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    for phrase in phrases:
        assert phrase in result.stderr, result.stderr[-3000:]


def test_unknown_model_is_named_with_the_choices(tmp_path):
    result = run_cli("gan_zoo.train", "--model=maxout_gan", f"--run_dir={tmp_path / 'r'}")
    _fails_clearly(result, "Unknown model 'maxout_gan'", "maxout_cgan")
    assert not os.path.exists(tmp_path / "r")


def test_unprepared_dataset_offline_names_where_and_the_fixes(tmp_path):
    result = run_cli("gan_zoo.train", "--dataset=cifar10", f"--data_dir={tmp_path / 'empty'}",
                     f"--run_dir={tmp_path / 'r'}")
    _fails_clearly(result, "'cifar10' is not prepared in", str(tmp_path / "empty"), "--data_dir",
                   "internet")
    assert not os.path.exists(tmp_path / "r")


def test_unknown_dataset_and_bad_numbers(tmp_path):
    _fails_clearly(run_cli("gan_zoo.train", "--dataset=mnistt", f"--run_dir={tmp_path / 'r'}"),
                   "Unknown data set 'mnistt'")
    _fails_clearly(run_cli("gan_zoo.train", "--epochs=0", f"--run_dir={tmp_path / 'r'}"),
                   "--epochs must be a positive integer")
    _fails_clearly(run_cli("gan_zoo.train", "--flagfile=flags/no_such.flags"), "no_such.flags")
    assert not os.path.exists(tmp_path / "r")


def test_export_of_a_missing_run_dir(tmp_path):
    result = run_cli("gan_zoo.serving.export", f"--run_dir={tmp_path / 'nope'}",
                     f"--export_dir={tmp_path / 'e'}")
    _fails_clearly(result, "does not exist", "--run_dir")


FLAGFILES = sorted(glob.glob(os.path.join(ROOT, "flags", "*.flags")))


# Recipes that are not a model's defaults (nor its defaults under another --loss).
OTHER_RECIPES = ("pix2pix.flags",)


def _flagfile_config(path):
    from absl import flags

    from gan_zoo.settings import config
    fv = flags.FlagValues()
    config.define_flags(fv)
    fv(["prog", f"--flagfile={path}"])
    return config.from_flags(fv)


def test_every_model_has_a_flagfile():
    stems = [os.path.basename(p)[:-len(".flags")] for p in FLAGFILES]
    missing = [m for m in models.names() if not any(s == m or s.startswith(m + "_") for s in stems)]
    assert not missing, f"models with no flags/<model>[_variant].flags: {missing}"


@pytest.mark.parametrize("path", [p for p in FLAGFILES if os.path.basename(p) not in OTHER_RECIPES],
                         ids=os.path.basename)
def test_flagfile_recipe_matches_the_registry_defaults(path):
    """`--flagfile=flags/M[_LOSS].flags` trains the recipe `--model=M [--loss=LOSS]` gives
    (M_reference.flags: the model's defaults, reference design's recipe)."""
    from gan_zoo.settings import config
    from_file = _flagfile_config(path)
    model_only = config.resolve(model=from_file.model)
    expected = model_only if from_file.loss == model_only.loss else config.resolve(
        model=from_file.model, loss=from_file.loss)
    assert from_file == expected


def test_pix2pix_flagfile_is_pix2pix():
    cfg = _flagfile_config(os.path.join(ROOT, "flags", "pix2pix.flags"))
    assert (cfg.model, cfg.generator, cfg.discriminator, cfg.patch_layers) == ("img2img", "unet", "patch", 3)
    assert (cfg.adv_weight, cfg.l1_weight, cfg.g_dropout, cfg.batch_size) == (1, 100, 0.5, 1)
    assert cfg.image_size == 256 and cfg.jitter == pytest.approx(30 / 256, abs=1e-3) and cfg.mirror
