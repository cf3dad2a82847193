"""The loss terms added against collapse within a class, each against its formula and in the
step: DSGAN's diversity-sensitive reward, top-k training of G, balanced consistency
regularisation, LeCam regularisation and the matching-aware term faded out."""
import math

import numpy as np
import pytest
import tensorflow as tf

from gan_zoo import data, models
from gan_zoo.core import augment, losses
from gan_zoo.data.spec import DataSpec
from gan_zoo.errors import UserError
from gan_zoo.settings import config
from gan_zoo.training import steps
from gan_zoo.training.trainer import Trainer

# mlp_cgan's D without R1: no BatchNorm, spectral norm or dropout, so D called twice on the
# same input in training mode gives the same logits (what the recomputations below need)
SETTINGS = dict(model="mlp_cgan", dataset="fashion_mnist", max_images=128, batch_size=64,
                r1_gamma=0.0, r1_every=1)


def _trainer(**settings):
    cfg = config.resolve(**{**SETTINGS, **settings})
    trainer = Trainer(cfg, data.for_config(cfg))
    images, condition = next(iter(trainer.source.epoch_batches(64, 0, 0)))
    return trainer, images, condition


def test_diversity_sensitive_reward_is_the_bounded_pair_ratio_and_lowers_g_loss():
    rng = np.random.default_rng(0)
    fake = rng.normal(size=(6, 4, 4, 1)).astype(np.float32)
    z = rng.normal(size=(6, 3)).astype(np.float32)
    ratio = np.abs(fake[0::2] - fake[1::2]).mean() / np.abs(z[0::2] - z[1::2]).mean()
    assert float(losses.diversity_sensitive_reward(fake, z, 100.0)) == pytest.approx(ratio, rel=1e-5)
    assert float(losses.diversity_sensitive_reward(fake, z, ratio / 2)) == pytest.approx(ratio / 2, rel=1e-5)
    trainer, images, condition = _trainer(diversity_sensitive=0.5, diversity_bound=10.0)
    fake, z, paired = trainer.steps._fake(images, condition, steps.G_NOISE)
    np.testing.assert_array_equal(paired[1::2].numpy(), paired[0::2].numpy())  # MSGAN's pairs
    logits = models.judge(trainer.discriminator, fake, paired)
    with_term = trainer.steps.generator_loss(logits, fake, images, z)
    plain, _, _ = _trainer()
    without = plain.steps.generator_loss(logits, fake, images, z)
    reward = float(losses.diversity_sensitive_reward(fake, z, 10.0))
    assert reward > 0 and float(without - with_term) == pytest.approx(0.5 * reward, rel=1e-4)
    with pytest.raises(UserError, match="--diversity_sensitive needs a generator that draws from noise"):
        config.resolve(model="img2img", diversity_sensitive=1.0)


def test_top_k_keeps_the_fakes_rated_most_real_and_shrinks_with_the_epoch():
    logits = tf.constant([[0.3], [-2.0], [1.5], [0.0], [-0.5]])
    np.testing.assert_array_equal(losses.top_k_weights(logits, 0.4).numpy(), [1, 0, 1, 0, 0])
    np.testing.assert_array_equal(losses.top_k_weights(logits, 0.5).numpy(), [1, 0, 1, 1, 0])  # ceil
    patches = tf.reshape(tf.range(8, dtype=tf.float32), (4, 1, 2, 1)) * [[[[1.0]]], [[[-1.0]]], [[[2.0]]], [[[0.5]]]]
    np.testing.assert_array_equal(losses.top_k_weights(patches, 0.5).numpy(), [0, 0, 1, 1])  # mean logit
    trainer, _, _ = _trainer(topk=0.5, topk_decay=0.9)
    bce = losses.get("bce")
    fake_logits = tf.constant(np.random.default_rng(1).normal(size=(10, 1)).astype(np.float32))
    for epoch in (0, 3, 20):
        trainer.set_epoch(epoch)
        share = max(0.5, 0.9 ** epoch)
        keep = np.argsort(-fake_logits.numpy()[:, 0])[:math.ceil(share * 10)]
        expected = bce.generator_loss(tf.gather(fake_logits, keep))
        assert float(trainer.steps._adversarial_g_loss(fake_logits)) == pytest.approx(float(expected), rel=1e-5)
    assert trainer.steps._adversarial_g_loss(fake_logits).shape == ()


def test_consistency_term_is_ds_squared_change_under_augmentation():
    logits = tf.constant([[1.0], [2.0]])
    assert float(losses.consistency_penalty(logits, tf.constant([[0.0], [4.0]]))) == pytest.approx(2.5)
    trainer, images, condition = _trainer(consistency=3.0, consistency_augment="translation,cutout")
    fake, _, fake_condition = trainer.steps._fake(images, condition, steps.D_NOISE)
    D = trainer.discriminator
    real_logits, fake_logits = D([images, condition], training=True), D([fake, fake_condition], training=True)
    term = trainer.steps._regularisers(images, condition, real_logits, fake, fake_condition, fake_logits)
    expected = 0.0
    for stream, x, c, logits in ((steps.CONSISTENCY_REAL, images, condition, real_logits),
                                 (steps.CONSISTENCY_FAKE, fake, fake_condition, fake_logits)):
        moved = augment.apply(x, ("translation", "cutout"), trainer.steps._seed(stream, base=4, streams=2))
        assert np.abs(moved.numpy() - x.numpy()).max() > 0.5  # the copy D compares is augmented
        expected += 3.0 * np.mean((logits.numpy() - D([moved, c], training=True).numpy()) ** 2)
    assert float(term) == pytest.approx(expected, rel=1e-5) and expected > 0
    with pytest.raises(UserError, match="--consistency augments what D judges.*--diffaugment"):
        config.resolve(**SETTINGS, consistency=1.0, diffaugment="translation")
    with pytest.raises(UserError, match="--consistency_augment: unknown augmentation"):
        config.resolve(**SETTINGS, consistency=1.0, consistency_augment="flip")


def test_lecam_penalises_logits_past_the_other_sides_average_and_moves_its_anchors(tmp_path):
    real, fake = tf.constant([[1.0], [-1.0]]), tf.constant([[0.5], [-3.0]])
    # relu(real - a_fake)^2: (1 - 0)^2, 0; relu(a_real - fake)^2: (0.2 - 0.5)+ = 0, (0.2 + 3)^2
    assert float(losses.lecam_penalty(real, fake, 0.2, 0.0)) == pytest.approx(0.5 + 0.5 * 3.2 ** 2)
    trainer, images, condition = _trainer(lecam=0.3)
    anchors = trainer.state.lecam_anchors
    anchors.assign([0.4, -0.2])
    fake, _, fake_condition = trainer.steps._fake(images, condition, steps.D_NOISE)
    D = trainer.discriminator
    real_logits, fake_logits = D([images, condition], training=True), D([fake, fake_condition], training=True)
    term = trainer.steps._regularisers(images, condition, real_logits, fake, fake_condition, fake_logits)
    assert float(term) == pytest.approx(0.3 * float(losses.lecam_penalty(real_logits, fake_logits, 0.4, -0.2)), rel=1e-5)
    moved = 0.99 * np.array([0.4, -0.2]) + 0.01 * np.array([np.mean(real_logits), np.mean(fake_logits)])
    np.testing.assert_allclose(anchors.numpy(), moved, rtol=1e-5)
    assert "lecam_anchors" in trainer.state.checkpoint_parts()  # a resumed run keeps them
    assert "lecam_anchors" not in _trainer()[0].state.checkpoint_parts()


def test_lecam_and_consistency_train_through_the_loop(tmp_path):
    """Both regularisers inside the compiled steps (n_critic 2, XLA where the recipe asks):
    the run finishes with finite losses and anchors that followed D's logits."""
    from gan_zoo.run import loop
    from gan_zoo.run.run_files import RunFiles
    cfg = config.resolve(**{**SETTINGS, "max_images": 256}, lecam=0.3, consistency=1.0, topk=0.5,
                         epochs=2, eval_every=0, run_dir=str(tmp_path), progress=False)
    trainer = loop.train(cfg, data.for_config(cfg))
    losses_csv = RunFiles(str(tmp_path)).read_column("Dis_loss")
    assert len(losses_csv) == 2 and np.all(np.isfinite(losses_csv))
    assert np.abs(trainer.state.lecam_anchors.numpy()).max() > 0


def test_the_matching_aware_term_fades_out_over_the_epochs_before_it_stops():
    trainer, _, _ = _trainer(mismatch_weight=0.5, mismatch_epochs=4, mismatch_fade=2)
    shares = []
    for epoch in range(6):
        trainer.set_epoch(epoch)
        shares.append(float(trainer.steps._mismatch_weight()) if trainer.steps.mismatch_active else 0.0)
    np.testing.assert_allclose(shares, [0.5, 0.5, 0.5 * 2 / 3, 0.5 / 3, 0.0, 0.0], rtol=1e-6)
    with pytest.raises(UserError, match="--mismatch_fade=3 .*--mismatch_epochs >= 3"):
        config.resolve(**SETTINGS, mismatch_weight=0.5, mismatch_epochs=2, mismatch_fade=3)


def test_rotation_head_sees_ds_features_and_adds_its_cross_entropy_to_both_losses():
    image = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)
    turned = augment.quarter_turns(tf.constant(np.repeat(image, 4, 0)), tf.constant([0, 1, 2, 3]))
    for k in range(4):  # anticlockwise, as numpy's rot90 over (H, W)
        np.testing.assert_array_equal(turned[k].numpy(), np.rot90(image[0], k))
    logits = np.array([[2.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 3.0]], np.float32)
    expected = -np.mean([np.log(np.exp(2) / (np.exp(2) + 3)), np.log(np.exp(3) / (np.exp(3) + np.e + 2))])
    assert float(losses.rotation_loss(logits, tf.constant([0, 3]))) == pytest.approx(expected, rel=1e-5)

    trainer, images, condition = _trainer(rotation=2.0, rotation_generator=0.3)
    state, D = trainer.state, trainer.discriminator
    shared = {id(v) for v in D.trainable_variables}
    assert all(id(v) in shared for v in state.rotation_features.trainable_variables)  # D's own
    assert state.rotation_features.output.shape[-1] == D.get_layer("logit_psi").input.shape[-1]

    def head_loss(x, c):
        turns = np.arange(len(x)) % 4
        moved = augment.quarter_turns(x, turns)
        return float(losses.rotation_loss(state.rotation_head(state.rotation_features([moved, c])), turns))
    fake, z, fake_condition = trainer.steps._fake(images, condition, steps.D_NOISE)
    real_logits, fake_logits = D([images, condition], training=True), D([fake, fake_condition], training=True)
    term = trainer.steps._regularisers(images, condition, real_logits, fake, fake_condition, fake_logits)
    assert float(term) == pytest.approx(2.0 * head_loss(images, condition), rel=1e-5)
    plain, _, _ = _trainer()
    difference = (trainer.steps.generator_loss(fake_logits, fake, images, z, fake_condition)
                  - plain.steps.generator_loss(fake_logits, fake, images, z, fake_condition))
    assert float(difference) == pytest.approx(0.3 * head_loss(fake, fake_condition), rel=1e-5)
    assert "rotation_head" in state.checkpoint_parts() and plain.state.rotation_head is None
    with pytest.raises(UserError, match="--rotation turns the images D judges"):
        config.resolve(model="img2img", rotation=1.0)


def test_rotation_head_learns_the_turns_through_the_loop(tmp_path):
    """Trained with D in the compiled steps (n_critic 2, the head's slots in D's optimizer),
    the head tells the quarter turns of held-out images apart far better than chance
    (cross-entropy log 4 = 1.386); the last features of every D family are found."""
    from gan_zoo.run import loop
    cfg = config.resolve(**{**SETTINGS, "max_images": 1024}, rotation=1.0, epochs=2, eval_every=0,
                         run_dir=str(tmp_path), progress=False)
    trainer = loop.train(cfg, data.for_config(cfg))
    images, condition = next(iter(trainer.source.epoch_batches(64, 5, 0)))
    turns = np.arange(64) % 4
    logits = trainer.state.rotation_head(trainer.state.rotation_features(
        [augment.quarter_turns(images, turns), condition]))
    assert float(losses.rotation_loss(logits, turns)) < 0.7
    for model, spec in (("dcgan", DataSpec((32, 32, 1), 0)), ("conv_cgan", DataSpec((28, 28, 1), 10))):
        found = models.last_features(models.build(spec, config.resolve(model=model))[1])
        assert found is not None and found.output.shape[-1] > 1
    paired = DataSpec((64, 64, 3), 0, condition_shape=(64, 64, 3))
    patch_d = models.build(paired, config.resolve(model="img2img", discriminator="patch"))[1]
    assert models.last_features(patch_d) is None  # --rotation refuses it with one line
