"""Sample-quality metrics, each a pure function of arrays (features or images), numpy only.

In a feature space: `frechet_distance` (FID, Heusel et al. 2017), `kernel_inception_distance`
(KID, Binkowski et al. 2018: unbiased, near 0 for one distribution), `precision_recall`
(Kynkaanniemi et al. 2019: realism and variety as k-NN manifold overlap), and `density` and
`coverage` (Naeem et al. 2020: fakes counted in real points' balls; real points with a fake
nearby; outliers cannot inflate either).
In pixel space: `parzen_log_likelihood` (Goodfellow et al. 2014's Parzen window) and
`sliced_wasserstein` (Karras et al. 2018's SWD over Laplacian-pyramid patches).
"""
import numpy as np

CHUNK = 2048  # rows of a distance matrix computed at once


def _float64(x):
    return np.asarray(x, dtype=np.float64).reshape(len(x), -1)


def frechet_distance(features_a, features_b):
    a, b = _float64(features_a), _float64(features_b)
    mu_a, mu_b = a.mean(0), b.mean(0)
    # atleast_2d: np.cov of one-column features is a 0-d array, and eigh needs a matrix
    cov_a, cov_b = (np.atleast_2d(np.cov(x, rowvar=False)) for x in (a, b))
    # tr sqrt(A B) = sum of sqrt of the eigenvalues of sqrt(A) B sqrt(A), which is symmetric:
    # eigh is exact where scipy.linalg.sqrtm can return complex noise.
    values, vectors = np.linalg.eigh(cov_a)
    root_a = (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T
    cross = np.linalg.eigvalsh(root_a @ cov_b @ root_a)
    trace_root = np.sqrt(np.clip(cross, 0, None)).sum()
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * trace_root)


def kernel_inception_distance(features_a, features_b, subsets=100, subset_size=1000, seed=0):
    """(mean, standard deviation) of the unbiased MMD^2 over `subsets` random subsets."""
    a, b = _float64(features_a), _float64(features_b)
    size = min(subset_size, len(a), len(b))
    if size < 2:
        raise ValueError("KID needs at least 2 samples in each set")
    rng = np.random.default_rng(seed)
    dim = a.shape[1]
    kernel = lambda x, y: (x @ y.T / dim + 1.0) ** 3  # noqa: E731
    values = []
    for _ in range(subsets):
        x = a[rng.choice(len(a), size, replace=False)]
        y = b[rng.choice(len(b), size, replace=False)]
        kxx, kyy, kxy = kernel(x, x), kernel(y, y), kernel(x, y)
        off_diagonal = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (size * (size - 1))
        values.append(off_diagonal - 2 * kxy.mean())
    return float(np.mean(values)), float(np.std(values))


def _squared_distances(x, y):
    """[len(x), len(y)] squared Euclidean distances, in float64."""
    return np.maximum((x ** 2).sum(1)[:, None] + (y ** 2).sum(1)[None, :] - 2.0 * x @ y.T, 0.0)


def knn_radii(features, k):
    """Distance from each point to its k-th nearest other point of the same set."""
    x = _float64(features)
    if len(x) <= k:
        raise ValueError(f"k-NN radii need more than k={k} points, got {len(x)}")
    radii = np.empty(len(x))
    for start in range(0, len(x), CHUNK):
        d = _squared_distances(x[start:start + CHUNK], x)
        # The point itself is at distance 0 and sorts first: the k-th other is at index k.
        radii[start:start + CHUNK] = np.sqrt(np.partition(d, k, axis=1)[:, k])
    return radii


def _inside_any_ball(points, centres, radii):
    """For each point, whether it lies within radius of at least one centre."""
    p, c = _float64(points), _float64(centres)
    inside = np.zeros(len(p), bool)
    for start in range(0, len(p), CHUNK):
        d = np.sqrt(_squared_distances(p[start:start + CHUNK], c))
        inside[start:start + CHUNK] = (d <= radii[None, :]).any(1)
    return inside


def precision_recall(real_features, fake_features, k=3):
    """(precision, recall) with k-NN manifolds; Kynkaanniemi et al. use k = 3."""
    precision = _inside_any_ball(fake_features, real_features, knn_radii(real_features, k)).mean()
    recall = _inside_any_ball(real_features, fake_features, knn_radii(fake_features, k)).mean()
    return float(precision), float(recall)


def coverage(real_features, fake_features, k=5):
    """Share of real points whose k-NN ball (among reals) holds at least one fake; Naeem et
    al. use k = 5."""
    real, fake = _float64(real_features), _float64(fake_features)
    radii = knn_radii(real, k)
    covered = np.zeros(len(real), bool)
    for start in range(0, len(real), CHUNK):
        d = np.sqrt(_squared_distances(real[start:start + CHUNK], fake))
        covered[start:start + CHUNK] = d.min(1) <= radii[start:start + CHUNK]
    return float(covered.mean())


def density(real_features, fake_features, k=5):
    """How many real points' k-NN balls hold each fake, over k, averaged (Naeem et al. 2020,
    with prdc's strict inequality): about 1 where fakes are spread as the reals are, the share
    of realistic fakes when the others stray. Unlike precision, a few outlying reals with wide
    balls cannot make every fake look realistic."""
    real, fake = _float64(real_features), _float64(fake_features)
    radii = knn_radii(real, k)
    inside = 0
    for start in range(0, len(fake), CHUNK):
        d = np.sqrt(_squared_distances(fake[start:start + CHUNK], real))
        inside += int((d < radii[None, :]).sum())
    return float(inside / (k * len(fake)))


def per_class_coverage(real_features, real_labels, fake_features, fake_labels, k=5):
    """{class: coverage of that class's real points by the fakes asked to be that class}.
    A class the generator ignores, or draws as another, scores near 0."""
    out = {}
    for c in np.unique(real_labels):
        real, fake = real_features[real_labels == c], fake_features[fake_labels == c]
        out[int(c)] = coverage(real, fake, k) if len(fake) and len(real) > k else 0.0
    return out


def _log_mean_exp(a, axis):
    top = a.max(axis=axis, keepdims=True)
    return (top + np.log(np.exp(a - top).mean(axis=axis, keepdims=True))).squeeze(axis)


def parzen_log_likelihood(samples, test, validation, sigmas=None):
    """(mean log-likelihood of `test`, its standard error, sigma) under a Gaussian Parzen
    window centred on `samples`, with sigma the grid value that scores `validation` best.

    Images are flattened and taken in [0, 1] as Goodfellow et al. did (their MNIST GAN:
    225 +/- 2; Mirza & Osindero's cGAN: 132 +/- 1.8). A known weak estimate in high
    dimensions (Theis et al. 2016): reported to set results beside those tables, never used
    to pick checkpoints.
    """
    mu, test, validation = _float64(samples), _float64(test), _float64(validation)
    sigmas = np.logspace(-1, 0, 10) if sigmas is None else np.asarray(sigmas, np.float64)
    dim = mu.shape[1]

    def log_likelihoods(x, sigma_values):
        out = np.empty((len(sigma_values), len(x)))
        for start in range(0, len(x), 256):
            d = _squared_distances(x[start:start + 256], mu)  # computed once for all sigmas
            for i, sigma in enumerate(sigma_values):
                out[i, start:start + 256] = (_log_mean_exp(-d / (2 * sigma ** 2), axis=1)
                                             - dim * np.log(sigma * np.sqrt(2 * np.pi)))
        return out

    best = float(sigmas[int(np.argmax(log_likelihoods(validation, sigmas).mean(1)))])
    ll = log_likelihoods(test, [best])[0]
    return float(ll.mean()), float(ll.std() / np.sqrt(len(ll))), best


# --- sliced Wasserstein distance on Laplacian-pyramid patches ---------------------------------
_GAUSS = np.outer([1, 4, 6, 4, 1], [1, 4, 6, 4, 1]).astype(np.float64) / 256.0


def _blur(images):
    """5x5 binomial filter per channel with reflected borders (NHWC float64)."""
    padded = np.pad(images, ((0, 0), (2, 2), (2, 2), (0, 0)), mode="reflect")
    h, w = images.shape[1:3]
    out = np.zeros_like(images)
    for dy in range(5):
        for dx in range(5):
            out += _GAUSS[dy, dx] * padded[:, dy:dy + h, dx:dx + w]
    return out


def _downsample(images):
    return _blur(images)[:, ::2, ::2]


def _upsample(images):
    up = np.zeros((images.shape[0], images.shape[1] * 2, images.shape[2] * 2, images.shape[3]))
    up[:, ::2, ::2] = images
    return _blur(up) * 4.0


def laplacian_pyramid(images, smallest=16):
    """[full-size band, half-size band, ..., the `smallest`-size Gaussian level]."""
    levels, current = [], np.asarray(images, np.float64)
    while current.shape[1] > smallest and current.shape[1] % 2 == 0 and current.shape[2] % 2 == 0:
        smaller = _downsample(current)
        levels.append(current - _upsample(smaller))
        current = smaller
    levels.append(current)
    return levels


def _patches(level, per_image, size, rng):
    n, h, w, c = level.shape
    if h < size or w < size:
        raise ValueError(f"SWD patches of {size}x{size} need images of at least that size, got {h}x{w}")
    ys = rng.integers(0, h - size + 1, (n, per_image))
    xs = rng.integers(0, w - size + 1, (n, per_image))
    offsets = np.arange(size)
    rows = ys[..., None, None] + offsets[:, None]  # [n, per_image, size, 1]
    cols = xs[..., None, None] + offsets[None, :]  # [n, per_image, 1, size]
    patches = level[np.arange(n)[:, None, None, None], rows, cols]  # [n, per_image, size, size, c]
    return patches.reshape(n * per_image, size * size, c)


def _normalised(descriptors):
    """Per channel zero mean, unit spread over the whole set (ProGAN's normalisation)."""
    mean = descriptors.mean(axis=(0, 1), keepdims=True)
    std = descriptors.std(axis=(0, 1), keepdims=True) + 1e-8
    return ((descriptors - mean) / std).reshape(len(descriptors), -1)


def sliced_wasserstein(real_images, fake_images, patches_per_image=64, patch_size=7,
                       directions=512, smallest=16, seed=0):
    """(SWD per pyramid level, finest first; their mean), each x 1e3 as Karras et al. report.

    Images NHWC in [-1, 1] (or any fixed range), both sets the same count and size. Each
    level's descriptors are 7x7 patches at random places, normalised per channel; the
    distance is the mean over random unit directions of the 1-D Wasserstein distance
    between the two sets' projections (sorted values).
    """
    real, fake = np.asarray(real_images, np.float64), np.asarray(fake_images, np.float64)
    if real.shape[1:] != fake.shape[1:]:
        raise ValueError(f"SWD compares images of one size, got {real.shape[1:]} and {fake.shape[1:]}")
    count = min(len(real), len(fake))
    rng = np.random.default_rng(seed)
    per_level = []
    for real_level, fake_level in zip(laplacian_pyramid(real[:count], smallest),
                                      laplacian_pyramid(fake[:count], smallest)):
        a = _normalised(_patches(real_level, patches_per_image, patch_size, rng))
        b = _normalised(_patches(fake_level, patches_per_image, patch_size, rng))
        total = 0.0
        for start in range(0, directions, 128):
            dirs = rng.standard_normal((a.shape[1], min(128, directions - start)))
            dirs /= np.linalg.norm(dirs, axis=0, keepdims=True)
            total += np.abs(np.sort(a @ dirs, axis=0) - np.sort(b @ dirs, axis=0)).mean(0).sum()
        per_level.append(1e3 * total / directions)
    return per_level, float(np.mean(per_level))
