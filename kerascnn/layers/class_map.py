"""Per-pixel class probabilities to a map of class indices, for segmentation exports."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kerascnn")
class ClassMap(keras.layers.Layer):
    """The most probable class at every position, as uint8 (up to 256 classes).

    Shapes: (batch, height, width, classes) -> (batch, height, width), dtype uint8.

    Example:
        >>> ClassMap()(keras.ops.convert_to_tensor([[[[0.2, 0.8]]]]))  # [[[1]]]
    """

    def call(self, inputs):
        return ops.cast(ops.argmax(inputs, axis=-1), "uint8")

    def compute_output_spec(self, inputs):
        return keras.KerasTensor(inputs.shape[:-1], dtype="uint8")
