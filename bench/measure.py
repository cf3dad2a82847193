"""Yardsticks the benchmarks share: the machine's float32 matmul rate, a step's FLOPs, the
CPU's ISA flags and versions, and the cores other processes used while something was timed."""
import os
import time

import tensorflow as tf
from absl import logging


def matmul_gflops(sizes=(256, 512, 1024, 2048)):
    """The best float32 GFLOP/s over several square sizes (the peak is size-dependent)."""
    return max(_chained_matmul_gflops(n, reps=max(4, int(8 * (2048 / n) ** 2))) for n in sizes)


def _chained_matmul_gflops(n, reps):
    """Chained n x n matmuls: each depends on the last, so none can be folded away."""
    x = tf.random.normal((n, n))
    b = tf.random.normal((n, n)) / n ** 0.5  # keeps the chain's values O(1)

    @tf.function
    def chain(x):
        for _ in range(reps):
            x = tf.matmul(x, b)
        return x

    chain(x).numpy()
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        chain(x).numpy()
        best = min(best, time.perf_counter() - start)
    return 2 * n ** 3 * reps / best / 1e9


def step_flops(concrete_fn):
    """FLOPs of one call of a concrete function, from TF's graph profiler (None if unavailable)."""
    try:
        from tensorflow.python.profiler import model_analyzer, option_builder
        opts = option_builder.ProfileOptionBuilder.float_operation()
        opts["output"] = "none"
        return model_analyzer.profile(concrete_fn.graph, options=opts).total_float_ops
    except Exception as e:  # profiler API is internal; report rather than fail
        logging.warning("FLOP count unavailable: %s", e)
        return None


def trainer_flops_per_batch(trainer, specs):
    """FLOPs the trainer runs per batch of an epoch: every batch's D step and G's step on every
    n_critic-th (one fused step at n_critic 1), from TF's graph profiler; None where it gives
    nothing. `specs`: the (images, condition) TensorSpecs of one batch. (--adaptive_schedule,
    which picks the side per batch, is not modelled.)"""
    import tensorflow as tf
    steps, n_critic = trainer.steps, trainer.config.n_critic
    if n_critic == 1:
        return step_flops(tf.function(steps.fused_step).get_concrete_function(*specs))
    d, g = (step_flops(tf.function(f).get_concrete_function(*specs)) for f in (steps.d_step, steps.g_step))
    return d + g / n_critic if d and g else None


def isa_flags():
    with open("/proc/cpuinfo") as fh:
        found = set(fh.read().split())
    return [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f in found]


def versions():
    """TensorFlow's version and the oneDNN it runs (from oneDNN's own verbose line, in a child
    process so this one's output stays clean)."""
    import re
    import subprocess
    import sys
    code = ("import tensorflow as tf; x = tf.random.normal([1, 8, 8, 4]); "
            "tf.nn.conv2d(x, tf.ones([3, 3, 4, 4]), 1, 'SAME').numpy()")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=dict(os.environ, ONEDNN_VERBOSE="1", TF_CPP_MIN_LOG_LEVEL="2"))
    found = re.search(r"oneDNN v[\d.]+ \(commit \w+\)|oneDNN v[\d.]+", out.stdout + out.stderr)
    return {"tensorflow": tf.__version__, "onednn": found.group(0) if found else "not reported",
            "TF_ENABLE_ONEDNN_OPTS": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "unset (on)")}


class OtherCores:
    """Cores' worth of CPU time that other processes used between start() and stop():
    the machine's busy time (/proc/stat) less this process's own (/proc/self/stat)."""
    HZ = os.sysconf("SC_CLK_TCK")

    @staticmethod
    def _machine_busy():
        with open("/proc/stat") as fh:
            values = list(map(int, fh.readline().split()[1:]))
        return sum(values) - values[3] - values[4]  # all but idle and iowait

    @staticmethod
    def _own():
        with open("/proc/self/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime, all threads

    def start(self):
        self._t, self._busy, self._mine = time.perf_counter(), self._machine_busy(), self._own()
        return self

    def stop(self):
        seconds = time.perf_counter() - self._t
        others = (self._machine_busy() - self._busy) - (self._own() - self._mine)
        return max(others, 0) / self.HZ / max(seconds, 1e-9)
