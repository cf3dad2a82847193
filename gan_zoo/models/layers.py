"""Layers shared by several model families."""
import keras
import tensorflow as tf
from keras import ops

from gan_zoo.core import distribute
from gan_zoo.models import spectral_norm as sn
from gan_zoo.models import fused_batch_norm


def normal_init():
    """N(0, 0.02): DCGAN's weight initialisation (Radford et al. 2016), used by most builders."""
    return keras.initializers.RandomNormal(0.0, 0.02)


def widened(units, ndf):
    """A published layer's `units` at discriminator width `ndf` (64: as published)."""
    return max(1, round(units * ndf / 64))


def batch_norm(fused_bn=False, **kwargs):
    """BatchNormalization whose statistics span the global batch when the model is built under a
    strategy with several replicas, so N replicas train as one device would on the same batch
    (per-replica statistics would make the result depend on the number of devices). On one
    replica with `fused_bn` (--fused_batch_norm), the fused kernel's layer (fused_batch_norm.py)."""
    synchronized = tf.distribute.get_strategy().num_replicas_in_sync > 1
    if fused_bn and not synchronized:
        return fused_batch_norm.BatchNormalization(**kwargs)
    return keras.layers.BatchNormalization(synchronized=synchronized, **kwargs)


@keras.saving.register_keras_serializable(package="gan_zoo")
class Maxout(keras.layers.Layer):
    """Goodfellow et al.'s maxout unit: `pieces` linear pieces per unit, keep the largest.

    Dense(units * pieces) -> dropout -> max over the pieces. Dropout sits before the max,
    as in Mirza & Osindero's discriminator, so each piece is dropped independently. Its mask
    is a stateless draw for the whole global batch of which each replica keeps its rows, so
    replicas drop different units and N replicas train as one device would.
    """

    def __init__(self, units, pieces, dropout=0.5, kernel_initializer="glorot_uniform",
                 spectral_norm=False, **kwargs):
        super().__init__(**kwargs)
        self.units, self.pieces, self.dropout_rate = units, pieces, dropout
        self.spectral_norm = spectral_norm
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.dense = sn.dense(units * pieces, spectral_norm, kernel_initializer=self.kernel_initializer)
        self.seed_generator = keras.random.SeedGenerator()  # checkpointed by the trainer

    def build(self, input_shape):
        self.dense.build(input_shape)

    def call(self, inputs, training=None):
        x = self.dense(inputs, training=training)
        if training and self.dropout_rate > 0:
            x = self._dropout(x)
        x = ops.reshape(x, (-1, self.pieces, self.units))
        return ops.max(x, axis=1)

    def _dropout(self, x):
        seed = tf.cast(self.seed_generator.next(), tf.int64)
        width, rate = self.units * self.pieces, self.dropout_rate
        keep = distribute.global_batch_random(
            lambda n, s: tf.random.stateless_uniform([n, width], s, alg="philox") >= rate,
            distribute.batch_size_of(x), seed)
        return tf.where(keep, x / (1.0 - rate), tf.zeros_like(x))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "pieces": self.pieces,
                "dropout": self.dropout_rate, "spectral_norm": self.spectral_norm,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer)}


def normalization(kind, features="image", fused_bn=False):
    """D's hidden-layer normalisation (--d_norm): batch (synchronized across replicas), instance
    (one group per channel, images only), layer, or none. The per-example penalties (WGAN-GP,
    R1) need one that judges each example on its own: instance, layer or none."""
    if kind == "batch":
        return batch_norm(fused_bn)
    if kind == "instance":
        if features != "image":
            from gan_zoo.errors import UserError
            raise UserError("--d_norm=instance normalises each channel of an image; this "
                            "discriminator's hidden layers are vectors: pass layer or none.")
        return keras.layers.GroupNormalization(groups=-1)
    if kind == "layer":
        return keras.layers.LayerNormalization(axis=(-3, -2, -1) if features == "image" else -1)
    return keras.layers.Identity()


@keras.saving.register_keras_serializable(package="gan_zoo")
class Projection(keras.layers.Layer):
    """The projection discriminator's conditional term (Miyato & Koyama 2018): <embed(y), h>,
    with embed a bias-free linear map of the condition vector y to h's width, so a one-hot y
    picks its class's embedding and a multi-hot one sums its tags'. D's logit is
    psi(h) + this: the condition reaches the logit directly, not through D's hidden layers."""

    def __init__(self, spectral_norm=False, **kwargs):
        super().__init__(**kwargs)
        self.spectral_norm = spectral_norm

    def build(self, features_shape, condition_shape):
        self.embed = sn.dense(features_shape[-1], self.spectral_norm, use_bias=False,
                              kernel_initializer=normal_init(), name="embed")
        self.embed.build(condition_shape)

    def call(self, features, condition, training=None):
        embedded = self.embed(ops.cast(condition, features.dtype), training=training)
        return ops.sum(embedded * features, axis=-1, keepdims=True)

    def compute_output_shape(self, features_shape, condition_shape):
        return (features_shape[0], 1)

    def get_config(self):
        return {**super().get_config(), "spectral_norm": self.spectral_norm}


@keras.saving.register_keras_serializable(package="gan_zoo")
class ClassModulation(keras.layers.Layer):
    """A class-dependent gain and bias on G's hidden units: h * (1 + y Gamma) + y B, with Gamma
    and B (condition x units) starting at zero, so training starts from the plain network. The
    conditional BatchNorm of de Vries et al. 2017 and Miyato & Koyama 2018 without the
    normalisation: the label multiplies the noise's features instead of only being added
    beside them, so each class can use the noise in its own way (variety within a class)."""

    def build(self, features_shape, condition_shape):
        shape = (condition_shape[-1], features_shape[-1])
        self.gain = self.add_weight(shape=shape, initializer="zeros", name="gain")
        self.bias = self.add_weight(shape=shape, initializer="zeros", name="bias")

    def call(self, features, condition):
        condition = ops.cast(condition, features.dtype)
        gain = ops.matmul(condition, ops.cast(self.gain, features.dtype))
        bias = ops.matmul(condition, ops.cast(self.bias, features.dtype))
        return features * (1.0 + gain) + bias

    def compute_output_shape(self, features_shape, condition_shape):
        return features_shape


def modulated(features, condition, on, name):
    """`features` through a ClassModulation by `condition` where `on`, else unchanged."""
    return ClassModulation(name=f"{name}_modulation")(features, condition) if on else features


@keras.saving.register_keras_serializable(package="gan_zoo")
class MinibatchStddev(keras.layers.Layer):
    """The batch's spread as one more feature (Salimans et al. 2016's minibatch features, in
    Karras et al. 2018's form): each feature's standard deviation across the batch, averaged
    over the features, appended to every example. A collapsed G's batch is less spread than
    the data's, which D then sees at once. D judges real and fake batches in separate calls,
    so the two are never mixed; a batch of one gets 0."""

    def call(self, features):
        spread = ops.mean(ops.sqrt(ops.var(ops.cast(features, "float32"), axis=0) + 1e-8))
        column = ops.ones_like(features[:, :1]) * ops.cast(spread, features.dtype)
        return ops.concatenate([features, column], axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] + 1)


def conditional_logit(features, condition, conditioning, spectral_norm=False,
                      kernel_initializer="glorot_uniform", name="logit", minibatch_stddev=False):
    """D's logit from its last hidden features: psi(h) alone (concat conditioning, where the
    condition entered earlier), or psi(h) + <embed(y), h> (projection); with minibatch_stddev
    psi also sees the batch's spread."""
    projection = conditioning == "projection"
    psi_input = MinibatchStddev(name=f"{name}_spread")(features) if minibatch_stddev else features
    logit = sn.dense(1, spectral_norm, kernel_initializer=kernel_initializer,
                     name=f"{name}_psi" if projection else name)(psi_input)
    if projection:
        logit = keras.layers.Add(name=name)([logit, Projection(spectral_norm, name="projection")(
            features, condition)])
    return logit


# --- pix2pix's test-time mode, made explicit (gan_zoo.serving.export --inference_mode=pix2pix) --------
@keras.saving.register_keras_serializable(package="gan_zoo")
class BatchStatistics(keras.layers.Layer):
    """BatchNormalization that normalises with the statistics of the batch it is given and
    keeps no moving averages at all, so a served model has none to update."""

    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True, **kwargs):
        super().__init__(**kwargs)
        self.axis, self.epsilon, self.center, self.scale = axis, epsilon, center, scale

    def build(self, input_shape):
        shape = (input_shape[self.axis],)
        self.gamma = self.add_weight(shape=shape, initializer="ones", name="gamma") if self.scale else None
        self.beta = self.add_weight(shape=shape, initializer="zeros", name="beta") if self.center else None

    def call(self, inputs, training=None, mask=None):  # the same at training and inference
        axis = self.axis % len(inputs.shape)
        reduce = [i for i in range(len(inputs.shape)) if i != axis]
        mean, variance = ops.moments(inputs, axes=reduce, keepdims=True)
        outputs = (inputs - mean) * ops.rsqrt(variance + self.epsilon)
        if self.gamma is not None:
            outputs = outputs * self.gamma
        if self.beta is not None:
            outputs = outputs + self.beta
        return outputs

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "epsilon": self.epsilon,
                "center": self.center, "scale": self.scale}


@keras.saving.register_keras_serializable(package="gan_zoo")
class AlwaysDropout(keras.layers.Layer):
    """Dropout that also drops at inference: pix2pix's noise at test time."""

    def __init__(self, rate, **kwargs):
        super().__init__(**kwargs)
        self.rate = rate

    def call(self, inputs, training=None):  # on whatever `training` says
        return tf.nn.dropout(inputs, rate=self.rate)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate}


def batch_statistics_twin(model):
    """A copy of `model` whose inference mode is pix2pix's test time: BatchNorm on the batch's
    own statistics (no moving averages kept or updated) and dropout on. Weights are copied."""
    def clone(layer):
        if isinstance(layer, keras.layers.BatchNormalization):
            return BatchStatistics(layer.axis, layer.epsilon, layer.center, layer.scale, name=layer.name)
        if isinstance(layer, keras.layers.Dropout):
            return AlwaysDropout(layer.rate, name=layer.name)
        return layer.__class__.from_config(layer.get_config())

    twin = keras.models.clone_model(model, clone_function=clone)
    for layer in twin.layers:
        source = model.get_layer(layer.name)
        weights = source.get_weights()
        if isinstance(source, keras.layers.BatchNormalization):
            weights = [source.gamma.numpy()] * source.scale + [source.beta.numpy()] * source.center
        layer.set_weights(weights)
    return twin
