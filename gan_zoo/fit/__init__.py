"""The zoo as Keras objects: `build` a model's generator and discriminator, train a `GAN`
(a keras.Model) with compile() and fit() and Keras' callbacks, keep a `GeneratorEMA` beside a
fit() of your own, and add the zoo's `Scores` to an epoch's logs. docs/keras.md shows the
Keras way end to end."""
from gan_zoo.models import serializable  # noqa: F401  (the zoo's layers, known to Keras' loader)
from gan_zoo.fit.callbacks import GeneratorEMA, Schedule, Scores  # noqa: F401
from gan_zoo.fit.gan import GAN, batches, build, data_spec, group  # noqa: F401
