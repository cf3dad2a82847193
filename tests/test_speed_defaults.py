"""--jit_compile=auto / --mixed_precision=auto: the machine class read off the CPU flags, the
measured table's choice per class and model, the plain path where nothing was measured, and
a bfloat16 run that trains as float32 does."""
import numpy as np
import pytest

from gan_zoo import config as config_lib, data, speed_defaults, trainer


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
        cfg = config_lib.resolve(recipe=model, dataset="mnist", max_images=512)
        t = trainer.Trainer(cfg, data.for_config(cfg))
        expected = {"off": "float32", "bfloat16": "mixed_bfloat16"}[choice.precision]
        assert t.policy == expected and t.generator.dtype_policy.name == expected
        assert t.speed == choice
    assert speed_defaults.choose("mlp_cgan", "auto", "auto").precision == "bfloat16"
    assert speed_defaults.choose("maxout_cgan", "auto", "auto").precision == "off"


def test_bfloat16_trains_as_float32_does():
    """maxout_cgan, 40 steps on the same batches in float32 and in bfloat16 (what auto picks on
    CPUs with AVX512_BF16): D's and G's losses, and D's outputs on real and fake images, stay
    within stated bounds of float32's: 5% for the losses, 0.02 for the probabilities (measured
    on AVX-512: 0.4-0.7% and 0.003; bfloat16 keeps 8 bits of mantissa)."""
    runs = {}
    for precision in ("off", "bfloat16"):
        cfg = config_lib.resolve(recipe="maxout_cgan", dataset="mnist", max_images=40 * 64,
                                 batch_size=64, mixed_precision=precision, jit_compile="off")
        t = trainer.Trainer(cfg, data.for_config(cfg))
        t.train_epoch_steps(0)
        runs[precision] = t.epoch_metrics()
    f32, bf16 = runs["off"], runs["bfloat16"]
    assert bf16["Dis_loss"] != f32["Dis_loss"]  # the bfloat16 run did compute in bfloat16
    for name, bound in (("Dis_loss", 0.05), ("Gen_loss", 0.05), ("Real_P", 0.02), ("Fake_P", 0.02)):
        assert np.isfinite(bf16[name])
        assert abs(bf16[name] - f32[name]) <= bound * max(1.0, abs(f32[name])), (name, f32[name], bf16[name])
