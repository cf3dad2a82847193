"""What a builder needs to know about the data (DataSpec), beside the data it describes."""
import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class DataSpec:
    """What a builder needs to know about the data; comes from the data set, not constants.

    Conditions are one-hot classes (`condition_names` empty: condition_dim == number of
    classes) or any fixed-length float vector, e.g. multi-hot tags (`condition_names` are
    the vector's entries, `grid_conditions` the example vectors the sample grid shows),
    or an image (`condition_shape`: paired data, where the input image is the condition).
    """
    image_shape: tuple  # (H, W, C)
    condition_dim: int  # length of the condition vector
    class_names: tuple = ()
    condition_names: tuple = ()
    grid_conditions: tuple = ()  # vector conditions only: one grid column per vector
    grid_names: tuple = ()
    condition_shape: tuple = ()  # (H, W, C) of the input image of paired data; () otherwise

    @property
    def is_conditional(self):
        return self.condition_dim > 0 or self.is_paired

    @property
    def is_paired(self):
        return bool(self.condition_shape)

    @property
    def is_class_conditional(self):
        return self.condition_dim > 0 and not self.condition_names

    def unconditional(self):
        """The same images with no condition (what an unconditional model trains on)."""
        return DataSpec(image_shape=self.image_shape, condition_dim=0)

    def grid_condition_matrix(self):
        if self.is_class_conditional:
            return np.eye(self.condition_dim, dtype=np.float32)
        return np.asarray(self.grid_conditions, dtype=np.float32)

    def to_json(self):
        return {"image_shape": list(self.image_shape), "condition_dim": self.condition_dim,
                "class_names": list(self.class_names), "condition_names": list(self.condition_names),
                "grid_conditions": [list(v) for v in self.grid_conditions],
                "grid_names": list(self.grid_names), "condition_shape": list(self.condition_shape)}

    @classmethod
    def from_json(cls, d):
        return cls(tuple(d["image_shape"]), int(d["condition_dim"]), tuple(d.get("class_names", ())),
                   tuple(d.get("condition_names", ())),
                   tuple(tuple(v) for v in d.get("grid_conditions", ())), tuple(d.get("grid_names", ())),
                   tuple(d.get("condition_shape", ())))
