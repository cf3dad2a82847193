"""python -m gan_zoo.train --model=maxout_cgan --epochs=150 [--flagfile=flags/maxout_cgan.flags]"""
from gan_zoo import cli  # noqa: F401  (sets TF log level before TensorFlow loads)

from absl import app, flags, logging

from gan_zoo import config as config_lib

config_lib.define_flags()
FLAGS = flags.FLAGS


def main():
    cfg = config_lib.from_flags()
    from gan_zoo import data, trainer
    source = data.for_config(cfg)
    logging.info("Training %s on %s (%d images, %s) into %s", cfg.model, source.name,
                 source.num_examples, source.spec.image_shape, cfg.resolved_run_dir())
    trainer.train(cfg, source)


if __name__ == "__main__":
    app.run(cli.run(main))
