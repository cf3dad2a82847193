"""The generic GAN trainer: the train steps, the epoch loop, checkpoints, resume, NaN guard.

Nothing here knows which model it trains: builders give (generator, discriminator), called
through models.generate / models.judge whether or not they take a condition; the
adversarial loss comes from gan_zoo.losses.
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
from gan_zoo.errors import TrainingInterrupted, UserError
from gan_zoo.eval import diversity
from gan_zoo.images import grid
from gan_zoo.run_files import RunFiles

SAMPLE_ROWS = 20  # the reference grids: 20 rows of fixed noise, one column per class or tag set
UNCONDITIONAL_GRID = 8  # unconditional models: an 8 x 8 grid of fixed noise
COLLAPSE_WARMUP_STEPS = 1000
# Discriminator-side figures (averaged over D steps) and generator-side ones (over G steps).
_D_METRICS = ("Real_P", "Fake_P", "Real_score", "Fake_score", "Dis_loss", "GP")
_ACC_METRICS = ("D_acc", "G_acc")  # measured on every D step and adaptive-schedule decision
# Settings that must match to resume a run dir (others, like epochs, may change).
_RESUME_KEYS = ("model", "dataset", "noise_dim", "batch_size", "max_images", "image_size",
                "class_tags", "condition_csv", "condition_feature", "center_crop", "ngf", "ndf",
                "d_norm", "loss", "optimizer")


def sample_noise(rng, batch, noise_dim, distribution):
    if distribution == "uniform":
        return rng.uniform((batch, noise_dim), 0.0, 1.0)
    return rng.normal((batch, noise_dim))


def make_optimizer(config, learning_rate):
    if config.optimizer == "rmsprop":  # rho 0.99 is PyTorch's default alpha, as the WGAN reference ran
        return keras.optimizers.RMSprop(learning_rate, rho=0.99)
    return keras.optimizers.Adam(learning_rate, beta_1=config.beta1, beta_2=config.beta2)


class Trainer:
    def __init__(self, config, source):
        self.config, self.source, self.spec = config, source, source.spec
        keras.utils.set_random_seed(config.seed)
        self.generator, self.discriminator = models.get(config.model).build(self.spec, config)
        self.loss = losses.get(config.loss, config.real_label, config.fake_label)
        self.g_optimizer = make_optimizer(config, config.g_lr)
        self.d_optimizer = make_optimizer(config, config.d_lr)
        # Built now so a checkpoint restores their slots instead of deferring them.
        self.g_optimizer.build(self.generator.trainable_variables)
        self.d_optimizer.build(self.discriminator.trainable_variables)
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")  # batches consumed
        self.noise_rng = tf.random.Generator.from_seed(config.seed + 1)
        self.burst_left = tf.Variable(0, dtype=tf.int64, trainable=False, name="d_burst_left")
        # NaN guard: non-finite losses since the last check, and the learning-rate factor
        # that each recovery lowers (checkpointed, so a resumed run keeps it).
        self.nonfinite_steps = tf.Variable(0, dtype=tf.int64, trainable=False, name="nonfinite_steps")
        self.lr_multiplier = tf.Variable(1.0, dtype=tf.float64, trainable=False, name="lr_multiplier")
        self.checkpoint = tf.train.Checkpoint(
            generator=self.generator, discriminator=self.discriminator,
            g_optimizer=self.g_optimizer, d_optimizer=self.d_optimizer,
            step=self.step, noise_rng=self.noise_rng, schedule=self.burst_left,
            lr_multiplier=self.lr_multiplier,
            # Keras keeps dropout's RNG state out of its checkpointed weights; without it a
            # resumed run would replay the dropout masks of step 0.
            seed_states=[v for v in self.generator.variables + self.discriminator.variables
                         if "seed_generator_state" in v.path])
        self._d_sums = tf.Variable(tf.zeros(len(_D_METRICS)), trainable=False, name="d_sums")
        self._acc_sums = tf.Variable(tf.zeros(len(_ACC_METRICS)), trainable=False, name="acc_sums")
        self._g_sum = tf.Variable(0.0, trainable=False, name="g_sum")
        self._counts = tf.Variable(tf.zeros(3), trainable=False, name="counts")  # D, acc, G
        self.steps_per_epoch = source.steps_per_epoch(config.batch_size)
        if self.steps_per_epoch < 1:
            raise UserError(f"--batch_size={config.batch_size} is larger than the data set "
                            f"({source.num_examples} images): lower --batch_size or raise --max_images.")
        fused = config.n_critic == 1 and not config.adaptive_schedule
        step = tf.function(self.train_step if fused else self.scheduled_step,
                           jit_compile=config.jit_compile)
        self._train_many = tf.function(lambda it, n: self._loop(step, it, n))

    # --- the train steps: read these first ---------------------------------------------------
    def train_step(self, images, condition):
        """One D and one G update from one generator pass (both tapes record it): n_critic 1."""
        noise = self._noise(images)
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            fake = models.generate(self.generator, noise, condition, training=True)
            d_loss, fake_logits = self.discriminator_loss(images, fake, condition)
            g_loss = self.loss.generator_loss(fake_logits)
        self._apply(d_tape, d_loss, self.discriminator, self.d_optimizer)
        self._apply(g_tape, g_loss, self.generator, self.g_optimizer)
        self._clip_critic()
        self._record_g(g_loss)

    def d_step(self, images, condition):
        fake = models.generate(self.generator, self._noise(images), condition, training=True)
        with tf.GradientTape() as tape:
            d_loss, _ = self.discriminator_loss(images, fake, condition)
        self._apply(tape, d_loss, self.discriminator, self.d_optimizer)
        self._clip_critic()

    def g_step(self, images, condition):
        with tf.GradientTape() as tape:
            fake = models.generate(self.generator, self._noise(images), condition, training=True)
            g_loss = self.loss.generator_loss(
                models.judge(self.discriminator, fake, condition, training=True))
        self._apply(tape, g_loss, self.generator, self.g_optimizer)
        self._record_g(g_loss)

    def scheduled_step(self, images, condition):
        """--n_critic: a D step on every batch, a G step on every n_critic-th.
        --adaptive_schedule (reference E): measure both sides on the batch; when D is ahead
        train G, otherwise start a burst of --adaptive_burst D steps."""
        cfg = self.config
        if not cfg.adaptive_schedule:
            self.d_step(images, condition)
            if (self.step + 1) % cfg.n_critic == 0:
                self.g_step(images, condition)
        elif self.burst_left > 0:
            self.d_step(images, condition)
            self.burst_left.assign_sub(1)
        else:
            d_acc, g_acc = self.measure_accuracies(images, condition)
            if d_acc > g_acc:
                self.g_step(images, condition)
            else:
                self.d_step(images, condition)
                self.burst_left.assign(cfg.adaptive_burst - 1)

    def discriminator_loss(self, images, fake, condition):
        """(D's loss, fake logits): the adversarial terms, plus the mismatch term of conditional
        models and the gradient penalty of WGAN-GP."""
        cfg, D = self.config, self.discriminator
        real_logits = models.judge(D, images, condition, training=True)
        fake_logits = models.judge(D, fake, condition, training=True)
        d_loss = self.loss.real_loss(real_logits) + self.loss.fake_loss(fake_logits)
        if cfg.mismatch_weight and self.spec.is_conditional:
            # GAN-CLS's matching-aware term (Reed et al. 2016): real images with a wrong
            # condition count as fake, so D must learn what each condition looks like and G
            # gets a signal to draw it. The batch is shuffled, so the next image's condition
            # is a wrong one (mostly).
            wrong = models.judge(D, images, tf.roll(condition, 1, axis=0), training=True)
            d_loss += cfg.mismatch_weight * self.loss.fake_loss(wrong)
        penalty = tf.constant(0.0)
        if self.loss.gradient_penalty:
            penalty = losses.gradient_penalty(
                lambda x: models.judge(D, x, condition, training=True), images, fake,
                losses.interpolation_weights(self.noise_rng, images))
            d_loss += cfg.gp_weight * penalty
        self._record_d(real_logits, fake_logits, d_loss, penalty)
        return d_loss, fake_logits

    def measure_accuracies(self, images, condition):
        """(D accuracy, G accuracy) on this batch, without training either side."""
        fake = models.generate(self.generator, self._noise(images), condition, training=True)
        accuracies = self.loss.accuracies(
            models.judge(self.discriminator, images, condition, training=True),
            models.judge(self.discriminator, fake, condition, training=True))
        self._record_accuracies(*accuracies)
        return accuracies

    # --- step helpers ------------------------------------------------------------------------
    def _noise(self, images):
        return sample_noise(self.noise_rng, tf.shape(images)[0], self.config.noise_dim,
                            self.config.noise)

    def _apply(self, tape, loss, model, optimizer):
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        # The NaN guard's in-graph half: count non-finite losses (a scalar test, no branch,
        # so the step stays as fast as before). The loop checks the count after each call and
        # throws the whole state back to the last good checkpoint, so a bad update never stays.
        self.nonfinite_steps.assign_add(tf.cast(tf.logical_not(tf.math.is_finite(loss)), tf.int64))

    def all_weights_finite(self):
        return all(bool(tf.reduce_all(tf.math.is_finite(v)))
                   for v in self.generator.weights + self.discriminator.weights)

    def _clip_critic(self):
        """WGAN's Lipschitz constraint by clipping: every critic weight into [-clip, clip]."""
        if self.config.clip:
            for v in self.discriminator.trainable_variables:
                v.assign(tf.clip_by_value(v, -self.config.clip, self.config.clip))

    def _record_d(self, real_logits, fake_logits, d_loss, penalty):
        self._d_sums.assign_add(tf.stack([
            tf.reduce_mean(tf.sigmoid(real_logits)), tf.reduce_mean(tf.sigmoid(fake_logits)),
            tf.reduce_mean(real_logits), tf.reduce_mean(fake_logits), d_loss, penalty]))
        self._counts.assign_add([1.0, 0.0, 0.0])
        self._record_accuracies(*self.loss.accuracies(real_logits, fake_logits))

    def _record_accuracies(self, d_acc, g_acc):
        self._acc_sums.assign_add(tf.stack([d_acc, g_acc]))
        self._counts.assign_add([0.0, 1.0, 0.0])

    def _record_g(self, g_loss):
        self._g_sum.assign_add(g_loss)
        self._counts.assign_add([0.0, 0.0, 1.0])

    def _loop(self, step, iterator, n):
        for _ in tf.range(n):
            images, condition = next(iterator)
            step(images, condition)
            self.step.assign_add(1)

    # --- running ---------------------------------------------------------------------------
    def epoch_metrics(self):
        """This epoch's means so far; D_steps / G_steps count the updates of each side."""
        d_count, acc_count, g_count = (float(c) for c in self._counts.numpy())
        metrics = {k: float(v) / d_count if d_count else float("nan")
                   for k, v in zip(_D_METRICS, self._d_sums.numpy())}
        metrics.update({k: float(v) / acc_count if acc_count else float("nan")
                        for k, v in zip(_ACC_METRICS, self._acc_sums.numpy())})
        metrics["Gen_loss"] = float(self._g_sum.numpy()) / g_count if g_count else float("nan")
        metrics.update(D_steps=int(d_count), G_steps=int(g_count))
        return metrics

    def set_learning_rates(self, epoch):
        """Apply the --lr_decay_epochs schedule for 0-based `epoch`; returns G's learning rate."""
        scale = self.config.lr_scale(epoch) * float(self.lr_multiplier.numpy())
        self.g_optimizer.learning_rate = self.config.g_lr * scale
        self.d_optimizer.learning_rate = self.config.d_lr * scale
        return self.config.g_lr * scale

    def train_epoch_steps(self, epoch, first_step=0, on_progress=None, stop_requested=None):
        """Run the steps of `epoch` from `first_step` on; returns (steps run, seconds).

        Stops early when `stop_requested()` turns true; raises NonFiniteStep when a loss or a
        weight went non-finite."""
        cfg = self.config
        for v in (self._d_sums, self._acc_sums, self._g_sum, self._counts):
            v.assign(tf.zeros_like(v))
        iterator = iter(self.source.epoch_batches(cfg.batch_size, epoch, cfg.seed, first_step))
        done, start = first_step, time.perf_counter()
        while done < self.steps_per_epoch:
            n = min(cfg.steps_per_call, self.steps_per_epoch - done)
            self._train_many(iterator, tf.constant(n))
            done += n
            if self.nonfinite_steps.numpy():
                raise NonFiniteStep()
            if on_progress:
                on_progress(n)
            fault_point("step")
            if stop_requested and stop_requested():
                break
        if not self.all_weights_finite():  # e.g. an inf gradient with a finite loss
            raise NonFiniteStep()
        return done - first_step, time.perf_counter() - start

    def samples(self, fixed_noise):
        """(uint8 samples, rows, columns) of the sample grid: SAMPLE_ROWS rows of fixed noise x
        one column per class (or grid condition); unconditional models: an 8 x 8 of fixed noise."""
        if not self.spec.is_conditional:
            images = models.generate(self.generator, fixed_noise, training=False)
            return to_uint8(images).numpy(), UNCONDITIONAL_GRID, len(fixed_noise) // UNCONDITIONAL_GRID
        columns = self.spec.grid_condition_matrix()
        k = len(columns)
        noise = np.repeat(fixed_noise, k, axis=0)
        condition = np.tile(columns, (len(fixed_noise), 1))
        images = models.generate(self.generator, noise, condition, training=False)
        return to_uint8(images).numpy(), len(fixed_noise), k

    def fixed_noise(self):
        rng = tf.random.Generator.from_seed(self.config.seed + 2)
        count = SAMPLE_ROWS if self.spec.is_conditional else UNCONDITIONAL_GRID ** 2
        return sample_noise(rng, count, self.config.noise_dim, self.config.noise).numpy()

    def real_reference(self, count=64):
        """A fixed batch of real images (uint8) to set sample diversity against."""
        batch = min(count, self.source.num_examples)
        images, _ = next(iter(self.source.epoch_batches(batch, epoch=10 ** 6, seed=self.config.seed)))
        return to_uint8(images).numpy()


class NonFiniteStep(Exception):
    """Raised between tf.function calls when a loss (or, at the epoch's end, a weight) went
    non-finite: the state since the last good checkpoint is thrown away."""


def train(config, source, on_epoch_end=None):
    """Train `config` on `source` into its run dir, resuming from the latest checkpoint there.

    Safe to kill at any moment: checkpoints are written whole before they are listed, and
    loss.csv rows past the restored checkpoint (or torn by the kill) are dropped on resume.
    SIGINT / SIGTERM save a checkpoint at the current step, then raise TrainingInterrupted.
    A non-finite loss or weight is never kept: the run goes back to its last good checkpoint
    with lower learning rates, and stops after --max_nan_recoveries.
    """
    files = RunFiles(config.resolved_run_dir())
    previous = _check_run_dir(files, config, source.spec)
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()
    trainer = Trainer(config, source)
    files.create()
    manager = tf.train.CheckpointManager(trainer.checkpoint, files.checkpoint_dir, max_to_keep=3)
    if manager.latest_checkpoint:
        trainer.checkpoint.restore(manager.latest_checkpoint).assert_existing_objects_matched()
        logging.info("Resumed %s at step %d", manager.latest_checkpoint, int(trainer.step))
    save_json(files.config_json, {**(previous or {}), "config": config.to_json(),
                                  "data_spec": source.spec.to_json()})
    if not manager.latest_checkpoint:
        manager.save(checkpoint_number=0)  # a good state for the NaN guard to go back to
    spe = trainer.steps_per_epoch
    epoch, first_step = divmod(int(trainer.step), spe)
    files.truncate_losses(epoch)
    fixed_noise = trainer.fixed_noise()
    real_reference = trainer.real_reference()
    peak_diversity = max(files.read_column("diversity"), default=0.0)
    kept = (tf.train.CheckpointManager(trainer.checkpoint, files.kept_dir, max_to_keep=None,
                                       checkpoint_name="epoch") if config.keep_every else None)
    recoveries = 0
    with _StopOnSignal() as stop:
        while epoch < config.epochs:
            bar = _progress_bar(config, epoch, spe, first_step)
            update = None
            if bar is not None:
                def update(n, bar=bar):
                    bar.update(n)
                    bar.set_postfix({k: f"{v:.3f}" for k, v in trainer.epoch_metrics().items()
                                     if k in _LOGGED})
            lr = trainer.set_learning_rates(epoch)
            try:
                steps, seconds = trainer.train_epoch_steps(epoch, first_step, update, stop.requested)
            except NonFiniteStep:
                recoveries += 1
                epoch, first_step = _recover(trainer, manager, files, config, epoch, recoveries)
                continue
            finally:
                if bar is not None:
                    bar.close()
            if first_step + steps < spe:  # stopped by a signal in the middle of the epoch
                _save_and_stop(manager, trainer, stop)
            first_step = 0
            samples, rows, columns = trainer.samples(fixed_noise)
            row = {"epoch": epoch + 1, **trainer.epoch_metrics(),
                   "diversity": diversity.relative_diversity(samples[:100], real_reference),
                   "lr": lr, "steps": int(trainer.step)}
            timing = {"epoch": epoch + 1, "seconds": seconds,
                      "images_per_sec": steps * config.batch_size / max(seconds, 1e-9)}
            files.append_losses(row)
            fault_point("after_loss_csv")
            files.append_timing(timing)
            files.write_scalars(epoch + 1, {**row, **timing})
            files.write_samples(epoch + 1, grid(samples, rows, columns))
            peak_diversity = max(peak_diversity, row["diversity"])
            # A fresh generator draws near-uniform grey, so the alarm waits until the samples were
            # once diverse enough, or until COLLAPSE_WARMUP_STEPS batches have passed.
            armed = peak_diversity >= config.collapse_threshold or int(trainer.step) >= COLLAPSE_WARMUP_STEPS
            if armed and row["diversity"] < config.collapse_threshold:
                message = (f"Possible mode collapse at epoch {epoch + 1}: sample diversity "
                           f"{row['diversity']:.3f} of the real images' (alarm under "
                           f"--collapse_threshold={config.collapse_threshold}). Look at "
                           f"{files.samples_dir}; an earlier checkpoint may be the one to keep.")
                logging.warning(message)
                files.write_alarm(epoch + 1, message)
            saved = (epoch + 1) % config.save_every == 0 or epoch + 1 == config.epochs
            if saved:
                fault_point("checkpoint")
                manager.save(checkpoint_number=int(trainer.step))
            if kept and (epoch + 1) % config.keep_every == 0:
                kept.save(checkpoint_number=epoch + 1)
            logging.info("epoch %d/%d %s", epoch + 1, config.epochs, " ".join(
                f"{k}={v:.4g}" for k, v in {**row, **timing}.items() if k in _LOGGED))
            if on_epoch_end:
                on_epoch_end(trainer, epoch + 1)
            epoch += 1
            if stop.requested():  # the signal came during the epoch's last steps or its files
                _save_and_stop(manager, trainer, stop, saved)
    return trainer


def _save_and_stop(manager, trainer, stop, already_saved=False):
    step = int(trainer.step)
    path = manager.latest_checkpoint if already_saved else manager.save(checkpoint_number=step)
    raise TrainingInterrupted(stop.signal_name, path, step)


_LOGGED = ("Real_P", "Fake_P", "Gen_loss", "Dis_loss", "D_acc", "G_acc", "diversity", "images_per_sec")


def _recover(trainer, manager, files, config, epoch, recoveries):
    """Back to the last good checkpoint with lower learning rates; (epoch, first step) to go on from."""
    bad_step = int(trainer.step)
    latest = manager.latest_checkpoint
    if recoveries > config.max_nan_recoveries:
        raise UserError(
            f"Training diverged: a non-finite loss or weight at epoch {epoch + 1} (step "
            f"{bad_step}), again after {config.max_nan_recoveries} restarts from the last good "
            f"checkpoint with learning rates x{config.nan_lr_factor} each time. Likely causes: "
            f"learning rates too high for --loss={config.loss} (lower --g_lr / --d_lr), or "
            f"non-finite input data. The last good checkpoint is {latest}.")
    multiplier = float(trainer.lr_multiplier.numpy()) * config.nan_lr_factor
    trainer.checkpoint.restore(latest).assert_existing_objects_matched()
    trainer.lr_multiplier.assign(multiplier)
    trainer.nonfinite_steps.assign(0)
    logging.warning("Non-finite loss or weight at epoch %d (step %d): discarding the updates "
                    "since the last good checkpoint. Restarting from %s with learning rates x%g (recovery %d of %d).",
                    epoch + 1, bad_step, latest, multiplier, recoveries, config.max_nan_recoveries)
    restored_epoch, first_step = divmod(int(trainer.step), trainer.steps_per_epoch)
    files.truncate_losses(restored_epoch)
    return restored_epoch, first_step


class _StopOnSignal:
    """Turns the first SIGINT / SIGTERM into a request the epoch loop honours at the next
    steps_per_call boundary (a second one kills as usual)."""

    def __enter__(self):
        import signal
        import threading
        self.signal_name, self._previous = None, {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        import signal
        self.signal_name = signal.Signals(signum).name
        signal.signal(signum, self._previous.get(signum, signal.SIG_DFL))
        logging.warning("%s: saving a checkpoint after the current steps, then stopping "
                        "(send it again to stop at once).", self.signal_name)

    def requested(self):
        return self.signal_name is not None

    def __exit__(self, *exc):
        import signal
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        return False


_FAULT_COUNTS = {}


def fault_point(name):
    """Testing hook: GAN_ZOO_FAULT=<name>[@<n>][:<delay s>] SIGKILLs this process the n-th time
    (default 1st) it reaches `name`, after the delay if one is given (a kill in the middle of
    what follows). Costs nothing when unset."""
    fault = os.environ.get("GAN_ZOO_FAULT")
    if not fault:
        return
    where, _, delay = fault.partition(":")
    target, _, nth = where.partition("@")
    if target != name:
        return
    _FAULT_COUNTS[name] = _FAULT_COUNTS.get(name, 0) + 1
    if _FAULT_COUNTS[name] != int(nth or 1):
        return
    import signal
    import threading
    if delay:
        threading.Timer(float(delay), os.kill, (os.getpid(), signal.SIGKILL)).start()
    else:
        os.kill(os.getpid(), signal.SIGKILL)


def _check_run_dir(files, config, spec):
    """Refuse a run dir that belongs to a different run; returns its config.json or None."""
    if not os.path.exists(files.config_json):
        if tf.train.latest_checkpoint(files.checkpoint_dir):
            raise UserError(f"Run dir {files.run_dir!r} holds checkpoints but no config.json, so "
                            "gan_zoo cannot tell which run they belong to. Pass a new --run_dir.")
        return None
    previous = load_json(files.config_json)
    old = previous.get("config", {})
    clashes = [f"{k}: {old.get(k)!r} there, {getattr(config, k)!r} now"
               for k in _RESUME_KEYS if k in old and old[k] != getattr(config, k)]
    old_shape = tuple(previous.get("data_spec", {}).get("image_shape", spec.image_shape))
    if old_shape != tuple(spec.image_shape):
        clashes.append(f"images: {old_shape} there, {tuple(spec.image_shape)} now (grayscale vs RGB?)")
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


def restore_generator(run_dir, epoch=None):
    """(generator, config, data spec, step) rebuilt from a run dir's config and latest checkpoint,
    or the one kept at `epoch` (--keep_every)."""
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
    if epoch is not None:
        latest = os.path.join(files.kept_dir, f"epoch-{epoch}")
        if not tf.io.gfile.exists(latest + ".index"):
            kept = sorted(int(f[6:-6]) for f in os.listdir(files.kept_dir) if f.endswith(".index")) \
                if os.path.isdir(files.kept_dir) else []
            raise UserError(f"{run_dir!r} kept no checkpoint of epoch {epoch}; kept epochs: "
                            f"{kept or 'none (train with --keep_every=N)'}.")
    else:
        latest = tf.train.latest_checkpoint(files.checkpoint_dir)
    if latest is None:
        raise UserError(f"{run_dir!r} has no checkpoint yet (checkpoints are saved every "
                        f"--save_every={config.save_every} epochs and at the end).")
    generator, _ = models.get(config.model).build(spec, config)
    step = tf.Variable(0, dtype=tf.int64)
    tf.train.Checkpoint(generator=generator, step=step).restore(latest).expect_partial()
    return generator, config, spec, int(step)
