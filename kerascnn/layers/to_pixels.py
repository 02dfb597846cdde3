"""Images in [-1, 1] (a tanh output) to uint8 pixel values, for exports that hand out pictures."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kerascnn")
class ToPixels(keras.layers.Layer):
    """Maps values in [-1, 1] to uint8 pixels: round((x + 1) * 127.5), clipped to [0, 255].

    The inverse of the `Rescaling(1 / 127.5, offset=-1)` a GAN's training step applies to real images.

    Shapes: any; the output has the input's shape and dtype uint8.

    Example:
        >>> ToPixels()(keras.ops.convert_to_tensor([[-1.0, 0.0, 1.0]]))  # [[0, 128, 255]]
    """

    def call(self, inputs):
        pixels = ops.round((ops.cast(inputs, "float32") + 1.0) * 127.5)
        return ops.cast(ops.clip(pixels, 0.0, 255.0), "uint8")

    def compute_output_spec(self, inputs):
        return keras.KerasTensor(inputs.shape, dtype="uint8")
