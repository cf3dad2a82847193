"""An exponential moving average of the generator's weights (Yazici et al. 2019).

G's raw weights chase a moving D and jitter from step to step; their average over the last
few thousand images draws cleaner, more varied samples at no training cost. The average is a
second model (a clone of G), so the trained weights are never touched (Keras' `use_ema`
swaps them into the model instead). Its BatchNorm statistics are copied from G.

After each G update: shadow <- beta * shadow + (1 - beta) * weights, with
beta = 0.5 ** (batch / half_life): a half-life in images, so it does not depend on the batch
size. With a ramp-up r the half-life is at most r x the images seen so far, so the early
(poor) weights fade fast (StyleGAN2-ADA's schedule).
"""
import keras
import tensorflow as tf

from gan_zoo import distribute


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
