"""The pictures a run writes each epoch: the sample grid of fixed noise (a column per class or
grid condition; for a two-stage model the stage-I grid beside it), and for paired data the
reference's figure of (generated, input, target)."""
import functools

import numpy as np
import tensorflow as tf

from gan_zoo import models
from gan_zoo.core import noise
from gan_zoo.data import to_uint8
from gan_zoo.images import grid

SAMPLE_ROWS = 20  # the reference grids: 20 rows of fixed noise, one column per class or tag set
UNCONDITIONAL_GRID = 8  # unconditional models: an 8 x 8 grid of fixed noise
FIGURE_PAIRS = 6  # paired data: rows of (generated, input, target) in the per-epoch figure
STAGE_GAP = 6  # two-stage models: white columns between the stage-I grid and the refined one


class EpochFigures:
    """Fixed inputs drawn once per run, so every epoch's picture shows the same noise (or the
    same test inputs) and two epochs can be compared by eye."""

    def __init__(self, config, source):
        self.config, self.source, self.spec = config, source, source.spec
        count = SAMPLE_ROWS if self.spec.is_conditional else UNCONDITIONAL_GRID ** 2
        rng = tf.random.Generator.from_seed(config.seed + 2)
        self.fixed_noise = noise.from_generator(rng, count, config.noise_dim, config.noise).numpy()

    def samples(self, generator):
        """(figure, uint8 samples): SAMPLE_ROWS rows of fixed noise x one column per class (or
        grid condition); 8 x 8 of fixed noise for unconditional models; the pairs figure for
        paired data."""
        if self.spec.is_paired:
            return self._pairs_figure(generator)
        if not self.spec.is_conditional:
            z, condition = self.fixed_noise, None
            rows, k = UNCONDITIONAL_GRID, len(self.fixed_noise) // UNCONDITIONAL_GRID
        else:
            columns = self.spec.grid_condition_matrix()
            rows, k = len(self.fixed_noise), len(columns)
            z = np.repeat(self.fixed_noise, k, axis=0)
            condition = np.tile(columns, (len(self.fixed_noise), 1))
        two_stage = models.with_stage1_image(generator)
        if two_stage is not None:
            return self._stages_figure(two_stage, z, condition, rows, k)
        images = to_uint8(models.generate(generator, z, condition, training=False)).numpy()
        return grid(images, rows, k), images

    def _stages_figure(self, two_stage, z, condition, rows, k):
        """A two-stage G (StackGAN's stage II): the stage-I grid (each pixel a block, at the
        data's size) on the left, its refinement for the same noise and condition on the right."""
        final, coarse = two_stage(models.generator_inputs(two_stage, z, condition), training=False)
        images, coarse = to_uint8(final).numpy(), to_uint8(coarse).numpy()
        factor = images.shape[1] // coarse.shape[1]
        coarse = coarse.repeat(factor, axis=1).repeat(factor, axis=2)
        left, right = grid(coarse, rows, k), grid(images, rows, k)
        gap = np.full((left.shape[0], STAGE_GAP, left.shape[2]), 255, np.uint8)
        return np.concatenate([left, gap, right], axis=1), images

    @functools.cached_property
    def pairs(self):
        """(targets, inputs) in [-1, 1] of the first test pairs (training pairs without a test split)."""
        source = self.source.held_out or self.source
        return next(iter(source.epoch_batches(min(FIGURE_PAIRS, source.num_examples), epoch=0,
                                              seed=self.config.seed)))

    def _pairs_figure(self, generator):
        targets, inputs = self.pairs
        generated = to_uint8(models.generate(generator, None, inputs, training=False)).numpy()
        inputs, targets = to_uint8(inputs).numpy(), to_uint8(targets).numpy()
        channels = max(generated.shape[-1], inputs.shape[-1])  # grey inputs beside RGB outputs
        triples = [np.broadcast_to(x, x.shape[:-1] + (channels,)) for x in (generated, inputs, targets)]
        return grid(np.stack(triples, axis=1).reshape(-1, *triples[0].shape[1:]), len(generated), 3), generated

    def real_reference(self, count=64):
        """A fixed batch of real images (uint8) to set sample diversity against."""
        batch = min(count, self.source.num_examples)
        images, _ = next(iter(self.source.epoch_batches(batch, epoch=10 ** 6, seed=self.config.seed)))
        return to_uint8(images).numpy()
