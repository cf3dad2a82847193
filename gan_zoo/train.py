"""python -m gan_zoo.train --recipe=maxout_cgan [--epochs=N] (or --model=NAME, --flagfile=PATH)"""
from gan_zoo import cli  # noqa: F401  (sets TF log level before TensorFlow loads)

from absl import app, flags, logging

from gan_zoo import config as config_lib

config_lib.define_flags()
FLAGS = flags.FLAGS


def main():
    cfg = config_lib.from_flags()
    from gan_zoo import data, distribute, loop
    strategy = distribute.strategy_for(cfg)  # first: multi-worker set-up must precede other TF work
    source = data.for_config(cfg)
    logging.info("Training %s on %s (%d images, %s) into %s with %d replica(s)", cfg.model,
                 source.name, source.num_examples, source.spec.image_shape,
                 cfg.resolved_run_dir(), strategy.num_replicas_in_sync)
    loop.train(cfg, source, strategy=strategy)


if __name__ == "__main__":
    app.run(cli.run(main))
