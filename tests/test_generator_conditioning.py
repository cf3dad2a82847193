"""--g_conditioning=modulation: the label scales and shifts the MLP generators' hidden units
(conditional BatchNorm in mlp_cgan), against its formula, from the plain network at the start,
and through a save and reload."""
import keras
import numpy as np
import pytest

from gan_zoo.settings import config
from gan_zoo import models
from gan_zoo.data.spec import DataSpec
from gan_zoo.errors import UserError
from gan_zoo.models import layers

SPEC = DataSpec(image_shape=(28, 28, 1), condition_dim=10)


def test_class_modulation_equals_its_formula_and_starts_as_the_identity():
    rng = np.random.default_rng(0)
    h = rng.normal(size=(4, 6)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[[0, 2, 1, 2]]
    y[1, 0] = 1.0  # a multi-hot condition sums its tags' gains and biases
    modulation = layers.ClassModulation()
    np.testing.assert_array_equal(modulation(h, y).numpy(), h)  # zeros at the start
    gain, bias = rng.normal(size=(2, 3, 6)).astype(np.float32)
    modulation.set_weights([gain, bias])
    np.testing.assert_allclose(modulation(h, y).numpy(), h * (1 + y @ gain) + y @ bias,
                               rtol=1e-5, atol=1e-6)


def _noise_features(generator, layer_name, noise, labels):
    probe = keras.Model(generator.inputs, generator.get_layer(layer_name).output)
    return probe([noise, labels]).numpy()


@pytest.mark.parametrize("name, first_layer", [("maxout_cgan", "noise_dense"),
                                               ("mlp_cgan", "noise_dense_bn")])
def test_with_modulation_the_label_reaches_the_noise_features(name, first_layer):
    """Concat: the noise's first features are the same whatever the label (the label joins
    later). Modulation: they move with the label, once the gains are off zero; at zero the
    generator draws what the plain one with the same weights draws."""
    noise = np.random.default_rng(1).normal(size=(2, 100)).astype(np.float32)
    shirts, bags = np.eye(10, dtype=np.float32)[[6, 6]], np.eye(10, dtype=np.float32)[[8, 8]]
    keras.utils.set_random_seed(0)
    plain = models.build(SPEC, config.resolve(model=name, g_conditioning="concat"))[0]
    keras.utils.set_random_seed(0)
    modulated = models.build(SPEC, config.resolve(model=name, g_conditioning="modulation"))[0]
    added = {w.path for w in modulated.weights} - {w.path for w in plain.weights}
    assert added and all("modulation" in path for path in added)
    assert sum(int(np.prod(w.shape)) for w in modulated.weights if w.path in added) == (
        2 * 10 * (256 + 512 + (1024 if name == "mlp_cgan" else 0)))
    np.testing.assert_array_equal(_noise_features(plain, first_layer, noise, shirts),
                                  _noise_features(plain, first_layer, noise, bags))
    shared = {w.path: w.numpy() for w in plain.weights}
    for w in modulated.weights:  # the plain network's weights; the gains stay at zero
        if w.path in shared:
            w.assign(shared[w.path])
    np.testing.assert_allclose(modulated([noise, bags]).numpy(), plain([noise, bags]).numpy(),
                               atol=1e-6)
    rng = np.random.default_rng(2)
    for w in modulated.weights:
        if w.path in added:
            w.assign(rng.normal(scale=0.5, size=w.shape).astype(np.float32))
    layer = f"{first_layer.removesuffix('_bn')}_modulation"
    assert np.abs(_noise_features(modulated, layer, noise, shirts)
                  - _noise_features(modulated, layer, noise, bags)).max() > 0.1


def test_a_modulated_generator_reloads_and_draws_the_same_images(tmp_path):
    keras.utils.set_random_seed(0)
    generator = models.build(SPEC, config.resolve(model="maxout_cgan",
                                                  g_conditioning="modulation"))[0]
    rng = np.random.default_rng(3)
    for w in generator.weights:
        if "modulation" in w.path:
            w.assign(rng.normal(scale=0.5, size=w.shape).astype(np.float32))
    path = str(tmp_path / "g.keras")
    generator.save(path)
    reloaded = keras.models.load_model(path)  # safe mode: the layer is registered
    inputs = [rng.normal(size=(3, 100)).astype(np.float32), np.eye(10, dtype=np.float32)[[0, 4, 9]]]
    np.testing.assert_allclose(reloaded(inputs).numpy(), generator(inputs).numpy(), atol=1e-6)


def test_modulation_is_refused_where_the_generator_has_no_such_layers():
    with pytest.raises(UserError, match="g_conditioning=modulation.*not conv_cgan"):
        config.resolve(model="conv_cgan", g_conditioning="modulation")
    with pytest.raises(UserError, match="g_conditioning=modulation.*not dcgan"):
        config.resolve(model="dcgan", g_conditioning="modulation")
