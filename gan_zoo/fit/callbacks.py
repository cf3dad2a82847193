"""Keras callbacks: the zoo's schedule inside fit(), the EMA of a generator for a GAN of your
own, and the zoo's scores at the end of an epoch."""
import dataclasses

import keras
import tensorflow as tf

from gan_zoo.core.ema import GeneratorAverage
from gan_zoo.errors import UserError


class Schedule(keras.callbacks.Callback):
    """What the trainer changes with the epoch (Trainer.set_epoch), for a gan_zoo GAN in fit():
    the learning rates (--lr_decay_epochs, --lr_linear_decay) and the matching-aware term
    switched off after --mismatch_epochs (the step is traced again then, once). GAN.fit adds it."""

    def on_epoch_begin(self, epoch, logs=None):
        gan, self._epoch = self.model, epoch
        active = gan.steps.mismatch_on_in(epoch)
        if active != gan.steps.mismatch_active:
            gan.steps.mismatch_active = active
            gan.make_train_function(force=True)
        self._set_rates()

    def on_train_batch_begin(self, batch, logs=None):
        if self.model.settings.lr_linear_decay:
            self._set_rates()

    def _set_rates(self):
        gan = self.model
        progress = 0.0
        if gan.settings.lr_linear_decay:
            steps, epochs = self.params.get("steps"), self.params.get("epochs")
            if not steps:
                raise UserError("lr_linear_decay in fit() needs the epoch's length: pass "
                                "steps_per_epoch= to fit (or a data set of known length).")
            progress = gan.step / (epochs * steps * gan.settings.n_critic)
        gan.training_state.set_learning_rates(gan.settings, self._epoch, progress)


class GeneratorEMA(keras.callbacks.Callback):
    """An exponential moving average of a generator's weights beside a fit() of your own (the
    zoo's GAN keeps its own: GAN(..., ema_half_life=N)). After each batch
    shadow <- beta * shadow + (1 - beta) * weights, beta = 0.5 ** (batch_size / half-life in
    images), the half-life at most `rampup` x the images seen (gan_zoo.core.ema). The average
    is `callback.average_model`, a clone of the generator: sample from it.

    `generator`: the model to average; default the fitted model's attribute `attribute`.
    With fit(steps_per_execution=k), pass batch_size = k x the batch size."""

    def __init__(self, half_life_images=10_000, rampup=0.05, batch_size=64, generator=None,
                 attribute="generator"):
        super().__init__()
        self.half_life, self.rampup, self.batch_size = half_life_images, rampup, batch_size
        self.generator, self.attribute = generator, attribute
        self._average, self._images = None, 0

    @property
    def average_model(self):
        if self._average is None:
            raise UserError("GeneratorEMA has no average yet: it starts with fit().")
        return self._average.model

    def on_train_begin(self, logs=None):
        if self._average is None:
            generator = self.generator or getattr(self.model, self.attribute, None)
            if generator is None:
                raise UserError(f"GeneratorEMA: the fitted model has no attribute "
                                f"{self.attribute!r}; pass generator= or attribute=.")
            self._average = GeneratorAverage(generator, self.half_life, self.rampup, self.batch_size)
            self._update = tf.function(self._average.update)

    def on_train_batch_end(self, batch, logs=None):
        self._images += self.batch_size
        self._update(tf.constant(self._images, tf.float32))


class Scores(keras.callbacks.Callback):
    """The zoo's scores of a gan_zoo GAN's samples every `every` epochs, added to that epoch's
    logs, so CSVLogger, TensorBoard and ModelCheckpoint(monitor="FID", mode="min") see them
    (list it before them). Label data with a reference classifier (Fashion-MNIST, MNIST):
    FID, precision, recall, density, coverage, worst-class coverage and label accuracy in the
    classifier's feature space; other images: SWD and diversity; image pairs: L1, PSNR, SSIM.
    `dataset`: the data set to score against (default the GAN's dataset setting)."""

    def __init__(self, dataset=None, every=1, num_samples=1000):
        super().__init__()
        self.dataset, self.every, self.num_samples = dataset, every, num_samples
        self._scorer = None

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every:
            return
        gan = self.model
        if self._scorer is None:
            from gan_zoo.run.loop import scorer_for
            settings = dataclasses.replace(gan.settings, eval_samples=self.num_samples,
                                           dataset=self.dataset or gan.settings.dataset)
            self._scorer = scorer_for(settings, gan.spec)
        scores = self._scorer.score(gan.generate)
        if logs is not None:
            logs.update({k: v for k, v in scores.items() if not isinstance(v, dict)})
