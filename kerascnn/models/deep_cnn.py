"""Deep CNNs for MNIST: the book's (`deep_mnist_cnn`) and a BatchNorm one that goes further (`deotte_cnn`).

`deep_mnist_cnn` is the deep CNN of "Deep Learning from Scratch" (Saito, 2016), chapter 8.1
(`DeepConvNet`); `deotte_cnn` is Chris Deotte's Kaggle network (2018), the base of `mnist_best`.

Reference:
- Koki Saito, "Deep Learning from Scratch" (O'Reilly Japan, 2016), ch. 8.1, and its code,
  `ch08/deep_convnet.py`, which reaches 99.38 % test accuracy on MNIST.
- Chris Deotte, "How to choose CNN Architecture MNIST" and "25 Million Images! [0.99757] MNIST",
  Kaggle notebooks (2018).
"""

from __future__ import annotations

import keras
from keras import layers

from kerascnn.layers import ClassicDropout, DropConnect
from kerascnn.models import common
from kerascnn.models.blocks import conv2d, he_normal
from kerascnn.registry import models

# (filters of the two convolutions, padding of each) per block; the 2 on the fourth
# convolution is the book's, so that the last pool gives 4x4x64 at 28x28.
BLOCKS = (((16, 1), (16, 1)), ((32, 1), (32, 2)), ((64, 1), (64, 1)))


@models.register
def deep_mnist_cnn(
    include_top=True,
    weights=None,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=10,
    classifier_activation="softmax",
    name="deep_mnist_cnn",
    *,
    hidden_units=50,
    dropout=0.5,
    inverted_dropout=False,
    drop_connect=False,
) -> keras.Model:
    """The book's DeepConvNet: six 3x3 convolutions, He initialisation, 123,552 parameters.

    Layout: (conv-relu, conv-relu, max-pool) three times with 16, 16, 32, 32, 64, 64 filters of 3x3,
    stride 1, padding 1 except padding 2 on the fourth convolution; then Dense 50 + ReLU, Dropout 0.5,
    Dense `classes`, Dropout 0.5. Weights are drawn from N(0, 2 / fan_in) and biases start at zero, as
    in the book. At input (28, 28, 1) with 10 classes it has exactly 123,552 parameters.

    The book's Dropout zeroes units in training and scales all of them by 0.5 at test time
    (`ClassicDropout`); `inverted_dropout=True` uses Keras' `Dropout`, which scales in training instead.
    Both give the same expected activations, but the training dynamics differ (the book's form trained
    more steadily to the book's figure here).

    Reference:
    - Koki Saito, "Deep Learning from Scratch" (2016), ch. 8.1, `DeepConvNet`.

    Args:
        include_top: whether to add the dense classifier (Flatten, Dense, Dropout, Dense, Dropout).
        weights: `None` or the path of a `.weights.h5` / `.keras` file saved by kerascnn.
        input_tensor: optional Keras tensor to use as the input.
        input_shape: (height, width, channels); default (28, 28, 1); at least 4x4.
        pooling: with `include_top=False`, `None` (4-d feature map), `"avg"` or `"max"`.
        classes: number of classes of the top.
        classifier_activation: activation of the `predictions` layer; `None` gives logits.
        name: the model's name.
        hidden_units: width of the hidden dense layer (the book: 50).
        dropout: dropout rate of the two dropout layers (the book: 0.5).
        inverted_dropout: use Keras' inverted `Dropout` instead of the book's `ClassicDropout`.
        drop_connect: replace each dense layer and the dropout after it by a `DropConnect` layer
            dropping weights at rate `dropout` (Wan et al. 2013); same parameter count.

    Returns:
        A Functional `keras.Model`; its output is float32.

    Example:
        >>> model = deep_mnist_cnn()
        >>> model.count_params()
        123552
    """
    common.check_arguments(
        name=name, include_top=include_top, weights=weights, pooling=pooling, classes=classes
    )
    common.check_rate(name, "dropout", dropout)
    common.check_flag(name, "inverted_dropout", inverted_dropout)
    common.check_flag(name, "drop_connect", drop_connect)
    inputs = common.image_input(
        name=name,
        input_tensor=input_tensor,
        input_shape=input_shape,
        default_shape=(28, 28, 1),
        min_size=4,
    )
    x = inputs
    for block, convolutions in enumerate(BLOCKS, start=1):
        for index, (filters, padding) in enumerate(convolutions, start=1):
            x = conv2d(
                x,
                filters,
                3,
                padding=padding,
                activation="relu",
                kernel_initializer=he_normal(),
                name=f"block{block}_conv{index}",
            )
        x = layers.MaxPooling2D(2, name=f"block{block}_pool")(x)

    if include_top:
        x = layers.Flatten(name="flatten")(x)
        for index, (units, activation) in enumerate(((hidden_units, "relu"), (classes, None)), 1):
            x = _dense_with_dropout(
                x, units, activation, dropout, inverted_dropout, drop_connect, f"fc{index}"
            )
        x = common.predictions(x, classifier_activation)
    else:
        x = common.pooled_features(x, pooling)
    return common.finish(inputs, x, input_tensor=input_tensor, name=name, weights=weights)


def _dense_with_dropout(x, units, activation, rate, inverted, drop_connect, name):
    """Dense then dropout (the book's or Keras' inverted one), or one DropConnect layer."""
    if drop_connect:
        return DropConnect(
            units, rate=rate, activation=activation, kernel_initializer=he_normal(), name=name
        )(x)
    x = layers.Dense(units, activation=activation, kernel_initializer=he_normal(), name=name)(x)
    dropout_layer = layers.Dropout if inverted else ClassicDropout
    return dropout_layer(rate, name=f"{name}_dropout")(x)


# (filters, kernel, stride) of each convolution; a stride of 2 pads "same", the others "valid".
DEOTTE_LAYOUT = (((32, 3, 1), (32, 3, 1), (32, 5, 2)), ((64, 3, 1), (64, 3, 1), (64, 5, 2)))


@models.register
def deotte_cnn(
    include_top=True,
    weights=None,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=10,
    classifier_activation="softmax",
    name="deotte_cnn",
    *,
    dropout=0.4,
) -> keras.Model:
    """Deotte's MNIST CNN: seven convolutions with BatchNorm, strided convolutions for pooling.

    Layout: 32C3-32C3-32C5S2, Dropout, 64C3-64C3-64C5S2, Dropout, 128C4, Flatten, Dropout, Dense
    `classes`; each convolution followed by ReLU then BatchNorm. At input (28, 28, 1) with 10 classes
    it has 327,242 parameters. Trained with rotation, zoom and shift jitter and a decaying learning
    rate it reaches about 99.7 % on MNIST alone; the author's ensembles of 15 reached 99.757 %.

    Reference:
    - Chris Deotte, "How to choose CNN Architecture MNIST" and "25 Million Images! [0.99757] MNIST",
      Kaggle (2018).

    Args:
        include_top: whether to add Flatten, Dropout and the `predictions` Dense layer.
        weights: `None` or the path of a `.weights.h5` / `.keras` file saved by kerascnn.
        input_tensor: optional Keras tensor to use as the input.
        input_shape: (height, width, channels); default (28, 28, 1); at least 25x25.
        pooling: with `include_top=False`, `None` (4-d feature map), `"avg"` or `"max"`.
        classes: number of classes of the top.
        classifier_activation: activation of the `predictions` layer; `None` gives logits.
        name: the model's name.
        dropout: rate of the three dropout layers (the author's: 0.4).

    Returns:
        A Functional `keras.Model`; its output is float32.
    """
    common.check_arguments(
        name=name, include_top=include_top, weights=weights, pooling=pooling, classes=classes
    )
    common.check_rate(name, "dropout", dropout)
    inputs = common.image_input(
        name=name,
        input_tensor=input_tensor,
        input_shape=input_shape,
        default_shape=(28, 28, 1),
        min_size=25,
    )
    x = inputs
    for block, convolutions in enumerate(DEOTTE_LAYOUT, start=1):
        for index, (filters, kernel, stride) in enumerate(convolutions, start=1):
            x = _conv_relu_bn(x, filters, kernel, stride, f"block{block}_conv{index}")
        x = layers.Dropout(dropout, name=f"block{block}_dropout")(x)
    x = _conv_relu_bn(x, 128, 4, 1, "block3_conv1")
    if include_top:
        x = layers.Flatten(name="flatten")(x)
        x = layers.Dropout(dropout, name="top_dropout")(x)
        x = layers.Dense(classes, name="logits")(x)
        x = common.predictions(x, classifier_activation)
    else:
        x = common.pooled_features(x, pooling)
    return common.finish(inputs, x, input_tensor=input_tensor, name=name, weights=weights)


def _conv_relu_bn(x, filters, kernel, stride, name):
    """The author's order: convolution with ReLU, then BatchNorm."""
    x = layers.Conv2D(
        filters,
        kernel,
        strides=stride,
        padding="same" if stride > 1 else "valid",
        activation="relu",
        name=name,
    )(x)
    return layers.BatchNormalization(name=f"{name}_bn")(x)
