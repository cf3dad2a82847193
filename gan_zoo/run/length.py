"""How long a run trains: --epochs, or --kimg (thousands of images shown to D, StyleGAN's unit)
turned into whole epochs of this data set, so one length fits a data set of any size.

With a length in images, checkpoints and scores come at most REPORTS times a run: the epochs of
a few hundred images are a few steps each, and scoring each one would take longer than the
training."""
import dataclasses
import math

from absl import logging

from gan_zoo.settings.config import FOLDER_KIMG

REPORTS = 20


def with_length(config, num_examples):
    """`config` with --kimg turned into epochs (and its cadences spaced); unchanged without it."""
    per_epoch = (num_examples // config.batch_size) * config.batch_size
    if not config.kimg or per_epoch < 1:  # a batch larger than the data is refused later
        return config
    epochs = max(1, math.ceil(config.kimg * 1000 / per_epoch))
    spacing = math.ceil(epochs / REPORTS)
    save_every = max(config.save_every, spacing)
    eval_every = max(config.eval_every, spacing) if config.eval_every else 0
    default = config.dataset.startswith("folder:") and config.kimg == FOLDER_KIMG
    logging.info("Training for %g kimg: %d epoch(s) of %d images (%s); a checkpoint every %d "
                 "epoch(s)%s.", config.kimg, epochs, num_examples,
                 "the length for a folder given no --epochs or --kimg" if default else "--kimg",
                 save_every, f", scores every {eval_every}" if eval_every else "")
    return dataclasses.replace(config, epochs=epochs, save_every=save_every, eval_every=eval_every)
