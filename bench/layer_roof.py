"""What share of the matmul roof a model's own matmul shapes can reach on this machine.

    python bench/layer_roof.py --model=maxout_cgan

The roof the other benchmarks quote is the best rate of large square matmuls (up to 2048^3).
A dense model's step multiplies at its batch size by its layers' kernels, shapes that may run
well below that. This times, for every Dense kernel [k, n] of the recipe's G and D at the
recipe's batch B, the three matmuls a train step runs on it (forward [B, k] x [k, n], the
input's gradient [B, n] x [n, k], the kernel's gradient [k, B] x [B, n]), all of them in one
tf.function, and prints their rate against the square roof: the ceiling for a step made of
nothing but those matmuls.
"""
import os
import sys
import time

from absl import app, flags

BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(BENCH))
sys.path.insert(0, BENCH)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

flags.DEFINE_string("model", "maxout_cgan", "An MLP model (maxout_cgan, mlp_cgan) whose recipe's Dense "
                    "kernels to time; a conv model's convolutions are not timed.")
flags.DEFINE_integer("reps", 20, "Passes over every kernel per timing.")
FLAGS = flags.FLAGS


def dense_kernels(model):
    """[k, n] of every 2-D trainable weight of G and D (Dense kernels, Maxout's inner Dense)."""
    from gan_zoo.settings import config
    from gan_zoo import models
    from gan_zoo.data.spec import DataSpec
    cfg = config.resolve(model=model)
    generator, discriminator = models.build(DataSpec(image_shape=(28, 28, 1), condition_dim=10), cfg)
    shapes = [tuple(w.shape) for net in (generator, discriminator)
              for w in net.trainable_weights if len(w.shape) == 2]
    return shapes, cfg.batch_size


def shapes_gflops(shapes, batch, reps):
    import tensorflow as tf
    operands = [(tf.random.normal((batch, k)), tf.random.normal((k, n)) / k ** 0.5,
                 tf.random.normal((batch, n))) for k, n in shapes]

    @tf.function
    def passes():
        # each pass scales its inputs by a number the last pass computed, so no pass can be
        # merged with another or folded away (the scaling and sums are O(1 / k) of the work)
        total = tf.constant(0.0)
        for _ in range(reps):
            for x, w, dy in operands:
                scale = 1.0 + 1e-12 * total
                total += tf.reduce_sum(tf.matmul(x * scale, w))
                total += tf.reduce_sum(tf.matmul(dy * scale, w, transpose_b=True))
                total += tf.reduce_sum(tf.matmul(x * scale, dy, transpose_a=True))
        return total

    passes().numpy()
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        passes().numpy()
        best = min(best, time.perf_counter() - start)
    flops = reps * sum(3 * 2 * batch * k * n for k, n in shapes)
    return flops / best / 1e9


MLP_MODELS = ("maxout_cgan", "mlp_cgan")


def main(argv):
    del argv
    if FLAGS.model not in MLP_MODELS:
        raise SystemExit(f"--model={FLAGS.model}: this times Dense kernels at 28x28 inputs, so it "
                         f"takes an MLP model: pass --model={' or --model='.join(MLP_MODELS)}.")
    import measure
    shapes, batch = dense_kernels(FLAGS.model)
    roof = measure.matmul_gflops()
    rate = shapes_gflops(shapes, batch, FLAGS.reps)
    roof_end = measure.matmul_gflops()
    print(f"ISA {' '.join(measure.isa_flags())}, {os.cpu_count()} cores, {measure.versions()}")
    print(f"{FLAGS.model}: batch {batch}, kernels {', '.join(f'{k}x{n}' for k, n in shapes)}")
    print(f"square-matmul roof {roof:.0f} GFLOP/s at the start, {roof_end:.0f} at the end")
    print(f"the model's own matmuls (forward and both gradients): {rate:.0f} GFLOP/s = "
          f"{rate / ((roof + roof_end) / 2):.0%} of the roof")


if __name__ == "__main__":
    app.run(main)
