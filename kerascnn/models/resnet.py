"""ResNet-18, -34 and -50 (He et al., 2015) in torchvision's form.

The variants differ only in their row of `VARIANTS` (block kind and blocks per stage); one
`_resnet` builds them all, as keras.applications' `ResNet` does from a stack function. Layer names
follow keras.applications (`conv1_conv`, `conv3_block2_1_bn`, `conv2_block1_0_conv`, `avg_pool`).

Reference:
- Kaiming He, Xiangyu Zhang, Shaoqing Ren, Jian Sun, "Deep Residual Learning for Image Recognition"
  (CVPR 2016, arXiv:1512.03385).
- torchvision `models/resnet.py`, whose layout, initialisation and parameter counts these match.
"""

from __future__ import annotations

import math
from types import MappingProxyType

import keras
from keras import initializers, layers

from kerascnn.models import common
from kerascnn.models.blocks import conv2d, kaiming_normal_fan_out
from kerascnn.registry import models


def conv_bn(x, filters, kernel_size, *, strides=1, relu=True, zero_gamma=False, name):
    """Convolution without bias (the BatchNorm's beta replaces it), BatchNorm, optional ReLU.

    Padding is PyTorch's `kernel_size // 2` pixels, so stride-2 layers keep torchvision's alignment
    rather than Keras' "same", which pads more after the image than before.
    """
    x = conv2d(
        x,
        filters,
        kernel_size,
        padding=kernel_size // 2,
        strides=strides,
        use_bias=False,
        kernel_initializer=kaiming_normal_fan_out(),
        name=f"{name}_conv",
    )
    # momentum=0.9 is PyTorch's momentum=0.1: Keras weighs the old statistic, PyTorch the new one.
    x = layers.BatchNormalization(
        epsilon=1e-5,
        momentum=0.9,
        gamma_initializer="zeros" if zero_gamma else "ones",
        name=f"{name}_bn",
    )(x)
    if relu:
        x = layers.Activation("relu", name=f"{name}_relu")(x)
    return x


def _shortcut(x, channels, strides, *, name):
    """The identity, or a 1x1 projection with BatchNorm where the block changes the shape."""
    if strides == 1 and x.shape[-1] == channels:
        return x
    return conv_bn(x, channels, 1, strides=strides, relu=False, name=f"{name}_0")


def basic_block(x, filters, strides=1, *, zero_init_residual=False, name):
    """Two 3x3 convolutions and a shortcut (ResNet-18/34); `filters` output channels."""
    shortcut = _shortcut(x, filters, strides, name=name)
    x = conv_bn(x, filters, 3, strides=strides, name=f"{name}_1")
    x = conv_bn(x, filters, 3, relu=False, zero_gamma=zero_init_residual, name=f"{name}_2")
    x = layers.Add(name=f"{name}_add")([shortcut, x])
    return layers.Activation("relu", name=f"{name}_out")(x)


def bottleneck_block(x, filters, strides=1, *, zero_init_residual=False, name):
    """1x1, 3x3, 1x1 convolutions and a shortcut (ResNet-50); `4 * filters` output channels.

    The stride sits on the 3x3 convolution (ResNet v1.5, as torchvision), not on the first 1x1 as in
    the paper and keras.applications, whose 1x1 stride-2 convolution skips three pixels in four.
    """
    shortcut = _shortcut(x, 4 * filters, strides, name=name)
    x = conv_bn(x, filters, 1, name=f"{name}_1")
    x = conv_bn(x, filters, 3, strides=strides, name=f"{name}_2")
    x = conv_bn(x, 4 * filters, 1, relu=False, zero_gamma=zero_init_residual, name=f"{name}_3")
    x = layers.Add(name=f"{name}_add")([shortcut, x])
    return layers.Activation("relu", name=f"{name}_out")(x)


def stack(x, block, filters, blocks, strides, *, zero_init_residual, name):
    """`blocks` residual blocks; only the first one strides and may project."""
    for index in range(1, blocks + 1):
        x = block(
            x,
            filters,
            strides if index == 1 else 1,
            zero_init_residual=zero_init_residual,
            name=f"{name}_block{index}",
        )
    return x


def imagenet_stem(x):
    """7x7/2 convolution, BatchNorm, ReLU, 3x3/2 max-pool: a quarter of the input's side."""
    x = conv_bn(x, 64, 7, strides=2, name="conv1")
    # Zero padding equals PyTorch's -inf padding of the max-pool here, since the ReLU output is >= 0.
    x = layers.ZeroPadding2D(1, name="pool1_pad")(x)
    return layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)


def small_stem(x):
    """3x3 stride-1 convolution, BatchNorm, ReLU: keeps 28-32 px images at full size."""
    return conv_bn(x, 64, 3, name="conv1")


# Block kind and blocks per stage (conv2 to conv5).
VARIANTS = MappingProxyType(
    {
        "resnet18": (basic_block, (2, 2, 2, 2)),
        "resnet34": (basic_block, (3, 4, 6, 3)),
        "resnet50": (bottleneck_block, (3, 4, 6, 3)),
    }
)
# Stem, how much it shrinks the image, and the default input shape that goes with it.
STEMS = MappingProxyType(
    {
        "imagenet": (imagenet_stem, 4, (224, 224, 3)),
        "small": (small_stem, 1, (32, 32, 3)),
    }
)
# Filters and stride of the stages conv2 to conv5; the first block of each stage carries the stride.
STAGES = ((64, 1), (128, 2), (256, 2), (512, 2))


def _min_size(stem):
    """The total stride: the smallest side the stem and stages halve exactly down to a 1x1 map.

    keras.applications' ResNet asks for the same 32 px. Smaller images still run, since every layer
    pads, but they lean ever more on zero padding: with the ImageNet stem, below 17 px the last
    stride-2 convolution gets a 1x1 map and sees 8 of its 9 taps in padding.
    """
    return STEMS[stem][1] * math.prod(stride for _, stride in STAGES)


def _resnet(
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
    stem,
    zero_init_residual,
):
    """Builds the ResNet of `VARIANTS[variant]`; the public builders document the arguments."""
    common.check_arguments(
        name=name,
        include_top=include_top,
        weights=weights,
        pooling=pooling,
        classes=classes,
        family=variant,
        arguments={"stem": stem},
    )
    common.check_flag(name, "zero_init_residual", zero_init_residual)
    block, blocks_per_stage = VARIANTS[variant]
    common.check_choice(name, "stem", stem, STEMS)
    inputs = common.stem_input(
        name=name,
        stem=stem,
        stems=STEMS,
        input_tensor=input_tensor,
        input_shape=input_shape,
        default_shape=STEMS[stem][2],
        min_size=_min_size,
        small_stem="3x3 stride-1 stem, no max-pool",
    )
    stem_fn = STEMS[stem][0]

    x = stem_fn(
        common.preprocessed(
            inputs, family=variant, weights=weights, include_top=include_top, classes=classes
        )
    )
    for stage, ((filters, strides), blocks) in enumerate(
        zip(STAGES, blocks_per_stage, strict=True), start=2
    ):
        x = stack(
            x,
            block,
            filters,
            blocks,
            strides,
            zero_init_residual=zero_init_residual,
            name=f"conv{stage}",
        )

    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        # nn.Linear's default initialisation: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for both weights.
        bound = 1 / math.sqrt(x.shape[-1])
        x = layers.Dense(
            classes,
            kernel_initializer=initializers.VarianceScaling(1 / 3, "fan_in", "uniform"),
            bias_initializer=initializers.RandomUniform(-bound, bound),
            name="fc",
        )(x)
        x = common.predictions(x, classifier_activation)
    else:
        x = common.pooled_features(x, pooling)
    return common.finish(
        inputs,
        x,
        input_tensor=input_tensor,
        name=name,
        weights=weights,
        family=variant,
        include_top=include_top,
        classes=classes,
    )


_SHARED_DOC = """
Every convolution has no bias and is followed by BatchNorm (epsilon 1e-5, momentum 0.9, which is
PyTorch's 0.1) and, except before an addition, ReLU. A block whose output shape differs from its
input adds through a 1x1 convolution with BatchNorm (`convN_block1_0_conv`); otherwise through the
identity. Convolutions start from N(0, 2 / fan_out) and the classifier from PyTorch's `nn.Linear`
default, as in torchvision. Parameter counts are trainable weights; BatchNorm's moving mean and
variance are the non-trainable rest of `count_params()`.

`stem="imagenet"` is the paper's 7x7/2 convolution and 3x3/2 max-pool (total stride 32);
`stem="small"` is a 3x3 stride-1 convolution without max-pool (total stride 8), the usual stem
for 28x28 and 32x32 images, where it leaves a 4x4 map before pooling.

Reference:
- [Deep Residual Learning for Image Recognition](https://arxiv.org/abs/1512.03385) (CVPR 2016)
- torchvision `models/resnet.py` (ResNet v1.5: the bottleneck strides on its 3x3 convolution).

Args:
    include_top: whether to add global average pooling and the `classes`-way classifier `fc`.
    weights: `None` or the path of a `.weights.h5` / `.keras` file saved by kerascnn.
    input_tensor: optional Keras tensor to use as the input.
    input_shape: (height, width, channels), any number of channels; default (224, 224, 3), or
        (32, 32, 3) with `stem="small"`. Sides must be at least the total stride, 32 with the
        ImageNet stem and 8 with the small one: the smallest size the stride-2 layers halve
        exactly down to a 1x1 map; smaller images would lean ever more on zero padding.
    pooling: with `include_top=False`, `None` (4-d feature map), `"avg"` or `"max"`.
    classes: number of classes of the top.
    classifier_activation: activation of the `predictions` layer; `None` gives logits.
    name: the model's name.
    stem: `"imagenet"` (7x7/2 convolution and max-pool) or `"small"` (3x3 stride-1 convolution).
    zero_init_residual: start the last BatchNorm gamma of every block at zero, so each block begins
        as the identity (torchvision's option; Goyal et al., 2017).

Returns:
    A Functional `keras.Model`; its output is float32.

Example:
    >>> model = {name}(input_shape=(32, 32, 3), classes=10, stem="small")
    >>> model.output_shape
    (None, 10)
"""


@models.register
@common.with_shared_doc(_SHARED_DOC)
def resnet18(
    include_top=True,
    weights=None,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="resnet18",
    *,
    stem="imagenet",
    zero_init_residual=False,
) -> keras.Model:
    """ResNet-18: eight basic blocks (2, 2, 2, 2), 11,689,512 parameters.

    Trainable parameters: 11,689,512 with the ImageNet stem at (224, 224, 3) and 1000 classes
    (torchvision's count; 11,699,112 with BatchNorm statistics); 11,173,962 with `stem="small"` at
    (32, 32, 3) and 10 classes (11,183,562 in all).
    """
    return _resnet(
        "resnet18",
        include_top=include_top,
        weights=weights,
        input_tensor=input_tensor,
        input_shape=input_shape,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
        name=name,
        stem=stem,
        zero_init_residual=zero_init_residual,
    )


@models.register
@common.with_shared_doc(_SHARED_DOC)
def resnet34(
    include_top=True,
    weights=None,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="resnet34",
    *,
    stem="imagenet",
    zero_init_residual=False,
) -> keras.Model:
    """ResNet-34: sixteen basic blocks (3, 4, 6, 3), 21,797,672 parameters.

    Trainable parameters: 21,797,672 with the ImageNet stem at (224, 224, 3) and 1000 classes
    (torchvision's count; 21,814,696 with BatchNorm statistics); 21,282,122 with `stem="small"` at
    (32, 32, 3) and 10 classes (21,299,146 in all).
    """
    return _resnet(
        "resnet34",
        include_top=include_top,
        weights=weights,
        input_tensor=input_tensor,
        input_shape=input_shape,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
        name=name,
        stem=stem,
        zero_init_residual=zero_init_residual,
    )


@models.register
@common.with_shared_doc(_SHARED_DOC)
def resnet50(
    include_top=True,
    weights=None,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="resnet50",
    *,
    stem="imagenet",
    zero_init_residual=False,
) -> keras.Model:
    """ResNet-50: sixteen bottleneck blocks (3, 4, 6, 3), 25,557,032 parameters.

    Trainable parameters: 25,557,032 with the ImageNet stem at (224, 224, 3) and 1000 classes
    (torchvision's count; 25,610,152 with BatchNorm statistics); 23,520,842 with `stem="small"` at
    (32, 32, 3) and 10 classes (23,573,962 in all).
    """
    return _resnet(
        "resnet50",
        include_top=include_top,
        weights=weights,
        input_tensor=input_tensor,
        input_shape=input_shape,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
        name=name,
        stem=stem,
        zero_init_residual=zero_init_residual,
    )
