"""The Python API, what a notebook needs in five lines:

    import gan_zoo
    run = gan_zoo.train("maxout_cgan", dataset="fashion_mnist", epochs=3)  # any flag as a keyword
    run.show()                                    # the latest sample grid; run.losses, run.metrics
    generator = run.export("export/maxout_cgan")  # the best checkpoint, as a SavedModel
    images = generator.generate(labels=["shirt", "bag"], num_per_label=8)

`gan_zoo.load(export_dir)` and `gan_zoo.load(pretrained=NAME)` give the same Generator;
`gan_zoo.open_run` reads a run dir the command line wrote. It is the command-line tools' code, called directly:
a run trained here resumes on the command line and back.
"""
import contextlib
import os
import tempfile

from gan_zoo.cli.options import start_tensorflow_quietly
from gan_zoo.errors import UserError


def train(model=None, dataset=None, on_epoch=None, **settings):
    """Train (or resume) a run: `model` (its own recipe is its defaults) or `recipe=NAME`, and
    any training flag as a keyword (epochs=3, run_dir="runs/x", ...). `on_epoch(run, epoch)`
    is called after each epoch's files are written (epoch counts from 1). Returns the Run."""
    start_tensorflow_quietly()
    from gan_zoo.settings import config
    from gan_zoo import data
    from gan_zoo.run import loop
    given = {k: v for k, v in (("model", model), ("dataset", dataset)) if v is not None}
    cfg = config.resolve(**given, **settings)
    run = Run(cfg.resolved_run_dir())
    hook = None if on_epoch is None else (lambda trainer, epoch: on_epoch(run, epoch))
    with _lines_shown():
        run.trainer = loop.train(cfg, data.for_config(cfg), on_epoch_end=hook)
    return run


@contextlib.contextmanager
def _lines_shown():
    """The command line's lines (each epoch's, the progress line of a log) shown while training
    from Python too: absl logs INFO only once its flags are parsed (app.run), else WARNING and
    above. A verbosity the caller set after parsing flags is theirs and kept."""
    from absl import flags, logging
    before = logging.get_verbosity()
    if flags.FLAGS.is_parsed() or before >= logging.INFO:
        yield
        return
    logging.set_verbosity(logging.INFO)
    try:
        yield
    finally:
        logging.set_verbosity(before)


def open_run(run_dir):
    """The Run of a run dir written by `train` or `gan-zoo train`."""
    from gan_zoo.run.run_files import RunFiles
    if not os.path.isfile(RunFiles(run_dir).config_json):
        raise UserError(f"{run_dir!r} is not a run dir: it has no config.json (gan-zoo train "
                        "writes one).")
    return Run(run_dir)


def load(export_dir="", pretrained=""):
    """The Generator of an export (its base folder: the newest version; or one version), or of
    a generator shipped in the package (pretrained="maxout_cgan/fashion_mnist"), as the
    command line's --export_dir / --pretrained."""
    start_tensorflow_quietly()
    from gan_zoo.serving import pretrained as shipped
    return Generator(*shipped.open_model(export_dir, pretrained),
                     source=dict(export_dir=export_dir, pretrained=pretrained))


class Run:
    """A run dir and what it holds, read fresh each time (a run in progress keeps writing)."""

    def __init__(self, run_dir):
        self.run_dir = run_dir
        self.trainer = None  # the trained networks, when this process trained them

    def __repr__(self):
        return f"Run({self.run_dir!r}, epochs done: {len(self.losses.get('epoch', []))})"

    @property
    def config(self):
        """The run's settings (config.json's "config": every flag's value)."""
        from gan_zoo.run.run_files import load_json
        return load_json(self._files.config_json)["config"]

    @property
    def losses(self):
        """loss.csv as {column: numpy array}, one entry per epoch."""
        return self._csv(self._files.loss_csv)

    @property
    def metrics(self):
        """metrics.csv ({column: array}, one entry per scored epoch); {} when nothing was scored."""
        return self._csv(self._files.metrics_csv)

    @property
    def _files(self):
        from gan_zoo.run.run_files import RunFiles
        return RunFiles(self.run_dir)

    @staticmethod
    def _csv(path):
        from gan_zoo.run.run_files import read_csv
        return read_csv(path) if os.path.isfile(path) else {}

    def grid(self, epoch=None):
        """The sample grid of `epoch` (default: the latest) as a uint8 array."""
        from gan_zoo import images
        return images.read_png(self.grid_path(epoch))

    def grid_path(self, epoch=None):
        """The file of `epoch`'s sample grid (default: the latest)."""
        folder = self._files.samples_dir
        names = sorted(f for f in os.listdir(folder) if f.startswith("epoch_")) if os.path.isdir(folder) else []
        if epoch is not None:
            names = [n for n in names if n == f"epoch_{epoch:04d}.png"]
        if not names:
            raise UserError(f"No sample grid {'of epoch %d ' % epoch if epoch else ''}in {folder}.")
        return os.path.join(folder, names[-1])

    def show(self, epoch=None):
        """Draw the sample grid (matplotlib) and return its figure."""
        path = self.grid_path(epoch)
        return _show(self.grid(epoch), f"{self.run_dir}: {os.path.basename(path)[:-4]}", path,
                     self._column_names())

    def _column_names(self):
        """{x position: name} of the grid's columns (one per class or grid condition)."""
        from gan_zoo.run.run_files import load_json
        spec = load_json(self._files.config_json).get("data_spec", {})
        names = spec.get("grid_names") or spec.get("class_names") or []
        width = (spec.get("image_shape") or [0, 0])[1] + 1  # the grid's 1-pixel gaps
        return {i * width + width / 2 - 1: name for i, name in enumerate(names)}

    def export(self, export_dir, which=None, inference_mode=None, allow_untrained=False):
        """Export a checkpoint as the next version under `export_dir` and return its Generator.
        which: "best" (the default where the run scored itself) or "latest"."""
        from gan_zoo.serving import export
        from gan_zoo.run.run_dir import default_checkpoint
        if which is None:
            which = default_checkpoint(self.run_dir)
        metadata = export.export(self.run_dir, export_dir, which=which, inference_mode=inference_mode,
                                 allow_untrained=allow_untrained)
        return load(os.path.join(export_dir, str(metadata["version"])))  # this export's, not a later one's


class Generator:
    """A served generator (an export or a shipped one): images as uint8 arrays."""

    def __init__(self, model, metadata, source=None):
        self.model, self.metadata, self._source = model, metadata, source or {}
        self._keras_model = None

    @property
    def keras_model(self):
        """The generator as a keras.Model (noise [and condition] -> images in [-1, 1]), to
        fine-tune, embed in a model of yours, or save as a .keras file: an export's
        generator.keras, or a shipped generator built with its weights."""
        if self._keras_model is None:
            from gan_zoo.serving import keras_file
            self._keras_model = keras_file.load(**self._source)
        return self._keras_model

    def __repr__(self):
        return (f"Generator({self.metadata['model']} on {self.metadata['dataset']}, images "
                f"{tuple(self.metadata['image_shape'])})")

    @property
    def class_names(self):
        return list(self.metadata.get("class_names") or [])

    def generate(self, labels=None, num_per_label=10, tags=None, count=64, seed=0):
        """uint8 images [N, H, W, C]. Class models: `labels` (numbers or class names; default
        every class), num_per_label each, label-major. Tag models: `tags` ("bag;top,warm" or a
        list of tag lists). Unconditional models: `count` images. The same seed, the same images."""
        from gan_zoo.serving import generate
        meta = self.metadata
        if meta.get("paired"):
            raise UserError("This model translates images: use generator.translate(images).")
        if not meta.get("conditional", True):
            if labels is not None or tags is not None:
                raise UserError("This model is unconditional: pass count=N, not labels or tags.")
            return generate.generate_unconditional(self.model, count, seed)
        if meta.get("condition_names"):
            if tags is None or labels is not None:
                raise UserError(f"This model is conditioned on tags: pass tags=, e.g. "
                                f"tags='{meta['condition_names'][0]}'.")
            text = tags if isinstance(tags, str) else ";".join(",".join(t) for t in tags)
            conditions = generate.parse_tags(text, meta["condition_names"])
        else:
            if tags is not None:
                raise UserError("This model is conditioned on classes: pass labels=, not tags=.")
            conditions = (list(range(meta["num_classes"])) if labels is None else
                          generate.parse_labels(labels, meta["num_classes"], self.class_names))
        return generate.generate(self.model, conditions, num_per_label, seed)[0]

    def translate(self, images):
        """An image-to-image model's uint8 outputs for uint8 inputs [N, H, W, C]."""
        from gan_zoo.serving import generate
        if not self.metadata.get("paired"):
            raise UserError("This model draws from noise: use generator.generate().")
        return generate.translate(self.model, images)

    def show(self, images, columns=8):
        """Draw uint8 `images` as one grid (matplotlib) and return its figure."""
        from gan_zoo import images as image_files
        return _show(image_files.rows_of(images, columns), repr(self))


def _show(image, title, path=None, columns=None):
    """A matplotlib figure of `image` (`columns`: {x: name} below the columns): shown in a notebook (at the cell's end) or a window; with
    no display (a script on a server: matplotlib's Agg backend) the image is a PNG file instead,
    `path` or a new temporary one, and a line says where."""
    import matplotlib
    import matplotlib.pyplot as plt
    figure = plt.figure(figsize=(min(12, image.shape[1] / 40), min(12, image.shape[0] / 40)))
    plt.imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap="gray", vmin=0, vmax=255)
    plt.title(title, fontsize=8)
    plt.yticks([])
    plt.xticks(list(columns or {}), list((columns or {}).values()), rotation=45, ha="right",
               fontsize=7)
    plt.gca().tick_params(length=0)
    for side in plt.gca().spines.values():
        side.set_visible(False)
    from gan_zoo.run.progress import in_notebook
    if in_notebook():
        return figure
    if matplotlib.get_backend().lower() in _NO_DISPLAY:
        if path is None:
            from gan_zoo import images
            handle, path = tempfile.mkstemp(prefix="gan_zoo_", suffix=".png")
            os.close(handle)
            images.write_png(path, image)
        print(f"{title}: no display to show it on; the image is {os.path.abspath(path)}")
    else:
        plt.show()
    return figure


_NO_DISPLAY = {"agg", "pdf", "ps", "svg", "cairo", "template", "module://matplotlib_inline.backend_inline"}
