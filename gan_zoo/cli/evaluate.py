"""Score a generator: an export, a run dir's checkpoint, or a shipped pretrained one.

    gan-zoo eval --export_dir=exports/maxout [--dataset=fashion_mnist]
    gan-zoo eval --run_dir=runs/maxout --which=best
    gan-zoo eval --pretrained=maxout_cgan/fashion_mnist --parzen
    gan-zoo eval --real --dataset=fashion_mnist    # the real-data reference row

Prints the metrics of gan_zoo.eval.scoring on --num_samples samples (default 10,000, the
results table's), with --parzen the Parzen-window log-likelihood (Goodfellow et al.'s
procedure: sigma picked on 10,000 training images, mean and standard error over the test
split, pixels in [0, 1]), and with Inception weights on the machine FID and KID in
Inception's feature space. --json_out writes them all.
"""
import json
import time

import numpy as np
from absl import flags

from gan_zoo.errors import UserError

FLAGS = flags.FLAGS
CARD_SAMPLES = 10000  # what a shipped generator's card was scored on (tools/ship_results.py)


def define_flags():
    from gan_zoo.cli.options import define_generator_flags
    define_generator_flags()
    flags.DEFINE_string("run_dir", "", "A training run dir (scores its --which checkpoint).")
    flags.DEFINE_enum("which", "latest", ("latest", "best"), "With --run_dir: the latest "
                      "checkpoint, or the one that scored best while training.")
    flags.DEFINE_boolean("real", False, "Score real training images as if generated (each "
                         "request answered by a real image of that class): the reference row.")
    flags.DEFINE_string("dataset", "", "Data set to score against (default: the one it was "
                        "trained on).")
    flags.DEFINE_string("data_dir", "", "TFDS data_dir or the data set's folder (default: the "
                        "training run's, else TFDS_DATA_DIR).")
    flags.DEFINE_integer("num_samples", 10000, "Samples, and real test images, compared.")
    flags.DEFINE_boolean("parzen", False, "Also the Parzen-window log-likelihood of the test split "
                         "(10,000 samples; minutes on a CPU).")
    flags.DEFINE_string("inception_weights", "", "InceptionV3 ImageNet weights (no top) for FID / "
                        "KID in Inception's feature space; default: keras' cache if it has them.")
    flags.DEFINE_string("models_dir", "", "Where reference classifiers are cached (default "
                        "$GAN_ZOO_MODELS_DIR, else ~/.cache/gan_zoo/classifiers, else the package).")
    flags.DEFINE_integer("seed", 0, "Seed of the noise the samples are drawn from.")
    flags.DEFINE_string("json_out", "", "Also write the results to this JSON file.")


def generator_under_test():
    """(generate(noise, condition) -> [-1, 1] images, data spec, noise dim, noise, training
    config dict or {}, description) of whichever of --export_dir / --run_dir / --pretrained."""
    from gan_zoo.data.spec import DataSpec
    chosen = [n for n in ("export_dir", "run_dir", "pretrained", "real") if getattr(FLAGS, n)]
    if len(chosen) != 1:
        raise UserError("Pass exactly one of --export_dir, --run_dir, --pretrained or --real.")
    if FLAGS.export_dir:
        from gan_zoo.serving import export
        loaded, meta = export.load(FLAGS.export_dir)
        spec = DataSpec(image_shape=tuple(meta["image_shape"]),
                               condition_dim=meta["condition_dim"],
                               class_names=tuple(meta["class_names"]),
                               condition_names=tuple(meta["condition_names"]),
                               condition_shape=tuple(meta.get("input_shape") or ()))
        return (_export_generate(loaded, meta), spec, meta.get("noise_dim", 0),
                meta.get("noise", "normal"),
                {"dataset": meta["dataset"], **meta.get("data_settings", {})},
                f"export {FLAGS.export_dir} (step {meta['step']})")
    if FLAGS.run_dir:
        from gan_zoo.run.run_dir import restore_generator
        generator, config, spec, step = restore_generator(FLAGS.run_dir, which=FLAGS.which)
        return (_keras_generate(generator), spec, config.noise_dim, config.noise,
                config.to_json(), f"{FLAGS.run_dir} ({FLAGS.which}, step {step})")
    if FLAGS.pretrained:
        from gan_zoo.serving import pretrained
        generator, card = pretrained.load(FLAGS.pretrained)
        spec = DataSpec.from_json(card["data_spec"])
        cfg = card["config"]
        return (_keras_generate(generator), spec, cfg["noise_dim"], cfg["noise"], cfg,
                f"pretrained {FLAGS.pretrained}")
    return None


def _keras_generate(generator):
    from gan_zoo import models
    return lambda noise, condition: models.generate(generator, noise, condition,
                                                    training=False).numpy()


def _export_generate(loaded, meta):
    """The export's serving signature as generate(noise, condition) in [-1, 1]."""
    import tensorflow as tf

    from gan_zoo.data import scale_images, to_uint8
    serve = loaded.signatures["serving_default"]

    def generate(noise, condition):
        if meta.get("paired"):
            out = serve(images=to_uint8(tf.constant(condition)))
        elif not meta["conditional"]:
            out = serve(noise=tf.constant(noise))
        elif meta["num_classes"]:
            out = serve(labels=tf.constant(np.argmax(condition, -1).astype(np.int32)),
                        noise=tf.constant(noise))
        else:
            out = serve(condition=tf.constant(condition, tf.float32), noise=tf.constant(noise))
        return scale_images(out["images"]).numpy()
    return generate


def real_answers(dataset, load_kwargs, seed=0):
    """generate(noise, condition) that answers each request with a real *training* image of the
    requested class (any image for unconditional requests): what a perfect generator would do.
    Used for the results table's reference row and the calibration tests."""
    from gan_zoo import data
    source = data.load(dataset, split="train", **load_kwargs)
    images, labels = [], []
    for x, y in source.images_and_labels.batch(5000):
        images.append(x.numpy())
        labels.append(y.numpy())
    images, labels = data.scale_images(np.concatenate(images)).numpy(), np.concatenate(labels)
    rng = np.random.default_rng(seed)
    by_class = {c: rng.permutation(np.flatnonzero(labels == c)) for c in np.unique(labels)}
    used = {c: 0 for c in by_class}
    order = rng.permutation(len(images))
    position = [0]

    def generate(noise, condition):
        out = []
        for i in range(len(noise) if condition is None else len(condition)):
            if condition is None or condition.shape[-1] == 0:
                out.append(images[order[position[0] % len(order)]])
                position[0] += 1
                continue
            c = int(np.argmax(condition[i]))
            pool = by_class[c]
            out.append(images[pool[used[c] % len(pool)]])
            used[c] += 1
        return np.stack(out)
    return generate, source.spec


def main():
    from gan_zoo import data
    from gan_zoo.serving import export
    from gan_zoo.eval import inception, metrics, scoring
    if FLAGS.num_samples < 10:
        raise UserError(f"--num_samples must be at least 10, got {FLAGS.num_samples}.")
    found = generator_under_test()
    if found is None:  # --real
        if not FLAGS.dataset:
            raise UserError("--real needs --dataset=NAME (the real images to score).")
        load_kwargs = {"data_dir": FLAGS.data_dir}
        generate, spec = real_answers(FLAGS.dataset, load_kwargs, FLAGS.seed)
        noise_dim, noise, cfg, what = 1, "normal", {"dataset": FLAGS.dataset}, f"real {FLAGS.dataset} training images"
    else:
        generate, spec, noise_dim, noise, cfg, what = found
        load_kwargs = {k: cfg[k] for k in export.DATA_SETTINGS if cfg.get(k)}
        load_kwargs["data_dir"] = FLAGS.data_dir or cfg.get("data_dir", "")
        load_kwargs["conditional"] = spec.is_conditional
    dataset = FLAGS.dataset or cfg["dataset"]
    started = time.perf_counter()
    scorer = scoring.Scorer(dataset, spec, noise_dim, noise, num_samples=FLAGS.num_samples,
                            seed=FLAGS.seed, load_kwargs=load_kwargs, models_dir=FLAGS.models_dir)
    samples = scorer.samples(generate)
    result = {"scored": what, "dataset": dataset, "reference_split": scorer.split,
              "num_samples": len(samples)}
    result.update(scorer.score_samples(samples))
    if scorer.classifier_card:
        result["classifier"] = scorer.classifier_card
    if FLAGS.parzen and not spec.is_paired:
        result.update(_parzen(dataset, load_kwargs, samples))
    weights = inception.find_weights(FLAGS.inception_weights)
    if weights and not spec.is_paired:
        real = data.scale_images(scorer.real).numpy()
        model = inception.feature_model(weights)
        real_f, fake_f = inception.features(model, real), inception.features(model, samples)
        result["FID_inception"] = metrics.frechet_distance(real_f, fake_f)
        result["KID_inception"], result["KID_inception_std"] = metrics.kernel_inception_distance(real_f, fake_f)
    elif not spec.is_paired:
        print(inception.missing_message())
    result["seconds"] = round(time.perf_counter() - started, 1)
    _print(result, _card_metrics())
    if FLAGS.json_out:
        with open(FLAGS.json_out, "w") as fh:
            json.dump(result, fh, indent=2, sort_keys=True, default=float)
    return result


def _parzen(dataset, load_kwargs, samples):
    """Goodfellow et al.'s protocol: sigma on the last 10,000 training images, LL on the test split."""
    from gan_zoo import data
    from gan_zoo.eval import metrics

    def pixels(split, skip=0, count=10000):
        source = data.load(dataset, split=split, **{**load_kwargs, "conditional": False})
        x = np.concatenate([b.numpy() for b, _ in source.images_and_labels.skip(skip).take(count).batch(5000)])
        return x.reshape(len(x), -1) / 255.0

    train_count = data.load(dataset, split="train", **{**load_kwargs, "conditional": False}).num_examples
    validation = pixels("train", skip=max(0, train_count - 10000))
    test = pixels("test")
    mean, stderr, sigma = metrics.parzen_log_likelihood((samples.reshape(len(samples), -1) + 1) / 2,
                                                        test, validation)
    return {"parzen_ll": mean, "parzen_stderr": stderr, "parzen_sigma": sigma}


def _card_metrics():
    """The shipped card's metrics of --pretrained (with their spread over sampling seeds), to
    print beside today's; {} for anything else."""
    if not FLAGS.pretrained:
        return {}
    from gan_zoo.serving import pretrained
    return pretrained.card(FLAGS.pretrained).get("metrics", {})


def _print(result, card=None):
    """One line per figure; a shipped generator's card figure beside each, with its spread
    (the standard deviation over sampling seeds) and a mark where today's is beyond 3x that."""
    card = card or {}
    spread = card.get("spread", {})
    if card:
        print(f"Beside each figure: the card's, measured when it shipped (seed 0, {CARD_SAMPLES:,} samples"
              f"{'; ± the standard deviation over %d sampling seeds' % card['spread_seeds'] if spread else ''}).")
    for key, value in result.items():
        if key in ("class_coverage", "classifier"):
            continue
        line = f"{key:>22}: {value:.4f}" if isinstance(value, float) else f"{key:>22}: {value}"
        if isinstance(card.get(key), float) and isinstance(value, float):
            line += f"   card {card[key]:.4f}" + (f" ± {spread[key]:.4f}" if key in spread else "")
            comparable = result.get("num_samples") == CARD_SAMPLES  # FID grows with fewer
            if comparable and spread.get(key) and abs(value - card[key]) > 3 * spread[key]:
                line += "   (beyond 3x the spread)"
        print(line)
    if "class_coverage" in result:
        print(f"{'coverage per class':>22}: " + " ".join(
            f"{c}:{v:.2f}" for c, v in result["class_coverage"].items()))


def command(argv=None):
    """The command line: its flags, then main (gan-zoo eval, python -m gan_zoo eval)."""
    from gan_zoo.cli import options as cli
    define_flags()
    cli.start(main, __doc__, argv=argv)


if __name__ == "__main__":
    command()
