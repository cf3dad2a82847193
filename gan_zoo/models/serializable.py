"""Every module that defines a layer of the zoo's networks that is not Keras' own, imported so
Keras can rebuild a `.keras` file of any zoo network in safe mode with no `custom_objects`
(each such layer is registered as `gan_zoo>ClassName` with a get_config). `import gan_zoo`
imports this as soon as Keras is imported (gan_zoo/keras_registration.py)."""
from gan_zoo.models import conv_cgan, fused_batch_norm, layers, spectral_norm, stackgan  # noqa: F401
