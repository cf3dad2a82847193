"""FusedAdam: keras' Adam arithmetic in one ResourceApplyAdam kernel per variable, with the same
slot variables (checkpoints restore either way), on one device and across mirrored replicas."""
import keras
import numpy as np
import tensorflow as tf

from conftest import assert_trained_alike, two_replicas
from gan_zoo.core.optimizers import FusedAdam


def _model(seed):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3, activation="relu"),
                             keras.layers.BatchNormalization(), keras.layers.Flatten(),
                             keras.layers.Dense(1)])


def _train(optimizer, steps=100, strategy=None):
    strategy = strategy or tf.distribute.get_strategy()
    with strategy.scope():
        model = _model(0)
        opt = optimizer()
        opt.build(model.trainable_variables)
    rng = np.random.default_rng(1)
    batches = [(rng.normal(size=(16, 8, 8, 3)).astype(np.float32),
                rng.normal(size=(16, 1)).astype(np.float32)) for _ in range(steps)]

    @tf.function
    def step(x, y):
        def replica(x, y):
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean((model(x, training=True) - y) ** 2)
            grads = tape.gradient(loss, model.trainable_variables)
            opt.apply_gradients(zip(grads, model.trainable_variables))
            return loss
        return strategy.run(replica, args=(x, y))

    for x, y in batches:
        step(tf.constant(x), tf.constant(y))
    graph = step.get_concrete_function(tf.constant(x), tf.constant(y)).graph.as_graph_def()
    model.step_ops = ({n.op for n in graph.node} |
                      {n.op for f in graph.library.function for n in f.node_def})
    return model, opt


def _adam(fused):
    kind = FusedAdam if fused else keras.optimizers.Adam
    return lambda: kind(1e-3, beta_1=0.5, beta_2=0.999)


def test_fused_adam_matches_keras_adam_over_100_steps():
    plain, plain_opt = _train(_adam(False))
    fused, fused_opt = _train(_adam(True))
    assert int(fused_opt.iterations.numpy()) == 100
    assert "ResourceApplyAdam" in fused.step_ops and "ResourceApplyAdam" not in plain.step_ops
    moved = 0.0
    for a, b, start in zip(plain.weights, fused.weights, _model(0).weights):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-4, atol=1e-6)
        moved = max(moved, float(np.abs(a.numpy() - start.numpy()).max()))
    assert moved > 1e-2  # 100 steps did move the weights: the comparison is not of idle ones
    for a, b in zip(plain_opt.variables, fused_opt.variables):  # the slots too, to their scale
        a, b = a.numpy(), b.numpy()
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-3 * float(np.abs(a).max()))


def test_a_keras_adam_checkpoint_restores_into_fused_adam(tmp_path):
    plain, plain_opt = _train(_adam(False), steps=3)
    path = tf.train.Checkpoint(model=plain, optimizer=plain_opt).save(str(tmp_path / "ckpt"))
    model = _model(5)
    opt = _adam(True)()
    opt.build(model.trainable_variables)
    tf.train.Checkpoint(model=model, optimizer=opt).restore(path).assert_existing_objects_matched()
    assert int(opt.iterations.numpy()) == 3
    for a, b in zip(plain_opt.variables, opt.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_fused_adam_under_a_mirrored_strategy_matches_one_device():
    """Two logical CPUs: each replica's update uses its own copies of the variable and its
    slots. Both replicas see the whole batch, so the summed gradient is twice one device's,
    which Adam's normalised step all but ignores."""
    strategy = two_replicas()
    assert strategy.num_replicas_in_sync == 2
    mirrored, _ = _train(_adam(True), steps=20, strategy=strategy)
    single, _ = _train(_adam(False), steps=20)
    assert_trained_alike([w.numpy() for w in mirrored.weights], [w.numpy() for w in single.weights],
                         learning_rate=1e-3, updates=20, atol=1e-5, rtol=1e-3, outliers=0.02)
