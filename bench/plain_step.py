"""The baseline every throughput figure is compared with: the train step a user writes from the
keras.io GAN examples, on gan_zoo's own builders and the recipe's hyperparameters.

One @tf.function with two tapes, BCE from logits, keras' Adam and Keras' own BatchNorm (not the
trainer's fused one), one step per call. It computes the losses the recipe asks for, so the
sides do the same work: the mismatch term (GAN-CLS) for label models, the L1 term for
image-to-image models. No EMA, NaN guard, schedule or logging: what the trainer adds on top.
"""
import dataclasses


def plain_step(cfg, spec):
    """train_step(images, condition) -> D's loss, for the model and settings of `cfg`."""
    import keras
    import tensorflow as tf

    from gan_zoo import models
    keras.utils.set_random_seed(cfg.seed)
    generator, discriminator = models.build(spec, dataclasses.replace(cfg, fused_batch_norm=False))
    g_opt = keras.optimizers.Adam(cfg.g_lr, beta_1=cfg.beta1, beta_2=cfg.beta2)
    d_opt = keras.optimizers.Adam(cfg.d_lr, beta_1=cfg.beta1, beta_2=cfg.beta2)
    bce = keras.losses.BinaryCrossentropy(from_logits=True)
    model = models.describe(cfg.model)
    conditional, paired = model.takes_condition, model.paired
    mismatch = cfg.mismatch_weight if conditional and not paired else 0.0

    @tf.function
    def train_step(images, condition):
        condition = condition if conditional else None
        noise = None if paired else tf.random.normal((tf.shape(images)[0], cfg.noise_dim))
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            fake = models.generate(generator, noise, condition, training=True)
            real_logits = models.judge(discriminator, images, condition, training=True)
            fake_logits = models.judge(discriminator, fake, condition, training=True)
            d_loss = (bce(tf.ones_like(real_logits), real_logits)
                      + (1.0 - mismatch) * bce(tf.zeros_like(fake_logits), fake_logits))
            if mismatch:  # real images with another example's label count as fakes
                wrong = models.judge(discriminator, images, tf.roll(condition, 1, axis=0), training=True)
                d_loss += mismatch * bce(tf.zeros_like(wrong), wrong)
            g_loss = bce(tf.ones_like(fake_logits), fake_logits)
            if paired:
                g_loss += cfg.l1_weight * tf.reduce_mean(tf.abs(images - fake))
        d_opt.apply_gradients(zip(d_tape.gradient(d_loss, discriminator.trainable_variables),
                                  discriminator.trainable_variables))
        g_opt.apply_gradients(zip(g_tape.gradient(g_loss, generator.trainable_variables),
                                  generator.trainable_variables))
        return d_loss

    return train_step
