"""Blocks shared by the model families: small functions of `x` that take a `name` prefix."""

from __future__ import annotations

from keras import initializers, layers


def he_normal():
    """He et al. (2015) initialisation as "Deep Learning from Scratch" draws it: N(0, 2 / fan_in)."""
    return initializers.VarianceScaling(2.0, mode="fan_in", distribution="untruncated_normal")


def kaiming_normal_fan_out():
    """torchvision's initialisation of ResNet and VGG convolutions, `kaiming_normal_(mode="fan_out",
    nonlinearity="relu")`: N(0, 2 / fan_out), which keeps the gradient's scale through ReLU layers
    (He et al. 2015, "Delving deep into rectifiers", sec. 2.2)."""
    return initializers.VarianceScaling(2.0, mode="fan_out", distribution="untruncated_normal")


def conv2d(
    x,
    filters,
    kernel_size,
    *,
    padding=0,
    strides=1,
    activation=None,
    name,
    kernel_initializer="glorot_uniform",
    bias_initializer="zeros",
    use_bias=True,
):
    """A convolution with explicit zero `padding` in pixels, as papers and PyTorch state it.

    Padding that keeps the size of a stride-1 convolution maps to Keras' "same"; any other padding is
    an explicit `ZeroPadding2D` named `{name}_pad` followed by a "valid" convolution.
    """
    if strides == 1 and padding == (kernel_size - 1) // 2 and kernel_size % 2 == 1:
        mode = "same"
    else:
        mode = "valid"
        if padding:
            x = layers.ZeroPadding2D(padding, name=f"{name}_pad")(x)
    return layers.Conv2D(
        filters,
        kernel_size,
        strides=strides,
        padding=mode,
        activation=activation,
        use_bias=use_bias,
        kernel_initializer=kernel_initializer,
        bias_initializer=bias_initializer,
        name=name,
    )(x)
