"""Keras' geometric augmentation layers applied as one warp: their random draws, one resampling."""

from __future__ import annotations

import keras
from keras import layers, ops

_COMPOSABLE = (layers.RandomRotation, layers.RandomTranslation, layers.RandomZoom)


@keras.saving.register_keras_serializable(package="kerascnn")
class ComposedAffine(keras.layers.Layer):
    """A chain of Keras' `RandomRotation`, `RandomTranslation` and `RandomZoom` layers applied as
    one affine transformation of each image.

    Each layer draws its random transformation itself (same ranges, seeds and draws as when the
    layers run one after the other); the transformations are multiplied into one matrix per image
    and the image is resampled once. Chained, every layer resamples the image again: three
    bilinear interpolations cost three times the time (for the `digits` preset on a 2-core CPU,
    the difference between training keeping 88-94 % and 93-97 % of its speed: README, Speed) and
    blur the image three times. A pixel whose source lies outside the image gets the fill value; chained, content that
    one step moves out of the frame stays lost even where a later step would bring it back.

    Args:
        transforms: the layers, in the order they would be chained (or their serialized configs);
            all with the same `interpolation`, `fill_mode`, `fill_value` and `data_format`.

    Shapes: `(batch, height, width, channels)` or one image `(height, width, channels)`
    (channels first with `data_format="channels_first"`); the output has the input's shape.
    Outside training the images pass unchanged.

    Example:
        >>> warp = ComposedAffine([layers.RandomRotation(0.03), layers.RandomZoom(0.1)])
        >>> warp(images, training=True)  # each image rotated and zoomed, resampled once
    """

    def __init__(self, transforms, **kwargs):
        super().__init__(**kwargs)
        transforms = [layers.deserialize(t) if isinstance(t, dict) else t for t in transforms]
        if not transforms:
            raise ValueError("ComposedAffine needs at least one layer to compose")
        for layer in transforms:
            if not isinstance(layer, _COMPOSABLE):
                raise ValueError(
                    f"ComposedAffine composes RandomRotation, RandomTranslation and RandomZoom, "
                    f"not {type(layer).__name__}; apply other layers before or after it"
                )
        settings = {
            (t.interpolation, t.fill_mode, float(t.fill_value), t.data_format) for t in transforms
        }
        if len(settings) > 1:
            raise ValueError(
                "ComposedAffine resamples once, so its layers must share interpolation, "
                f"fill_mode, fill_value and data_format; got {sorted(settings)}"
            )
        self.transforms = transforms
        first = transforms[0]
        self.interpolation, self.fill_mode = first.interpolation, first.fill_mode
        self.fill_value, self.data_format = first.fill_value, first.data_format

    def build(self, input_shape):
        for layer in self.transforms:
            layer.build(input_shape)

    def call(self, images, training=True):
        if not training:
            return images
        unbatched = len(images.shape) == 3
        if unbatched:
            images = ops.expand_dims(images, 0)
        shape = ops.shape(images)
        height, width = (shape[2], shape[3]) if self.data_format == "channels_first" else shape[1:3]
        # The chain's output pixel p samples the last layer's input at M_last p, and so on back:
        # the source pixel is M_first ... M_last p.
        matrix = None
        for layer in self.transforms:
            step = _matrix(layer, images, height, width)
            matrix = step if matrix is None else ops.matmul(matrix, step)
        matrix = ops.reshape(matrix / matrix[:, 2:3, 2:3], (-1, 9))[:, :8]
        outputs = ops.image.affine_transform(
            images,
            matrix,
            interpolation=self.interpolation,
            fill_mode=self.fill_mode,
            fill_value=self.fill_value,
            data_format=self.data_format,
        )
        return ops.squeeze(outputs, 0) if unbatched else outputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "transforms": [layers.serialize(t) for t in self.transforms],
        }


def _matrix(layer, images, height, width):
    """The 3x3 matrices (one per image) that map `layer`'s output pixels (x, y, 1) to the pixels
    they sample, drawn as the layer draws them."""
    draw = layer.get_random_transformation(images, training=True)
    batch = ops.shape(images)[0]
    if isinstance(layer, layers.RandomRotation):
        flat = ops.cast(ops.reshape(draw["rotation_matrix"], (-1, 8)), "float32")
    else:
        zeros = ops.zeros((batch, 1))
        if isinstance(layer, layers.RandomTranslation):
            shift = ops.cast(draw["translations"], "float32")  # (dx, dy) in pixels
            scale_x = scale_y = ops.ones((batch, 1))
            offset_x, offset_y = -shift[:, :1], -shift[:, 1:]
        else:  # RandomZoom: scales about the image centre
            scale_x = ops.cast(draw["width_zoom"], "float32")
            scale_y = ops.cast(draw["height_zoom"], "float32")
            offset_x = (ops.cast(width, "float32") - 1.0) / 2.0 * (1.0 - scale_x)
            offset_y = (ops.cast(height, "float32") - 1.0) / 2.0 * (1.0 - scale_y)
        flat = ops.concatenate(
            [scale_x, zeros, offset_x, zeros, scale_y, offset_y, zeros, zeros], axis=1
        )
    return ops.reshape(ops.concatenate([flat, ops.ones((batch, 1))], axis=1), (-1, 3, 3))
