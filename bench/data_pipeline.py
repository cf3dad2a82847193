"""The training input pipeline alone: how fast it feeds, and how much memory it holds.

    python bench/data_pipeline.py --dataset=folder:DIR --image_size=128 --epochs=2
    python bench/data_pipeline.py --synthetic=24000 --image_size=128 --epochs=2

Loads the data set as training does (gan_zoo.data.load with --data_memory_mb and
--data_cache_dir), then draws --epochs epochs of --batch_size batches
(Source.epoch_batches, what the trainer reads) and prints one JSON line: images drawn,
images_per_s over the epochs after the first (the first also decodes, and for a streamed
set writes the decoded copy: first_epoch_s), scan_s (listing and checking the files),
peak_rss_mb, and whether the set streamed. --synthetic=N draws (once, into
--synthetic_dir) a folder of N RGB JPEG images of random shapes at --image_size.
"""
import json
import os
import resource
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from absl import app, flags  # noqa: E402

flags.DEFINE_string("dataset", "", "Any --dataset form; empty with --synthetic.")
flags.DEFINE_integer("synthetic", 0, "Draw a folder of this many RGB images instead.")
flags.DEFINE_string("synthetic_dir", "/tmp/gan_zoo_bench", "Where --synthetic folders are kept.")
flags.DEFINE_integer("image_size", 128, "--image_size of the pipeline (and of --synthetic images).")
flags.DEFINE_integer("epochs", 2, "Epochs drawn.")
flags.DEFINE_integer("batch_size", 64, "Images per batch.")
flags.DEFINE_integer("data_memory_mb", 1024, "As the training flag.")
flags.DEFINE_string("data_cache_dir", "", "As the training flag (default ~/.cache/gan_zoo/decoded).")
FLAGS = flags.FLAGS


def synthetic_folder(count, size):
    """A folder of `count` JPEGs of a few random ellipses and rectangles on a gradient: they
    compress as photos do, unlike noise. Drawn once; a partial folder is finished."""
    import numpy as np
    from PIL import Image, ImageDraw
    folder = os.path.join(FLAGS.synthetic_dir, f"synthetic_{count}_{size}")
    os.makedirs(folder, exist_ok=True)
    have = len(os.listdir(folder))
    rng = np.random.default_rng(have)
    ramp = np.linspace(0, 1, size)[None, :, None]
    for i in range(have, count):
        base = (rng.uniform(0, 255, 3) * ramp + rng.uniform(0, 255, 3) * (1 - ramp)).repeat(size, 0)
        image = Image.fromarray(base.astype(np.uint8))
        draw = ImageDraw.Draw(image)
        for _ in range(4):
            x0, y0 = rng.integers(0, size, 2)
            box = (int(x0), int(y0), int(x0 + rng.integers(8, size // 2)), int(y0 + rng.integers(8, size // 2)))
            fill = tuple(int(c) for c in rng.integers(0, 255, 3))
            (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(box, fill=fill)
        image.save(os.path.join(folder, f"{i:06d}.jpg"), quality=90)
    return folder


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def main(_):
    dataset = FLAGS.dataset or f"folder:{synthetic_folder(FLAGS.synthetic, FLAGS.image_size)}"
    from gan_zoo import data
    started = time.perf_counter()
    source = data.load(dataset, image_size=FLAGS.image_size, conditional=False,
                       memory_mb=FLAGS.data_memory_mb, cache_dir=FLAGS.data_cache_dir)
    scan_s = time.perf_counter() - started
    drawn, epoch_seconds = 0, []
    for epoch in range(FLAGS.epochs):
        began = time.perf_counter()
        for images, _ in source.epoch_batches(FLAGS.batch_size, epoch, seed=0):
            drawn += int(images.shape[0])
        epoch_seconds.append(time.perf_counter() - began)
    later = epoch_seconds[1:] or epoch_seconds
    per_epoch = source.steps_per_epoch(FLAGS.batch_size) * FLAGS.batch_size
    print(json.dumps({
        "dataset": dataset, "images": drawn, "examples": source.num_examples,
        "image_shape": list(source.spec.image_shape), "streamed": source.streams(),
        "images_per_s": round(per_epoch * len(later) / sum(later), 1),
        "first_epoch_s": round(epoch_seconds[0], 2), "scan_s": round(scan_s, 2),
        "peak_rss_mb": round(peak_rss_mb()), "cores": os.cpu_count()}))


if __name__ == "__main__":
    app.run(main)
