"""An exponential moving average of the generator's weights (Yazici et al. 2019).

G's raw weights chase a moving D and jitter from step to step; their average over the last
few thousand images draws cleaner, more varied samples at no training cost. The average is a
second model (a clone of G), so the trained weights are never touched (Keras' `use_ema`
swaps them into the model instead).

BatchNorm: G's moving statistics describe G's activations, not the average's, whose weights
differ (and even G's own lag behind its weights). Before the sampled generator (the average,
or G where none is kept) draws each epoch's grid and scores and is checkpointed,
`standing_statistics` sets each of its BatchNorm layers' statistics to the moments of that
layer's inputs when the model itself runs in inference mode ("standing statistics", Brock
et al. 2019); what that buys is measured in docs/quality.md. Between those points each update
copies G's statistics.

After each G update: shadow <- beta * shadow + (1 - beta) * weights, with
beta = 0.5 ** (batch / half_life): a half-life in images, so it does not depend on the batch
size. With a ramp-up r the half-life is at most r x the images seen so far, so the early
(poor) weights fade fast (StyleGAN2-ADA's schedule).
"""
import keras
import tensorflow as tf

from gan_zoo.core import distribute


class GeneratorAverage:
    """The EMA model of `generator` (build it in the strategy's scope and dtype policy)."""

    def __init__(self, generator, half_life_images, rampup, global_batch):
        self.half_life, self.rampup, self.global_batch = half_life_images, rampup, global_batch
        self.model = keras.models.clone_model(generator)
        self.model.set_weights(generator.get_weights())
        self.model.trainable = False
        self.pairs = list(zip(generator.weights, self.model.weights))
        assert all(w.shape == s.shape for w, s in self.pairs), "the clone's weights differ"
        self.trainable = {id(v) for v in generator.trainable_weights}

    def decay(self, images_seen):
        """beta for an update after `images_seen` images (a float tensor)."""
        half_life = tf.constant(self.half_life, tf.float32)
        if self.rampup:
            half_life = tf.minimum(half_life, tf.cast(images_seen, tf.float32) * self.rampup)
        return tf.pow(0.5, self.global_batch / tf.maximum(half_life, 1e-8))

    def update(self, images_seen):
        """One EMA step from G's current weights, on every replica alike."""
        beta = self.decay(images_seen)

        def assign_all(strategy):
            for weights, shadow in self.pairs:
                if id(weights) in self.trainable:
                    def move(var, w):
                        return var.assign(beta * var + (1.0 - beta) * tf.cast(w, var.dtype))
                else:  # BatchNorm's moving statistics (and RNG states): G's own
                    def move(var, w):
                        return var.assign(tf.cast(w, var.dtype))
                strategy.extended.update(shadow.value, move, args=(weights.value,), group=False)
        distribute.on_all_replicas(assign_all)


def batch_norm_layers(model):
    """The BatchNormalization layers of `model`, inputs first (nested models included)."""
    return [layer for layer in _all_layers(model)
            if isinstance(layer, keras.layers.BatchNormalization)]


def standing_statistics(model, batches):
    """Set each BatchNorm layer of `model` to the mean and variance of its inputs over
    `batches` (a list of the model's input batches, joined into one) with `model` in inference
    mode. One pass does it: in training mode with momentum 0 each layer normalises by its
    input's moments and stores them, so in inference mode every layer then gets exactly the
    input it was measured on (dropout is held off for the pass, as in inference). Returns the
    layers set (none for a model without BatchNorm)."""
    layers = batch_norm_layers(model)
    if not layers or not batches:
        return layers
    dropouts = [layer for layer in _all_layers(model) if isinstance(layer, keras.layers.Dropout)]
    saved = [(layer.momentum, layer.trainable) for layer in layers]
    rates = [layer.rate for layer in dropouts]
    try:
        for layer in layers:
            layer.momentum, layer.trainable = 0.0, True  # a frozen BatchNorm keeps its statistics
        for layer in dropouts:
            layer.rate = 0.0
        model(_joined(batches), training=True)
    finally:
        for layer, (momentum, trainable) in zip(layers, saved):
            layer.momentum, layer.trainable = momentum, trainable
        for layer, rate in zip(dropouts, rates):
            layer.rate = rate
    return layers


def _all_layers(model):
    for layer in getattr(model, "layers", ()):
        yield layer
        yield from _all_layers(layer) if isinstance(layer, keras.Model) else ()


def _joined(batches):
    """`batches` (each a tensor or a list of tensors) as one batch."""
    if not isinstance(batches[0], (list, tuple)):
        return tf.concat(list(batches), 0)
    return [tf.concat([b[i] for b in batches], 0) for i in range(len(batches[0]))]
