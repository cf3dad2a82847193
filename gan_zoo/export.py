"""python -m gan_zoo.export --run_dir=runs/maxout_cgan --export_dir=export/maxout_cgan

Writes a SavedModel that TF Serving loads, with two signatures:
  serving_default:     labels int32 [batch], noise float32 [batch, noise_dim] -> images uint8 [batch,H,W,C]
  generate_from_seed:  labels int32 [batch], seed int64 []                  -> images uint8
Labels outside [0, num_classes) fail the request (InvalidArgumentError), never give an image.
The model's metadata is in <export_dir>/assets.extra/gan_zoo.json.
"""
import json
import os

import tensorflow as tf

from gan_zoo.data import to_uint8
from gan_zoo.errors import UserError

METADATA_FILE = os.path.join("assets.extra", "gan_zoo.json")
SEED_SIGNATURE = "generate_from_seed"


class LabelGeneratorModule(tf.Module):
    """The serving graph of a label-conditional generator."""

    def __init__(self, generator, num_classes, noise_dim, noise):
        super().__init__()
        self.generator, self.num_classes, self.noise_dim, self.noise = (
            generator, num_classes, noise_dim, noise)
        self.serving_default = tf.function(self._from_noise, input_signature=[
            tf.TensorSpec([None], tf.int32, name="labels"),
            tf.TensorSpec([None, noise_dim], tf.float32, name="noise")])
        self.generate_from_seed = tf.function(self._from_seed, input_signature=[
            tf.TensorSpec([None], tf.int32, name="labels"),
            tf.TensorSpec([], tf.int64, name="seed")])

    def _from_noise(self, labels, noise):
        checks = [
            tf.debugging.assert_greater_equal(
                labels, 0, message=f"labels must be in [0, {self.num_classes})"),
            tf.debugging.assert_less(
                labels, self.num_classes, message=f"labels must be in [0, {self.num_classes})"),
            tf.debugging.assert_equal(
                tf.shape(labels)[0], tf.shape(noise)[0],
                message="labels and noise must have the same batch size"),
        ]
        with tf.control_dependencies(checks):
            condition = tf.one_hot(labels, self.num_classes)
        images = self.generator([noise, condition], training=False)
        return {"images": to_uint8(images)}

    def _from_seed(self, labels, seed):
        shape = tf.stack([tf.shape(labels)[0], self.noise_dim])
        stateless_seed = tf.stack([seed, tf.constant(0, tf.int64)])
        if self.noise == "uniform":
            noise = tf.random.stateless_uniform(shape, stateless_seed)
        else:
            noise = tf.random.stateless_normal(shape, stateless_seed)
        return self._from_noise(labels, noise)


def export(run_dir, export_dir, overwrite=False):
    """Export the latest generator of `run_dir`; returns the metadata written beside it."""
    from gan_zoo.trainer import restore_generator
    if os.path.exists(os.path.join(export_dir, "saved_model.pb")) and not overwrite:
        raise UserError(f"{export_dir!r} already holds a SavedModel. Pass another --export_dir, "
                        "or --overwrite to replace it.")
    generator, config, spec, step = restore_generator(run_dir)
    module = LabelGeneratorModule(generator, spec.condition_dim, config.noise_dim, config.noise)
    tf.saved_model.save(module, export_dir, signatures={
        "serving_default": module.serving_default,
        SEED_SIGNATURE: module.generate_from_seed,
    })
    metadata = {"model": config.model, "dataset": config.dataset, "step": step,
                "image_shape": list(spec.image_shape), "num_classes": spec.condition_dim,
                "class_names": list(spec.class_names), "noise_dim": config.noise_dim,
                "noise": config.noise, "signatures": ["serving_default", SEED_SIGNATURE]}
    os.makedirs(os.path.join(export_dir, "assets.extra"), exist_ok=True)
    with open(os.path.join(export_dir, METADATA_FILE), "w") as fh:
        json.dump(metadata, fh, indent=2)
    return metadata


def load(export_dir):
    """(loaded SavedModel, metadata dict), or a UserError naming what is missing."""
    if not os.path.exists(os.path.join(export_dir, "saved_model.pb")):
        raise UserError(f"No SavedModel in {export_dir!r}. Create one with "
                        "`python -m gan_zoo.export --run_dir=RUN --export_dir=DIR`.")
    with open(os.path.join(export_dir, METADATA_FILE)) as fh:
        metadata = json.load(fh)
    return tf.saved_model.load(export_dir), metadata


def main():
    from absl import flags
    FLAGS = flags.FLAGS
    if not FLAGS.run_dir or not FLAGS.export_dir:
        raise UserError("Both --run_dir and --export_dir are required.")
    metadata = export(FLAGS.run_dir, FLAGS.export_dir, overwrite=FLAGS.overwrite)
    print(f"Exported {metadata['model']} (step {metadata['step']}) to {FLAGS.export_dir} "
          f"with signatures {', '.join(metadata['signatures'])}")


if __name__ == "__main__":
    from absl import app, flags

    from gan_zoo import cli
    flags.DEFINE_string("run_dir", None, "Run directory written by gan_zoo.train.")
    flags.DEFINE_string("export_dir", None, "Where to write the SavedModel.")
    flags.DEFINE_boolean("overwrite", False, "Replace a SavedModel already in --export_dir.")
    app.run(cli.run(main))
