"""Every notebook runs top to bottom (tiny settings) and is stored without outputs."""
import glob
import os

import nbformat
import pytest
from nbclient import NotebookClient

from conftest import FACADES, FACE_FOLDER, ROOT

NOTEBOOKS = sorted(glob.glob(os.path.join(ROOT, "notebooks", "*.ipynb")))


def test_there_are_notebooks():
    names = {os.path.basename(p) for p in NOTEBOOKS}
    assert {"quickstart_maxout_cgan.ipynb", "reading_loss_csv.ipynb", "latent_walk.ipynb",
            "quickstart_dcgan_faces.ipynb", "quickstart_img2img.ipynb"} <= names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=os.path.basename)
def test_notebook_is_stored_without_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, \
                f"{os.path.basename(path)} holds outputs; clear them before committing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=os.path.basename)
def test_notebook_runs(path, tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_ZOO_NB_EPOCHS", "1")
    monkeypatch.setenv("GAN_ZOO_NB_MAX_IMAGES", "2560")
    monkeypatch.setenv("GAN_ZOO_NB_IMAGE_SIZE", "32")
    monkeypatch.setenv("GAN_ZOO_NB_FACES", f"folder:{FACE_FOLDER}")  # a user: "lfw" through tfds
    monkeypatch.setenv("GAN_ZOO_NB_FACADES", FACADES)
    monkeypatch.setenv("GAN_ZOO_NB_MAX_PAIRS", "96")
    monkeypatch.setenv("GAN_ZOO_NB_RUN_DIR", str(tmp_path / "run"))
    monkeypatch.setenv("GAN_ZOO_NB_EXPORT_DIR", str(tmp_path / "export"))
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError, naming the cell, if any cell fails
    outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs]
    assert any(o.get("output_type") == "display_data" and "image/png" in o.get("data", {})
               for o in outputs), "the notebook should draw at least one figure"
