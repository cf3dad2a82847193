"""What `--jit_compile=auto` and `--mixed_precision=auto` choose: the measured winner for the
model on this class of machine, from gan_zoo/settings/recipes/speed.json.

Whether XLA or bfloat16 pays depends on the CPU: on an AVX2-only CPU bfloat16 has no
hardware support and runs several times slower, while on one with AVX512_BF16 or AMX it is
faster; XLA speeds some models up on one CPU and slows them on another. So a fixed default
is wrong somewhere. speed.json holds, per machine class and model, the settings that
tools/speed_table.py measured fastest there; bfloat16 is taken only where short runs in
it also kept float32's label accuracy within 0.02 on average, or for a faces model its SWD
within 10% (`bfloat16_quality`, one record
for every CPU with bfloat16 instructions: they round and sum alike, so a model's quality in
bfloat16 does not depend on which of them ran it). A class or
model with no measurement gets the plain path: float32 and no XLA on a CPU, float16
on a GPU. GAN_ZOO_MACHINE_CLASS names the class instead of reading it off the machine
(the tests pin it to `plain`, a class with no entry, so a test's numbers do not depend on
the day's CPU).
"""
import dataclasses
import functools
import json
import os

SPEED_TABLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "recipes", "speed.json")
SWITCH_CHOICES = ("auto", "on", "off")
BF16_CLASSES = ("cpu-amx", "cpu-avx512_bf16")  # CPUs with bfloat16 instructions


@dataclasses.dataclass(frozen=True)
class Choice:
    jit_compile: bool
    precision: str  # off, bfloat16 or float16
    why: str  # one line for the log: what auto chose and on what evidence


@functools.lru_cache(maxsize=None)
def cpu_flags(cpuinfo="/proc/cpuinfo"):
    """The CPU feature flags that decide the class (empty where /proc/cpuinfo is missing)."""
    try:
        with open(cpuinfo) as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def isa(flags=None):
    """The instruction sets that decide TF's speed on this CPU, in a few words: what a
    benchmark or a measured curve records beside its figures."""
    flags = cpu_flags() if flags is None else flags
    return " ".join(f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f in flags) or "no AVX2"


def machine_class(flags=None, gpus=None):
    """gpu, cpu-amx, cpu-avx512_bf16, cpu-avx512, cpu-avx2 or cpu: the best unit of the kind
    that decides XLA's and bfloat16's worth. GAN_ZOO_MACHINE_CLASS overrides it."""
    if os.environ.get("GAN_ZOO_MACHINE_CLASS"):
        return os.environ["GAN_ZOO_MACHINE_CLASS"]
    if gpus is None:
        import tensorflow as tf  # only here: reading the settings loads no TensorFlow
        gpus = bool(tf.config.list_logical_devices("GPU"))
    if gpus:
        return "gpu"
    flags = cpu_flags() if flags is None else flags
    for feature, name in (("amx_bf16", "cpu-amx"), ("avx512_bf16", "cpu-avx512_bf16"),
                          ("avx512f", "cpu-avx512"), ("avx2", "cpu-avx2")):
        if feature in flags:
            return name
    return "cpu"


@functools.lru_cache(maxsize=None)
def measured(path=SPEED_TABLE):
    with open(path) as f:
        return json.load(f)


def bfloat16_kept_quality(model):
    """Whether short runs of `model` in bfloat16 kept float32's label accuracy, or SWD for
    an unconditional model (speed.json's `bfloat16_quality`); False where none was run."""
    return bool(measured().get("bfloat16_quality", {}).get(model, {}).get("kept"))


def choose(model, jit_compile, mixed_precision, one_cpu_device=True, klass=None):
    """The Choice for `model` under --jit_compile (auto/on/off) and --mixed_precision
    (auto/off/bfloat16/float16). `one_cpu_device` False (several logical CPU replicas):
    auto never picks XLA, which cannot run there."""
    klass = klass or machine_class()
    entry = measured()["classes"].get(klass, {})
    best = entry.get("models", {}).get(model, {})
    auto = []  # what auto chose
    jit = jit_compile == "on"
    if jit_compile == "auto":
        jit = bool(best.get("jit_compile")) and one_cpu_device
        auto.append(f"XLA {'on' if jit else 'off'}")
    precision = mixed_precision
    if mixed_precision == "auto":
        precision = best.get("mixed_precision", "float16" if klass == "gpu" else "off")
        if precision == "bfloat16" and not bfloat16_kept_quality(model):
            precision = "off"  # faster, but no short run showed it trains as well
        auto.append("float32" if precision == "off" else precision)
    lines = []
    if auto:
        evidence = (f"measured fastest for {model} on {klass} "
                    f"({best.get('measured_by') or entry.get('measured', '')})" if best
                    else f"no measurement for {model} on {klass}: the plain default")
        lines.append(f"auto: {', '.join(auto)}, {evidence}")
    if precision == "bfloat16" and klass.startswith("cpu") and klass not in BF16_CLASSES:
        lines.append(f"bfloat16 on {klass}, a CPU without bfloat16 instructions: several times "
                     "slower than float32 here")
    return Choice(jit, precision, "; ".join(lines))
