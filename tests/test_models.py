import numpy as np
import pytest

from gan_zoo.settings import config
from gan_zoo import models
from gan_zoo.models.layers import Maxout
from gan_zoo.data.spec import DataSpec

MNIST_SPEC = DataSpec(image_shape=(28, 28, 1), condition_dim=10)


def dense_params(n_in, n_out):
    return n_in * n_out + n_out


def test_maxout_cgan_shapes_and_parameter_counts():
    # the paper's G and D
    cfg = config.resolve(model="maxout_cgan", d_conditioning="concat", spectral_norm=False,
                         g_conditioning="concat", ndf=64)
    g, d = models.build(MNIST_SPEC, cfg)
    assert g.output_shape == (None, 28, 28, 1)
    assert d.output_shape == (None, 1)
    assert g.count_params() == (dense_params(100, 256) + dense_params(10, 256)
                                + dense_params(512, 512) + dense_params(512, 784))
    assert d.count_params() == (dense_params(784, 240 * 5) + dense_params(10, 50 * 5)
                                + dense_params(240 + 50, 240 * 4) + dense_params(240, 1))
    # the recipe's projection D, twice as wide: no label branch; a bias-free 10 -> 480
    # embedding instead (and spectral norm, whose power-iteration vectors are weights but not
    # trained)
    modulated, projected = models.build(MNIST_SPEC, config.resolve(model="maxout_cgan"))
    # the recipe's G: a class gain and bias for each of the two hidden layers the noise reaches
    assert modulated.count_params() == g.count_params() + 2 * 10 * (256 + 512)
    trained = sum(int(np.prod(w.shape)) for w in projected.trainable_weights)
    assert trained == (dense_params(784, 480 * 5) + dense_params(480, 480 * 4)
                       + dense_params(480, 1) + 10 * 480)
    assert projected.count_params() > trained
    z = np.random.default_rng(0).normal(size=(3, 100)).astype("float32")
    y = np.eye(10, dtype="float32")[[0, 4, 9]]
    images = g([z, y]).numpy()
    assert images.shape == (3, 28, 28, 1) and np.all(np.abs(images) <= 1)
    assert d([images, y]).shape == (3, 1)


def test_ndf_widens_every_layer_of_the_mlp_models_ds_in_proportion():
    cfg = config.resolve(model="maxout_cgan", d_conditioning="concat", spectral_norm=False,
                         ndf=96)
    _, d = models.build(MNIST_SPEC, cfg)
    assert d.count_params() == (dense_params(784, 360 * 5) + dense_params(10, 75 * 5)
                                + dense_params(360 + 75, 360 * 4) + dense_params(360, 1))
    cfg = config.resolve(model="mlp_cgan", d_conditioning="concat", spectral_norm=False,
                         d_norm="none", ndf=32)
    _, d = models.build(MNIST_SPEC, cfg)
    assert d.count_params() == (dense_params(784, 512) + dense_params(10, 512)
                                + dense_params(1024, 256) + dense_params(256, 128)
                                + dense_params(128, 1))


def test_image_size_and_classes_come_from_the_data():
    spec = DataSpec(image_shape=(32, 32, 3), condition_dim=7)
    g, d = models.build(spec, config.resolve(noise_dim=16))
    assert g.output_shape == (None, 32, 32, 3)
    assert g.input_shape == [(None, 16), (None, 7)]
    assert d.input_shape == [(None, 32, 32, 3), (None, 7)]


def test_maxout_takes_the_max_over_pieces():
    layer = Maxout(units=3, pieces=4, dropout=0.5)
    x = np.random.default_rng(1).normal(size=(5, 6)).astype("float32")
    out = layer(x, training=False).numpy()
    kernel, bias = (w.numpy() for w in layer.dense.weights)
    pieces = (x @ kernel + bias).reshape(5, 4, 3)
    np.testing.assert_allclose(out, pieces.max(axis=1), rtol=1e-5, atol=1e-5)
    # and it is not the mean or the first piece
    assert not np.allclose(out, pieces.mean(axis=1))
    # dropout acts on the pieces during training only
    assert not np.allclose(layer(x, training=True).numpy(), out)


def test_d_dropout_sets_the_maxout_ds_dropout_and_is_refused_elsewhere():
    """--d_dropout=0 gives a D whose training-mode verdict is its inference-mode one; the
    paper's 0.5 drops pieces in training; other models' Ds have no such dropout to set."""
    from gan_zoo.errors import UserError
    rng = np.random.default_rng(3)
    images = rng.uniform(-1, 1, size=(4, 28, 28, 1)).astype("float32")
    y = np.eye(10, dtype="float32")[[1, 2, 3, 4]]
    for rate in (0.0, 0.5):
        cfg = config.resolve(model="maxout_cgan", d_dropout=rate, spectral_norm=False)
        d = models.build(MNIST_SPEC, cfg)[1]
        rates = {layer.dropout_rate for layer in d.layers if isinstance(layer, Maxout)}
        assert rates == {rate}
        same = np.allclose(d([images, y], training=True).numpy(), d([images, y]).numpy())
        assert same == (rate == 0.0), rate
    with pytest.raises(UserError, match="d_dropout.*mlp_cgan's D does not have"):
        config.resolve(model="mlp_cgan", d_dropout=0.0)
    with pytest.raises(UserError, match=r"--d_dropout must be in \[0, 1\)"):
        config.resolve(model="maxout_cgan", d_dropout=1.0)
