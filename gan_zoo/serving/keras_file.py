"""A generator as a keras.Model: from an export's generator.keras, or a shipped generator
built from its card with its weights (what gan_zoo.load(...).keras_model gives)."""
import os

from gan_zoo.errors import UserError


def load(export_dir="", pretrained=""):
    """The keras.Model of `export_dir` (a version, or the newest under a base folder) or of the
    shipped generator `pretrained`."""
    import keras
    from gan_zoo.models import serializable  # noqa: F401  (the zoo's layers, known to Keras)
    from gan_zoo.serving import export, pretrained as shipped
    if pretrained:
        return shipped.load(pretrained)[0]
    path = os.path.join(export.version_dir(export_dir), export.KERAS_FILE)
    if not os.path.exists(path):
        raise UserError(f"{path!r} is missing: this export was made before exports held a "
                        "Keras file. Export the run again (gan-zoo export) to get one.")
    return keras.saving.load_model(path, safe_mode=True)
