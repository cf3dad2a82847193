"""The math of one train step: one D update, one G update, or both from one generator pass.

Each runs as a replica function of a tf.distribute strategy (one device by default). A
replica's loss is divided by the number of replicas, so the all-reduced (summed) gradients
are one device's for the same global batch; the figures a step records are averaged across
replicas (gan_zoo.core.records). The trainer compiles these and decides which to run.
"""
import tensorflow as tf

from gan_zoo.core import augment, distribute, losses, noise, records
from gan_zoo import models
from gan_zoo.errors import UserError
from gan_zoo.settings.choices import parse_policy

# Random draws of one step, each its own stateless stream (seeded by the step), so noise does
# not depend on the number of replicas and a resumed run draws what the straight one did.
D_NOISE, G_NOISE, MEASURE_NOISE, GP_WEIGHTS = range(4)
CONSISTENCY_REAL, CONSISTENCY_FAKE = range(2)  # bCR's augmentations (a stream base of their own)
LECAM_DECAY = 0.99  # the LeCam anchors' moving-average decay (Tseng et al.'s)
WRONG_LABELS = 0  # the matching-aware term's wrong classes (a stream of its own base, see _seed)
AUGMENT_CALLS = 8  # DiffAugment: one stream per D call of a step (real, fake, wrong, G's ...)


class Steps:
    """The step math over a trainer's state: its networks, optimizers, Objective, step counter
    and epoch records."""

    def __init__(self, config, spec, state):
        self.config, self.spec, self.state = config, spec, state
        self.objective = state.objective
        self.generator, self.discriminator = state.generator, state.discriminator
        self.augmentations = parse_policy(config.diffaugment)
        self.consistency_augmentations = parse_policy(config.consistency_augment)
        if config.rotation and spec.image_shape[0] != spec.image_shape[1]:
            raise UserError(f"--rotation turns images by quarter turns, which keeps only a square's "
                            f"shape; these are {spec.image_shape[0]}x{spec.image_shape[1]}: "
                            f"leave --rotation at 0, or crop the data square.")
        # read when the steps are traced: the trainer recompiles when the epoch switches it off
        self.mismatch_active = self.mismatch_on_in(0)

    def mismatch_on_in(self, epoch):
        """Whether the matching-aware term is part of D's loss in 0-based `epoch`."""
        cfg = self.config
        return bool(cfg.mismatch_weight and self.spec.is_conditional
                    and (not cfg.mismatch_epochs or epoch < cfg.mismatch_epochs))

    # --- the three steps ------------------------------------------------------------------
    def fused_step(self, images, condition):
        """One D and one G update from one generator pass (both tapes record it): n_critic 1."""
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            fake, z, fake_condition = self._fake(images, condition, D_NOISE)
            d_loss, fake_logits = self.discriminator_loss(images, fake, condition, fake_condition)
            g_loss = self.generator_loss(fake_logits, fake, images, z, fake_condition)
        self._apply(d_tape, d_loss, self.state.discriminator_variables(), self.state.d_optimizer)
        self._apply(g_tape, g_loss, self.generator.trainable_variables, self.state.g_optimizer)
        self._constrain_critic()
        self._average_generator()
        self._record_g(g_loss)

    def d_step(self, images, condition):
        fake, _, fake_condition = self._fake(images, condition, D_NOISE)
        with tf.GradientTape() as tape:
            d_loss, _ = self.discriminator_loss(images, fake, condition, fake_condition)
        self._apply(tape, d_loss, self.state.discriminator_variables(), self.state.d_optimizer)
        self._constrain_critic()

    def g_step(self, images, condition):
        with tf.GradientTape() as tape:
            fake, z, fake_condition = self._fake(images, condition, G_NOISE)
            g_loss = self.generator_loss(self._judge(fake, fake_condition, call=0), fake, images,
                                         z, fake_condition)
        self._apply(tape, g_loss, self.generator.trainable_variables, self.state.g_optimizer)
        self._average_generator()
        self._record_g(g_loss)

    def measure_accuracies(self, images, condition):
        """(D accuracy, G accuracy) on this batch, without training either side (the adaptive
        schedule's decision; the same on every replica, so they branch alike)."""
        fake, _, fake_condition = self._fake(images, condition, MEASURE_NOISE)
        d_acc, g_acc = self.objective.accuracies(self._judge(images, condition, call=6),
                                                 self._judge(fake, fake_condition, call=7))
        averaged = self.state.records.add({records.D_ACC: d_acc, records.G_ACC: g_acc})
        return averaged[records.D_ACC], averaged[records.G_ACC]

    # --- the losses -----------------------------------------------------------------------
    def generator_loss(self, fake_logits, fake, targets, z=None, condition=None):
        """--adv_weight x the adversarial loss, plus --l1_weight x L1 to the target (paired
        data: the reference's 0.3 / 0.7, pix2pix's 1 / 100), plus --mode_seeking x MSGAN's
        term on the batch's pairs (see _fake), plus --kl_weight x the losses G's layers added
        in the call that drew `fake` (StackGAN's KL), minus --diversity_sensitive x DSGAN's
        reward on the same pairs, plus (with --rotation) --rotation_generator x the rotation
        head's loss on turned fakes (drawn for `condition`). A zero weight leaves its term out."""
        cfg = self.config
        g_loss = tf.constant(0.0)
        if cfg.adv_weight:
            g_loss += cfg.adv_weight * self._adversarial_g_loss(fake_logits)
        if cfg.l1_weight:
            g_loss += cfg.l1_weight * losses.l1_loss(targets, fake)
        if cfg.mode_seeking:
            g_loss += cfg.mode_seeking * losses.mode_seeking_penalty(
                fake, z, across=distribute.mean_across_replicas)
        if cfg.diversity_sensitive:
            g_loss -= cfg.diversity_sensitive * losses.diversity_sensitive_reward(
                fake, z, cfg.diversity_bound, across=distribute.mean_across_replicas)
        if cfg.rotation and cfg.rotation_generator:
            g_loss += cfg.rotation_generator * self._rotation_loss(fake, condition)
        if cfg.kl_weight and self.generator.losses:  # StackGAN's conditioning augmentation
            g_loss += cfg.kl_weight * tf.add_n([tf.cast(x, tf.float32) for x in self.generator.losses])
        return g_loss

    def discriminator_loss(self, images, fake, condition, fake_condition=None):
        """(D's loss, fake logits): the adversarial terms, with the matching-aware term of
        conditional models sharing the fake side, plus the objective's penalties."""
        objective = self.objective
        fake_condition = condition if fake_condition is None else fake_condition
        real_logits = self._judge(images, condition, call=1)
        fake_logits = self._judge(fake, fake_condition, call=2)
        if self.mismatch_active:
            d_loss = objective.real_loss(real_logits) + self._mismatched_fake_loss(
                images, condition, fake_logits)
        else:
            d_loss = objective.discriminator_loss(real_logits, fake_logits)
        d_loss += self._regularisers(images, condition, real_logits, fake, fake_condition, fake_logits)
        penalty = tf.constant(0.0)
        if objective.gradient_penalty:
            weights = distribute.global_batch_random(
                lambda n, seed: losses.interpolation_weights(n, images.shape.rank, seed),
                distribute.batch_size_of(images), self._seed(GP_WEIGHTS))
            penalty = losses.gradient_penalty(
                lambda x: self._judge(x, condition, call=4), images, fake, weights,
                loss_scale=self._loss_scale())
            d_loss += objective.penalty_weight * penalty
        if objective.r1_gamma:
            penalty += self._lazy_r1(images, condition)
            d_loss += penalty
        self._record_d(real_logits, fake_logits, d_loss, penalty)
        return d_loss, fake_logits

    def _adversarial_g_loss(self, fake_logits):
        """The objective's G loss; with --topk over the fakes D rates most real only, a share
        max(--topk, --topk_decay ^ epoch) of the batch (losses.top_k_weights)."""
        cfg, objective = self.config, self.objective
        if not cfg.topk:
            return objective.generator_loss(fake_logits)
        share = tf.maximum(tf.constant(cfg.topk, tf.float32), tf.pow(cfg.topk_decay, self.state.epoch))
        weights = losses.top_k_weights(fake_logits, share)
        # one loss per example in a loop XLA compiles once (vectorized_map's conversion made the
        # compile of mlp_cgan's step run out of memory)
        per_example = tf.map_fn(lambda logit: objective.generator_loss(logit[None]), fake_logits,
                                fn_output_signature=tf.float32)
        return tf.reduce_sum(per_example * weights) / tf.reduce_sum(weights)

    def _mismatch_weight(self):
        """--mismatch_weight, falling linearly to 0 over the --mismatch_fade epochs before
        --mismatch_epochs (in epoch M - F + i its share is (F - i) / (F + 1))."""
        cfg = self.config
        if not cfg.mismatch_fade:
            return cfg.mismatch_weight
        left = (cfg.mismatch_epochs - self.state.epoch) / (cfg.mismatch_fade + 1.0)
        return cfg.mismatch_weight * tf.clip_by_value(left, 0.0, 1.0)

    def _mismatched_fake_loss(self, images, condition, fake_logits):
        """GAN-CLS's fake side (Reed et al. 2016): (1 - w) x fake + w x (real image, wrong
        condition), w = --mismatch_weight (0.5: the paper's real + (fake + wrong) / 2). Class
        labels are moved to another class at random, so every wrong pair is wrong; other
        condition vectors take the next image's, and pairs that equal their own are left out."""
        w, objective = self._mismatch_weight(), self.objective
        if self.spec.is_class_conditional:
            classes = self.spec.condition_dim
            shift = distribute.global_batch_random(
                lambda n, seed: tf.random.stateless_uniform([n], seed, 1, classes, tf.int32, "philox"),
                distribute.batch_size_of(condition), self._seed(WRONG_LABELS, base=2))
            labels = (tf.argmax(condition, axis=-1, output_type=tf.int32) + shift) % classes
            wrong = tf.one_hot(labels, classes, dtype=condition.dtype)
            wrong_loss = objective.fake_loss(self._judge(images, wrong, call=3))
        else:
            wrong = distribute.roll_global_batch(condition)
            differs = tf.cast(tf.reduce_any(tf.not_equal(wrong, condition), axis=-1), tf.float32)
            per_example = tf.vectorized_map(lambda logit: objective.fake_loss(logit[None]),
                                            self._judge(images, wrong, call=3))
            wrong_loss = tf.reduce_sum(per_example * differs) / tf.maximum(tf.reduce_sum(differs), 1.0)
        return (1.0 - w) * objective.fake_loss(fake_logits) + w * wrong_loss

    def _regularisers(self, images, condition, real_logits, fake, fake_condition, fake_logits):
        """--consistency x bCR's term (D's logit unchanged by --consistency_augment, on reals and
        fakes) plus --lecam x LeCam's (against anchors that then move towards this step's
        mean logits, averaged over replicas) plus --rotation x the rotation head's loss on
        turned reals; 0 when all are off."""
        cfg, total = self.config, tf.constant(0.0)
        if cfg.consistency:
            for stream, x, c, logits in ((CONSISTENCY_REAL, images, condition, real_logits),
                                         (CONSISTENCY_FAKE, fake, fake_condition, fake_logits)):
                augmented = augment.apply(x, self.consistency_augmentations,
                                          self._seed(stream, base=4, streams=2))
                total += cfg.consistency * losses.consistency_penalty(
                    logits, models.judge(self.discriminator, augmented, c, training=True))
        if cfg.lecam:
            anchors = self.state.lecam_anchors
            total += cfg.lecam * losses.lecam_penalty(real_logits, fake_logits, anchors[0], anchors[1])
            means = distribute.mean_across_replicas(tf.stack(
                [tf.reduce_mean(tf.cast(x, tf.float32)) for x in (real_logits, fake_logits)]))
            anchors.assign(LECAM_DECAY * anchors + (1.0 - LECAM_DECAY) * means)
        if cfg.rotation:
            total += cfg.rotation * self._rotation_loss(images, condition)
        return total

    def _rotation_loss(self, images, condition):
        """The rotation head's cross-entropy on `images`, example i turned by i mod 4 quarter
        turns (every turn equally often; the data's order is already random)."""
        turns = tf.range(tf.shape(images)[0]) % 4
        turned = augment.quarter_turns(images, turns)
        features = self.state.rotation_features
        inputs = turned if len(features.inputs) == 1 else [turned, condition]
        return losses.rotation_loss(self.state.rotation_head(features(inputs, training=True),
                                                             training=True), turns)

    def _lazy_r1(self, images, condition):
        """gamma / 2 x R1, every r1_every-th step scaled by r1_every (0 on the others)."""
        objective = self.objective

        def r1():
            weight = 0.5 * objective.r1_gamma * objective.r1_every
            return weight * losses.r1_penalty(lambda x: self._judge(x, condition, call=5),
                                              images, loss_scale=self._loss_scale())
        if objective.r1_every == 1:
            return r1()
        return tf.cond(self.state.step % objective.r1_every == 0, r1, lambda: tf.constant(0.0))

    def _judge(self, images, condition, call):
        """D's logits on `images`, DiffAugment-ed first when asked (each call its own draw)."""
        if self.augmentations:
            images = augment.apply(images, self.augmentations,
                                   self._seed(call, base=3, streams=AUGMENT_CALLS))
        return models.judge(self.discriminator, images, condition, training=True)

    # --- helpers --------------------------------------------------------------------------
    def _seed(self, stream, base=1, streams=4):
        """The stateless seed of `stream` at this step; each `base` is its own family of streams."""
        return tf.stack([tf.constant(self.config.seed + base, tf.int64),
                         self.state.step * streams + stream])

    def _loss_scale(self):
        return getattr(self.state.d_optimizer, "dynamic_scale", None)

    def _fake(self, images, condition, stream):
        """(G's output, its noise, its condition) on this replica's share of the global
        batch's noise for `stream`. With --mode_seeking or --diversity_sensitive example 2i + 1
        takes example 2i's condition, so the two are a pair: one condition, two noise vectors
        (adjacent, so a replica's share of an even split holds whole pairs, the ones one
        device would pair)."""
        cfg = self.config
        z = distribute.global_batch_random(
            lambda n, seed: noise.stateless((n, cfg.noise_dim), cfg.noise, seed),
            distribute.batch_size_of(images), self._seed(stream))
        if (cfg.mode_seeking or cfg.diversity_sensitive) and self.spec.is_conditional:
            condition = tf.repeat(condition[0::2], 2, axis=0)[:distribute.batch_size_of(condition)]
        return models.generate(self.generator, z, condition, training=True), z, condition

    def _apply(self, tape, loss, variables, optimizer):
        """One optimizer step on this replica's loss, scaled by 1 / replicas (see above)."""
        factor = 1.0 / self.state.replicas
        if hasattr(optimizer, "dynamic_scale"):  # float16: loss scaling against underflow
            factor *= tf.cast(optimizer.dynamic_scale, tf.float32)
        grads = tape.gradient(loss, variables, output_gradients=tf.cast(factor, loss.dtype))
        optimizer.apply_gradients(zip(grads, variables))

    def _average_generator(self):
        """The EMA of G after its update (gan_zoo.core.ema), when the run keeps one."""
        if self.state.generator_average is not None:
            images_seen = tf.cast(self.state.step + 1, tf.float32) * self.config.batch_size
            self.state.generator_average.update(images_seen)

    def _constrain_critic(self):
        """WGAN's Lipschitz constraint by clipping: every critic weight into [-clip, clip]."""
        c = self.objective.clip
        if c:
            def clip_all(strategy):
                for v in self.discriminator.trainable_variables:
                    strategy.extended.update(
                        v.value, lambda var: var.assign(tf.clip_by_value(var, -c, c)), group=False)
            distribute.on_all_replicas(clip_all)

    def _record_d(self, real_logits, fake_logits, d_loss, penalty):
        d_acc, g_acc = self.objective.accuracies(real_logits, fake_logits)
        averaged = self.state.records.add({
            records.REAL_P: tf.reduce_mean(tf.sigmoid(real_logits)),
            records.FAKE_P: tf.reduce_mean(tf.sigmoid(fake_logits)),
            records.DIS_LOSS: d_loss, records.REAL_SCORE: tf.reduce_mean(real_logits),
            records.FAKE_SCORE: tf.reduce_mean(fake_logits), records.GP: penalty,
            records.D_ACC: d_acc, records.G_ACC: g_acc})
        self._count_nonfinite(averaged[records.DIS_LOSS])

    def _record_g(self, g_loss):
        self._count_nonfinite(self.state.records.add({records.GEN_LOSS: g_loss})[records.GEN_LOSS])

    def _count_nonfinite(self, loss):
        """The NaN guard's in-graph half: count non-finite losses (a scalar test, no branch, so
        the step stays as fast as before). The loop checks the count after each call and throws
        the whole state back to the last good checkpoint, so a bad update never stays."""
        self.state.nonfinite_steps.assign_add(
            tf.cast(tf.logical_not(tf.math.is_finite(loss)), tf.int64))
