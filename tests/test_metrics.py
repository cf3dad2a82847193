"""The metric functions against closed forms and toy sets whose answer is known."""
import numpy as np
import pytest

from gan_zoo.eval import metrics as M


def _gaussian(n, mean, std, dim=8, seed=0):
    return np.random.default_rng(seed).normal(mean, std, (n, dim))


def test_frechet_distance_matches_the_closed_form_for_diagonal_gaussians():
    a, b = _gaussian(20000, 0.0, 1.0), _gaussian(20000, 0.5, 2.0, seed=1)
    # |mu_a - mu_b|^2 + sum (s_a - s_b)^2 for diagonal covariances: 8 * (0.25 + 1) = 10
    assert M.frechet_distance(a, b) == pytest.approx(10.0, rel=0.05)
    assert M.frechet_distance(a, _gaussian(20000, 0.0, 1.0, seed=2)) < 0.01


def test_frechet_distance_handles_rank_deficient_covariances():
    """Fewer samples than dimensions: a singular covariance must give a finite, real value."""
    a, b = _gaussian(5, 0.0, 1.0, dim=32), _gaussian(5, 1.0, 1.0, dim=32, seed=1)
    value = M.frechet_distance(a, b)
    assert np.isfinite(value) and value > 0


def test_kid_is_near_zero_for_one_distribution_and_grows_with_a_shift():
    same, spread = M.kernel_inception_distance(_gaussian(2000, 0, 1), _gaussian(2000, 0, 1, seed=1),
                                               subsets=20, subset_size=500)
    shifted, _ = M.kernel_inception_distance(_gaussian(2000, 0, 1), _gaussian(2000, 1, 1, seed=1),
                                             subsets=20, subset_size=500)
    assert abs(same) < 3 * spread + 1e-3
    assert shifted > 50 * max(abs(same), 1e-4)


def test_precision_recall_and_coverage_on_toy_sets():
    real = _gaussian(1000, 0.0, 1.0)
    assert M.precision_recall(real, _gaussian(1000, 0.0, 1.0, seed=1)) > (0.6, 0.6)
    far = _gaussian(1000, 10.0, 1.0, seed=1)
    assert M.precision_recall(real, far) == (0.0, 0.0)
    assert M.coverage(real, far) == 0.0
    # Collapse: every fake on one real point is realistic, but covers nothing else.
    collapsed = np.repeat(real[:1], 1000, axis=0) + 1e-6
    precision, recall = M.precision_recall(real, collapsed)
    assert precision == 1.0 and recall < 0.01
    assert M.coverage(real, collapsed) < 0.02


def test_density_against_its_formula_and_on_toy_sets():
    """Naeem et al.'s density, 1/(kM) sum_j sum_i 1[|Y_j - X_i| < NND_k(X_i)], written out with a
    full distance matrix; about 1 for one distribution, 0 far away, half with half astray."""
    real, fake = _gaussian(300, 0.0, 1.0, dim=4), _gaussian(200, 0.3, 0.8, dim=4, seed=1)
    distances = np.linalg.norm(real[:, None] - fake[None], axis=-1)  # [real, fake]
    radii = np.sort(np.linalg.norm(real[:, None] - real[None], axis=-1), axis=1)[:, 5]
    expected = (distances < radii[:, None]).sum() / (5 * len(fake))
    assert M.density(real, fake) == pytest.approx(expected, rel=1e-12)
    big = _gaussian(3000, 0.0, 1.0, dim=4)
    assert M.density(big, _gaussian(3000, 0.0, 1.0, dim=4, seed=1)) == pytest.approx(1.0, abs=0.1)
    assert M.density(big, _gaussian(500, 10.0, 1.0, dim=4, seed=1)) == 0.0
    half_astray = np.concatenate([_gaussian(500, 0.0, 1.0, dim=4, seed=1), _gaussian(500, 10.0, 1.0, dim=4)])
    assert M.density(big, half_astray) == pytest.approx(0.5, abs=0.06)


def test_knn_radius_skips_the_point_itself():
    points = np.array([[0.0], [1.0], [3.0]])
    assert M.knn_radii(points, 1).tolist() == [1.0, 1.0, 2.0]


def test_parzen_equals_the_gaussian_density_for_one_centre():
    x = np.random.default_rng(0).normal(size=(50, 4))
    ll, stderr, sigma = M.parzen_log_likelihood(np.zeros((1, 4)), x, x, sigmas=[1.0])
    exact = -0.5 * (x ** 2).sum(1) - 2 * np.log(2 * np.pi)
    assert sigma == 1.0
    assert ll == pytest.approx(exact.mean())
    assert stderr == pytest.approx(exact.std() / np.sqrt(50))


def test_parzen_prefers_samples_from_the_test_distribution():
    rng = np.random.default_rng(0)
    test, validation = rng.uniform(0, 1, (200, 16)) * 0.2, rng.uniform(0, 1, (200, 16)) * 0.2
    good = rng.uniform(0, 1, (500, 16)) * 0.2
    bad = rng.uniform(0, 1, (500, 16))
    assert M.parzen_log_likelihood(good, test, validation)[0] > M.parzen_log_likelihood(bad, test, validation)[0] + 5


def test_laplacian_pyramid_reconstructs_the_image():
    image = np.random.default_rng(0).uniform(-1, 1, (2, 64, 64, 3))
    levels = M.laplacian_pyramid(image)
    assert [level.shape[1] for level in levels] == [64, 32, 16]
    rebuilt = levels[-1]
    for band in reversed(levels[:-1]):
        rebuilt = M._upsample(rebuilt) + band
    np.testing.assert_allclose(rebuilt, image, atol=1e-9)


def test_swd_orders_real_blurred_and_noise():
    rng = np.random.default_rng(0)
    # Smooth random images stand in for a data set; blurred copies lose the fine band.
    base = M._blur(M._blur(rng.uniform(-1, 1, (200, 32, 32, 1))))
    real_a, real_b = base[:100], base[100:]
    blurred = M._blur(M._blur(real_b))
    noise = rng.uniform(-1, 1, real_b.shape)
    _, same = M.sliced_wasserstein(real_a, real_b)
    _, soft = M.sliced_wasserstein(real_a, blurred)
    _, worst = M.sliced_wasserstein(real_a, noise)
    assert same < soft < worst
    per_level, _ = M.sliced_wasserstein(real_a, real_b)
    assert len(per_level) == 2  # 32 and 16


def test_frechet_distance_of_one_column_features_is_the_1d_closed_form():
    """np.cov of one column is 0-d: the distance still comes out, as the 1-D Gaussians' one."""
    rng = np.random.default_rng(0)
    a, b = rng.normal(1.0, 2.0, (5000, 1)), rng.normal(-1.0, 0.5, (5000, 1))
    va, vb = np.var(a, ddof=1), np.var(b, ddof=1)
    expected = (a.mean() - b.mean()) ** 2 + va + vb - 2 * np.sqrt(va * vb)
    assert M.frechet_distance(a, b) == pytest.approx(expected, rel=1e-9)
