"""The training state: everything a train step reads and updates, in one typed object that
the step math (steps.py) is handed and a checkpoint holds.

Variables a replica function updates take the first replica's value: what they are given was
reduced across replicas first, so every replica holds the same.
"""
import dataclasses
from typing import Optional

import keras
import tensorflow as tf

from gan_zoo import models
from gan_zoo.core import distribute, losses, records
from gan_zoo.core.ema import GeneratorAverage
from gan_zoo.core.losses import Objective
from gan_zoo.core.optimizers import make_optimizer
from gan_zoo.errors import UserError
from gan_zoo.settings import speed_defaults


@dataclasses.dataclass
class TrainingState:
    generator: keras.Model
    discriminator: keras.Model
    objective: Objective  # the --loss: its terms, penalty and critic constraint
    g_optimizer: keras.optimizers.Optimizer
    d_optimizer: keras.optimizers.Optimizer
    generator_average: Optional[GeneratorAverage]  # the EMA of G's weights (--ema_half_life)
    step: tf.Variable  # batches consumed
    burst_left: tf.Variable  # D steps left in an --adaptive_schedule burst
    nonfinite_steps: tf.Variable  # the NaN guard: non-finite losses since the last check
    lr_multiplier: tf.Variable  # the learning-rate factor each NaN recovery lowers
    epoch: tf.Variable  # the 0-based epoch, read in-graph by per-epoch schedules (top-k, the fade)
    lecam_anchors: Optional[tf.Variable]  # --lecam: moving averages of D's mean real, fake logits
    rotation_features: Optional[keras.Model]  # --rotation: D's last features (D's own weights)
    rotation_head: Optional[keras.Model]  # --rotation: the 4-way head on them, trained with D
    records: records.EpochMeans  # this epoch's figure sums (loss.csv's row)
    replicas: int  # replicas a step's loss is divided over
    policy: str  # the Keras dtype policy the networks were built under (mixed precision)

    @classmethod
    def create(cls, config, generator, discriminator, objective, policy, replicas):
        """The state of a new run, in the strategy's scope the caller entered (mirrored
        variables), the EMA under the dtype policy."""
        g_optimizer = make_optimizer(config, config.g_lr, policy, config.fused_adam)
        d_optimizer = make_optimizer(config, config.d_lr, policy, config.fused_adam)
        # Built now so a checkpoint restores their slots instead of deferring them.
        features, head = _rotation_head(config, discriminator, policy)
        g_optimizer.build(generator.trainable_variables)
        d_optimizer.build(discriminator.trainable_variables + (head.trainable_variables if head else []))
        first = dict(trainable=False, aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
        average = None
        if config.ema_half_life:
            with distribute.dtype_policy(policy):
                average = GeneratorAverage(generator, config.ema_half_life, config.ema_rampup,
                                           config.batch_size)
        return cls(
            generator=generator, discriminator=discriminator, objective=objective,
            g_optimizer=g_optimizer, d_optimizer=d_optimizer, generator_average=average,
            step=tf.Variable(0, dtype=tf.int64, name="step", **first),
            burst_left=tf.Variable(0, dtype=tf.int64, name="d_burst_left", **first),
            nonfinite_steps=tf.Variable(0, dtype=tf.int64, name="nonfinite_steps", **first),
            lr_multiplier=tf.Variable(1.0, dtype=tf.float64, name="lr_multiplier", **first),
            epoch=tf.Variable(0.0, dtype=tf.float32, name="epoch", **first),
            lecam_anchors=tf.Variable([0.0, 0.0], dtype=tf.float32, name="lecam_anchors", **first)
            if config.lecam else None,
            rotation_features=features, rotation_head=head, records=records.EpochMeans(),
            replicas=replicas, policy=policy)

    def discriminator_variables(self):
        """What D's optimizer updates: D's weights, and the rotation head's with --rotation."""
        head = self.rotation_head.trainable_variables if self.rotation_head is not None else []
        return self.discriminator.trainable_variables + head

    def set_learning_rates(self, config, epoch, progress):
        """Apply the learning-rate schedules (--lr_decay_epochs for 0-based `epoch`,
        --lr_linear_decay at `progress`, the share of the run done) and the NaN guard's factor;
        returns G's rate. The steps' own per-epoch schedules read `epoch`, set here too."""
        self.epoch.assign(float(epoch))
        scale = config.lr_scale(epoch, progress) * float(self.lr_multiplier.numpy())
        self.g_optimizer.learning_rate = config.g_lr * scale
        self.d_optimizer.learning_rate = config.d_lr * scale
        return config.g_lr * scale

    def checkpoint_parts(self):
        """What a checkpoint holds, by name (the names are the checkpoint format: unchanged)."""
        parts = dict(
            generator=self.generator, discriminator=self.discriminator,
            # The plain optimizers (inside a float16 loss-scale wrapper), so a checkpoint
            # resumes with or without --mixed_precision.
            g_optimizer=_inner(self.g_optimizer), d_optimizer=_inner(self.d_optimizer),
            step=self.step, d_burst_left=self.burst_left, lr_multiplier=self.lr_multiplier,
            # Keras keeps dropout's RNG state out of its checkpointed weights; without it a
            # resumed run would replay the dropout masks of step 0.
            seed_states=[v for v in self.generator.variables + self.discriminator.variables
                         if "seed_generator_state" in v.path])
        if self.lecam_anchors is not None:
            parts["lecam_anchors"] = self.lecam_anchors
        if self.rotation_head is not None:
            parts["rotation_head"] = self.rotation_head
        if self.generator_average is not None:
            parts["generator_ema"] = self.generator_average.model
        parts["epoch_means"] = self.records  # an epoch's sums so far: a resumed row is whole
        return parts


def speed_for(config, strategy):
    """--jit_compile / --mixed_precision for `strategy`, `auto` resolved by what measured
    fastest here (gan_zoo.settings.speed_defaults)."""
    several_cpus = strategy.num_replicas_in_sync > 1 and on_several_cpus(strategy)
    return speed_defaults.choose(config.model, config.jit_compile, config.mixed_precision,
                                 one_cpu_device=not several_cpus)


def build_state(config, spec, strategy, speed, warm_start=None, networks=None):
    """The TrainingState of a new run of `config` on data `spec`, one way for the trainer and
    for gan_zoo.fit.GAN: the seed set first (the same seed, the same initial weights), the
    networks built (or `networks` = (generator, discriminator) given) under the precision's
    dtype policy, and every variable made in `strategy`'s scope. `warm_start(generator,
    config, spec)` fills G's weights before the EMA copies them."""
    keras.utils.set_random_seed(config.seed)
    policy = distribute.precision_policy(speed.precision)
    objective = losses.for_config(config)
    with strategy.scope():
        if networks is None:
            with distribute.dtype_policy(policy):
                networks = models.build(spec, config)
        generator, discriminator = networks
        if warm_start:
            warm_start(generator, config, spec)
        objective.check_discriminator(discriminator)
        return TrainingState.create(config, generator, discriminator, objective, policy,
                                    strategy.num_replicas_in_sync)


def on_several_cpus(strategy):
    """Whether this process runs several replicas on logical CPU devices."""
    devices = strategy.extended.worker_devices
    return len(devices) > 1 and all("CPU" in d for d in devices)


def _rotation_head(config, discriminator, policy):
    """(D's last features, a 4-way Dense head on them) for --rotation, else (None, None)."""
    if not config.rotation:
        return None, None
    features = models.last_features(discriminator)
    if features is None:
        raise UserError(f"--rotation puts a head on D's last features, the input of its layer "
                        f"named 'logit', which {discriminator.name} has none of: leave "
                        f"--rotation at 0, or name D's output layer 'logit'.")
    with distribute.dtype_policy(policy):
        head = keras.Sequential([keras.layers.Flatten(), keras.layers.Dense(4)], name="rotation_head")
        head.build(features.output.shape)
    return features, head


def _inner(optimizer):
    return getattr(optimizer, "inner_optimizer", optimizer)
