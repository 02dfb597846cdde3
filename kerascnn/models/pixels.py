"""Pixel scaling: the one convention between images and networks.

Images travel as pixel values 0-255 (the data pipeline, exports, `kerascnn report`); the builders'
networks take values in [0, 1]. `rescale(x)` is the one layer that maps the first to the second
(named `rescale`); `taking_pixels(network)` puts it in front of a whole network, and
`network_of(model)` takes it off again. A GAN's generator draws in [-1, 1]; its own pair is the
DCGAN's `Rescaling(1 / 127.5, offset=-1)` and `kerascnn.layers.ToPixels`.

Pretrained weights expect the scaling they were trained with. A network built with them
(`weights="imagenet"`, or a keras.applications / torchvision weight file) starts with
`preprocess(x, convention)`, a per-channel `Rescaling` named `preprocess` that maps its [0, 1] input
to what the weights saw, so it still takes [0, 1] like every builder's network and nobody
downstream (a run, `kerascnn predict`, an export) has to know. `PREPROCESSING` holds the three
conventions as scale and offset of [0, 1] RGB values:

- `"caffe"`: keras.applications' VGG (`mode="caffe"`): 0-255 values minus the ImageNet mean per
  channel, no division. Caffe's BGR channel order is folded into the first convolution when the
  weights are loaded (its input channels reversed), so the network takes RGB like every other.
- `"torch"`: torchvision's ImageNet mean and standard deviation, `(x - mean) / std`.
- `"inception"`: [-1, 1], `2x - 1` (keras.applications' `mode="tf"`; also torchvision's GoogLeNet,
  whose `transform_input` turns its mean/std input back into exactly this).
"""

from __future__ import annotations

import keras
import numpy as np

PIXEL_MAX = 255.0

# torchvision's (and timm's) ImageNet statistics of [0, 1] RGB values.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# keras.applications' `imagenet_utils.preprocess_input(mode="caffe")` mean, in RGB order (Keras
# lists it as BGR: 103.939, 116.779, 123.68).
CAFFE_MEAN_RGB = (123.68, 116.779, 103.939)
# convention -> (scale, offset) per RGB channel, applied to [0, 1] values: y = x * scale + offset.
PREPROCESSING = {
    "caffe": ((PIXEL_MAX,) * 3, tuple(-m for m in CAFFE_MEAN_RGB)),
    "torch": (
        tuple(1 / s for s in IMAGENET_STD),
        tuple(-m / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD, strict=True)),
    ),
    "inception": ((2.0,) * 3, (-1.0,) * 3),
}


def rescale(x, name: str = "rescale"):
    """Pixel values 0-255 -> [0, 1]."""
    return keras.layers.Rescaling(1 / PIXEL_MAX, name=name)(x)


def preprocess(x, convention: str, name: str = "preprocess"):
    """[0, 1] RGB values -> the input that weights trained with `convention` expect."""
    scale, offset = PREPROCESSING[convention]
    return keras.layers.Rescaling(
        np.asarray(scale, "float32"), offset=np.asarray(offset, "float32"), name=name
    )(x)


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
