"""VGG-11, -13, -16 and -19 (Simonyan & Zisserman, 2014): the paper's configurations A, B, D and E.

The variants differ only in their row of `CONFIGS` (3x3 convolutions per block); one `_vgg` builds
them all. Layout and layer names follow keras.applications' `vgg16.py` (`block1_conv1`,
`block1_pool`, `flatten`, `fc1`, `fc2`); the class scores are `fc3`, so that `predictions` is the
float32 output layer, as in every kerascnn model.

Reference:
- Karen Simonyan, Andrew Zisserman, "Very Deep Convolutional Networks for Large-Scale Image
  Recognition" (ICLR 2015, arXiv:1409.1556), Table 1.
- keras.applications `vgg16.py` and `vgg19.py`; torchvision `models/vgg.py`, whose parameter counts
  these match.
"""

from __future__ import annotations

from types import MappingProxyType

import keras
from keras import layers

from kerascnn.models import common
from kerascnn.models.blocks import conv2d, he_normal, kaiming_normal_fan_out
from kerascnn.registry import models

# Filters of the convolutions of blocks 1 to 5; every configuration shares them.
FILTERS = (64, 128, 256, 512, 512)
# 3x3 convolutions in each of the five blocks: the columns A, B, D and E of the paper's Table 1.
CONFIGS = MappingProxyType(
    {
        "vgg11": (1, 1, 2, 2, 2),  # A
        "vgg13": (2, 2, 2, 2, 2),  # B
        "vgg16": (2, 2, 3, 3, 3),  # D
        "vgg19": (2, 2, 4, 4, 4),  # E
    }
)
HIDDEN_UNITS = 4096


# "same" max-pooling never shrinks a map below 1x1, so any image of at least one pixel works.
MIN_SIZE = 1


def vgg_block(x, filters, convolutions, *, batch_norm, name):
    """`convolutions` 3x3 convolutions with bias and ReLU (with BatchNorm between them when
    `batch_norm`), then a 2x2 stride-2 max-pool."""
    for index in range(1, convolutions + 1):
        conv = f"{name}_conv{index}"
        x = conv2d(
            x,
            filters,
            3,
            padding=1,
            activation=None if batch_norm else "relu",
            kernel_initializer=kaiming_normal_fan_out(),
            name=conv,
        )
        if batch_norm:
            # torchvision's BatchNorm2d defaults; Keras' momentum 0.9 is PyTorch's 0.1.
            x = layers.BatchNormalization(epsilon=1e-5, momentum=0.9, name=f"{conv}_bn")(x)
            x = layers.Activation("relu", name=f"{conv}_relu")(x)
    # "same" rounds odd sizes up instead of dropping the last row and column, so 28 px images
    # reach 1x1 (28, 14, 7, 4, 2, 1); on even sizes such as 224 it is the paper's pooling.
    return layers.MaxPooling2D(2, strides=2, padding="same", name=f"{name}_pool")(x)


def vgg_classifier(x, classes, dropout):
    """Flatten, two Dense 4096 + ReLU each followed by dropout, and the `classes`-way `fc3`."""
    x = layers.Flatten(name="flatten")(x)
    for index in (1, 2):
        x = layers.Dense(
            HIDDEN_UNITS,
            activation="relu",
            kernel_initializer=he_normal(),
            name=f"fc{index}",
        )(x)
        if dropout:
            x = layers.Dropout(dropout, name=f"fc{index}_dropout")(x)
    return layers.Dense(classes, kernel_initializer=he_normal(), name="fc3")(x)


def _vgg(
    config,
    *,
    include_top,
    weights,
    input_tensor,
    input_shape,
    pooling,
    classes,
    classifier_activation,
    name,
    dropout,
    batch_norm,
):
    """Builds the VGG of `CONFIGS[config]`; the public builders document the arguments."""
    common.check_arguments(
        name=name,
        include_top=include_top,
        weights=weights,
        pooling=pooling,
        classes=classes,
        family=config,
        arguments={"batch_norm": batch_norm},
    )
    common.check_rate(name, "dropout", dropout)
    common.check_flag(name, "batch_norm", batch_norm)
    inputs = common.image_input(
        name=name,
        input_tensor=input_tensor,
        input_shape=input_shape,
        default_shape=(224, 224, 3),
        min_size=MIN_SIZE,
    )
    x = common.preprocessed(
        inputs, family=config, weights=weights, include_top=include_top, classes=classes
    )
    for block, (filters, convolutions) in enumerate(
        zip(FILTERS, CONFIGS[config], strict=True), start=1
    ):
        x = vgg_block(x, filters, convolutions, batch_norm=batch_norm, name=f"block{block}")

    if include_top:
        x = vgg_classifier(x, classes, dropout)
        x = common.predictions(x, classifier_activation)
    else:
        x = common.pooled_features(x, pooling)
    return common.finish(
        inputs,
        x,
        input_tensor=input_tensor,
        name=name,
        weights=weights,
        family=config,
        include_top=include_top,
        classes=classes,
    )


_SHARED_DOC = """
Five blocks of 3x3 convolutions (stride 1, padding 1, bias, ReLU) with 64, 128, 256, 512 and 512
filters, each block ending in a 2x2 stride-2 max-pool; then Flatten, Dense 4096 + ReLU, Dropout,
Dense 4096 + ReLU, Dropout, Dense `classes`. With `batch_norm=True` every convolution is followed
by BatchNorm before its ReLU (torchvision's `vgg11_bn` ... `vgg19_bn`: the convolutions keep their
biases, 2 x 4,224 more trainable parameters for VGG-16).

Initialisation: convolutions N(0, 2 / fan_out), torchvision's `kaiming_normal_(mode="fan_out")`;
dense layers N(0, 2 / fan_in); biases 0. Both are He et al.'s (2015) rule for ReLU networks, which
keeps the scale of the signal from layer to layer. The paper's own recipe (N(0, 0.01), or Glorot's
initialisation, which it found to work after submission) and torchvision's N(0, 0.01) for the dense
layers shrink it: at 32 px, where the Flatten sees a 1x1x512 map instead of 7x7x512, Glorot weights
left VGG-16's logits about 1/400 of its first layer's output and its loss at ln 10 for every step
of a first epoch (SGD 0.01, momentum 0.9), and N(0, 0.01) dense layers cut the gradient reaching the
convolutions 30-fold (`scripts/signal_propagation.py vgg16`). The layout and parameter counts are
the paper's; transplanted weights replace the initialisation.

The max-pools use `padding="same"`: odd sizes round up rather than down. At 224 px this is the
paper's pooling (224, 112, 56, 28, 14, 7), and it lets 28 px images reach 1x1 after five pools
(28, 14, 7, 4, 2, 1), so any input of at least 1x1 pixel works. The Flatten follows the last map
(7x7x512 = 25,088 features at 224 px, 512 at 32 px), so `fc1`, and the count, depend on the input
size; torchvision's adaptive average pool to 7x7 is left out, as in keras.applications.

Reference:
- [Very Deep Convolutional Networks for Large-Scale Image Recognition](
  https://arxiv.org/abs/1409.1556) (ICLR 2015), Table 1.

Args:
    include_top: whether to add the classifier (`flatten`, `fc1`, `fc2`, `fc3`).
    weights: `None` or the path of a `.weights.h5` / `.keras` file saved by kerascnn.
    input_tensor: optional Keras tensor to use as the input.
    input_shape: (height, width, channels), any number of channels; default (224, 224, 3); at
        least 1x1.
    pooling: with `include_top=False`, `None` (4-d feature map), `"avg"` or `"max"`.
    classes: number of classes of the top.
    classifier_activation: activation of the `predictions` layer; `None` gives logits.
    name: the model's name.
    dropout: rate of the dropout after `fc1` and `fc2` (the paper: 0.5); 0 leaves it out. It has
        no parameters.
    batch_norm: BatchNorm after every convolution (torchvision's `_bn` variants).

Returns:
    A Functional `keras.Model`; its output is float32.

Example:
    >>> model = {name}(input_shape=(32, 32, 3), classes=10)
    >>> model.output_shape
    (None, 10)
"""


@models.register
@common.with_shared_doc(_SHARED_DOC)
def vgg11(
    include_top=True,
    weights=None,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="vgg11",
    *,
    dropout=0.5,
    batch_norm=False,
) -> keras.Model:
    """VGG-11 (configuration A): eight convolutions and three dense layers, 132,863,336 parameters.

    Parameters: 132,863,336 at (224, 224, 3) with 1000 classes (torchvision's count); 28,144,010 at
    (32, 32, 3) with 10 classes.
    """
    return _vgg(
        "vgg11",
        include_top=include_top,
        weights=weights,
        input_tensor=input_tensor,
        input_shape=input_shape,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
        name=name,
        dropout=dropout,
        batch_norm=batch_norm,
    )


@models.register
@common.with_shared_doc(_SHARED_DOC)
def vgg13(
    include_top=True,
    weights=None,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="vgg13",
    *,
    dropout=0.5,
    batch_norm=False,
) -> keras.Model:
    """VGG-13 (configuration B): ten convolutions and three dense layers, 133,047,848 parameters.

    Parameters: 133,047,848 at (224, 224, 3) with 1000 classes (torchvision's count); 28,328,522 at
    (32, 32, 3) with 10 classes.
    """
    return _vgg(
        "vgg13",
        include_top=include_top,
        weights=weights,
        input_tensor=input_tensor,
        input_shape=input_shape,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
        name=name,
        dropout=dropout,
        batch_norm=batch_norm,
    )


@models.register
@common.with_shared_doc(_SHARED_DOC)
def vgg16(
    include_top=True,
    weights=None,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="vgg16",
    *,
    dropout=0.5,
    batch_norm=False,
) -> keras.Model:
    """VGG-16 (configuration D): 13 convolutions and three dense layers, 138,357,544 parameters.

    Parameters: 138,357,544 at (224, 224, 3) with 1000 classes (keras.applications' and
    torchvision's count); 33,638,218 at (32, 32, 3) with 10 classes.
    """
    return _vgg(
        "vgg16",
        include_top=include_top,
        weights=weights,
        input_tensor=input_tensor,
        input_shape=input_shape,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
        name=name,
        dropout=dropout,
        batch_norm=batch_norm,
    )


@models.register
@common.with_shared_doc(_SHARED_DOC)
def vgg19(
    include_top=True,
    weights=None,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="vgg19",
    *,
    dropout=0.5,
    batch_norm=False,
) -> keras.Model:
    """VGG-19 (configuration E): 16 convolutions and three dense layers, 143,667,240 parameters.

    Parameters: 143,667,240 at (224, 224, 3) with 1000 classes (keras.applications' and
    torchvision's count); 38,947,914 at (32, 32, 3) with 10 classes.
    """
    return _vgg(
        "vgg19",
        include_top=include_top,
        weights=weights,
        input_tensor=input_tensor,
        input_shape=input_shape,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
        name=name,
        dropout=dropout,
        batch_norm=batch_norm,
    )
