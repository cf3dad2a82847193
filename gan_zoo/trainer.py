"""The generic GAN trainer: the train steps, the epoch loop, checkpoints, resume, NaN guard.

Nothing here knows which model it trains: builders give (generator, discriminator), called
through models.generate / models.judge whether or not they take a condition; the
adversarial loss comes from gan_zoo.losses.

The steps run as replica functions of a tf.distribute strategy (gan_zoo.distribute; one
device by default): each replica's loss is divided by the number of replicas, so the summed
gradients are one device's for the same global batch, and the figures in loss.csv are
averaged across replicas before they are recorded.
"""
import dataclasses
import functools
import os
import shutil
import tempfile
import time

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from gan_zoo import distribute, losses, models
from gan_zoo.config import load_json, save_json
from gan_zoo.data import to_uint8
from gan_zoo.errors import TrainingInterrupted, UserError
from gan_zoo.eval import diversity, scoring
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
                "d_norm", "loss", "optimizer", "direction", "generator", "discriminator",
                "patch_layers")
FIGURE_PAIRS = 6  # paired data: rows of (generated, input, target) in the per-epoch figure
# Random draws of one step, each its own stateless stream (seeded by the step), so noise does
# not depend on the number of replicas and a resumed run draws what the straight one did.
_D_NOISE, _G_NOISE, _MEASURE_NOISE, _GP_WEIGHTS = range(4)


def sample_noise(rng, batch, noise_dim, distribution):
    if distribution == "uniform":
        return rng.uniform((batch, noise_dim), 0.0, 1.0)
    return rng.normal((batch, noise_dim))


def stateless_noise(batch, noise_dim, distribution, seed):
    """Philox named explicitly: the same numbers with and without XLA, on every device."""
    if distribution == "uniform":
        return tf.random.stateless_uniform((batch, noise_dim), seed, 0.0, 1.0, alg="philox")
    return tf.random.stateless_normal((batch, noise_dim), seed, alg="philox")


def make_optimizer(config, learning_rate, policy="float32"):
    if config.optimizer == "rmsprop":  # rho 0.99 is PyTorch's default alpha, as the WGAN reference ran
        optimizer = keras.optimizers.RMSprop(learning_rate, rho=0.99)
    else:
        optimizer = keras.optimizers.Adam(learning_rate, beta_1=config.beta1, beta_2=config.beta2)
    if policy == "mixed_float16":  # bfloat16 has float32's range and needs no loss scaling
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def _on_several_cpus(strategy):
    """Whether this process runs several replicas on logical CPU devices."""
    devices = strategy.extended.worker_devices
    return len(devices) > 1 and all("CPU" in d for d in devices)


def _inner(optimizer):
    return getattr(optimizer, "inner_optimizer", optimizer)


class Trainer:
    def __init__(self, config, source, strategy=None):
        self.config, self.source, self.spec = config, source, source.spec
        self.strategy = strategy or distribute.strategy_for(config)
        self.replicas = self.strategy.num_replicas_in_sync
        if config.batch_size % self.replicas:
            raise UserError(f"--batch_size={config.batch_size} does not split evenly over the "
                            f"{self.replicas} replicas of --strategy={config.strategy}: pass a "
                            f"multiple of {self.replicas}.")
        if config.jit_compile and self.replicas > 1 and _on_several_cpus(self.strategy):
            raise UserError("--jit_compile with several logical CPU devices: XLA compiles for "
                            "one CPU device and cannot reach the other replicas' variables "
                            "(a TensorFlow limitation). Use --jit_compile with one CPU device, "
                            "or with --strategy=mirrored on GPUs.")
        self.steps_per_epoch = source.steps_per_epoch(config.batch_size)
        if self.steps_per_epoch < 1:
            raise UserError(f"--batch_size={config.batch_size} is larger than the data set "
                            f"({source.num_examples} images): lower --batch_size or raise --max_images.")
        keras.utils.set_random_seed(config.seed)
        self.policy = distribute.precision_policy(config.mixed_precision)
        # Models, optimizers and every variable a step updates are made in the strategy's scope
        # (mirrored on each replica); the models under the dtype policy.
        with self.strategy.scope():
            with distribute.dtype_policy(self.policy):
                self.generator, self.discriminator = models.get(config.model).build(self.spec, config)
            self._build_state()
        # Replica functions (each compiled with XLA under --jit_compile), run on every replica.
        on_replicas = {name: functools.partial(self._run_on_replicas, tf.function(
            getattr(self, name), jit_compile=config.jit_compile))
            for name in ("train_step", "d_step", "g_step", "measure_accuracies")}
        # The graphs the epoch loop calls. A D/G schedule is decided in Python between them
        # (run_steps): TensorFlow cannot branch around a cross-replica sync inside a graph.
        self._fused_steps = tf.function(lambda it, n: self._loop(on_replicas["train_step"], it, n))
        self._d_steps = tf.function(lambda it, n: self._loop(on_replicas["d_step"], it, n))
        self._d_then_g_step = tf.function(lambda it: self._loop(
            lambda x, c: (on_replicas["d_step"](x, c), on_replicas["g_step"](x, c)), it, 1))
        self._measure = tf.function(on_replicas["measure_accuracies"])
        self._g_on_batch = tf.function(lambda x, c: self._counted(on_replicas["g_step"], x, c))
        self._d_on_batch = tf.function(lambda x, c: self._counted(on_replicas["d_step"], x, c))

    def _run_on_replicas(self, fn, images, condition):
        """fn(images, condition) on every replica; the first replica's results (the steps'
        results are reduced across replicas, so every replica has the same)."""
        results = self.strategy.run(fn, args=(images, condition))
        return tf.nest.map_structure(lambda r: self.strategy.experimental_local_results(r)[0],
                                     results)

    def _build_state(self):
        config = self.config
        self.loss = losses.get(config.loss, config.real_label, config.fake_label)
        self.g_optimizer = make_optimizer(config, config.g_lr, self.policy)
        self.d_optimizer = make_optimizer(config, config.d_lr, self.policy)
        # Built now so a checkpoint restores their slots instead of deferring them.
        self.g_optimizer.build(self.generator.trainable_variables)
        self.d_optimizer.build(self.discriminator.trainable_variables)
        # Variables a replica function updates take the first replica's value: what they
        # are given was reduced across replicas first, so every replica holds the same.
        first = dict(trainable=False, aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
        self.step = tf.Variable(0, dtype=tf.int64, name="step", **first)  # batches consumed
        self.burst_left = tf.Variable(0, dtype=tf.int64, name="d_burst_left", **first)
        # NaN guard: non-finite losses since the last check, and the learning-rate factor
        # that each recovery lowers (checkpointed, so a resumed run keeps it).
        self.nonfinite_steps = tf.Variable(0, dtype=tf.int64, name="nonfinite_steps", **first)
        self.lr_multiplier = tf.Variable(1.0, dtype=tf.float64, name="lr_multiplier", **first)
        self.checkpoint = tf.train.Checkpoint(
            generator=self.generator, discriminator=self.discriminator,
            # The plain optimizers (inside a float16 loss-scale wrapper), so a checkpoint
            # resumes with or without --mixed_precision.
            g_optimizer=_inner(self.g_optimizer), d_optimizer=_inner(self.d_optimizer),
            step=self.step, schedule=self.burst_left, lr_multiplier=self.lr_multiplier,
            # Keras keeps dropout's RNG state out of its checkpointed weights; without it a
            # resumed run would replay the dropout masks of step 0.
            seed_states=[v for v in self.generator.variables + self.discriminator.variables
                         if "seed_generator_state" in v.path])
        self._d_sums = tf.Variable(tf.zeros(len(_D_METRICS)), name="d_sums", **first)
        self._acc_sums = tf.Variable(tf.zeros(len(_ACC_METRICS)), name="acc_sums", **first)
        self._g_sum = tf.Variable(0.0, name="g_sum", **first)
        self._counts = tf.Variable(tf.zeros(3), name="counts", **first)  # D, acc, G

    # --- the train steps: read these first ---------------------------------------------------
    def train_step(self, images, condition):
        """One D and one G update from one generator pass (both tapes record it): n_critic 1."""
        noise = self._noise(images, _D_NOISE)
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            fake = models.generate(self.generator, noise, condition, training=True)
            d_loss, fake_logits = self.discriminator_loss(images, fake, condition)
            g_loss = self.generator_loss(fake_logits, fake, images)
        self._apply(d_tape, d_loss, self.discriminator, self.d_optimizer)
        self._apply(g_tape, g_loss, self.generator, self.g_optimizer)
        self._clip_critic()
        self._record_g(g_loss)

    def d_step(self, images, condition):
        fake = models.generate(self.generator, self._noise(images, _D_NOISE), condition, training=True)
        with tf.GradientTape() as tape:
            d_loss, _ = self.discriminator_loss(images, fake, condition)
        self._apply(tape, d_loss, self.discriminator, self.d_optimizer)
        self._clip_critic()

    def g_step(self, images, condition):
        with tf.GradientTape() as tape:
            fake = models.generate(self.generator, self._noise(images, _G_NOISE), condition,
                                   training=True)
            g_loss = self.generator_loss(
                models.judge(self.discriminator, fake, condition, training=True), fake, images)
        self._apply(tape, g_loss, self.generator, self.g_optimizer)
        self._record_g(g_loss)

    def run_steps(self, iterator, limit):
        """Train on up to `limit` batches of `iterator`; returns how many it used.

        n_critic 1: D and G on every batch, `limit` steps in one graph call.
        --n_critic: a D step on every batch, and a G step on every n_critic-th as well.
        --adaptive_schedule (reference E): measure both sides on the batch; when D is ahead
        train G, otherwise start a burst of --adaptive_burst D steps."""
        cfg = self.config
        if cfg.n_critic == 1 and not cfg.adaptive_schedule:
            self._fused_steps(iterator, tf.constant(limit))
            return limit
        if not cfg.adaptive_schedule:
            until_g = (-int(self.step.numpy()) - 1) % cfg.n_critic  # D-only steps before the next G
            if until_g == 0:
                self._d_then_g_step(iterator)
                return 1
            n = min(until_g, limit)
            self._d_steps(iterator, tf.constant(n))
            return n
        burst = int(self.burst_left.numpy())
        if burst > 0:
            n = min(burst, limit)
            self._d_steps(iterator, tf.constant(n))
            self.burst_left.assign_sub(n)
            return n
        images, condition = next(iterator)
        d_acc, g_acc = self._measure(images, condition)
        if d_acc > g_acc:
            self._g_on_batch(images, condition)
        else:
            self._d_on_batch(images, condition)
            self.burst_left.assign(cfg.adaptive_burst - 1)
        return 1

    def generator_loss(self, fake_logits, fake, targets):
        """--adv_weight x the adversarial loss, plus --l1_weight x L1 to the target (paired
        data: the reference's 0.3 / 0.7, pix2pix's 1 / 100). A zero weight leaves its term out."""
        cfg = self.config
        g_loss = tf.constant(0.0)
        if cfg.adv_weight:
            g_loss += cfg.adv_weight * self.loss.generator_loss(fake_logits)
        if cfg.l1_weight:
            g_loss += cfg.l1_weight * losses.l1_loss(targets, fake)
        return g_loss

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
            wrong = models.judge(D, images, distribute.roll_global_batch(condition), training=True)
            d_loss += cfg.mismatch_weight * self.loss.fake_loss(wrong)
        penalty = tf.constant(0.0)
        if self.loss.gradient_penalty:
            weights = distribute.global_batch_random(
                lambda n, seed: losses.interpolation_weights(n, images.shape.rank, seed),
                tf.shape(images)[0], self._seed(_GP_WEIGHTS))
            penalty = losses.gradient_penalty(
                lambda x: models.judge(D, x, condition, training=True), images, fake, weights,
                loss_scale=getattr(self.d_optimizer, "dynamic_scale", None))
            d_loss += cfg.gp_weight * penalty
        self._record_d(real_logits, fake_logits, d_loss, penalty)
        return d_loss, fake_logits

    def measure_accuracies(self, images, condition):
        """(D accuracy, G accuracy) on this batch, without training either side."""
        fake = models.generate(self.generator, self._noise(images, _MEASURE_NOISE), condition,
                               training=True)
        accuracies = distribute.mean_across_replicas(tf.stack(self.loss.accuracies(
            models.judge(self.discriminator, images, condition, training=True),
            models.judge(self.discriminator, fake, condition, training=True))))
        self._record_accuracies(accuracies)
        return accuracies[0], accuracies[1]  # the same on every replica: they branch alike

    # --- step helpers ------------------------------------------------------------------------
    def _seed(self, stream):
        return tf.stack([tf.constant(self.config.seed + 1, tf.int64), self.step * 4 + stream])

    def _noise(self, images, stream):
        """This replica's share of the global batch's noise for `stream` at this step."""
        cfg = self.config
        return distribute.global_batch_random(
            lambda n, seed: stateless_noise(n, cfg.noise_dim, cfg.noise, seed),
            tf.shape(images)[0], self._seed(stream))

    def _apply(self, tape, loss, model, optimizer):
        """One optimizer step on this replica's loss: divided by the number of replicas, the
        all-reduced (summed) gradients are those of the global batch's mean loss."""
        factor = 1.0 / self.replicas
        if hasattr(optimizer, "dynamic_scale"):  # float16: loss scaling against underflow
            factor *= tf.cast(optimizer.dynamic_scale, tf.float32)
        grads = tape.gradient(loss, model.trainable_variables,
                              output_gradients=tf.cast(factor, loss.dtype))
        optimizer.apply_gradients(zip(grads, model.trainable_variables))

    def all_weights_finite(self):
        return all(bool(tf.reduce_all(tf.math.is_finite(v)))
                   for v in self.generator.weights + self.discriminator.weights)

    def _clip_critic(self):
        """WGAN's Lipschitz constraint by clipping: every critic weight into [-clip, clip]."""
        c = self.config.clip
        if c:
            def clip_all(strategy):
                for v in self.discriminator.trainable_variables:
                    strategy.extended.update(
                        v.value, lambda var: var.assign(tf.clip_by_value(var, -c, c)), group=False)
            distribute.on_all_replicas(clip_all)

    def _record_d(self, real_logits, fake_logits, d_loss, penalty):
        # One all-reduce for everything the D step reports: the figures, then the accuracies.
        figures = distribute.mean_across_replicas(tf.stack([
            tf.reduce_mean(tf.sigmoid(real_logits)), tf.reduce_mean(tf.sigmoid(fake_logits)),
            tf.reduce_mean(real_logits), tf.reduce_mean(fake_logits), d_loss, penalty,
            *self.loss.accuracies(real_logits, fake_logits)]))
        self._d_sums.assign_add(figures[:len(_D_METRICS)])
        self._counts.assign_add(tf.constant([1.0, 0.0, 0.0]))
        self._count_nonfinite(figures[_D_METRICS.index("Dis_loss")])
        self._record_accuracies(figures[len(_D_METRICS):])

    def _record_accuracies(self, accuracies):
        self._acc_sums.assign_add(accuracies)
        self._counts.assign_add(tf.constant([0.0, 1.0, 0.0]))

    def _record_g(self, g_loss):
        g_loss = distribute.mean_across_replicas(g_loss)
        self._g_sum.assign_add(g_loss)
        self._counts.assign_add(tf.constant([0.0, 0.0, 1.0]))
        self._count_nonfinite(g_loss)

    def _count_nonfinite(self, loss):
        """The NaN guard's in-graph half: count non-finite losses (a scalar test, no branch, so
        the step stays as fast as before). The loop checks the count after each call and throws
        the whole state back to the last good checkpoint, so a bad update never stays."""
        self.nonfinite_steps.assign_add(tf.cast(tf.logical_not(tf.math.is_finite(loss)), tf.int64))

    def _loop(self, step, iterator, n):
        for _ in tf.range(n):
            images, condition = next(iterator)
            self._counted(step, images, condition)

    def _counted(self, step, images, condition):
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
        iterator = iter(distribute.distribute_batches(
            self.strategy, self.source.epoch_batches(cfg.batch_size, epoch, cfg.seed, first_step)))
        done, start = first_step, time.perf_counter()
        while done < self.steps_per_epoch:
            n = self.run_steps(iterator, min(cfg.steps_per_call, self.steps_per_epoch - done))
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
        """(figure, uint8 samples): the sample grid, SAMPLE_ROWS rows of fixed noise x one column
        per class (or grid condition), 8 x 8 of fixed noise for unconditional models; for paired
        data the reference's figure, rows of (generated, input, target) for fixed test inputs."""
        if self.spec.is_paired:
            return self._pairs_figure()
        if not self.spec.is_conditional:
            images = to_uint8(models.generate(self.generator, fixed_noise, training=False)).numpy()
            return grid(images, UNCONDITIONAL_GRID, len(fixed_noise) // UNCONDITIONAL_GRID), images
        columns = self.spec.grid_condition_matrix()
        k = len(columns)
        noise = np.repeat(fixed_noise, k, axis=0)
        condition = np.tile(columns, (len(fixed_noise), 1))
        images = to_uint8(models.generate(self.generator, noise, condition, training=False)).numpy()
        return grid(images, len(fixed_noise), k), images

    def _pairs_figure(self):
        targets, inputs = self.figure_pairs
        generated = to_uint8(models.generate(self.generator, None, inputs, training=False)).numpy()
        inputs, targets = to_uint8(inputs).numpy(), to_uint8(targets).numpy()
        channels = max(generated.shape[-1], inputs.shape[-1])  # grey inputs beside RGB outputs
        triples = [np.broadcast_to(x, x.shape[:-1] + (channels,)) for x in (generated, inputs, targets)]
        return grid(np.stack(triples, axis=1).reshape(-1, *triples[0].shape[1:]), len(generated), 3), generated

    @functools.cached_property
    def figure_pairs(self):
        """(targets, inputs) in [-1, 1] of the first test pairs (training pairs without a test split)."""
        source = self.source.held_out or self.source
        return next(iter(source.epoch_batches(min(FIGURE_PAIRS, source.num_examples), epoch=0,
                                              seed=self.config.seed)))

    def generate(self, noise, condition):
        """Inference-mode samples in [-1, 1] (what the scorer calls)."""
        return models.generate(self.generator, noise, condition, training=False)

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


def train(config, source, on_epoch_end=None, strategy=None):
    """Train `config` on `source` into its run dir, resuming from the latest checkpoint there.

    Safe to kill at any moment: checkpoints are written whole before they are listed, and
    loss.csv rows past the restored checkpoint (or torn by the kill) are dropped on resume.
    SIGINT / SIGTERM save a checkpoint at the current step, then raise TrainingInterrupted.
    A non-finite loss or weight is never kept: the run goes back to its last good checkpoint
    with lower learning rates, and stops after --max_nan_recoveries.
    Under a multi-worker strategy only the chief writes the run dir; the other workers resume
    from its checkpoint and, as TensorFlow's multi-worker guide has it, still save theirs
    (to a scratch dir) whenever the chief does.
    """
    strategy = strategy or distribute.strategy_for(config)
    files = RunFiles(config.resolved_run_dir())
    previous = _check_run_dir(files, config, source.spec)
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()
    trainer = Trainer(config, source, strategy)
    scorer = scorer_for(config, trainer.spec) if config.eval_every else None
    if scorer:  # a --select_by this data has no metric for is refused before anything is written
        scoring.selection_metric(config.select_by, scorer.metric_names)
    resume_from = tf.train.latest_checkpoint(files.checkpoint_dir)
    scratch = None
    if not distribute.is_chief(strategy):
        scratch = tempfile.mkdtemp(prefix="gan_zoo_worker_")
        files = RunFiles(scratch)
        config = dataclasses.replace(config, progress=False)
    try:
        return _train(trainer, config, files, previous, source, resume_from, on_epoch_end,
                      scorer, chief=scratch is None)
    finally:
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)


def _train(trainer, config, files, previous, source, resume_from, on_epoch_end, scorer, chief):
    files.create()
    manager = tf.train.CheckpointManager(trainer.checkpoint, files.checkpoint_dir, max_to_keep=3)
    if resume_from:
        trainer.checkpoint.restore(resume_from).assert_existing_objects_matched()
        logging.info("Resumed %s at step %d", resume_from, int(trainer.step.numpy()))
    save_json(files.config_json, {**(previous or {}), "config": config.to_json(),
                                  "data_spec": source.spec.to_json()})
    if not resume_from or not chief:  # a good state for the NaN guard to go back to
        manager.save(checkpoint_number=int(trainer.step.numpy()))
    spe = trainer.steps_per_epoch
    epoch, first_step = divmod(int(trainer.step.numpy()), spe)
    files.truncate_losses(epoch)
    fixed_noise = trainer.fixed_noise()
    real_reference = trainer.real_reference()
    peak_diversity = max(files.read_column("diversity"), default=0.0)
    kept = (tf.train.CheckpointManager(trainer.checkpoint, files.kept_dir, max_to_keep=None,
                                       checkpoint_name="epoch") if config.keep_every else None)
    best = scorer and BestCheckpoint(trainer.checkpoint, files, scoring.selection_metric(
        config.select_by, scorer.metric_names))
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
            figure, samples = trainer.samples(fixed_noise)
            row = {"epoch": epoch + 1, **trainer.epoch_metrics(),
                   "diversity": diversity.relative_diversity(samples[:100], real_reference),
                   "lr": lr, "steps": int(trainer.step.numpy())}
            timing = {"epoch": epoch + 1, "seconds": seconds,
                      "images_per_sec": steps * config.batch_size / max(seconds, 1e-9)}
            files.append_losses(row)
            fault_point("after_loss_csv")
            files.append_timing(timing)
            files.write_scalars(epoch + 1, {**row, **timing})
            files.write_samples(epoch + 1, figure)
            if scorer and ((epoch + 1) % config.eval_every == 0 or epoch + 1 == config.epochs):
                scores = scorer.score(trainer.generate)
                measured = {k: scores[k] for k in scorer.metric_names}
                files.append_metrics({"epoch": epoch + 1, **measured, "steps": row["steps"]})
                files.write_scalars(epoch + 1, measured)
                best.consider(epoch + 1, row["steps"], measured)
            peak_diversity = max(peak_diversity, row["diversity"])
            # A fresh generator draws near-uniform grey, so the alarm waits until the samples were
            # once diverse enough, or until COLLAPSE_WARMUP_STEPS batches have passed.
            armed = peak_diversity >= config.collapse_threshold or int(trainer.step.numpy()) >= COLLAPSE_WARMUP_STEPS
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
                manager.save(checkpoint_number=int(trainer.step.numpy()))
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


def scorer_for(config, spec):
    """The Scorer of a run: its data set (with the run's size, crop and conditions), its noise."""
    load_kwargs = dict(data_dir=config.data_dir, download=config.download,
                       image_size=config.image_size, class_tags=config.class_tags,
                       condition_csv=config.condition_csv,
                       condition_feature=config.condition_feature,
                       center_crop=config.center_crop,
                       conditional=models.is_conditional(config.model), direction=config.direction)
    return scoring.Scorer(config.dataset, spec, config.noise_dim, config.noise,
                          num_samples=config.eval_samples, seed=config.seed + 3,
                          load_kwargs=load_kwargs)


class BestCheckpoint:
    """checkpoints/best/ holds the checkpoint that scored best on `metric`, best.json its
    scores. The record survives a resume, so a resumed run only replaces it with a better one."""

    def __init__(self, checkpoint, files, metric):
        self.files, self.metric = files, metric
        self.manager = tf.train.CheckpointManager(checkpoint, files.best_dir, max_to_keep=1,
                                                  checkpoint_name="best")
        record = load_json(files.best_json) if os.path.exists(files.best_json) else {}
        self.value = record.get("value") if record.get("metric") == metric else None

    def consider(self, epoch, step, scores):
        value = scores.get(self.metric)
        if not scoring.better(self.metric, value, self.value):
            return False
        # The weights first: a kill before the record leaves a better checkpoint than it says.
        self.manager.save(checkpoint_number=epoch)
        save_json(self.files.best_json, {"metric": self.metric, "value": value, "epoch": epoch,
                                         "step": step, "scores": scores})
        self.value = value
        logging.info("New best %s=%.4g at epoch %d: saved %s", self.metric, value, epoch,
                     self.files.best_dir)
        return True


def _save_and_stop(manager, trainer, stop, already_saved=False):
    step = int(trainer.step.numpy())
    path = manager.latest_checkpoint if already_saved else manager.save(checkpoint_number=step)
    raise TrainingInterrupted(stop.signal_name, path, step)


_LOGGED = ("Real_P", "Fake_P", "Gen_loss", "Dis_loss", "D_acc", "G_acc", "diversity", "images_per_sec")


def _recover(trainer, manager, files, config, epoch, recoveries):
    """Back to the last good checkpoint with lower learning rates; (epoch, first step) to go on from."""
    bad_step = int(trainer.step.numpy())
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
    restored_epoch, first_step = divmod(int(trainer.step.numpy()), trainer.steps_per_epoch)
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


def best_record(run_dir):
    """best.json of a run dir (metric, value, epoch, step, scores), or a UserError."""
    path = RunFiles(run_dir).best_json
    if not os.path.exists(path):
        raise UserError(f"{run_dir!r} has no best checkpoint: it is kept when a run scores its "
                        "samples (--eval_every=N, on by default). Use --which=latest, or train "
                        "with --eval_every.")
    return load_json(path)


def restore_generator(run_dir, epoch=None, which="latest"):
    """(generator, config, data spec, step) rebuilt from a run dir's config and latest checkpoint,
    the one kept at `epoch` (--keep_every), or with which="best" the one that scored best."""
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
    if which not in ("latest", "best"):
        raise UserError(f"--which must be latest or best, got {which!r}.")
    if which == "best":
        if epoch is not None:
            raise UserError("--which=best and --epoch name two checkpoints: pass one of them.")
        best_record(run_dir)  # a clear error when the run kept none
        latest = tf.train.latest_checkpoint(files.best_dir)
    elif epoch is not None:
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
