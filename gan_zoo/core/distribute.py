"""tf.distribute strategies, mixed precision and per-replica randomness for the trainer.

TensorFlow's own machinery: MirroredStrategy (GPUs, or logical CPU devices),
MultiWorkerMirroredStrategy (TF_CONFIG workers), TPUStrategy; how a step's loss is scaled
across replicas is said once, in gan_zoo/training/steps.py.
"""
import contextlib
import json
import os

import keras
import tensorflow as tf
from absl import logging

from gan_zoo.errors import UserError
from gan_zoo.settings.choices import PRECISION_CHOICES, STRATEGY_CHOICES

_STRATEGIES = {}  # one per (name, devices) per process: MultiWorkerMirroredStrategy must be unique


def strategy_for(config):
    """The tf.distribute strategy `config.strategy` names (created once per process).

    Create it before anything else touches TensorFlow devices: MultiWorkerMirroredStrategy
    and `--cpu_devices` configure the runtime, which TF allows only at start-up."""
    key = (config.strategy, config.cpu_devices)
    if key not in _STRATEGIES:
        _split_cpu(config.cpu_devices)
        _STRATEGIES[key] = _create(config.strategy)
    return _STRATEGIES[key]


def _split_cpu(count):
    if count <= 1:
        return
    cpu = tf.config.list_physical_devices("CPU")[0]
    current = tf.config.get_logical_device_configuration(cpu)
    if current and len(current) == count:
        return
    try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(count)])
    except RuntimeError:
        raise UserError(f"--cpu_devices={count}: TensorFlow had already set up its devices "
                        f"({len(current or [1])} CPU device(s)) before the flag was read. Pass it "
                        "on the command line of a fresh process.") from None


def _create(name):
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
        if len(devices) == 1:
            logging.warning("--strategy=mirrored found one device (%s): it runs, with one replica. "
                            "On a machine without GPUs, --cpu_devices=N splits the CPU into N.",
                            devices[0])
        return tf.distribute.MirroredStrategy(devices)
    if name == "multi_worker":
        if "TF_CONFIG" not in os.environ:
            raise UserError("--strategy=multi_worker needs TF_CONFIG in the environment: "
                            '{"cluster": {"worker": ["host1:port", "host2:port"]}, '
                            '"task": {"type": "worker", "index": 0}} on the first worker, '
                            "index 1 on the second (see docs/distribution.md).")
        try:
            json.loads(os.environ["TF_CONFIG"])
        except ValueError as e:
            raise UserError(f"TF_CONFIG is not valid JSON ({e}).") from None
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        try:
            resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
            tf.config.experimental_connect_to_cluster(resolver)
            tf.tpu.experimental.initialize_tpu_system(resolver)
        except (ValueError, RuntimeError, tf.errors.OpError) as e:
            raise UserError(f"--strategy=tpu: no TPU found ({str(e).splitlines()[0]}). Run on a "
                            "TPU VM, or pick --strategy=mirrored / default.") from None
        return tf.distribute.TPUStrategy(resolver)
    raise UserError(f"Unknown strategy {name!r}. Choose one of: {', '.join(STRATEGY_CHOICES)}.")


def is_chief(strategy):
    """Only the chief writes files; other workers' checkpoints go to a scratch directory."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    return resolver.task_type == "chief" or (
        resolver.task_type == "worker" and resolver.task_id == 0
        and "chief" not in resolver.cluster_spec().as_dict())


def distribute_batches(strategy, dataset):
    """The global batches split across replicas (and across workers, by data, not by file)."""
    if strategy.num_replicas_in_sync == 1:
        return dataset
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return strategy.experimental_distribute_dataset(dataset.with_options(options))


def distribute_sharded(strategy, batches, global_batch):
    """`batches(shard)` (the epoch's global batches cut to the rows of `shard` = (this input
    pipeline, pipelines)) split across the replicas. Across workers each reads only its own
    rows of every batch, so no image is read by two workers and none is missed; one machine's
    replicas share one pipeline, split by data as distribute_batches does."""
    if strategy.num_replicas_in_sync == 1 or not isinstance(
            strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return distribute_batches(strategy, batches((0, 1)))

    def of_this_worker(context):
        rows = context.get_per_replica_batch_size(global_batch)
        own = batches((context.input_pipeline_id, context.num_input_pipelines))
        local_replicas = strategy.num_replicas_in_sync // context.num_input_pipelines
        return own.rebatch(rows, drop_remainder=True) if local_replicas > 1 else own
    return strategy.distribute_datasets_from_function(of_this_worker)


def replica():
    """(this replica's index, number of replicas); (0, 1) outside any replica function."""
    ctx = tf.distribute.get_replica_context()
    if ctx is None:
        return 0, 1
    return ctx.replica_id_in_sync_group, ctx.num_replicas_in_sync


def batch_size_of(tensor):
    """The rows of `tensor`: a Python int where the shape is static (batches drop their
    remainder, so it is), else a scalar tensor."""
    return tensor.shape[0] if tensor.shape[0] is not None else tf.shape(tensor)[0]


def mean_across_replicas(value):
    """The mean of `value` over the replicas (itself with one replica)."""
    ctx = tf.distribute.get_replica_context()
    if ctx is None or ctx.num_replicas_in_sync == 1:
        return value
    return ctx.all_reduce(tf.distribute.ReduceOp.MEAN, value)


def global_batch_random(draw, local_batch, seed):
    """This replica's rows of one random draw for the whole global batch.

    `draw(global_batch, seed)` is a stateless random op. Every replica draws the same global
    tensor and keeps its own slice, so replicas get different noise, and N replicas see
    exactly the noise one device would for the same global batch and step. On one replica
    the draw is the batch itself, with no slice: given a static `local_batch`
    (batch_size_of), the step's shapes stay static for Grappler and XLA."""
    index, count = replica()
    if count == 1:
        return draw(local_batch, seed)
    values = draw(local_batch * count, seed)
    return values[index * local_batch:(index + 1) * local_batch]


def roll_global_batch(values, shift=1):
    """tf.roll over the global batch's rows, this replica's share of the result (the rows it
    needs from other replicas come by all_gather: condition vectors, a few bytes each)."""
    ctx = tf.distribute.get_replica_context()
    if ctx is None or ctx.num_replicas_in_sync == 1:
        return tf.roll(values, shift, axis=0)
    index, _ = replica()
    rows = tf.shape(values)[0]
    rolled = tf.roll(ctx.all_gather(values, axis=0), shift, axis=0)
    return rolled[index * rows:(index + 1) * rows]


def on_all_replicas(fn):
    """Run `fn(strategy)`, whose `strategy.extended.update` calls change mirrored variables the
    same way on every replica, from inside a replica function (as Keras' optimizers do)."""
    strategy = tf.distribute.get_strategy()
    return tf.__internal__.distribute.interim.maybe_merge_call(fn, strategy)


def precision_policy(name):
    """The Keras dtype policy for a --mixed_precision setting (`auto` is resolved before, by
    gan_zoo.settings.speed_defaults)."""
    if name == "off":
        return "float32"
    if name in ("bfloat16", "float16"):
        return f"mixed_{name}"
    raise UserError(f"Unknown --mixed_precision={name!r}. Choose one of: {', '.join(PRECISION_CHOICES)}.")


@contextlib.contextmanager
def dtype_policy(name):
    """Build models under Keras dtype policy `name`, then put the global one back."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)
