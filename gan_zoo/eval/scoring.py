"""Scoring a generator against real data: which metrics apply, and one `Scorer` that takes
any generate function (a training run's generator, an export, a pretrained model).

What is measured depends on the data:
- labelled data with a reference classifier (gan_zoo.eval.classifier): label accuracy
  (class-conditional models), FID in the classifier's feature space, precision, recall,
  coverage (mean over classes, and the worst class);
- other images (faces): the sliced Wasserstein distance and the sample diversity relative to
  the real images (gan_zoo.eval.diversity; neither needs a network);
- image pairs: L1, PSNR and SSIM of outputs to the held-out targets.
The real reference is the test split where the data has one, else the training images.
The samples are drawn from fixed noise with the reference's own conditions, so two
epochs (or two models) are scored on the same requests.
"""
import functools
import hashlib

import numpy as np
import tensorflow as tf
from absl import logging

from gan_zoo.data import scale_images
from gan_zoo.errors import UserError
from gan_zoo.eval import metrics as M
from gan_zoo.eval.diversity import mean_pairwise_distance
from gan_zoo.core.noise import numpy_noise

LABEL_METRICS = ("label_accuracy", "FID", "precision", "recall", "density", "coverage",
                 "worst_class_coverage")
IMAGE_METRICS = ("SWD", "diversity")
PAIR_METRICS = ("L1", "PSNR", "SSIM")
LOWER_IS_BETTER = frozenset({"FID", "SWD", "L1", "KID", "FID_inception", "KID_inception"})
DEFAULT_SELECTION = ("FID", "SWD", "L1")  # --select_by=auto: the first one measured
DIVERSITY_IMAGES = 2000  # of each side: all pairs of 2,000 images are 4 million distances


def better(name, value, best):
    """Whether `value` of metric `name` beats `best` (None: nothing yet)."""
    if value is None or not np.isfinite(value):
        return False
    if best is None:
        return True
    return value < best if name in LOWER_IS_BETTER else value > best


def selection_metric(select_by, measured):
    """The metric --select_by names among `measured`; UserError when it is not measured."""
    if select_by == "auto":
        for name in DEFAULT_SELECTION:
            if name in measured:
                return name
    lookup = {m.lower(): m for m in measured}
    if select_by.lower() not in lookup:
        raise UserError(f"--select_by={select_by}: this run measures {', '.join(measured)}. "
                        "Pick one of them (or auto: FID, else SWD, else L1).")
    return lookup[select_by.lower()]


def fit_to(images, shape):
    """Images brought to the classifier's (H, W): a centred crop when at most 8 pixels larger
    (the pipeline's 28 -> 32 padding undone), else a resize."""
    height, width = shape[:2]
    h, w = images.shape[1:3]
    if (h, w) == (height, width):
        return images
    if 0 <= h - height <= 8 and 0 <= w - width <= 8:
        top, left = (h - height) // 2, (w - width) // 2
        return images[:, top:top + height, left:left + width]
    return tf.image.resize(images, (height, width), antialias=True).numpy()


def reference_data(dataset, load_kwargs, count, labelled):
    """(uint8 images, int labels or None, conditions or None, name of the split) of up to
    `count` real images: the test split, else the training images. Cached per process
    (every run of a test session, or of a sweep, scores against the same images).

    The images come in an order of their own content (a hash of their pixels), not the
    reader's: the requests (the labels asked for, each with its noise) are then the same
    whichever copy of a data set is read (tfds' shuffled files, the original IDX files, a
    Debian package), so a generator scores alike on every machine where `count` covers the
    split (a smaller `count` takes the reader's first images)."""
    return _reference_data(dataset, tuple(sorted(load_kwargs.items())), count, labelled)


@functools.lru_cache(maxsize=8)
def _reference_data(dataset, load_items, count, labelled):
    load_kwargs = dict(load_items)
    from gan_zoo import data
    source = split = None
    if not dataset.startswith(data.FOLDER_PREFIX):  # an image folder has no splits
        try:
            source, split = data.load(dataset, split="test", **load_kwargs), "test"
        except UserError:
            pass
    if source is None:
        source, split = data.load(dataset, split="train", **load_kwargs), "train"
    images, labels = [], []
    for x, y in source.images_and_labels.take(count).batch(1000):
        images.append(x.numpy())
        labels.append(y.numpy())
    images, labels = np.concatenate(images), np.concatenate(labels)
    keys = np.array([int.from_bytes(hashlib.blake2b(image.tobytes(), digest_size=8).digest(), "big")
                     for image in images], dtype=np.uint64)
    order = np.argsort(keys, kind="stable")
    images, labels = images[order], labels[order]
    conditions = None
    if source.spec.is_conditional:
        conditions = np.concatenate([source.conditions(labels[i:i + 1000]).numpy()
                                     for i in range(0, len(labels), 1000)])
    int_labels = labels if labelled and labels.ndim == 1 and not source.spec.is_paired else None
    return images, int_labels, conditions, split


class Scorer:
    """Scores `generate(noise, conditions) -> images in [-1, 1]` on fixed requests.

    `spec` is the generator's data spec, `noise` (dim, distribution) its noise.
    """

    def __init__(self, dataset, spec, noise_dim, noise="normal", num_samples=2000, seed=0,
                 load_kwargs=None, models_dir="", classifier=None):
        from gan_zoo.eval import classifier as classifier_lib
        self.spec, self.num_samples = spec, num_samples
        load_kwargs = dict(load_kwargs or {})
        self.classifier, self.classifier_card = classifier, None
        if spec.is_paired:
            self.kind = "pairs"
        else:
            if self.classifier is None and classifier_lib.find(dataset, models_dir):
                self.classifier, self.classifier_card = classifier_lib.load_cached(
                    dataset, models_dir)
            self.kind = "labels" if self.classifier is not None else "images"
        if self.kind == "labels":
            load_kwargs["conditional"] = True  # the reference's labels, for per-class coverage
        if spec.is_paired:
            load_kwargs["paired"] = True
        self.real, self.real_labels, conditions, self.split = reference_data(
            dataset, load_kwargs, num_samples, self.kind == "labels")
        count = len(self.real)
        self.conditions = None
        if spec.is_conditional:
            if conditions is None or conditions.shape[1:] != (
                    tuple(spec.condition_shape) or (spec.condition_dim,)):
                raise UserError(f"The generator's conditions ({spec.condition_shape or spec.condition_dim}) "
                                f"do not match {dataset!r}'s; score it on the data set it was trained on.")
            self.conditions = conditions
        rng = np.random.default_rng(seed)
        self.noise = None
        if not spec.is_paired:
            self.noise = numpy_noise(rng, count, noise_dim, noise)
        if self.kind == "images":  # the real side of the diversity ratio, once
            self._real_spread = max(mean_pairwise_distance(
                scale_images(self.real[:DIVERSITY_IMAGES]).numpy()), 1e-12)
        if self.kind == "labels":
            self._features = classifier_lib.feature_model(self.classifier)
            self.real_logits, self.real_features = self._classify(scale_images(self.real).numpy())
        if count < num_samples:
            logging.info("Scoring on %d real %s images (fewer than --eval_samples=%d).",
                         count, self.split, num_samples)

    @property
    def metric_names(self):
        if self.kind == "pairs":
            return PAIR_METRICS
        if self.kind == "images":
            return IMAGE_METRICS
        names = LABEL_METRICS
        if not (self.spec.is_class_conditional and self.real_labels is not None):
            names = tuple(n for n in names if n != "label_accuracy")
        return names

    def _classify(self, images):
        shape = self.classifier.inputs[0].shape[1:]
        if images.shape[-1] != shape[-1]:
            raise UserError(f"The reference classifier takes {shape[-1]}-channel images; these "
                            f"have {images.shape[-1]}.")
        logits, features = self._features.predict(fit_to(images, shape), batch_size=500, verbose=0)
        return logits, features

    def samples(self, generate, batch_size=500):
        """The generator's images in [-1, 1] for the fixed requests."""
        out = []
        for start in range(0, len(self.real), batch_size):
            end = start + batch_size
            noise = None if self.noise is None else self.noise[start:end]
            condition = None if self.conditions is None else self.conditions[start:end]
            out.append(np.asarray(generate(noise, condition), np.float32))
        return np.concatenate(out)

    def score(self, generate):
        """{metric: value} of `generate`'s samples for the fixed requests."""
        return self.score_samples(self.samples(generate))

    def score_samples(self, fake):
        """{metric: value} of samples in [-1, 1] answering the fixed requests, in order (label
        data: plus per-class coverage under 'class_coverage')."""
        if self.kind == "pairs":
            targets = scale_images(self.real).numpy()
            return dict(zip(PAIR_METRICS, (float(np.mean(v)) for v in
                                           _pair_distances(targets, fake))))
        if self.kind == "images":
            return {"SWD": M.sliced_wasserstein(scale_images(self.real).numpy(), fake)[1],
                    "diversity": mean_pairwise_distance(fake[:DIVERSITY_IMAGES]) / self._real_spread}
        return self.score_features(*self._classify(fake))

    def score_features(self, fake_logits, fake_features):
        out = {}
        predicted = np.argmax(fake_logits, axis=-1)
        if "label_accuracy" in self.metric_names:
            out["label_accuracy"] = float(np.mean(predicted == self.real_labels))
        out["FID"] = M.frechet_distance(self.real_features, fake_features)
        out["precision"], out["recall"] = M.precision_recall(self.real_features, fake_features)
        out["density"] = M.density(self.real_features, fake_features)
        if self.real_labels is not None:
            # Fakes grouped by the class they were asked for; an unconditional model's by the
            # class the classifier sees in them.
            asked = self.real_labels if "label_accuracy" in self.metric_names else predicted
            per_class = M.per_class_coverage(self.real_features, self.real_labels,
                                             fake_features, asked)
            out["coverage"] = float(np.mean(list(per_class.values())))
            out["worst_class_coverage"] = float(min(per_class.values()))
            out["class_coverage"] = per_class
        else:
            out["coverage"] = M.coverage(self.real_features, fake_features)
            out["worst_class_coverage"] = out["coverage"]
        return out


def _pair_distances(targets, outputs):
    from gan_zoo.eval.pairs import distances
    return [v.numpy() for v in distances(targets, outputs)]
