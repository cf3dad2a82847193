"""The math of one train step: one D update, one G update, or both from one generator pass.

Each runs as a replica function of a tf.distribute strategy (one device by default). A
replica's loss is divided by the number of replicas, so the all-reduced (summed) gradients
are one device's for the same global batch; the figures a step records are averaged across
replicas (gan_zoo.records). The trainer compiles these and decides which to run.
"""
import tensorflow as tf

from gan_zoo import distribute, losses, models, noise

# Random draws of one step, each its own stateless stream (seeded by the step), so noise does
# not depend on the number of replicas and a resumed run draws what the straight one did.
D_NOISE, G_NOISE, MEASURE_NOISE, GP_WEIGHTS = range(4)


class Steps:
    """The step math over a trainer's state: its networks, optimizers, Objective, step counter
    and epoch records."""

    def __init__(self, config, spec, state):
        self.config, self.spec, self.state = config, spec, state
        self.objective = state.objective
        self.generator, self.discriminator = state.generator, state.discriminator

    # --- the three steps ------------------------------------------------------------------
    def fused_step(self, images, condition):
        """One D and one G update from one generator pass (both tapes record it): n_critic 1."""
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            fake = self._fake(images, condition, D_NOISE)
            d_loss, fake_logits = self.discriminator_loss(images, fake, condition)
            g_loss = self.generator_loss(fake_logits, fake, images)
        self._apply(d_tape, d_loss, self.discriminator, self.state.d_optimizer)
        self._apply(g_tape, g_loss, self.generator, self.state.g_optimizer)
        self._constrain_critic()
        self._record_g(g_loss)

    def d_step(self, images, condition):
        fake = self._fake(images, condition, D_NOISE)
        with tf.GradientTape() as tape:
            d_loss, _ = self.discriminator_loss(images, fake, condition)
        self._apply(tape, d_loss, self.discriminator, self.state.d_optimizer)
        self._constrain_critic()

    def g_step(self, images, condition):
        with tf.GradientTape() as tape:
            fake = self._fake(images, condition, G_NOISE)
            g_loss = self.generator_loss(
                models.judge(self.discriminator, fake, condition, training=True), fake, images)
        self._apply(tape, g_loss, self.generator, self.state.g_optimizer)
        self._record_g(g_loss)

    def measure_accuracies(self, images, condition):
        """(D accuracy, G accuracy) on this batch, without training either side (the adaptive
        schedule's decision; the same on every replica, so they branch alike)."""
        fake = self._fake(images, condition, MEASURE_NOISE)
        d_acc, g_acc = self.objective.accuracies(
            models.judge(self.discriminator, images, condition, training=True),
            models.judge(self.discriminator, fake, condition, training=True))
        averaged = self.state.records.add(acc={"D_acc": d_acc, "G_acc": g_acc})
        return averaged["D_acc"], averaged["G_acc"]

    # --- the losses -----------------------------------------------------------------------
    def generator_loss(self, fake_logits, fake, targets):
        """--adv_weight x the adversarial loss, plus --l1_weight x L1 to the target (paired
        data: the reference's 0.3 / 0.7, pix2pix's 1 / 100). A zero weight leaves its term out."""
        cfg = self.config
        g_loss = tf.constant(0.0)
        if cfg.adv_weight:
            g_loss += cfg.adv_weight * self.objective.generator_loss(fake_logits)
        if cfg.l1_weight:
            g_loss += cfg.l1_weight * losses.l1_loss(targets, fake)
        return g_loss

    def discriminator_loss(self, images, fake, condition):
        """(D's loss, fake logits): the adversarial terms, plus the matching-aware term of
        conditional models and the objective's penalty."""
        cfg, D = self.config, self.discriminator
        real_logits = models.judge(D, images, condition, training=True)
        fake_logits = models.judge(D, fake, condition, training=True)
        d_loss = self.objective.discriminator_loss(real_logits, fake_logits)
        if cfg.mismatch_weight and self.spec.is_conditional:
            # GAN-CLS's matching-aware term (Reed et al. 2016): real images with a wrong
            # condition count as fake, so D must learn what each condition looks like and G
            # gets a signal to draw it. The batch is shuffled, so the next image's condition
            # is a wrong one (mostly).
            wrong = models.judge(D, images, distribute.roll_global_batch(condition), training=True)
            d_loss += cfg.mismatch_weight * self.objective.fake_loss(wrong)
        penalty = tf.constant(0.0)
        if self.objective.gradient_penalty:
            weights = distribute.global_batch_random(
                lambda n, seed: losses.interpolation_weights(n, images.shape.rank, seed),
                tf.shape(images)[0], self._seed(GP_WEIGHTS))
            penalty = losses.gradient_penalty(
                lambda x: models.judge(D, x, condition, training=True), images, fake, weights,
                loss_scale=getattr(self.state.d_optimizer, "dynamic_scale", None))
            d_loss += self.objective.penalty_weight * penalty
        self._record_d(real_logits, fake_logits, d_loss, penalty)
        return d_loss, fake_logits

    # --- helpers --------------------------------------------------------------------------
    def _seed(self, stream):
        return tf.stack([tf.constant(self.config.seed + 1, tf.int64), self.state.step * 4 + stream])

    def _fake(self, images, condition, stream):
        """G's output on this replica's share of the global batch's noise for `stream`."""
        cfg = self.config
        z = distribute.global_batch_random(
            lambda n, seed: noise.stateless((n, cfg.noise_dim), cfg.noise, seed),
            tf.shape(images)[0], self._seed(stream))
        return models.generate(self.generator, z, condition, training=True)

    def _apply(self, tape, loss, model, optimizer):
        """One optimizer step on this replica's loss, scaled by 1 / replicas (see above)."""
        factor = 1.0 / self.state.replicas
        if hasattr(optimizer, "dynamic_scale"):  # float16: loss scaling against underflow
            factor *= tf.cast(optimizer.dynamic_scale, tf.float32)
        grads = tape.gradient(loss, model.trainable_variables,
                              output_gradients=tf.cast(factor, loss.dtype))
        optimizer.apply_gradients(zip(grads, model.trainable_variables))

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
        averaged = self.state.records.add(
            d={"Real_P": tf.reduce_mean(tf.sigmoid(real_logits)),
               "Fake_P": tf.reduce_mean(tf.sigmoid(fake_logits)),
               "Dis_loss": d_loss, "Real_score": tf.reduce_mean(real_logits),
               "Fake_score": tf.reduce_mean(fake_logits), "GP": penalty},
            acc={"D_acc": d_acc, "G_acc": g_acc})
        self._count_nonfinite(averaged["Dis_loss"])

    def _record_g(self, g_loss):
        self._count_nonfinite(self.state.records.add(g={"Gen_loss": g_loss})["Gen_loss"])

    def _count_nonfinite(self, loss):
        """The NaN guard's in-graph half: count non-finite losses (a scalar test, no branch, so
        the step stays as fast as before). The loop checks the count after each call and throws
        the whole state back to the last good checkpoint, so a bad update never stays."""
        self.state.nonfinite_steps.assign_add(
            tf.cast(tf.logical_not(tf.math.is_finite(loss)), tf.int64))
