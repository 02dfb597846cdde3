"""The classic CNNs before VGG: LeNet-5 (LeCun et al., 1998) and AlexNet (Krizhevsky et al., 2012).

Both follow the keras.applications pattern and its layer-name grammar (`block1_conv1`,
`block1_pool`, `flatten`, `fc1`, `predictions`): a block is the convolutions between two
max-pools, and each variant is a table.

Reference:
- Yann LeCun, Léon Bottou, Yoshua Bengio, Patrick Haffner, "Gradient-Based Learning Applied to
  Document Recognition" (Proc. IEEE, 1998).
- Alex Krizhevsky, Ilya Sutskever, Geoffrey Hinton, "ImageNet Classification with Deep
  Convolutional Neural Networks" (NeurIPS 2012), and torchvision `models/alexnet.py`, whose
  single-tower layout and parameter count AlexNet here matches.
"""

from __future__ import annotations

from types import MappingProxyType

import keras
from keras import layers

from kerascnn.errors import KerasCNNError
from kerascnn.models import common
from kerascnn.models.blocks import conv2d
from kerascnn.registry import models

# LeNet-5's input side: the paper centres 28x28 MNIST digits in a 32x32 field, so that stroke ends
# reach the centre of the top feature detectors.
LENET_SIZE = 32
# Filters of the two 5x5 valid convolutions (C1, C3) and units of the hidden dense layers (C5, F6).
LENET_FILTERS = (6, 16)
LENET_UNITS = (120, 84)

# (filters, kernel size, stride, padding) of AlexNet's convolutions after the stem, by block; a
# 3x3 stride-2 max-pool ends each block.
ALEXNET_BODY = (
    ((192, 5, 1, 2),),
    ((384, 3, 1, 1), (256, 3, 1, 1), (256, 3, 1, 1)),
)
# Block 1 per stem: its convolution, whether the max-pool follows it, and the default input shape.
ALEXNET_STEMS = MappingProxyType(
    {
        "imagenet": ((64, 11, 4, 2), True, (224, 224, 3)),
        "small": ((64, 3, 1, 1), False, (32, 32, 3)),
    }
)
ALEXNET_POOL = (3, 2)  # overlapping pooling: 3x3 windows, stride 2
# The paper's initialisation (section 5): every weight from N(0, 0.01); the biases of the second,
# fourth and fifth convolutions and of the hidden dense layers at 1, "providing the ReLUs with
# positive inputs" to speed up the early stages of learning; the other biases at 0.
ALEXNET_INITIALIZATIONS = ("glorot", "paper")
ALEXNET_PAPER_STD = 0.01
ALEXNET_PAPER_BIAS_ONE = frozenset({"block2_conv1", "block3_conv2", "block3_conv3", "fc1", "fc2"})
ALEXNET_MAP = 6  # torchvision's AdaptiveAvgPool2d((6, 6)) in front of the classifier
ALEXNET_UNITS = 4096


def pad_to(x, size, *, name):
    """Zero-pads each side smaller than `size` up to it, centred (the extra pixel after)."""
    pads = []
    for side in x.shape[1:3]:
        missing = 0 if side is None else max(0, size - side)
        pads.append((missing // 2, missing - missing // 2))
    if not any(before or after for before, after in pads):
        return x
    return layers.ZeroPadding2D(tuple(pads), name=name)(x)


def lenet_block(x, filters, activation, *, name):
    """A 5x5 valid convolution with `activation`, then a 2x2 max-pool."""
    x = conv2d(x, filters, 5, activation=activation, name=f"{name}_conv1")
    return layers.MaxPooling2D(2, name=f"{name}_pool")(x)


@models.register
def lenet5(
    include_top=True,
    weights=None,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=10,
    classifier_activation="softmax",
    name="lenet5",
    *,
    activation="tanh",
) -> keras.Model:
    """LeNet-5, the common modern form: two 5x5 convolutions, three dense layers, 61,706 parameters.

    Layout: conv 6@5x5 (valid) + activation, 2x2 max-pool, conv 16@5x5 (valid) + activation, 2x2
    max-pool, Flatten (5x5x16 = 400 at 32 px), Dense 120 + activation, Dense 84 + activation,
    Dense `classes`. At (32, 32, 1) with 10 classes it has exactly 61,706 parameters.

    Inputs smaller than 32x32 are zero-padded, centred, up to 32x32 inside the model (layer
    `pad`), as the paper placed its 28x28 MNIST digits in a 32x32 field; so 28x28x1 also gives
    61,706 parameters and any input of at least 1x1 works. Larger inputs need no padding and
    give a bigger Flatten (and `fc1`).

    The modern form simplifies the paper in three places: the subsampling layers S2 and S4 are
    plain max-pools (the paper's averaged four inputs and scaled them by a trainable coefficient
    and bias); C3 connects to all six maps of S2 (the paper's connection table left some out); and
    the output is a Dense layer and softmax instead of Euclidean RBF units. Weights start from
    Keras' Glorot-uniform default, biases at zero.

    Reference:
    - [Gradient-Based Learning Applied to Document Recognition](
      http://yann.lecun.com/exdb/publis/pdf/lecun-01a.pdf) (Proc. IEEE, 1998), section II.B.

    Args:
        include_top: whether to add the classifier (`flatten`, `fc1`, `fc2`, `fc3`).
        weights: `None` or the path of a `.weights.h5` / `.keras` file saved by kerascnn.
        input_tensor: optional Keras tensor to use as the input.
        input_shape: (height, width, channels), any number of channels; default (32, 32, 1);
            at least 1x1, since smaller sides are padded to 32.
        pooling: with `include_top=False`, `None` (4-d feature map), `"avg"` or `"max"`.
        classes: number of classes of the top.
        classifier_activation: activation of the `predictions` layer; `None` gives logits.
        name: the model's name.
        activation: activation of the convolutions and hidden dense layers; the paper's `"tanh"`
            (a scaled tanh there), or e.g. `"relu"`.

    Returns:
        A Functional `keras.Model`; its output is float32.

    Example:
        >>> model = lenet5(input_shape=(28, 28, 1))
        >>> model.count_params()
        61706
    """
    common.check_arguments(
        name=name, include_top=include_top, weights=weights, pooling=pooling, classes=classes
    )
    try:
        keras.activations.get(activation)
    except (ValueError, TypeError):
        raise KerasCNNError(
            f"{name}: activation must be a Keras activation such as 'tanh' or 'relu', "
            f"got {activation!r}"
        ) from None
    inputs = common.image_input(
        name=name,
        input_tensor=input_tensor,
        input_shape=input_shape,
        default_shape=(LENET_SIZE, LENET_SIZE, 1),
        min_size=1,
    )
    x = pad_to(inputs, LENET_SIZE, name="pad")
    for block, filters in enumerate(LENET_FILTERS, start=1):
        x = lenet_block(x, filters, activation, name=f"block{block}")

    if include_top:
        x = layers.Flatten(name="flatten")(x)
        for index, units in enumerate(LENET_UNITS, start=1):
            x = layers.Dense(units, activation=activation, name=f"fc{index}")(x)
        x = layers.Dense(classes, name=f"fc{len(LENET_UNITS) + 1}")(x)
        x = common.predictions(x, classifier_activation)
    else:
        x = common.pooled_features(x, pooling)
    return common.finish(inputs, x, input_tensor=input_tensor, name=name, weights=weights)


def _alexnet_blocks(stem):
    """(convolutions, ends in a max-pool) for each block of AlexNet with `stem`."""
    convolution, pools, _ = ALEXNET_STEMS[stem]
    return (((convolution,), pools), *((convolutions, True) for convolutions in ALEXNET_BODY))


def _alexnet_min_size(stem):
    """The smallest side that leaves a 1x1 map after the last max-pool, worked back from it."""
    pool_size, pool_stride = ALEXNET_POOL
    size = 1
    for convolutions, pools in reversed(_alexnet_blocks(stem)):
        if pools:
            size = (size - 1) * pool_stride + pool_size
        for _, kernel, stride, padding in reversed(convolutions):
            size = max(1, (size - 1) * stride + kernel - 2 * padding)
    return size


def _alexnet_initializers(initialization, layer):
    """Keyword arguments giving `layer` the kernel and bias initialisers of `initialization`."""
    if initialization == "glorot":
        return {}
    bias = 1.0 if layer in ALEXNET_PAPER_BIAS_ONE else 0.0
    return {
        "kernel_initializer": keras.initializers.RandomNormal(stddev=ALEXNET_PAPER_STD),
        "bias_initializer": keras.initializers.Constant(bias),
    }


def alexnet_block(x, convolutions, pools, *, name, initialization="glorot"):
    """Convolutions with ReLU (explicit pixel padding, as torchvision), then a 3x3/2 max-pool."""
    for index, (filters, kernel, stride, padding) in enumerate(convolutions, start=1):
        conv = f"{name}_conv{index}"
        x = conv2d(
            x,
            filters,
            kernel,
            strides=stride,
            padding=padding,
            activation="relu",
            name=conv,
            **_alexnet_initializers(initialization, conv),
        )
    if pools:
        pool_size, pool_stride = ALEXNET_POOL
        x = layers.MaxPooling2D(pool_size, strides=pool_stride, name=f"{name}_pool")(x)
    return x


def to_classifier_map(x, *, name):
    """torchvision's AdaptiveAvgPool2d((6, 6)), added only where the map is not 6x6 already.

    At 224 px (and 28 px with the small stem) the map is 6x6 and the pool would be the identity;
    elsewhere it keeps the classifier at 6x6x256 = 9216 inputs, so the parameter count does not
    depend on the input size.
    """
    if tuple(x.shape[1:3]) == (ALEXNET_MAP, ALEXNET_MAP):
        return x
    adaptive_pool = getattr(layers, "AdaptiveAveragePooling2D", None)
    if adaptive_pool is None:
        raise KerasCNNError(
            f"{name}: a {x.shape[1]}x{x.shape[2]} feature map needs "
            "keras.layers.AdaptiveAveragePooling2D to reach 6x6, which this Keras lacks; upgrade "
            "Keras, or use 224 px images (28 px with stem='small')"
        )
    return adaptive_pool(ALEXNET_MAP, name="adaptive_pool")(x)


def alexnet_classifier(x, classes, dropout, *, name, initialization="glorot"):
    """Flatten, Dropout, Dense 4096 + ReLU, Dropout, Dense 4096 + ReLU, Dense `classes`."""
    x = layers.Flatten(name="flatten")(to_classifier_map(x, name=name))
    # torchvision drops out the inputs of fc1 and fc2: the outputs of flatten and fc1.
    for index, source in enumerate(("flatten", "fc1"), start=1):
        if dropout:
            x = layers.Dropout(dropout, name=f"{source}_dropout")(x)
        dense = f"fc{index}"
        x = layers.Dense(
            ALEXNET_UNITS,
            activation="relu",
            name=dense,
            **_alexnet_initializers(initialization, dense),
        )(x)
    return layers.Dense(classes, name="fc3", **_alexnet_initializers(initialization, "fc3"))(x)


@models.register
def alexnet(
    include_top=True,
    weights=None,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="alexnet",
    *,
    stem="imagenet",
    dropout=0.5,
    initialization="glorot",
) -> keras.Model:
    """AlexNet, torchvision's single-tower form: five convolutions, 61,100,840 parameters.

    Layout with `stem="imagenet"`: conv 64@11x11 stride 4 padding 2, ReLU, 3x3/2 max-pool; conv
    192@5x5 padding 2, ReLU, 3x3/2 max-pool; convs 384, 256 and 256 @3x3 padding 1, each with
    ReLU, 3x3/2 max-pool (6x6x256 at 224 px); then Flatten, Dropout, Dense 4096 + ReLU, Dropout,
    Dense 4096 + ReLU, Dense `classes`. Exactly 61,100,840 parameters at (224, 224, 3) with 1000
    classes. Inputs need at least 63x63 pixels, the smallest that leaves a 1x1 map after the last
    max-pool; smaller ones raise an error that suggests `stem="small"`.

    `stem="small"`, for 28-32 px images, makes the first convolution 64@3x3 stride 1 padding 1
    and drops the first max-pool; inputs then need at least 7x7 pixels. It has 57,023,306
    parameters at (32, 32, 3) with 10 classes (57,022,154 at (28, 28, 1)).

    The map in front of the classifier is brought to 6x6 by an adaptive average pool, as
    torchvision's `AdaptiveAvgPool2d((6, 6))`, only where it is not 6x6 already (it is at 224 px,
    and at 28 px with the small stem; 32 px gives 7x7), so the count does not depend on the input
    size. The two towers and local response normalisation of the paper are left out, as in
    torchvision (the paper's towers also differ in filter counts). Weights start from Keras'
    Glorot-uniform default, biases at zero; `initialization="paper"` gives the paper's instead
    (section 5: weights from N(0, 0.01), the biases of the second, fourth and fifth convolutions
    and of `fc1` and `fc2` at 1, which gives the ReLUs positive inputs from the first step).

    Reference:
    - [ImageNet Classification with Deep Convolutional Neural Networks](
      https://papers.nips.cc/paper/4824-imagenet-classification-with-deep-convolutional-neural-networks)
      (NeurIPS 2012); torchvision `models/alexnet.py`, after Krizhevsky's "One weird trick for
      parallelizing convolutional neural networks" (arXiv:1404.5997).

    Args:
        include_top: whether to add the classifier (`flatten`, `fc1`, `fc2`, `fc3`).
        weights: `None` or the path of a `.weights.h5` / `.keras` file saved by kerascnn.
        input_tensor: optional Keras tensor to use as the input.
        input_shape: (height, width, channels), any number of channels; default (224, 224, 3), or
            (32, 32, 3) with `stem="small"`; at least 63x63, or 7x7 with `stem="small"`.
        pooling: with `include_top=False`, `None` (4-d feature map), `"avg"` or `"max"`.
        classes: number of classes of the top.
        classifier_activation: activation of the `predictions` layer; `None` gives logits.
        name: the model's name.
        stem: `"imagenet"` (11x11/4 convolution and max-pool) or `"small"` (3x3 stride-1
            convolution, no max-pool).
        dropout: rate of the dropout in front of `fc1` and `fc2` (torchvision: 0.5); 0 leaves it
            out. It has no parameters.
        initialization: `"glorot"` (Keras' defaults) or `"paper"` (Krizhevsky et al.'s).

    Returns:
        A Functional `keras.Model`; its output is float32.

    Example:
        >>> model = alexnet(input_shape=(32, 32, 3), classes=10, stem="small")
        >>> model.count_params()
        57023306
    """
    common.check_arguments(
        name=name,
        include_top=include_top,
        weights=weights,
        pooling=pooling,
        classes=classes,
        family="alexnet",
        arguments={"stem": stem},
    )
    common.check_rate(name, "dropout", dropout)
    common.check_choice(name, "stem", stem, ALEXNET_STEMS)
    common.check_choice(name, "initialization", initialization, ALEXNET_INITIALIZATIONS)
    inputs = common.stem_input(
        name=name,
        stem=stem,
        stems=ALEXNET_STEMS,
        input_tensor=input_tensor,
        input_shape=input_shape,
        default_shape=ALEXNET_STEMS[stem][2],
        min_size=_alexnet_min_size,
        small_stem="3x3 stride-1 stem, no first max-pool",
    )

    x = common.preprocessed(
        inputs, family="alexnet", weights=weights, include_top=include_top, classes=classes
    )
    for block, (convolutions, pools) in enumerate(_alexnet_blocks(stem), start=1):
        x = alexnet_block(
            x, convolutions, pools, name=f"block{block}", initialization=initialization
        )

    if include_top:
        x = alexnet_classifier(x, classes, dropout, name=name, initialization=initialization)
        x = common.predictions(x, classifier_activation)
    else:
        x = common.pooled_features(x, pooling)
    return common.finish(
        inputs,
        x,
        input_tensor=input_tensor,
        name=name,
        weights=weights,
        family="alexnet",
        include_top=include_top,
        classes=classes,
    )
