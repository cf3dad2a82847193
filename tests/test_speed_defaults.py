"""--jit_compile=auto / --mixed_precision=auto: the machine class read off the CPU flags, the
measured table's choice per class and model, the plain path where nothing was measured, and
a bfloat16 run that trains as float32 does."""
import numpy as np
import pytest

from gan_zoo.settings import config as config_lib, speed_defaults
from gan_zoo import data
from gan_zoo.training import trainer


@pytest.fixture
def real_class(monkeypatch):
    monkeypatch.delenv("GAN_ZOO_MACHINE_CLASS", raising=False)


def test_machine_class_from_cpu_flags(real_class, tmp_path):
    cases = [({"sse4_2", "avx2", "fma"}, "cpu-avx2"),
             ({"avx2", "avx512f", "avx512bw"}, "cpu-avx512"),
             ({"avx2", "avx512f", "avx512_bf16"}, "cpu-avx512_bf16"),
             ({"avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile"}, "cpu-amx"),
             ({"neon"}, "cpu"), (set(), "cpu")]
    for flags, expected in cases:
        assert speed_defaults.machine_class(flags, gpus=False) == expected, flags
    assert speed_defaults.machine_class({"avx2"}, gpus=True) == "gpu"
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: X\nflags\t\t: fpu avx2 avx512f avx512_bf16\n")
    assert speed_defaults.cpu_flags(str(cpuinfo)) == {"fpu", "avx2", "avx512f", "avx512_bf16"}
    assert speed_defaults.cpu_flags(str(tmp_path / "missing")) == set()
    # what benchmarks record beside a figure: the flags that set the class, nothing else
    assert speed_defaults.isa({"fpu", "avx512_bf16", "avx2", "avx512f"}) == "avx2 avx512f avx512_bf16"
    assert speed_defaults.isa({"neon"}) == "no AVX2"


def test_machine_class_override(monkeypatch):
    monkeypatch.setenv("GAN_ZOO_MACHINE_CLASS", "cpu-avx2")
    assert speed_defaults.machine_class({"avx512_bf16"}, gpus=True) == "cpu-avx2"


def test_auto_takes_the_measured_winner_of_each_class_and_model():
    table = speed_defaults.measured()["classes"]
    assert "cpu-avx2" in table and "cpu-avx512_bf16" in table
    seen = set()
    for klass, entry in table.items():
        assert entry["measured"] and entry["command"]  # where the figures came from
        for model, best in entry["models"].items():
            choice = speed_defaults.choose(model, "auto", "auto", klass=klass)
            assert choice.jit_compile == best["jit_compile"]
            kept = speed_defaults.bfloat16_kept_quality(model)
            expected = "off" if best["mixed_precision"] == "bfloat16" and not kept else best["mixed_precision"]
            assert choice.precision == expected
            assert model in choice.why and klass in choice.why
            seen.add((best["jit_compile"], best["mixed_precision"]))
            # a setting given is kept; several logical CPU devices never get XLA from auto
            assert speed_defaults.choose(model, "off", "off", klass=klass) == speed_defaults.Choice(False, "off", "")
            assert not speed_defaults.choose(model, "auto", "off", one_cpu_device=False, klass=klass).jit_compile
    assert len(seen) > 1  # the table does choose differently somewhere: auto is not a constant
    # bfloat16 is taken where its short runs' mean label accuracy stayed within 0.02 (a
    # face model's mean SWD, lower is better, within 10% above float32's)
    quality = speed_defaults.measured()["bfloat16_quality"]
    for model, result in quality.items():
        if isinstance(result, dict):
            bf16, f32 = np.mean(result["bfloat16"]), np.mean(result["float32"])
            if result.get("metric") == "SWD":
                assert result["kept"] == (bf16 <= 1.1 * f32), model
            else:
                assert result["kept"] == (abs(bf16 - f32) <= 0.02), model
    plain = speed_defaults.choose("conv_cgan", "auto", "auto", klass="plain")
    assert (plain.jit_compile, plain.precision) == (False, "off")
    unmeasured = speed_defaults.choose("no_such_model", "auto", "auto", klass="cpu-avx512_bf16")
    assert (unmeasured.jit_compile, unmeasured.precision) == (False, "off")
    assert "no measurement" in unmeasured.why
    gpu = speed_defaults.choose("conv_cgan", "auto", "auto", klass="gpu")
    assert gpu.precision == (table.get("gpu", {}).get("models", {}).get("conv_cgan", {})
                             .get("mixed_precision", "float16"))


def test_trainer_uses_the_choice(monkeypatch):
    monkeypatch.setenv("GAN_ZOO_MACHINE_CLASS", "cpu-avx512_bf16")
    for model in ("mlp_cgan", "maxout_cgan"):  # bfloat16 kept its quality, and did not
        choice = speed_defaults.choose(model, "auto", "auto")
        cfg = config_lib.resolve(recipe=model, dataset="fashion_mnist", max_images=512)
        t = trainer.Trainer(cfg, data.for_config(cfg))
        expected = {"off": "float32", "bfloat16": "mixed_bfloat16"}[choice.precision]
        assert t.policy == expected and t.generator.dtype_policy.name == expected
        assert t.speed == choice
    assert speed_defaults.choose("mlp_cgan", "auto", "auto").precision == "bfloat16"
    assert speed_defaults.choose("maxout_cgan", "auto", "auto").precision == "off"


# bfloat16 keeps 8 significant bits: rounding a value to it moves it by at most 2^-9 of itself.
# Each matmul-like layer of the bfloat16 path rounds its two operands (it accumulates in
# float32), so it moves its output by at most about 2 x 2^-9 of its scale, and the errors of the
# layers along a path add. maxout_cgan's G has 3 such layers and D 4 (its Maxout pieces,
# projection and output), so what one example computes moves by at most:
BF16_LAYER = 2 * 2.0 ** -9
LOSS_PATH = 3 + 4  # a loss: G forward, then D forward
D_GRADIENT_PATH = 3 + 4 + 4  # D's gradient: G and D forward, D backward
G_GRADIENT_PATH = 3 + 4 + 4 + 3  # G's gradient: G and D forward, D and G backward


def _forward(t, images, condition, noise):
    import tensorflow as tf

    from gan_zoo import models
    fake = models.generate(t.generator, noise, condition, training=True)
    real_logits = tf.cast(models.judge(t.discriminator, images, condition, training=True), tf.float32)
    fake_logits = tf.cast(models.judge(t.discriminator, fake, condition, training=True), tf.float32)
    return real_logits, fake_logits


def _losses_and_gradients(t, images, condition, noise):
    """D's and G's non-saturating losses on one batch, D's mean outputs, and the two networks'
    gradients (flat float32 vectors), with the trainer's networks under its precision policy."""
    import tensorflow as tf
    with tf.GradientTape(persistent=True) as tape:
        real_logits, fake_logits = _forward(t, images, condition, noise)
        d_loss = tf.reduce_mean(tf.nn.softplus(-real_logits) + tf.nn.softplus(fake_logits))
        g_loss = tf.reduce_mean(tf.nn.softplus(-fake_logits))
    flat = lambda gradients: tf.concat([tf.reshape(tf.cast(g, tf.float32), [-1]) for g in gradients], 0)
    outputs = {"Dis_loss": float(d_loss), "Gen_loss": float(g_loss),
               "Real_P": float(tf.reduce_mean(tf.sigmoid(real_logits))),
               "Fake_P": float(tf.reduce_mean(tf.sigmoid(fake_logits)))}
    return outputs, (flat(tape.gradient(d_loss, t.discriminator.trainable_variables)),
                     flat(tape.gradient(g_loss, t.generator.trainable_variables)))


def _cancellation(t, images, condition, noise):
    """For D's and G's batch gradients: mean over the examples of |one example's gradient|,
    over |the batch's gradient|. A batch gradient is the mean of per-example ones that point
    different ways; each example's rounding error is bounded relative to its own gradient, so
    the batch's error relative to the batch gradient is bounded by that bound times this."""
    import tensorflow as tf
    sums = np.zeros(2)
    for i in range(len(noise)):
        _, per_example = _losses_and_gradients(t, images[i:i + 1], condition[i:i + 1], noise[i:i + 1])
        sums += [float(tf.norm(g)) for g in per_example]
    _, batch = _losses_and_gradients(t, images, condition, noise)
    return sums / len(noise) / np.array([float(tf.norm(g)) for g in batch])


def test_bfloat16_computes_what_float32_does():
    """maxout_cgan in float32 and in bfloat16 (what auto picks on CPUs with AVX512_BF16), from
    the same weights on the same batch and noise: the losses, D's outputs and both networks'
    gradients agree within what bfloat16's rounding allows (the bounds above). One step, so nothing
    compounds: a comparison after many training steps measures the chaos of GAN training
    (any rounding difference grows), not bfloat16. Then the bfloat16 trainer's own steps run
    and stay finite."""
    import tensorflow as tf
    runs = {}
    for precision in ("off", "bfloat16"):
        cfg = config_lib.resolve(recipe="maxout_cgan", dataset="fashion_mnist", max_images=8 * 64,
                                 batch_size=64, mixed_precision=precision, jit_compile="off")
        runs[precision] = trainer.Trainer(cfg, data.for_config(cfg))
    f32, bf16 = runs["off"], runs["bfloat16"]
    assert bf16.generator.dtype_policy.compute_dtype == "bfloat16"
    for a, b in zip(f32.generator.weights + f32.discriminator.weights,
                    bf16.generator.weights + bf16.discriminator.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())  # the same start
    images, condition = next(iter(f32.source.epoch_batches(64, 0, 0)))
    noise = tf.random.stateless_normal((64, f32.config.noise_dim), (1, 2))
    want, want_gradients = _losses_and_gradients(f32, images, condition, noise)
    got, got_gradients = _losses_and_gradients(bf16, images, condition, noise)
    assert got["Dis_loss"] != want["Dis_loss"]  # it did compute in bfloat16
    for name in ("Dis_loss", "Gen_loss", "Real_P", "Fake_P"):  # a mean over the batch
        assert abs(got[name] - want[name]) <= LOSS_PATH * BF16_LAYER * abs(want[name]), (name, want, got)
    cancellation = _cancellation(f32, images, condition, noise)
    for network, path, a, b, factor in zip("DG", (D_GRADIENT_PATH, G_GRADIENT_PATH),
                                           want_gradients, got_gradients, cancellation):
        error, bound = float(tf.norm(b - a) / tf.norm(a)), path * BF16_LAYER * factor
        assert error <= bound, (network, error, bound)
    bf16.train_epoch_steps(0)
    trained = bf16.epoch_metrics()
    assert all(np.isfinite(trained[name]) for name in ("Dis_loss", "Gen_loss", "Real_P", "Fake_P"))
    assert bf16.all_weights_finite()
