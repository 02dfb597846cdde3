"""FCN-32s, FCN-16s and FCN-8s (Long, Shelhamer & Darrell, 2015): a class for every pixel in one
forward pass.

A classifier's fully connected layers become convolutions (fc6 a 7x7 convolution, fc7 a 1x1 one;
see `kerascnn.models.convolutional` for the exact equivalence), a 1x1 convolution scores every
class at every position of the coarse map, and transposed convolutions initialised to bilinear
interpolation enlarge it back to the input size. FCN-16s and FCN-8s first fuse the 2x-upsampled
scores with scores of finer maps (pool4, then pool3); those 2x upsamplings train, the final one
stays fixed bilinear interpolation, as in the paper. The variants differ only in their number of
skips (`SKIPS`); one `_fcn` builds them all.

Reference:
- Jonathan Long, Evan Shelhamer, Trevor Darrell, "Fully Convolutional Networks for Semantic
  Segmentation" (CVPR 2015, arXiv:1411.4038), sec. 3-4 and Fig. 3.
- The authors' Caffe models, shelhamer/fcn.berkeleyvision.org: `voc-fcn8s/net.py` (the layer
  names used here: fc6, fc7, score_fr, upscore2, score_pool4, fuse_pool4, upscore_pool4,
  score_pool3, fuse_pool3, upscore8).
"""

from __future__ import annotations

import math
from types import MappingProxyType

import keras
import numpy as np
from keras import layers

from kerascnn.errors import KerasCNNError
from kerascnn.models import common
from kerascnn.models.blocks import he_normal
from kerascnn.registry import models

# Skips from finer maps fused before the final upsampling.
SKIPS = MappingProxyType({"fcn32s": 0, "fcn16s": 1, "fcn8s": 2})
FC_UNITS = 4096
FC_KERNEL = 7


@keras.saving.register_keras_serializable(package="kerascnn")
class BilinearUpsampling(keras.initializers.Initializer):
    """The kernel of a transposed convolution that upsamples each channel by bilinear
    interpolation: for a kernel of size 2f and stride f, channel i -> channel i with the weights
    (1 - |x - c| / f)(1 - |y - c| / f), c = f - 1/2; other channel pairs 0. With "same" padding it
    reproduces `tf.image.resize(method="bilinear")` (half-pixel centres) away from the f/2-pixel
    border, where the zero padding weighs in. FCN's `upsample_filt` (surgery.py)."""

    def __call__(self, shape, dtype=None):
        height, width, outputs, inputs = shape
        kernel = np.zeros(shape, np.float32)
        weights = np.outer(_bilinear_1d(height), _bilinear_1d(width))
        for channel in range(min(outputs, inputs)):
            kernel[:, :, channel, channel] = weights
        return keras.ops.convert_to_tensor(kernel, dtype=dtype or "float32")

    def get_config(self):
        return {}


def _bilinear_1d(size: int) -> np.ndarray:
    factor = (size + 1) // 2
    centre = factor - 1 if size % 2 else factor - 0.5
    return 1 - np.abs(np.arange(size) - centre) / factor


def upsample(x, classes, factor, *, trainable, name):
    """A transposed convolution of kernel 2f, stride f, no bias, initialised to bilinear
    interpolation: the map f times larger."""
    return layers.Conv2DTranspose(
        classes,
        2 * factor,
        strides=factor,
        padding="same",
        use_bias=False,
        kernel_initializer=BilinearUpsampling(),
        trainable=trainable,
        name=name,
    )(x)


def score(x, classes, *, name):
    """A 1x1 convolution giving every class's score at every position; zero-initialised, as
    the paper's new scoring layers."""
    return layers.Conv2D(classes, 1, kernel_initializer="zeros", name=name)(x)


def fully_convolutional_block(x, units, kernel, dropout, *, name):
    """A convolution with ReLU and dropout: the paper's fc6 (7x7) and fc7 (1x1)."""
    x = layers.Conv2D(
        units,
        kernel,
        padding="same",
        activation="relu",
        kernel_initializer=he_normal(),
        name=name,
    )(x)
    if dropout:
        x = layers.Dropout(dropout, name=f"{name}_dropout")(x)
    return x


def crop_to(x, reference, *, name):
    """`x` cropped at the bottom and right to the height and width of `reference`: Caffe's crop
    layer, whose offset is 0 here since every map is aligned at the top-left corner."""
    extra = [int(a) - int(b) for a, b in zip(x.shape[1:3], reference.shape[1:3], strict=True)]
    if not any(extra):
        return x
    return layers.Cropping2D(((0, extra[0]), (0, extra[1])), name=name)(x)


def fuse(coarse, fine, classes, level, *, name):
    """The 2x-upsampled (trainable) coarse scores plus the scores of the finer map `fine`."""
    up = upsample(coarse, classes, 2, trainable=True, name=name)
    skip = score(fine, classes, name=f"score_pool{level}")
    smallest = up if up.shape[1] * up.shape[2] <= skip.shape[1] * skip.shape[2] else skip
    up = crop_to(up, smallest, name=f"{name}_crop")
    skip = crop_to(skip, smallest, name=f"score_pool{level}_crop")
    return layers.Add(name=f"fuse_pool{level}")([up, skip])


def backbone_levels(backbone: keras.Model, input_height: int) -> dict[int, keras.KerasTensor]:
    """The first feature map at each level of downsampling (level L: about 2**L times smaller
    than the input), e.g. VGG's block3_pool at 3 and block4_pool at 4: FCN's pool3 and pool4."""
    levels = {}
    for layer in backbone.layers:
        shape = getattr(layer.output, "shape", None)
        if isinstance(layer, layers.InputLayer) or shape is None or len(shape) != 4:
            continue
        level = round(math.log2(input_height / shape[1]))
        levels.setdefault(level, layer.output)
    return levels


def _fcn(
    variant,
    *,
    include_top,
    weights,
    input_tensor,
    input_shape,
    pooling,
    classes,
    classifier_activation,
    name,
    backbone,
    backbone_args,
    backbone_weights,
    fc_units,
    fc_kernel,
    dropout,
):
    """Builds the FCN of `SKIPS[variant]` skips; the public builders document the arguments."""
    common.check_arguments(
        name=name, include_top=include_top, weights=weights, pooling=pooling, classes=classes
    )
    common.check_rate(name, "dropout", dropout)
    for argument, value in (("fc_units", fc_units), ("fc_kernel", fc_kernel)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise KerasCNNError(f"{name}: {argument} must be a positive integer, got {value!r}")
    if models.metadata(backbone)["task"] != "classification":
        raise KerasCNNError(
            f"{name}: backbone must be a registered classifier ({', '.join(models.names())}), "
            f"got {backbone!r}"
        )
    inputs = common.image_input(
        name=name,
        input_tensor=input_tensor,
        input_shape=input_shape,
        default_shape=(224, 224, 3),
        min_size=1,
    )
    height, width = inputs.shape[1:3]
    if height is None or width is None:
        raise KerasCNNError(
            f"{name}: needs a fixed input height and width (the skips are cropped to fit), got "
            f"{tuple(inputs.shape[1:])}; resize the images to one size"
        )
    features = models.get(backbone)(
        include_top=False,
        weights=backbone_weights,
        input_tensor=inputs,
        **dict(backbone_args or {}),
    )
    levels = backbone_levels(features, height)
    final = max(levels)
    skips = [final - step for step in range(1, SKIPS[variant] + 1)]
    missing = [level for level in skips if level not in levels]
    if missing:
        raise KerasCNNError(
            f"{name}: backbone {backbone!r} at {height}x{width} has no map at 1/{2 ** missing[0]} "
            f"of the input (its maps are at 1/{', 1/'.join(str(2**lv) for lv in sorted(levels))}) "
            f"to take a skip from; use fewer skips (fcn32s) or another backbone"
        )
    x = fully_convolutional_block(features.output, fc_units, fc_kernel, dropout, name="fc6")
    x = fully_convolutional_block(x, fc_units, 1, dropout, name="fc7")
    if not include_top:
        return common.finish(
            inputs,
            common.pooled_features(x, pooling),
            input_tensor=input_tensor,
            name=name,
            weights=weights,
        )
    x = score(x, classes, name="score_fr")
    previous = None
    for level in skips:
        up_name = "upscore2" if previous is None else f"upscore_pool{previous}"
        x = fuse(x, levels[level], classes, level, name=up_name)
        previous = level
    factor = 2 ** (skips[-1] if skips else final)
    # The paper's names (upscore32, upscore16, upscore8); a backbone that downsamples 8 times
    # ends fcn8s in a 2x upsampling, which must not take the first fusion's name.
    final_name = f"upscore{factor}" if (factor, bool(skips)) != (2, True) else "upscore_final"
    x = upsample(x, classes, factor, trainable=False, name=final_name)
    if x.shape[1] < height or x.shape[2] < width:
        raise KerasCNNError(
            f"{name}: at {height}x{width} the scores come back {x.shape[1]}x{x.shape[2]}, "
            f"smaller than the image: backbone {backbone!r} shrinks its maps by more than its "
            f"poolings (valid convolutions, or sizes that are not multiples of {2**final}); use "
            "such a size, or a backbone whose convolutions keep the size (vgg16, resnet18, "
            "deep_mnist_cnn)"
        )
    x = crop_to(x, inputs, name="score")
    x = common.predictions(x, classifier_activation)
    return common.finish(inputs, x, input_tensor=input_tensor, name=name, weights=weights)


_SHARED_DOC = """
The backbone's convolutional part (`backbone`, VGG-16 by default: its five blocks, pool5 at 1/32
of the input), then fc6, a `fc_kernel` x `fc_kernel` convolution with `fc_units` filters, ReLU
and dropout, and fc7, a 1x1 convolution with `fc_units` filters, ReLU and dropout (VGG-16's two
4096-unit fully connected layers as convolutions), and `score_fr`, a 1x1 convolution to
`classes` scores. FCN-16s adds the 2x-upsampled scores (`upscore2`) to `score_pool4`, 1x1 scores
of pool4; FCN-8s then upsamples that sum 2x (`upscore_pool4`) and adds `score_pool3`. The last
transposed convolution (`upscore32`, `upscore16`, `upscore8`) enlarges the scores to the input
and is fixed (not trainable); the 2x ones train. Every transposed convolution has kernel 2f,
stride f, no bias and starts as bilinear interpolation (`BilinearUpsampling`); the score layers
start at zero, as in the paper.

Where the paper pads the input by 100 pixels so that fc6's "valid" 7x7 convolution fits small
images, and crops the output back, fc6 here pads "same": maps line up with the input at the
top-left corner without that border, and the skips are cropped (Caffe's crop layer, offset 0)
only where a backbone's rounding makes them a pixel larger. The parameter count is the paper's
reference model's: 134,489,759 for `fcn8s` at 21 classes (shelhamer/fcn.berkeleyvision.org,
voc-fcn8s), whatever the input size.

`backbone` may be any registered classifier built with `include_top=False` (with
`backbone_args`, e.g. `{{"stem": "small"}}` for ResNet and AlexNet on small images): the skips are
its first maps at 1/2 and 1/4 of the resolution of its last map (for VGG: pool4 and pool3), the
last upsampling enlarges by the rest, so `fcn8s` on a backbone that downsamples 8 times ends in a
2x upsampling. The input needs a fixed height and width.

Reference:
- [Fully Convolutional Networks for Semantic Segmentation](https://arxiv.org/abs/1411.4038)
  (CVPR 2015), sec. 3-4, Fig. 3.

Args:
    include_top: whether to add the scoring and upsampling layers; without them the model ends
        at fc7 (a feature map, or its pooling).
    weights: `None` or the path of a `.weights.h5` / `.keras` file saved by kerascnn.
    input_tensor: optional Keras tensor to use as the input.
    input_shape: (height, width, channels), fixed; default (224, 224, 3).
    pooling: with `include_top=False`, `None` (fc7's map), `"avg"` or `"max"`.
    classes: number of classes, the background included (Pascal VOC: 21).
    classifier_activation: activation of the per-pixel `predictions`; `None` gives logits.
    name: the model's name.
    backbone: the registered classifier whose convolutional part extracts the features.
    backbone_args: keyword arguments of the backbone's builder (`{{"stem": "small"}}`).
    backbone_weights: the backbone's `weights` (e.g. "imagenet", as the paper starts from).
    fc_units: filters of fc6 and fc7 (the paper: 4096).
    fc_kernel: fc6's kernel size (the paper: 7, VGG-16's 7x7 pool5 map).
    dropout: rate of the dropout after fc6 and fc7 (the paper: 0.5); 0 leaves it out.

Returns:
    A Functional `keras.Model` from images to per-pixel class probabilities
    (batch, height, width, classes); its output is float32.

Example:
    >>> model = {name}(input_shape=(64, 64, 3), classes=11, fc_units=256)
    >>> model.output_shape
    (None, 64, 64, 11)
"""


def _builder(variant: str, summary: str):
    """The registered public builder of `variant` (the three differ only in `SKIPS`)."""

    def builder(
        include_top=True,
        weights=None,
        input_tensor=None,
        input_shape=None,
        pooling=None,
        classes=21,
        classifier_activation="softmax",
        name=variant,
        *,
        backbone="vgg16",
        backbone_args=None,
        backbone_weights=None,
        fc_units=FC_UNITS,
        fc_kernel=FC_KERNEL,
        dropout=0.5,
    ) -> keras.Model:
        return _fcn(
            variant,
            include_top=include_top,
            weights=weights,
            input_tensor=input_tensor,
            input_shape=input_shape,
            pooling=pooling,
            classes=classes,
            classifier_activation=classifier_activation,
            name=name,
            backbone=backbone,
            backbone_args=backbone_args,
            backbone_weights=backbone_weights,
            fc_units=fc_units,
            fc_kernel=fc_kernel,
            dropout=dropout,
        )

    builder.__name__ = builder.__qualname__ = variant
    builder.__doc__ = summary
    return models.register(common.with_shared_doc(_SHARED_DOC)(builder), task="segmentation")


fcn32s = _builder(
    "fcn32s",
    """FCN-32s: VGG-16 as convolutions, scores upsampled 32x in one fixed bilinear step.

    Parameters: 136,152,917 at 21 classes (the paper's reference model, voc-fcn32s; its upscore32
    alone, 64x64x21x21, has 1,806,336).
    """,
)
fcn16s = _builder(
    "fcn16s",
    """FCN-16s: FCN-32s's scores upsampled 2x and fused with pool4's, then upsampled 16x.

    Parameters: 134,815,994 at 21 classes (voc-fcn16s).
    """,
)
fcn8s = _builder(
    "fcn8s",
    """FCN-8s: FCN-16s's fused scores upsampled 2x and fused with pool3's, then upsampled 8x.

    Parameters: 134,489,759 at 21 classes (voc-fcn8s: VGG-16's 14,714,688 convolution weights,
    fc6 102,764,544, fc7 16,781,312, score_fr 86,037, score_pool4 10,773, score_pool3 5,397 and
    the bias-free upscore2, upscore_pool4 and upscore8, 7,056 + 7,056 + 112,896).
    """,
)
