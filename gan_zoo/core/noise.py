"""The generator's noise, drawn in one place: training, export, scoring and the tools all call
these, so `--noise=uniform|normal` means the same numbers everywhere."""
import numpy as np
import tensorflow as tf


def stateless(shape, distribution, seed):
    """A stateless draw of `shape` (may be a tensor); Philox named explicitly, so the numbers are
    the same with and without XLA, on every device."""
    if distribution == "uniform":
        return tf.random.stateless_uniform(shape, seed, 0.0, 1.0, alg="philox")
    return tf.random.stateless_normal(shape, seed, alg="philox")


def from_generator(rng, batch, noise_dim, distribution):
    """[batch, noise_dim] from a tf.random.Generator (the fixed noise of the sample grids)."""
    if distribution == "uniform":
        return rng.uniform((batch, noise_dim), 0.0, 1.0)
    return rng.normal((batch, noise_dim))


def numpy_noise(rng, count, noise_dim, distribution):
    """float32 [count, noise_dim] from a numpy Generator (the scorer's and explorer's draws)."""
    if distribution == "uniform":
        values = rng.uniform(0.0, 1.0, (count, noise_dim))
    else:
        values = rng.standard_normal((count, noise_dim))
    return values.astype(np.float32)
