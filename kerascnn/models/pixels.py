"""Pixel scaling: the one convention between images and networks.

Images travel as pixel values 0-255 (the data pipeline, exports, `kerascnn report`); the builders'
networks take values in [0, 1]. `rescale(x)` is the one layer that maps the first to the second
(named `rescale`); `taking_pixels(network)` puts it in front of a whole network, and
`network_of(model)` takes it off again. A GAN's generator draws in [-1, 1]; its own pair is the
DCGAN's `Rescaling(1 / 127.5, offset=-1)` and `kerascnn.layers.ToPixels`.
"""

from __future__ import annotations

import keras

PIXEL_MAX = 255.0


def rescale(x, name: str = "rescale"):
    """Pixel values 0-255 -> [0, 1]."""
    return keras.layers.Rescaling(1 / PIXEL_MAX, name=name)(x)


def taking_pixels(network: keras.Model, *, name: str | None = None) -> keras.Model:
    """`network` behind `rescale`: a model that takes pixel values 0-255 (input `images`)."""
    inputs = keras.Input(shape=tuple(network.inputs[0].shape[1:]), name="images")
    outputs = network(rescale(inputs))
    if len(network.outputs) > 1:
        outputs = dict(zip(network.output_names, outputs, strict=True))
    return keras.Model(inputs, outputs, name=name or network.name)


def network_of(model: keras.Model) -> keras.Model:
    """The network inside a model made by `taking_pixels` (a bare network is its own)."""
    nested = [layer for layer in model.layers if isinstance(layer, keras.Model)]
    return nested[0] if nested else model


def preprocessing_of(model: keras.Model) -> list[keras.layers.Layer]:
    """The layers in front of `network_of(model)` (the scaling), empty for a bare network."""
    front = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            return front
        if not isinstance(layer, keras.layers.InputLayer):
            front.append(layer)
    return []


def takes_pixels(model: keras.Model) -> bool:
    """Whether `model` takes pixel values 0-255: it holds `rescale` (`taking_pixels`), itself or
    in a model it holds (an ensemble's members), rather than being a builder's bare network,
    which takes [0, 1]."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.Rescaling) and layer.name == "rescale":
            return True
        if isinstance(layer, keras.Model) and takes_pixels(layer):
            return True
    return False
