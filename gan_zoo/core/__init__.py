"""The training core's building blocks: each loss as a pure function (losses.py), noise,
DiffAugment, optimizers, replicas and precision (distribute.py), the generator's EMA, the
figures a step records (records.py), fault points for the crash tests. TensorFlow only, no
file I/O, and no model: models/ and training/ build on it.
"""
