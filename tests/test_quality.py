"""The one slow test: the Maxout cGAN recipe must learn to draw the class it is asked for.

As published, this model's samples are recognised as the requested class ~10% of the
time (chance). The threshold below was set from measurement (see README), with margin.
"""
from gan_zoo import config, data, trainer
from gan_zoo.eval import classifier

EPOCHS = 3
MIN_LABEL_ACCURACY = 0.35  # chance is 0.10; bench/label_quality.py measured 0.62 after 3 epochs


def test_maxout_cgan_samples_are_recognised_as_their_label(tmp_path, fashion_judge):
    judge = fashion_judge
    assert classifier.accuracy(judge, data.load("fashion_mnist", split="test")) > 0.8

    cfg = config.resolve(model="maxout_cgan", dataset="fashion_mnist", epochs=EPOCHS,
                         save_every=EPOCHS, run_dir=str(tmp_path), progress=False)
    trained = trainer.train(cfg, data.load("fashion_mnist"))
    images, labels = classifier.generate_per_class(trained.generator, 10, 100, cfg.noise_dim,
                                                   cfg.noise, seed=123)
    accuracy = classifier.label_accuracy(judge, images, labels)
    print(f"label accuracy after {EPOCHS} epochs: {accuracy:.3f}")
    assert accuracy > MIN_LABEL_ACCURACY
