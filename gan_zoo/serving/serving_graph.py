"""The graphs an export serves: tf.Modules whose tf.functions are the SavedModel's signatures.

TF Serving runs them through the C++ Session, which feeds a request's tensors as they come:
its dtype is checked against the signature, its shape is not. So every input's shape is
checked inside the graph (EnsureShape), as are the values (labels in range, finite noise and
conditions, a bounded count): a bad request fails with InvalidArgumentError naming the input,
never with an opaque kernel error or garbage images. tests/test_serving.py sends such requests
through the Session, in the gRPC and the REST forms.
"""
import tensorflow as tf

from gan_zoo import models
from gan_zoo.core import noise as noise_lib
from gan_zoo.data import scale_images, to_uint8

SEED_SIGNATURE = "generate_from_seed"
PNG_SIGNATURE = "generate_png"  # the same inputs; PNG bytes out, what a web client shows
MAX_COUNT = 4096  # images one generate_from_seed request may ask for by count alone


def tf_variables(model):
    """The tf.Variables under a Keras 3 model's variables, for a tf.Module to track.

    Without them the SavedModel loads in Python but not in TF Serving's C++ loader (nor in
    `saved_model_cli run`): "Could not find variable ...", because tf.Module does not see
    Keras 3 variables as variables (keras-team/keras#20095). Tested in tests/test_serving.py."""
    return [v.value for v in model.variables]


def _shaped(tensor, shape):
    """`tensor`, checked at run time to have `shape` (None: any size): the signature's shape
    is only a promise to Python callers; TF Serving's Session does not enforce it."""
    return tf.ensure_shape(tensor, shape)


class GeneratorModule(tf.Module):
    """The serving graph: class models take `labels`, tag/vector models take `condition`."""

    def __init__(self, generator, spec, noise_dim, noise):
        super().__init__()
        self.generator, self.noise_dim, self.noise = generator, noise_dim, noise
        # a two-stage G (StackGAN) also serves the stage-I image each image was refined from
        self.two_stage = models.with_stage1_image(generator)
        self.tf_variables = tf_variables(generator)
        self.condition_dim = spec.condition_dim
        noise_spec = tf.TensorSpec([None, noise_dim], tf.float32, name="noise")
        seed_spec = tf.TensorSpec([], tf.int64, name="seed")
        if not spec.is_conditional:
            count_spec = tf.TensorSpec([], tf.int32, name="count")
            self.serving_default = tf.function(self._from_noise, input_signature=[noise_spec])
            self.generate_from_seed = tf.function(self._from_seed, input_signature=[count_spec, seed_spec])
            self.generate_png = tf.function(self._png_from_count, input_signature=[count_spec, seed_spec])
            return
        if spec.is_class_conditional:
            cond_spec = tf.TensorSpec([None], tf.int32, name="labels")
            from_noise, from_seed = self._labels_and_noise, self._labels_and_seed
            png = self._png_from_labels
        else:
            cond_spec = tf.TensorSpec([None, spec.condition_dim], tf.float32, name="condition")
            from_noise, from_seed = self._condition_and_noise, self._condition_and_seed
            png = self._png_from_condition
        self.generate_png = tf.function(png, input_signature=[cond_spec, seed_spec])
        self.serving_default = tf.function(from_noise, input_signature=[cond_spec, noise_spec])
        self.generate_from_seed = tf.function(from_seed, input_signature=[cond_spec, seed_spec])

    # The argument names are the signatures' input names.
    def _from_noise(self, noise):
        return self._generate(None, noise)

    def _from_seed(self, count, seed):
        count = _shaped(count, [])
        checks = [tf.debugging.assert_positive(count, message="count must be positive"),
                  tf.debugging.assert_less_equal(
                      count, MAX_COUNT, message=f"count must be at most {MAX_COUNT} per request")]
        with tf.control_dependencies(checks):
            return self._generate(None, self._noise(count, seed))

    def _labels_and_noise(self, labels, noise):
        return self._generate(self._one_hot(labels), noise)

    def _labels_and_seed(self, labels, seed):
        labels = _shaped(labels, [None])
        return self._generate(self._one_hot(labels), self._noise(tf.shape(labels)[0], seed))

    def _condition_and_noise(self, condition, noise):
        return self._generate(self._checked(condition), noise)

    def _condition_and_seed(self, condition, seed):
        condition = self._checked(condition)
        return self._generate(condition, self._noise(tf.shape(condition)[0], seed))

    # PNG bytes per image (base64 over TF Serving's REST: the output name ends in _bytes)
    def _png_from_count(self, count, seed):
        return self._as_png(self._from_seed(count, seed))

    def _png_from_labels(self, labels, seed):
        return self._as_png(self._labels_and_seed(labels, seed))

    def _png_from_condition(self, condition, seed):
        return self._as_png(self._condition_and_seed(condition, seed))

    @staticmethod
    def _as_png(outputs):
        return {"png_bytes": tf.map_fn(tf.io.encode_png, outputs["images"],
                                       fn_output_signature=tf.string)}

    def _one_hot(self, labels):
        labels = _shaped(labels, [None])
        message = f"labels must be in [0, {self.condition_dim})"
        checks = [tf.debugging.assert_greater_equal(labels, 0, message=message),
                  tf.debugging.assert_less(labels, self.condition_dim, message=message)]
        with tf.control_dependencies(checks):
            return tf.one_hot(labels, self.condition_dim)

    def _checked(self, condition):
        condition = _shaped(condition, [None, self.condition_dim])
        return tf.debugging.assert_all_finite(condition, "condition values must be finite")

    def _noise(self, batch, seed):
        seed = _shaped(seed, [])
        return noise_lib.stateless(tf.stack([batch, self.noise_dim]), self.noise,
                                   tf.stack([seed, tf.constant(0, tf.int64)]))

    def _generate(self, condition, noise):
        noise = _shaped(noise, [None, self.noise_dim])
        checks = [tf.debugging.assert_all_finite(noise, "noise values must be finite")]
        if condition is not None:
            checks.append(tf.debugging.assert_equal(
                tf.shape(condition)[0], tf.shape(noise)[0],
                message="condition and noise must have the same batch size"))
        with tf.control_dependencies(checks):
            if self.two_stage is not None:
                images, coarse = self.two_stage(models.generator_inputs(self.two_stage, noise, condition),
                                                training=False)
                return {"images": to_uint8(tf.cast(images, tf.float32)),
                        "stage1_images": to_uint8(tf.cast(coarse, tf.float32))}
            images = models.generate(self.generator, noise, condition, training=False)
        return {"images": to_uint8(images)}


class ImageToImageModule(tf.Module):
    """The serving graph of an image-to-image generator: uint8 input images -> uint8 images."""

    def __init__(self, generator, spec):
        super().__init__()
        self.generator, self.input_shape = generator, list(spec.condition_shape)
        self.tf_variables = tf_variables(generator)
        self.serving_default = tf.function(self._translate, input_signature=[
            tf.TensorSpec([None, *spec.condition_shape], tf.uint8, name="images")])

    def _translate(self, images):
        images = _shaped(images, [None, *self.input_shape])
        return {"images": to_uint8(models.generate(self.generator, None, scale_images(images),
                                                   training=False))}
