"""A zoo GAN as a `keras.Model`: `compile()` and `fit()` with Keras' own callbacks.

Its `train_step` calls the trainer's step math (gan_zoo.training.steps), on a TrainingState
built as the trainer builds one (gan_zoo.training.state.build_state), so `fit()` and
`gan-zoo train` run one implementation of the D and G steps, n_critic, the EMA, the
penalties, DiffAugment and mixed precision: N steps of either give the same weights.

What differs is who loops: Keras calls `train_step` once per element of the data set, inside
the distribution strategy whose scope the GAN was made in. With --n_critic > 1 an element is a
group of n_critic batches, batch axis first ([batch, n_critic, H, W, C]: `group(dataset, N)`),
so a strategy splits each of them across the replicas: D steps on each, G's after the last,
as the trainer's groups; there is no branch around a cross-replica sync,
which TensorFlow cannot compile. The adaptive D/G schedule decides between graph calls, so it
is the command line's only.
"""
import keras
import tensorflow as tf

from gan_zoo import models
from gan_zoo.data.source import scale_images
from gan_zoo.data.spec import DataSpec
from gan_zoo.errors import UserError
from gan_zoo.settings import config as config_lib
from gan_zoo.training.state import build_state, speed_for
from gan_zoo.training.steps import Steps


def data_spec(settings, data=None, image_shape=None, num_classes=0, condition_dim=0):
    """The DataSpec the networks are built for: `data`'s (a gan_zoo.data Source or a DataSpec),
    or `image_shape` (H, W, C) with `num_classes` (one-hot labels) or `condition_dim` (any
    condition vector); given neither, the spec of the settings' own data set."""
    if data is not None:
        return data if isinstance(data, DataSpec) else data.spec
    described = models.describe(settings.model)
    if image_shape is None:
        from gan_zoo import data as data_lib
        return data_lib.for_config(settings).spec
    if described.paired:
        return DataSpec(tuple(image_shape), 0, condition_shape=tuple(image_shape))
    dim = int(num_classes or condition_dim)
    if described.takes_condition and not described.labels_optional and not dim:
        raise UserError(f"{settings.model} is conditional: pass num_classes= (labels) or "
                        "condition_dim= (condition vectors) with image_shape=.")
    if not described.takes_condition and dim:
        raise UserError(f"{settings.model} is unconditional: leave num_classes / condition_dim out.")
    return DataSpec(tuple(image_shape), dim)


def build(model, data=None, image_shape=None, num_classes=0, condition_dim=0, **settings):
    """(generator, discriminator) of `model` as Keras functional models, built exactly as the
    trainer builds them (its recipe's settings, overridden by `settings`; the same seed, the
    same initial weights). Conditional generators take [noise [batch, noise_dim], condition
    [batch, condition_dim]] and discriminators [image, condition]; unconditional ones noise
    and image alone; img2img's generator the input image. Images are in [-1, 1]."""
    resolved = config_lib.resolve(model=model, **settings)
    spec = data_spec(resolved, data, image_shape, num_classes, condition_dim)
    state = build_state(resolved, spec, tf.distribute.get_strategy(),
                        speed_for(resolved, tf.distribute.get_strategy()))
    return state.generator, state.discriminator


class GAN(keras.Model):
    """A GAN of the zoo (or of your own networks) trained by `fit()`.

        gan = gan_zoo.GAN("maxout_cgan", image_shape=(28, 28, 1), num_classes=10)
        gan.compile()
        gan.fit(dataset, epochs=5, callbacks=[keras.callbacks.CSVLogger("loss.csv")])

    `model` names the recipe whose settings are the defaults (a keyword overrides any of them:
    loss="hinge", ema_half_life=10000, diffaugment="color,translation", n_critic=2, ...).
    `generator=` and `discriminator=` train networks of your own instead of the model's; they
    take what the zoo's take (see `build`). The data set yields images (uint8, or floats in
    [-1, 1]) with labels (ints or one-hot) or condition vectors, batched by the `batch_size`
    setting. fit()'s logs are loss.csv's figures, each the epoch's mean so far."""

    def __init__(self, model="maxout_cgan", generator=None, discriminator=None, data=None,
                 image_shape=None, num_classes=0, condition_dim=0, **settings):
        super().__init__(name=f"{model}_gan")
        if getattr(data, "name", "") and "dataset" not in settings:
            settings["dataset"] = data.name  # what Scores compares with
        self.settings = config_lib.resolve(model=model, **settings)
        if self.settings.adaptive_schedule:
            raise UserError("--adaptive_schedule decides D or G between graph calls, which "
                            "fit() does not make: train it with gan-zoo train, or use n_critic.")
        if (generator is None) != (discriminator is None):
            raise UserError("Pass both generator= and discriminator= (your own networks), or neither.")
        self.spec = data_spec(self.settings, data, image_shape, num_classes, condition_dim)
        strategy = tf.distribute.get_strategy()  # the scope the GAN is made in
        self.speed = speed_for(self.settings, strategy)
        networks = None if generator is None else (generator, discriminator)
        self.training_state = build_state(self.settings, self.spec, strategy, self.speed,
                                          networks=networks)
        self.steps = Steps(self.settings, self.spec, self.training_state)
        state = self.training_state
        # Attributes Keras' saving walks: save_weights and BackupAndRestore keep all of them
        self.generator, self.discriminator = state.generator, state.discriminator
        self.g_optimizer, self.d_optimizer = state.g_optimizer, state.d_optimizer
        self.generator_ema = state.generator_average.model if state.generator_average else None
        self.rotation_head = state.rotation_head  # --rotation's head on D, trained with it
        self.built = True

    # --- Keras' hooks ---------------------------------------------------------------------
    def compile(self, jit_compile=None, **kwargs):
        """Keras' compile. The optimizers, losses and schedule are the settings' (g_lr=,
        loss=, ...), so it takes none; XLA follows the jit_compile setting unless given."""
        for name in ("optimizer", "loss", "metrics"):
            if kwargs.get(name) is not None:
                raise UserError(f"GAN.compile takes no {name}: the GAN's come from its settings "
                                "(e.g. GAN(model, g_lr=2e-4, loss='hinge')); score samples with "
                                "gan_zoo.fit.Scores.")
        super().compile(optimizer=None, jit_compile=self.speed.jit_compile if jit_compile is None
                        else jit_compile, **kwargs)

    def fit(self, x=None, *args, callbacks=None, **kwargs):
        """Keras' fit, with the settings' learning-rate schedules and the matching-aware
        term's end (--mismatch_epochs) applied at each epoch's start (gan_zoo.fit.callbacks)."""
        from gan_zoo.fit.callbacks import Schedule
        callbacks = list(callbacks or [])
        kwargs.setdefault("shuffle", False)  # a tf.data set is shuffled by its own pipeline
        if not any(isinstance(c, Schedule) for c in callbacks):
            callbacks.insert(0, Schedule())
        return super().fit(x, *args, callbacks=callbacks, **kwargs)

    def train_step(self, data):
        """One element of the data set: a batch (n_critic 1: the trainer's fused D and G step)
        or a group of n_critic batches [batch, n_critic, ...] (D on each, G after the last)."""
        images, condition = self._unpacked(data)
        steps, step, n_critic = self.steps, self.training_state.step, self.settings.n_critic
        if n_critic == 1:
            self._check_batch(images)
            steps.fused_step(images, condition)
            step.assign_add(1)
        else:
            if images.shape.rank != len(self.spec.image_shape) + 2 or images.shape[1] != n_critic:
                raise UserError(f"n_critic={n_critic}: each element of the data set must be a "
                                f"group of {n_critic} batches, [batch, {n_critic}, H, W, C] "
                                f"(gan_zoo.fit.group(dataset, {n_critic}), or "
                                f"gan_zoo.fit.batches(..., n_critic={n_critic})); got images of "
                                f"shape {images.shape}.")
            self._check_batch(images[:, 0])
            for i in range(n_critic):
                steps.d_step(images[:, i], condition[:, i])
                if i == n_critic - 1:
                    steps.g_step(images[:, i], condition[:, i])
                step.assign_add(1)
        return self.training_state.records.mean_tensors()

    def reset_metrics(self):
        """Each epoch's figures start again (Keras calls this at every epoch's start)."""
        super().reset_metrics()
        self.training_state.records.reset()

    def save_own_variables(self, store):
        """The counters beside the networks and optimizers (which Keras saves itself): the step
        (it seeds every noise draw), the learning-rate factor, the epoch's sums, dropout's RNG."""
        for name, variable in self._counters().items():
            store[name] = variable.numpy()

    def load_own_variables(self, store):
        for name, variable in self._counters().items():
            if name in store:
                variable.assign(store[name][()])

    def _counters(self):
        state = self.training_state
        parts = state.checkpoint_parts()
        found = {"step": state.step, "d_burst_left": state.burst_left,
                 "lr_multiplier": state.lr_multiplier}
        found.update({f"epoch_means.{name}": v for name, v in state.records.named_variables().items()})
        found.update({f"seed_state.{i}": v for i, v in enumerate(parts["seed_states"])})
        if state.lecam_anchors is not None:
            found["lecam_anchors"] = state.lecam_anchors
        return found

    # --- sampling -------------------------------------------------------------------------
    @property
    def sampler(self):
        """The generator samples are drawn from: the EMA of G when the settings keep one."""
        return self.generator_ema if self.generator_ema is not None else self.generator

    @property
    def step(self):
        """Batches trained on so far (with n_critic, each batch of a group counts)."""
        return int(self.training_state.step.numpy())

    def generate(self, noise, condition=None):
        """Inference-mode samples of the sampler, float32 in [-1, 1]."""
        return models.generate(self.sampler, noise, condition, training=False)

    # --- the data -------------------------------------------------------------------------
    def _unpacked(self, data):
        """(images in [-1, 1], conditions float32) from an element of the data set: images
        alone, or (images, labels / condition vectors / input images)."""
        if isinstance(data, (tuple, list)):
            images, condition = (tuple(data) + (None,))[:2]
        else:
            images, condition = data, None
        images = _as_float_images(images)
        spec = self.spec
        if spec.is_paired:
            return images, _as_float_images(condition)
        if not spec.is_conditional:
            return images, tf.zeros(tf.concat([tf.shape(images)[:-3], [0]], 0))
        if condition is None:
            raise UserError(f"{self.settings.model} is conditional: the data set must yield "
                            "(images, labels) or (images, condition vectors).")
        if condition.dtype.is_integer and condition.shape.rank == images.shape.rank - 3:
            return images, tf.one_hot(condition, spec.condition_dim, dtype=tf.float32)
        return images, tf.cast(condition, tf.float32)

    def _check_batch(self, images):
        """The settings' batch_size is the global batch the EMA's half-life and the replicas'
        loss scaling count by: the data's batches must hold that many images."""
        rows = images.shape[0]
        replicas = self.training_state.replicas
        if rows is not None and rows * replicas != self.settings.batch_size:
            raise UserError(f"The data set's batches hold {rows * replicas} images; the GAN was "
                            f"made with batch_size={self.settings.batch_size}. Pass "
                            f"batch_size={rows * replicas} to GAN(...), or batch the data by "
                            f"{self.settings.batch_size} (with drop_remainder=True).")


def _as_float_images(images):
    if images.dtype == tf.uint8:
        return scale_images(images)
    return tf.cast(images, tf.float32)


def batches(source, batch_size, epochs=1, seed=0, first_epoch=0, n_critic=1):
    """The trainer's batches of a gan_zoo.data Source for `fit()`: epochs `first_epoch` ..
    `epochs` - 1 one after the other, each shuffled as `gan-zoo train` shuffles it (pass
    `steps_per_epoch=source.steps_per_epoch(batch_size) // n_critic` to fit). With
    n_critic > 1, groups of n_critic batches (one train step each)."""
    dataset = source.epoch_batches(batch_size, first_epoch, seed)
    for epoch in range(first_epoch + 1, epochs):
        dataset = dataset.concatenate(source.epoch_batches(batch_size, epoch, seed))
    return group(dataset, n_critic) if n_critic > 1 else dataset


def group(dataset, n_critic):
    """A data set of batches as groups of `n_critic` consecutive batches, batch axis first
    ([batch, n_critic, ...] for each part of an element): one GAN train step each."""
    def batch_axis_first(*parts):
        moved = tuple(tf.experimental.numpy.swapaxes(p, 0, 1) for p in parts)
        return moved if len(moved) > 1 else moved[0]
    return dataset.batch(n_critic, drop_remainder=True).map(batch_axis_first)
