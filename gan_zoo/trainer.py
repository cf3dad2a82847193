"""The generic GAN trainer: one two-tape train step, the epoch loop, checkpoints and resume.

Nothing here knows which model it trains: builders give (generator, discriminator) whose
inputs are [noise, condition] and [image, condition]; the loss functions come from
gan_zoo.losses.
"""
import os
import time

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from gan_zoo import losses, models
from gan_zoo.config import load_json, save_json
from gan_zoo.data import to_uint8
from gan_zoo.errors import UserError
from gan_zoo.images import grid
from gan_zoo.run_files import RunFiles

SAMPLE_ROWS = 20  # the reference grids: 20 rows of fixed noise, one column per class or tag set
_METRICS = ("Real_P", "Fake_P", "Gen_loss", "Dis_loss", "D_acc")
# Settings that must match to resume a run dir (others, like epochs, may change).
_RESUME_KEYS = ("model", "dataset", "noise_dim", "batch_size", "max_images", "image_size",
                "class_tags", "condition_csv", "condition_feature")


def sample_noise(rng, batch, noise_dim, distribution):
    if distribution == "uniform":
        return rng.uniform((batch, noise_dim), 0.0, 1.0)
    return rng.normal((batch, noise_dim))


class Trainer:
    def __init__(self, config, source):
        self.config, self.source, self.spec = config, source, source.spec
        keras.utils.set_random_seed(config.seed)
        self.generator, self.discriminator = models.get(config.model).build(self.spec, config)
        self.g_optimizer = keras.optimizers.Adam(config.g_lr, beta_1=config.beta1, beta_2=config.beta2)
        self.d_optimizer = keras.optimizers.Adam(config.d_lr, beta_1=config.beta1, beta_2=config.beta2)
        # Built now so a checkpoint restores their slots instead of deferring them.
        self.g_optimizer.build(self.generator.trainable_variables)
        self.d_optimizer.build(self.discriminator.trainable_variables)
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        self.noise_rng = tf.random.Generator.from_seed(config.seed + 1)
        self.checkpoint = tf.train.Checkpoint(
            generator=self.generator, discriminator=self.discriminator,
            g_optimizer=self.g_optimizer, d_optimizer=self.d_optimizer,
            step=self.step, noise_rng=self.noise_rng,
            # Keras keeps dropout's RNG state out of its checkpointed weights; without it a
            # resumed run would replay the dropout masks of step 0.
            seed_states=[v for v in self.generator.variables + self.discriminator.variables
                         if "seed_generator_state" in v.path])
        self._sums = tf.Variable(tf.zeros(len(_METRICS)), trainable=False, name="metric_sums")
        self._count = tf.Variable(0.0, trainable=False, name="metric_count")
        self._real_label = float(config.real_label)
        self.steps_per_epoch = source.steps_per_epoch(config.batch_size)
        if self.steps_per_epoch < 1:
            raise UserError(f"--batch_size={config.batch_size} is larger than the data set "
                            f"({source.num_examples} images): lower --batch_size or raise --max_images.")
        step = tf.function(self.train_step, jit_compile=config.jit_compile)
        self._train_many = tf.function(lambda it, n: self._loop(step, it, n))

    # --- the train step: read this first --------------------------------------------------
    def train_step(self, images, condition):
        """One D and one G update from one generator pass (both tapes record it)."""
        noise = sample_noise(self.noise_rng, tf.shape(images)[0], self.config.noise_dim,
                             self.config.noise)
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            fake = self.generator([noise, condition], training=True)
            real_logits = self.discriminator([images, condition], training=True)
            fake_logits = self.discriminator([fake, condition], training=True)
            d_loss = losses.discriminator_loss(real_logits, fake_logits, self._real_label)
            if self.config.mismatch_weight:
                # The batch is shuffled, so the next image's condition is a wrong one (mostly).
                wrong = self.discriminator([images, tf.roll(condition, 1, axis=0)], training=True)
                d_loss += self.config.mismatch_weight * losses.mismatch_loss(wrong)
            g_loss = losses.generator_loss(fake_logits)
        d_grads = d_tape.gradient(d_loss, self.discriminator.trainable_variables)
        g_grads = g_tape.gradient(g_loss, self.generator.trainable_variables)
        self.d_optimizer.apply_gradients(zip(d_grads, self.discriminator.trainable_variables))
        self.g_optimizer.apply_gradients(zip(g_grads, self.generator.trainable_variables))
        real_p, fake_p = tf.sigmoid(real_logits), tf.sigmoid(fake_logits)
        d_acc = 0.5 * (tf.reduce_mean(tf.cast(real_p > 0.5, tf.float32))
                       + tf.reduce_mean(tf.cast(fake_p < 0.5, tf.float32)))
        self._sums.assign_add(tf.stack([tf.reduce_mean(real_p), tf.reduce_mean(fake_p),
                                        g_loss, d_loss, d_acc]))
        self._count.assign_add(1.0)

    def _loop(self, step, iterator, n):
        for _ in tf.range(n):
            images, condition = next(iterator)
            step(images, condition)
        self.step.assign_add(tf.cast(n, tf.int64))

    # --- running ---------------------------------------------------------------------------
    def epoch_metrics(self):
        values = self._sums.numpy() / max(self._count.numpy(), 1.0)
        return dict(zip(_METRICS, (float(v) for v in values)))

    def set_learning_rates(self, epoch):
        """Apply the --lr_decay_epochs schedule for 0-based `epoch`; returns G's learning rate."""
        scale = self.config.lr_scale(epoch)
        self.g_optimizer.learning_rate = self.config.g_lr * scale
        self.d_optimizer.learning_rate = self.config.d_lr * scale
        return self.config.g_lr * scale

    def train_epoch_steps(self, epoch, first_step=0, on_progress=None):
        """Run the steps of `epoch` from `first_step` on; returns (steps run, seconds)."""
        cfg = self.config
        self._sums.assign(tf.zeros_like(self._sums))
        self._count.assign(0.0)
        iterator = iter(self.source.epoch_batches(cfg.batch_size, epoch, cfg.seed, first_step))
        done, start = first_step, time.perf_counter()
        while done < self.steps_per_epoch:
            n = min(cfg.steps_per_call, self.steps_per_epoch - done)
            self._train_many(iterator, tf.constant(n))
            done += n
            if on_progress:
                on_progress(n)
        return done - first_step, time.perf_counter() - start

    def sample_grid(self, fixed_noise):
        """uint8 grid: SAMPLE_ROWS rows of fixed noise x one column per class (or grid condition)."""
        columns = self.spec.grid_condition_matrix()
        k = len(columns)
        noise = np.repeat(fixed_noise, k, axis=0)
        condition = np.tile(columns, (len(fixed_noise), 1))
        images = to_uint8(self.generator([noise, condition], training=False)).numpy()
        return grid(images, len(fixed_noise), k)

    def fixed_noise(self):
        rng = tf.random.Generator.from_seed(self.config.seed + 2)
        return sample_noise(rng, SAMPLE_ROWS, self.config.noise_dim, self.config.noise).numpy()


def train(config, source, on_epoch_end=None):
    """Train `config` on `source` into its run dir, resuming from the latest checkpoint there."""
    files = RunFiles(config.resolved_run_dir())
    previous = _check_run_dir(files, config)
    trainer = Trainer(config, source)
    files.create()
    manager = tf.train.CheckpointManager(trainer.checkpoint, files.checkpoint_dir, max_to_keep=3)
    if manager.latest_checkpoint:
        trainer.checkpoint.restore(manager.latest_checkpoint).assert_existing_objects_matched()
        logging.info("Resumed %s at step %d", manager.latest_checkpoint, int(trainer.step))
    save_json(files.config_json, {**(previous or {}), "config": config.to_json(),
                                  "data_spec": source.spec.to_json()})
    spe = trainer.steps_per_epoch
    start_epoch, first_step = divmod(int(trainer.step), spe)
    files.truncate_losses(start_epoch)
    fixed_noise = trainer.fixed_noise()
    for epoch in range(start_epoch, config.epochs):
        bar = _progress_bar(config, epoch, spe, first_step)
        update = None
        if bar is not None:
            def update(n, bar=bar):
                bar.update(n)
                bar.set_postfix({k: f"{v:.3f}" for k, v in trainer.epoch_metrics().items()})
        lr = trainer.set_learning_rates(epoch)
        steps, seconds = trainer.train_epoch_steps(epoch, first_step, update)
        if bar is not None:
            bar.close()
        first_step = 0
        row = {"epoch": epoch + 1, **trainer.epoch_metrics(), "lr": lr, "steps": int(trainer.step),
               "seconds": seconds, "images_per_sec": steps * config.batch_size / max(seconds, 1e-9)}
        files.append_losses(row)
        files.write_scalars(epoch + 1, row)
        files.write_samples(epoch + 1, trainer.sample_grid(fixed_noise))
        if (epoch + 1) % config.save_every == 0 or epoch + 1 == config.epochs:
            manager.save(checkpoint_number=int(trainer.step))
        logging.info("epoch %d/%d %s", epoch + 1, config.epochs,
                     " ".join(f"{k}={row[k]:.4g}" for k in ("Real_P", "Fake_P", "Gen_loss", "Dis_loss",
                                                              "D_acc", "images_per_sec")))
        if on_epoch_end:
            on_epoch_end(trainer, epoch + 1)
    return trainer


def _check_run_dir(files, config):
    """Refuse a run dir that belongs to a different run; returns its config.json or None."""
    if not os.path.exists(files.config_json):
        return None
    previous = load_json(files.config_json)
    old = previous.get("config", {})
    clashes = [f"{k}: {old.get(k)!r} there, {getattr(config, k)!r} now"
               for k in _RESUME_KEYS if k in old and old[k] != getattr(config, k)]
    if clashes:
        raise UserError(f"Run dir {files.run_dir!r} holds a different run ({'; '.join(clashes)}). "
                        "Pass a new --run_dir, or the same settings to resume it.")
    return previous


def _progress_bar(config, epoch, total, initial):
    if not config.progress:
        return None
    from tqdm import tqdm
    return tqdm(total=total, initial=initial, desc=f"epoch {epoch + 1}/{config.epochs}",
                unit="step", leave=False, dynamic_ncols=True, mininterval=0.5)


def restore_generator(run_dir, which="latest"):
    """(generator, config dict, data spec, step) rebuilt from a run dir's config and checkpoint."""
    from gan_zoo.config import resolve
    files = RunFiles(run_dir)
    if not os.path.isdir(run_dir):
        raise UserError(f"Run dir {run_dir!r} does not exist. Pass --run_dir=DIR of a "
                        "`python -m gan_zoo.train` run.")
    if not os.path.exists(files.config_json):
        raise UserError(f"{run_dir!r} has no config.json, so it is not a gan_zoo run dir.")
    saved = load_json(files.config_json)
    config = resolve(**saved["config"])
    spec = models.DataSpec.from_json(saved["data_spec"])
    latest = tf.train.latest_checkpoint(files.checkpoint_dir)
    if latest is None:
        raise UserError(f"{run_dir!r} has no checkpoint yet (checkpoints are saved every "
                        f"--save_every={config.save_every} epochs and at the end).")
    generator, _ = models.get(config.model).build(spec, config)
    step = tf.Variable(0, dtype=tf.int64)
    tf.train.Checkpoint(generator=generator, step=step).restore(latest).expect_partial()
    return generator, config, spec, int(step)
