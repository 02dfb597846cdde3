"""Dropout as first published: drop units in training, scale by the keep probability at inference."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kerascnn")
class ClassicDropout(keras.layers.Layer):
    """Dropout that scales at inference time instead of during training.

    In training each unit is zeroed with probability `rate` and the survivors pass unchanged; at inference
    every unit is multiplied by `1 - rate`. This is the rule of Srivastava et al. (2014) and of
    "Deep Learning from Scratch" (`common/layers.py`, `Dropout`). Keras' `Dropout` is the inverted form,
    which scales survivors by `1 / (1 - rate)` in training: the same expected activations, but training
    sees twice the scale, which changes the dynamics of the layers after it.

    Reference:
    - Srivastava et al., "Dropout: A Simple Way to Prevent Neural Networks from Overfitting", JMLR 2014.

    Args:
        rate: probability of dropping a unit, in [0, 1).
        seed: optional integer seed of the dropout masks.

    Shapes: any; the output has the input's shape.

    Example:
        >>> layer = ClassicDropout(0.5)
        >>> layer(keras.ops.ones((1, 4)), training=False)  # [[0.5, 0.5, 0.5, 0.5]]
    """

    def __init__(self, rate: float, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= rate < 1:
            raise ValueError(f"ClassicDropout rate must be in [0, 1), got {rate!r}")
        self.rate = rate
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True

    def call(self, inputs, training=False):
        if training and self.rate > 0:
            draws = keras.random.uniform(ops.shape(inputs), seed=self.seed_generator)
            return ops.where(draws >= self.rate, inputs, ops.zeros_like(inputs))
        return inputs * ops.cast(1 - self.rate, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}
