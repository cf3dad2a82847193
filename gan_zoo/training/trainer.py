"""The trainer's state and schedule: networks, optimizers, counters and the checkpoint that
holds them; the compiled step graphs; which step runs on which batch; one epoch's steps.

Nothing here knows which model it trains (builders give (generator, discriminator), called
through models.generate / models.judge) nor the step math (gan_zoo.training.steps) nor the epoch loop
around it (gan_zoo.run.loop).
"""
import dataclasses
import time

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from gan_zoo import models
from gan_zoo.core import distribute, noise
from gan_zoo.core.ema import batch_norm_layers, standing_statistics
from gan_zoo.core.faults import fault_point
from gan_zoo.errors import UserError
from gan_zoo.training.state import TrainingState, build_state, on_several_cpus, speed_for
from gan_zoo.training.steps import Steps

# The sampler's BatchNorm statistics are measured on 2,048 draws of 32x32 images, fewer of
# larger ones (the same count of positions per channel: 512 at 64x64, 32 at 256x256), at least 8.
STANDING_PIXELS = 2048 * 32 * 32


class NonFiniteStep(Exception):
    """Raised between tf.function calls when a loss (or, at the epoch's end, a weight) went
    non-finite: the state since the last good checkpoint is thrown away."""


class Trainer:
    """Trains `config`'s model on `source`: the TrainingState (self.state, whose parts read as
    the trainer's own: trainer.generator is trainer.state.generator), the step graphs and the
    schedule. `warm_start(generator, config, spec)`, when given, fills the new generator's
    weights before anything copies them (the loop passes StackGAN's stage-I loader)."""

    def __getattr__(self, name):  # only for names the trainer itself lacks
        if name != "state" and "state" in self.__dict__ and name in _STATE_FIELDS:
            return getattr(self.state, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __init__(self, config, source, strategy=None, warm_start=None):
        self.config, self.source, self.spec = config, source, source.spec
        self.strategy = strategy or distribute.strategy_for(config)
        self.replicas = self.strategy.num_replicas_in_sync
        self.speed = speed_for(config, self.strategy)
        if self.speed.why:
            logging.info("%s", self.speed.why)
        self._check(config, source)
        self.steps_per_epoch = source.steps_per_epoch(config.batch_size)
        self.state = build_state(config, self.spec, self.strategy, self.speed, warm_start)
        self.checkpoint = tf.train.Checkpoint(**self.state.checkpoint_parts())
        self.steps = Steps(config, self.spec, self.state)
        self._compile()

    def _check(self, config, source):
        if config.batch_size % self.replicas:
            raise UserError(f"--batch_size={config.batch_size} does not split evenly over the "
                            f"{self.replicas} replicas of --strategy={config.strategy}: pass a "
                            f"multiple of {self.replicas}.")
        if self.speed.jit_compile and self.replicas > 1 and on_several_cpus(self.strategy):
            raise UserError("--jit_compile with several logical CPU devices: XLA compiles for "
                            "one CPU device and cannot reach the other replicas' variables "
                            "(a TensorFlow limitation). Use --jit_compile with one CPU device, "
                            "or with --strategy=mirrored on GPUs.")
        if source.steps_per_epoch(config.batch_size) < 1:
            raise UserError(f"--batch_size={config.batch_size} is larger than the data set "
                            f"({source.num_examples} images): lower --batch_size or raise --max_images.")

    def restore(self, path):
        """Restore the checkpoint at `path`, every object of this trainer matched."""
        self.checkpoint.restore(path).assert_existing_objects_matched()

    # --- the compiled graphs ------------------------------------------------------------------
    def _compile(self):
        """The graphs the schedule calls: each step compiled once (with XLA under --jit_compile)
        and run on every replica, then wrapped in one tf.function per kind of call (a loop of
        steps, D then G on one batch, one measured batch). A D/G schedule is decided in Python
        between these calls (run_steps): TensorFlow cannot branch around a cross-replica sync
        inside a graph."""
        jit = self.speed.jit_compile
        self._fused_step, self._d_step, self._g_step, self._measure_step = (
            self._on_replicas(tf.function(fn, jit_compile=jit)) for fn in (
                self.steps.fused_step, self.steps.d_step, self.steps.g_step,
                self.steps.measure_accuracies))
        self._fused_steps = tf.function(lambda iterator, n: self._loop(self._fused_step, iterator, n))
        self._d_steps = tf.function(lambda iterator, n: self._loop(self._d_step, iterator, n))
        self._d_then_g_step = tf.function(lambda iterator: self._loop(self._d_then_g, iterator, 1))
        self._critic_groups = tf.function(self._critic_group_loop)
        self._measure = tf.function(self._measure_step)
        self._g_on_batch = tf.function(lambda images, condition: self._counted(self._g_step, images, condition))
        self._d_on_batch = tf.function(lambda images, condition: self._counted(self._d_step, images, condition))

    def _d_then_g(self, images, condition):
        self._d_step(images, condition)
        self._g_step(images, condition)

    def _critic_group_loop(self, iterator, groups):
        """`groups` times --n_critic batches: a D step on each, and G's after the last one's."""
        for _ in tf.range(groups):
            for _ in range(self.config.n_critic - 1):
                self._counted(self._d_step, *next(iterator))
            self._counted(self._d_then_g, *next(iterator))

    def _loop(self, step, iterator, n):
        for _ in tf.range(n):
            images, condition = next(iterator)
            self._counted(step, images, condition)

    def _counted(self, step, images, condition):
        step(images, condition)
        self.step.assign_add(1)

    def _on_replicas(self, fn):
        """fn(images, condition) on every replica, returning the first replica's results (the
        steps' results are reduced across replicas, so every replica has the same)."""
        def run(images, condition):
            results = self.strategy.run(fn, args=(images, condition))
            return tf.nest.map_structure(
                lambda r: self.strategy.experimental_local_results(r)[0], results)
        return run

    # --- the schedule -------------------------------------------------------------------------
    def run_steps(self, iterator, limit):
        """Train on up to `limit` batches of `iterator`; returns how many it used.

        n_critic 1: D and G on every batch, `limit` steps in one graph call.
        --n_critic: a D step on every batch, and a G step on every n_critic-th as well; whole
        groups of n_critic batches run in one graph call (the rest, one call per batch).
        --adaptive_schedule: measure both sides on the batch; when D is ahead train G,
        otherwise start a burst of --adaptive_burst D steps."""
        cfg = self.config
        if cfg.n_critic == 1 and not cfg.adaptive_schedule:
            self._fused_steps(iterator, tf.constant(limit))
            return limit
        if not cfg.adaptive_schedule:
            until_g = (-int(self.step.numpy()) - 1) % cfg.n_critic  # D-only steps before the next G
            if until_g == cfg.n_critic - 1 and limit >= cfg.n_critic:  # whole groups, one call
                groups = limit // cfg.n_critic
                self._critic_groups(iterator, tf.constant(groups))
                return groups * cfg.n_critic
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

    def train_epoch_steps(self, epoch, first_step=0, on_progress=None, stop_requested=None):
        """Run the steps of `epoch` from `first_step` on; returns (steps run, seconds).

        Stops early when `stop_requested()` turns true; raises NonFiniteStep when a loss or a
        weight went non-finite."""
        cfg = self.config
        if first_step == 0:  # else the sums of the epoch's first steps came with the checkpoint
            self.records.reset()
        iterator = iter(distribute.distribute_sharded(self.strategy, lambda shard: self.source.epoch_batches(
            cfg.batch_size, epoch, cfg.seed, first_step, shard), cfg.batch_size))
        done, start = first_step, time.perf_counter()
        while done < self.steps_per_epoch:
            if cfg.lr_linear_decay:
                self.set_learning_rates(epoch)
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

    # --- state the loop reads and sets ----------------------------------------------------------
    def epoch_metrics(self):
        """This epoch's means so far (gan_zoo.core.records); D_steps / G_steps count each side's updates."""
        return self.records.means()

    def set_learning_rates(self, epoch):
        """The learning rates of 0-based `epoch` at the current step (TrainingState's)."""
        progress = int(self.step.numpy()) / (self.config.epochs * self.steps_per_epoch)
        return self.state.set_learning_rates(self.config, epoch, progress)

    def set_epoch(self, epoch):
        """Settings that change with the epoch: the learning rates, and the matching-aware term
        switched off after --mismatch_epochs (the steps are traced again then, once)."""
        active = self.steps.mismatch_on_in(epoch)
        if active != self.steps.mismatch_active:
            self.steps.mismatch_active = active
            self._compile()
        return self.set_learning_rates(epoch)

    @property
    def sampler(self):
        """The generator samples are drawn from: the EMA of G's weights when the run keeps one."""
        return self.generator_average.model if self.generator_average else self.generator

    def refresh_sampler_statistics(self):
        """Give the sampler's BatchNorm layers the moments of their inputs in inference mode
        (gan_zoo.core.ema.standing_statistics), over fixed noise and the conditions of the first
        training batches (STANDING_PIXELS): called before each epoch's samples, scores and
        checkpoint. Nothing to do for a G without BatchNorm."""
        cfg = self.config
        if not batch_norm_layers(self.sampler):
            return
        shape = self.sampler.output_shape
        pixels = int(np.prod(shape[1:3])) if len(shape) == 4 else 1
        wanted = int(np.clip(STANDING_PIXELS // pixels, 8, 2048))
        rng = np.random.default_rng(cfg.seed + 7)
        batches, drawn = [], 0
        size = min(max(cfg.batch_size, min(wanted, 256)), self.source.num_examples)  # few, large
        for _, condition in self.source.epoch_batches(size, 0, cfg.seed):
            z = tf.constant(noise.numpy_noise(rng, int(condition.shape[0]), cfg.noise_dim, cfg.noise))
            batches.append(models.generator_inputs(self.sampler, z, condition))
            drawn += int(condition.shape[0])
            if drawn >= wanted:
                break
        standing_statistics(self.sampler, batches)

    def all_weights_finite(self):
        return all(bool(tf.reduce_all(tf.math.is_finite(v)))
                   for v in self.generator.weights + self.discriminator.weights)

    def generate(self, noise, condition):
        """Inference-mode samples in [-1, 1] of the sampler (what the scorer calls)."""
        return models.generate(self.sampler, noise, condition, training=False)

_STATE_FIELDS = frozenset(f.name for f in dataclasses.fields(TrainingState))
