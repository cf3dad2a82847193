"""The package's shape: no import circles, no module past ~350 lines, recipes by name from any
directory, every setting in one section, a builder sees only the model section."""
import dataclasses
import os
import re
import subprocess
import sys

import pytest

import import_graph
from gan_zoo.settings import config, recipes
from gan_zoo import models
from gan_zoo.errors import UserError

MAX_LINES = 350


def test_no_import_circles():
    """Imports inside functions count too (they only dodge a circle, they do not remove it)."""
    assert import_graph.cycles(import_graph.graph()) == []


def test_imports_go_down_the_floors():
    """The floor table in tests/import_graph.py: e.g. the core never imports the run layer or
    the command line; models, data and eval never import the run layer. Each wrong-way import
    is named with its two modules."""
    edges = import_graph.graph()
    wrong = import_graph.wrong_way(edges, known=import_graph.KNOWN_WRONG_WAY)
    assert wrong == [], "\n".join(f"{a} ({import_graph.floor_of(a)}) imports {b} "
                                   f"({import_graph.floor_of(b)})" for a, b in wrong)
    still = {pair for pair in import_graph.KNOWN_WRONG_WAY if pair[1] in edges.get(pair[0], ())}
    assert still == import_graph.KNOWN_WRONG_WAY, "gone from the code: drop them from the list"
    folders = {name for name in os.listdir(import_graph.PACKAGE_DIR)
               if os.path.isfile(os.path.join(import_graph.PACKAGE_DIR, name, "__init__.py"))}
    assert folders == set(import_graph.FLOORS) - {"top"}, "every folder of gan_zoo is a floor"
    top = [m for m in import_graph.modules() if import_graph.floor_of(m) == "top"]
    assert len(top) <= 8, top


def test_the_floor_check_names_a_wrong_way_import():
    floors = {"low": (), "high": ("low",), "top": ("high", "low")}
    edges = {"gan_zoo.low.a": {"gan_zoo.high.b", "gan_zoo.errors"}, "gan_zoo.high.b": {"gan_zoo.low.a"},
             "gan_zoo.errors": {"gan_zoo.high.b"}}
    assert import_graph.wrong_way(edges, floors, leaves=("gan_zoo.errors",)) == [
        ("gan_zoo.errors", "gan_zoo.high.b"), ("gan_zoo.low.a", "gan_zoo.high.b")]


def test_the_cycle_finder_finds_a_circle():
    assert import_graph.cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_module_is_past_the_line_limit():
    long = {name: n for name, path in import_graph.modules().items()
            if (n := sum(1 for _ in open(path))) > MAX_LINES}
    assert not long, f"split these by reason to change: {long}"


def test_a_recipe_by_name_works_from_any_directory(tmp_path):
    code = ("from gan_zoo.settings import config; c = config.resolve(recipe='pix2pix'); "
            "print(c.model, c.image_size, c.l1_weight)")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["img2img", "256", "100.0"]


def test_recipe_precedence_and_a_mistyped_name():
    wgan_gp = config.resolve(recipe="dcgan_wgan_gp")
    # the loss's own settings come with it, over the dcgan recipe; a given flag wins over both
    assert (wgan_gp.model, wgan_gp.d_norm, wgan_gp.n_critic, wgan_gp.image_size) == ("dcgan", "instance", 5, 64)
    assert config.resolve(recipe="dcgan_wgan_gp", n_critic=2, model="dcgan").n_critic == 2
    # the model's own recipe is its defaults
    by_name = config.resolve(recipe="maxout_cgan")
    assert dataclasses.replace(by_name, recipe="") == config.resolve(model="maxout_cgan")
    with pytest.raises(UserError, match="Unknown recipe 'maxout_cgn'. Did you mean 'maxout_cgan'"):
        config.resolve(recipe="maxout_cgn")
    with pytest.raises(UserError, match="Unknown recipe"):
        recipes.path("../setup")


def test_every_setting_is_in_one_section_and_a_builder_sees_only_its_own():
    cfg = config.resolve(model="dcgan")
    sections = {name: set(cfg.section(name)) for name in config.SECTIONS}
    every = [n for names in sections.values() for n in names]
    assert sorted(every) == sorted(f.name for f in dataclasses.fields(cfg))  # each exactly once
    seen = {}

    def spy(spec, model_config):
        seen["config"] = model_config
        raise StopIteration

    module = models.builder("dcgan")
    original, module.build = module.build, spy
    try:
        with pytest.raises(StopIteration):
            models.build(None, cfg)
    finally:
        module.build = original
    # the model section, and which BatchNorm kernel to build (--fused_batch_norm, a run setting)
    assert set(vars(seen["config"])) == sections["model"] | {"fused_bn"}
    assert seen["config"].fused_bn == cfg.fused_batch_norm and not hasattr(seen["config"], "loss")


def test_every_recipe_is_shipped_with_the_package():
    """setup.cfg's package data carries them, so a pip-installed gan_zoo has them."""
    package_dir = os.path.dirname(import_graph.PACKAGE_DIR + os.sep)
    with open(os.path.join(os.path.dirname(package_dir), "setup.cfg")) as fh:
        shipped = fh.read()
    recipes_in_package = os.path.relpath(recipes.RECIPE_DIR, package_dir).replace(os.sep, "/")
    assert f"{recipes_in_package}/*.flags" in shipped and f"{recipes_in_package}/speed.json" in shipped
    assert {models.recipe_name(m) for m in models.names()} <= set(recipes.names())


def test_settings_and_train_help_load_no_tensorflow():
    """Reading the settings (a recipe, its checks) and printing `gan-zoo train --help` import
    no TensorFlow, so help answers at once; the choice lists the settings hold are the ones
    the core implements."""
    code = ("import sys\n"
            "from gan_zoo.settings import config\n"
            "config.resolve(recipe='dcgan_wgan_gp')\n"
            "from gan_zoo import train\n"
            "sys.argv = ['gan-zoo train', '--help']\n"
            "try:\n    train.command(sys.argv)\nexcept SystemExit:\n    pass\n"
            "print('TF', 'tensorflow' in sys.modules, 'keras' in sys.modules, file=sys.stderr)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "TF False False" in out.stderr, out.stderr[-2000:]
    assert "--recipe" in out.stdout
    from gan_zoo.core import augment, losses
    from gan_zoo.settings import choices
    assert set(choices.LOSS_CHOICES) == set(losses._table())
    assert set(choices.DIFFAUGMENT_CHOICES) == set(augment._TRANSFORMS)


def test_no_recipe_quotes_a_measured_figure():
    """A recipe says what each setting does and why; what it measured lives in docs/, where a
    page can be remade (a figure in a recipe goes stale unseen)."""
    import glob
    figure = re.compile(r"\d\s*->\s*\d|\b(FID|SWD|recall|precision|accuracy|coverage)\s+\d|"
                        r"\d+(\.\d+)?\s*%|\d\s*(img|steps)/s|\d+(\.\d+)?\s*(s|min|minutes)\b")
    for path in glob.glob(os.path.join(os.path.dirname(recipes.RECIPE_DIR), "recipes", "**", "*.flags"),
                          recursive=True):
        for line in open(path):
            if line.startswith("#"):
                assert not figure.search(line), (os.path.basename(path), line)
