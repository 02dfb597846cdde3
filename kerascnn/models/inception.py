"""Inception V1 (GoogLeNet, Szegedy et al., 2014) and Inception V3 (Szegedy et al., 2015).

Each network is one module function per kind of module and a table of the modules in order, in
place of keras.applications' hand-unrolled `inception_v3.py`. V1's layer names follow the paper's
Caffe model with `_` for `/` (`conv1`, `pool1`, `inception_3a_3x3_reduce`, `inception_3a` for the
concatenation); V3's concatenations are keras.applications' `mixed0` to `mixed10`.

Reference:
- Christian Szegedy et al., "Going Deeper with Convolutions" (CVPR 2015, arXiv:1409.4842),
  Table 1; torchvision `models/googlenet.py` for the BatchNorm variant.
- Christian Szegedy, Vincent Vanhoucke, Sergey Ioffe, Jonathon Shlens, Zbigniew Wojna,
  "Rethinking the Inception Architecture for Computer Vision" (CVPR 2016, arXiv:1512.00567);
  keras.applications `inception_v3.py`, whose layout and parameter count V3 here matches.
"""

from __future__ import annotations

from types import MappingProxyType

import keras
from keras import layers

from kerascnn.errors import KerasCNNError
from kerascnn.models import common
from kerascnn.models.blocks import conv2d
from kerascnn.registry import models

# ---------------------------------------------------------------------------------------------
# Inception V1 (GoogLeNet)

# The layers before inception (3a): (name, filters, kernel size, stride) for a convolution with
# ReLU, (name,) for a 3x3 stride-2 max-pool. The paper's local response normalisations after
# pool1 and conv2 are left out, as in torchvision: they have no parameters and BatchNorm
# superseded them.
V1_STEMS = MappingProxyType(
    {
        "imagenet": (
            ("conv1", 64, 7, 2),
            ("pool1",),
            ("conv2_reduce", 64, 1, 1),
            ("conv2", 192, 3, 1),
            ("pool2",),
        ),
        "small": (("conv1", 64, 3, 1), ("conv2_reduce", 64, 1, 1), ("conv2", 192, 3, 1)),
    }
)
# The paper's Table 1, one row per module: #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj.
# A 3x3 stride-2 max-pool (pool3, pool4) opens stages 4 and 5 (pool4 is 2x2/2 in torchvision).
V1_MODULES = (
    ("3a", (64, 96, 128, 16, 32, 32)),
    ("3b", (128, 128, 192, 32, 96, 64)),
    ("4a", (192, 96, 208, 16, 48, 64)),
    ("4b", (160, 112, 224, 24, 64, 64)),
    ("4c", (128, 128, 256, 24, 64, 64)),
    ("4d", (112, 144, 288, 32, 64, 64)),
    ("4e", (256, 160, 320, 32, 128, 128)),
    ("5a", (256, 160, 320, 32, 128, 128)),
    ("5b", (384, 192, 384, 48, 128, 128)),
)
# The auxiliary classifiers read the outputs of these modules, named aux1 and aux2.
V1_AUX_AFTER = ("4a", "4d")
V1_AUX_POOL = (5, 3)  # the paper's 5x5 stride-3 average pool: 14x14 becomes 4x4 at 224 px
# `pooling_layout`: the paper's pools, or torchvision's (pool4 2x2/2, adaptive 4x4 auxiliary pool).
V1_POOLING_LAYOUTS = ("paper", "torchvision")
V1_AUX_MAP = 4  # torchvision's F.adaptive_avg_pool2d(x, (4, 4)) in its auxiliary classifiers


def conv_relu(x, filters, kernel_size, *, strides=1, batch_norm, name):
    """Convolution and ReLU, the output named `name`; with `batch_norm`, conv (no bias), BN, ReLU.

    Padding is `kernel_size // 2` pixels, the paper's and torchvision's, so the 7x7/2 convolution
    pads 3 on each side rather than Keras' "same" 2 before and 3 after.
    """
    padding = kernel_size // 2
    if not batch_norm:
        return conv2d(
            x, filters, kernel_size, padding=padding, strides=strides, activation="relu", name=name
        )
    x = conv2d(
        x,
        filters,
        kernel_size,
        padding=padding,
        strides=strides,
        use_bias=False,
        name=f"{name}_conv",
    )
    # torchvision's BatchNorm2d(eps=0.001); momentum 0.9 is PyTorch's 0.1.
    x = layers.BatchNormalization(epsilon=1e-3, momentum=0.9, name=f"{name}_bn")(x)
    return layers.Activation("relu", name=name)(x)


def ceil_max_pool(x, *, name, pool_size=3):
    """3x3 stride-2 max-pool in Caffe's and torchvision's `ceil_mode`: 112 -> 56, 7 -> 3.

    Ceil mode lets the last window hang one pixel over the end of the map; a zero row and column
    stand in for that pixel, which is exact because the inputs are ReLU outputs (>= 0). Unlike
    Keras' "same", which pads odd sizes on both sides, this keeps the windows where the paper's
    model has them at every input size. `pool_size=2` is torchvision's pool4 (2x2/2, ceil mode:
    14 -> 7, 7 -> 4).
    """
    x = layers.ZeroPadding2D(((0, 1), (0, 1)), name=f"{name}_pad")(x)
    return layers.MaxPooling2D(pool_size, strides=2, name=name)(x)


def inception_v1_module(x, filters, *, batch_norm, kernel_5x5=5, name):
    """The paper's Figure 2(b): 1x1; 1x1 -> 3x3; 1x1 -> 5x5; 3x3 max-pool -> 1x1, concatenated.

    `filters` is a row of `V1_MODULES`; the output has #1x1 + #3x3 + #5x5 + pool proj channels.
    `kernel_5x5=3` is torchvision's kernel in the "5x5" branch.
    """
    filters_1x1, reduce_3x3, filters_3x3, reduce_5x5, filters_5x5, pool_proj = filters
    unit = {"batch_norm": batch_norm}
    branch_1x1 = conv_relu(x, filters_1x1, 1, name=f"{name}_1x1", **unit)
    branch_3x3 = conv_relu(x, reduce_3x3, 1, name=f"{name}_3x3_reduce", **unit)
    branch_3x3 = conv_relu(branch_3x3, filters_3x3, 3, name=f"{name}_3x3", **unit)
    branch_5x5 = conv_relu(x, reduce_5x5, 1, name=f"{name}_5x5_reduce", **unit)
    branch_5x5 = conv_relu(branch_5x5, filters_5x5, kernel_5x5, name=f"{name}_5x5", **unit)
    branch_pool = layers.MaxPooling2D(3, strides=1, padding="same", name=f"{name}_pool")(x)
    branch_pool = conv_relu(branch_pool, pool_proj, 1, name=f"{name}_pool_proj", **unit)
    return layers.Concatenate(name=name)([branch_1x1, branch_3x3, branch_5x5, branch_pool])


def auxiliary_classifier(
    x, classes, classifier_activation, *, batch_norm, pooling_layout="paper", name
):
    """The paper's side classifier: 5x5/3 average pool, 1x1 conv 128, FC 1024, dropout 0.7, FC.

    With `pooling_layout="torchvision"` the pool is torchvision's adaptive 4x4 average pool. Its
    float32 output layer is named `name`, like `predictions` for the main classifier.
    """
    if pooling_layout == "torchvision":
        adaptive_pool = getattr(layers, "AdaptiveAveragePooling2D", None)
        if adaptive_pool is None:
            raise KerasCNNError(
                "pooling_layout='torchvision' with aux_logits=True needs "
                "keras.layers.AdaptiveAveragePooling2D, which this Keras lacks; upgrade Keras"
            )
        x = adaptive_pool(V1_AUX_MAP, name=f"{name}_pool")(x)
    else:
        pool_size, pool_stride = V1_AUX_POOL
        x = layers.AveragePooling2D(pool_size, strides=pool_stride, name=f"{name}_pool")(x)
    x = conv_relu(x, 128, 1, batch_norm=batch_norm, name=f"{name}_proj")
    x = layers.Flatten(name=f"{name}_flatten")(x)
    x = layers.Dense(1024, activation="relu", name=f"{name}_fc1")(x)
    x = layers.Dropout(0.7, name=f"{name}_dropout")(x)
    x = layers.Dense(classes, name=f"{name}_fc2")(x)
    return layers.Activation(classifier_activation or "linear", dtype="float32", name=name)(x)


def _v1_min_size(stem, aux_logits, pooling_layout="paper"):
    """The smallest side every layer can take, worked back from the last max-pool (pool4).

    A ceil-mode 3x3/2 pool needs a 2x2 map, so stage 4 needs 2x2; the auxiliary classifiers' 5x5
    average pool needs a 5x5 map after 4a and 4d. torchvision's 2x2/2 pool4 and adaptive
    auxiliary pool take a 1x1 map.
    """
    pool_size, _ = V1_AUX_POOL
    if pooling_layout == "torchvision":
        stage4 = 1
    else:
        stage4 = pool_size if aux_logits else 2
    size = 2 * stage4  # before pool3
    for layer in reversed(V1_STEMS[stem]):
        if len(layer) == 1:
            size = 2 * size  # ceil-mode 3x3/2: 2n -> n
        else:
            _, _, kernel, stride = layer
            size = max(1, (size - 1) * stride + kernel - 2 * (kernel // 2))
    return size


@models.register
def inception_v1(
    include_top=True,
    weights=None,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="inception_v1",
    *,
    stem="imagenet",
    batch_norm=False,
    aux_logits=False,
    branch3x3_quirk=False,
    pooling_layout="paper",
) -> keras.Model:
    """Inception V1 (GoogLeNet): nine inception modules, 6,998,552 parameters.

    Layout, the paper's Table 1 (output sides at 224 px): conv 64@7x7/2 (112), 3x3/2 max-pool
    (56), conv 64@1x1, conv 192@3x3, 3x3/2 max-pool (28); inception 3a, 3b; 3x3/2 max-pool (14);
    4a to 4e; 3x3/2 max-pool (7); 5a, 5b; global average pool, dropout 0.4, Dense `classes`. Every
    convolution has ReLU; the concatenations `inception_3a` ... `inception_5b` have 256, 480, 512,
    512, 512, 528, 832, 832 and 1024 channels. Max-pools use Caffe's ceil mode, as Caffe's
    reference GoogLeNet and torchvision do. The local response normalisations after pool1 and
    conv2 are left out (as in torchvision; they have no parameters). Weights start from Keras'
    Glorot-uniform default, biases at zero.

    Parameters at (224, 224, 3) with 1000 classes: 6,998,552 in the paper's form; 13,378,280
    with `aux_logits=True` (the classifiers on 4a and 4d add 3,188,840 and 3,190,888); with
    `batch_norm=True`, 7,005,832 trainable (7,020,392 with BatchNorm statistics). With
    `batch_norm=True, branch3x3_quirk=True` it has the parameters of torchvision's GoogLeNet:
    6,624,904 trainable (torchvision's published count, without the auxiliary classifiers, which
    torchvision drops after loading its weights) and 13,004,888 with `aux_logits=True`
    (torchvision's `GoogLeNet` as built, before it drops them). With `stem="small"` at (32, 32, 3) and 10 classes:
    5,976,122; 10,326,350 with `aux_logits=True`; 5,983,402 trainable with `batch_norm=True`. The
    auxiliary classifiers flatten their pooled map, so their size follows the input size, as in
    the paper.

    `batch_norm=True` is torchvision's variant: every convolution without bias, then BatchNorm
    (epsilon 1e-3, momentum 0.9, PyTorch's 0.1) and ReLU. `branch3x3_quirk=True` reproduces
    torchvision's 3x3 kernel in the "5x5" branch (still named `..._5x5`), a known slip kept for
    its pretrained weights. `aux_logits=True` adds the paper's two auxiliary classifiers on the
    outputs of 4a and 4d (5x5/3 average pool, conv 128@1x1, Dense 1024 + ReLU, dropout 0.7, Dense
    `classes`); the model then has three outputs, `predictions`, `aux1` and `aux2`, which the
    paper trains with weights 1, 0.3 and 0.3 and drops at inference.

    torchvision computes with other pools than the paper, which have no parameters but change
    what the same weights compute. `pooling_layout="torchvision"` takes torchvision's: pool4 is a 2x2
    stride-2 max-pool in ceil mode instead of the paper's 3x3 stride-2 one (both turn 14x14 into
    7x7 at 224 px, with other windows), and the auxiliary classifiers pool with an adaptive 4x4
    average pool (PyTorch's `adaptive_avg_pool2d`: at 224 px windows of rows and columns 0-3,
    3-6, 7-10 and 10-13 of the 14x14 map) instead of the paper's 5x5 stride-3 average pool (rows
    and columns 0-4, 3-7, 6-10 and 9-13). With `batch_norm=True, branch3x3_quirk=True,
    pooling_layout="torchvision"` the network computes what torchvision's GoogLeNet computes, and
    `weights="imagenet"` (torchvision's weights) needs these three. torchvision's other
    differences do not change inference: dropout 0.2 before `fc` (0.4 here), and its
    `transform_input`, which `weights="imagenet"` applies as the `preprocess` layer (inputs in
    [-1, 1]). The paper's layout stays the default.

    `stem="small"`, for 28-32 px images, replaces the 7x7/2 convolution and pool1 by a 3x3
    stride-1 convolution and drops pool2, so 32 px images reach 3a at 32x32 and 5b at 8x8.

    Reference:
    - [Going Deeper with Convolutions](https://arxiv.org/abs/1409.4842) (CVPR 2015), Table 1.
    - torchvision `models/googlenet.py` (`batch_norm=True`, `branch3x3_quirk=True`,
      `pooling_layout="torchvision"`).

    Args:
        include_top: whether to add the classifier (`avg_pool`, `dropout`, `fc`).
        weights: `None`, `"imagenet"` (torchvision's GoogLeNet weights, which need
            `batch_norm=True, branch3x3_quirk=True, pooling_layout="torchvision"`; its auxiliary
            classifiers load too but were not trained, torchvision warns) or the path of a
            weights file: a kerascnn `.weights.h5` / `.keras`, or torchvision's `.pth` /
            `.safetensors` (`kerascnn.models.weights`).
        input_tensor: optional Keras tensor to use as the input.
        input_shape: (height, width, channels), any number of channels (3 with pretrained
            weights); default (224, 224, 3), or (32, 32, 3) with `stem="small"`. Sides must be at
            least 31 (79 with `aux_logits`), or 4 (10 with `aux_logits`) with `stem="small"`:
            below that a max-pool or the auxiliary classifiers' 5x5 pool gets a map smaller than
            its window; with `pooling_layout="torchvision"` 15, or 2 with `stem="small"`.
        pooling: with `include_top=False`, `None` (4-d feature map), `"avg"` or `"max"`.
        classes: number of classes of the top.
        classifier_activation: activation of the `predictions` (and `aux1`, `aux2`) layers;
            `None` gives logits.
        name: the model's name.
        stem: `"imagenet"` (7x7/2 convolution and two max-pools) or `"small"` (3x3 stride-1
            convolution, no max-pool before 3a).
        batch_norm: BatchNorm after every convolution, which then has no bias (torchvision).
        aux_logits: add the two auxiliary classifiers as outputs `aux1` and `aux2`; needs
            `include_top=True`.
        branch3x3_quirk: torchvision's 3x3 kernel in the "5x5" branch of every module.
        pooling_layout: `"paper"` (3x3/2 pool4, 5x5/3 auxiliary pool) or `"torchvision"` (2x2/2
            pool4, adaptive 4x4 auxiliary pool).

    Returns:
        A Functional `keras.Model`; its output (each of its three outputs with `aux_logits`) is
        float32.

    Example:
        >>> model = inception_v1(input_shape=(32, 32, 3), classes=10, stem="small")
        >>> model.get_layer("inception_5b").output.shape
        (None, 8, 8, 1024)
    """
    for flag, value in (
        ("batch_norm", batch_norm),
        ("aux_logits", aux_logits),
        ("branch3x3_quirk", branch3x3_quirk),
    ):
        common.check_flag(name, flag, value)
    common.check_choice(name, "pooling_layout", pooling_layout, V1_POOLING_LAYOUTS)
    common.check_arguments(
        name=name,
        include_top=include_top,
        weights=weights,
        pooling=pooling,
        classes=classes,
        family="inception_v1",
        arguments={
            "stem": stem,
            "batch_norm": batch_norm,
            "branch3x3_quirk": branch3x3_quirk,
            "pooling_layout": pooling_layout,
        },
    )
    if aux_logits and not include_top:
        raise KerasCNNError(
            f"{name}: aux_logits=True adds classifiers, which include_top=False leaves out; "
            "pass aux_logits=False for a headless model"
        )
    inputs = common.stem_input(
        name=name,
        stem=stem,
        stems=V1_STEMS,
        input_tensor=input_tensor,
        input_shape=input_shape,
        default_shape=(224, 224, 3) if stem == "imagenet" else (32, 32, 3),
        min_size=lambda stem: _v1_min_size(stem, aux_logits, pooling_layout),
        small_stem="3x3 stride-1 stem convolution, no max-pool before 3a",
    )

    x = common.preprocessed(
        inputs, family="inception_v1", weights=weights, include_top=include_top, classes=classes
    )
    for layer in V1_STEMS[stem]:
        if len(layer) == 1:
            x = ceil_max_pool(x, name=layer[0])
        else:
            layer_name, filters, kernel, stride = layer
            x = conv_relu(
                x, filters, kernel, strides=stride, batch_norm=batch_norm, name=layer_name
            )
    aux = []
    stage = V1_MODULES[0][0][0]
    for module, filters in V1_MODULES:
        if module[0] != stage:
            torchvision_pool4 = pooling_layout == "torchvision" and stage == "4"
            x = ceil_max_pool(x, name=f"pool{stage}", pool_size=2 if torchvision_pool4 else 3)
            stage = module[0]
        x = inception_v1_module(
            x,
            filters,
            batch_norm=batch_norm,
            kernel_5x5=3 if branch3x3_quirk else 5,
            name=f"inception_{module}",
        )
        if aux_logits and module in V1_AUX_AFTER:
            aux.append(
                auxiliary_classifier(
                    x,
                    classes,
                    classifier_activation,
                    batch_norm=batch_norm,
                    pooling_layout=pooling_layout,
                    name=f"aux{len(aux) + 1}",
                )
            )

    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = layers.Dropout(0.4, name="dropout")(x)
        x = layers.Dense(classes, name="fc")(x)
        x = common.predictions(x, classifier_activation)
        outputs = [x, *aux] if aux else x
    else:
        outputs = common.pooled_features(x, pooling)
    return common.finish(
        inputs,
        outputs,
        input_tensor=input_tensor,
        name=name,
        weights=weights,
        family="inception_v1",
        include_top=include_top,
        classes=classes,
    )


# ---------------------------------------------------------------------------------------------
# Inception V3

# The layers before mixed0: (name, filters, kernel size, stride, padding) for conv-BN-ReLU,
# (name,) for a 3x3 stride-2 "valid" max-pool. The small stem keeps every side: it is the ImageNet
# stem with stride 1, "same" padding and no max-pool, so the parameters are the same.
V3_STEMS = MappingProxyType(
    {
        "imagenet": (
            ("conv1", 32, 3, 2, "valid"),
            ("conv2", 32, 3, 1, "valid"),
            ("conv3", 64, 3, 1, "same"),
            ("pool1",),
            ("conv4", 80, 1, 1, "valid"),
            ("conv5", 192, 3, 1, "valid"),
            ("pool2",),
        ),
        "small": (
            ("conv1", 32, 3, 1, "same"),
            ("conv2", 32, 3, 1, "same"),
            ("conv3", 64, 3, 1, "same"),
            ("conv4", 80, 1, 1, "same"),
            ("conv5", 192, 3, 1, "same"),
        ),
    }
)


def conv_bn(x, filters, kernel_size, *, strides=1, padding="same", name):
    """keras.applications' `conv2d_bn`: conv without bias, BatchNorm without scale, ReLU.

    The scale is left out because the ReLU that follows commutes with it, so the next layer's
    weights absorb it; this is what gives keras.applications' 23,851,784 parameters.
    """
    x = layers.Conv2D(
        filters, kernel_size, strides=strides, padding=padding, use_bias=False, name=f"{name}_conv"
    )(x)
    x = layers.BatchNormalization(scale=False, name=f"{name}_bn")(x)
    return layers.Activation("relu", name=name)(x)


def _branch(x, convolutions, *, name):
    """A chain of `conv_bn` from (filters, kernel size[, stride]) rows, named `{name}_1`, ...

    A stride-2 convolution is "valid", the paper's grid reduction (17 -> 8); the rest are "same".
    """
    for index, (filters, kernel_size, *stride) in enumerate(convolutions, start=1):
        strides = stride[0] if stride else 1
        padding = "valid" if strides > 1 else "same"
        x = conv_bn(
            x, filters, kernel_size, strides=strides, padding=padding, name=f"{name}_{index}"
        )
    return x


def _pool_branch(x, filters, *, name):
    """3x3 stride-1 average pool and a 1x1 projection to `filters` channels."""
    x = layers.AveragePooling2D(3, strides=1, padding="same", name=f"{name}_pool")(x)
    return _branch(x, ((filters, 1),), name=f"{name}_pool_proj")


def _expanded(x, filters, *, name):
    """The paper's Figure 7 expansion: 1x3 and 3x1 convolutions side by side, concatenated."""
    wide = conv_bn(x, filters, (1, 3), name=f"{name}_1x3")
    tall = conv_bn(x, filters, (3, 1), name=f"{name}_3x1")
    return layers.Concatenate(name=name)([wide, tall])


def inception_a(x, pool_filters, *, name):
    """Figure 5 (35x35 grid): 1x1; 1x1 -> 5x5; 1x1 -> 3x3 -> 3x3; avg pool -> 1x1."""
    branches = (
        _branch(x, ((64, 1),), name=f"{name}_1x1"),
        _branch(x, ((48, 1), (64, 5)), name=f"{name}_5x5"),
        _branch(x, ((64, 1), (96, 3), (96, 3)), name=f"{name}_3x3dbl"),
        _pool_branch(x, pool_filters, name=name),
    )
    return layers.Concatenate(name=name)(list(branches))


def reduction_a(x, *, name):
    """Figure 10 (35 -> 17): 3x3/2; 1x1 -> 3x3 -> 3x3/2; 3x3/2 max-pool."""
    branches = (
        _branch(x, ((384, 3, 2),), name=f"{name}_3x3"),
        _branch(x, ((64, 1), (96, 3), (96, 3, 2)), name=f"{name}_3x3dbl"),
        layers.MaxPooling2D(3, strides=2, name=f"{name}_pool")(x),
    )
    return layers.Concatenate(name=name)(list(branches))


def inception_b(x, channels, *, name):
    """Figure 6 with n = 7 (17x17 grid): 7x7 factorised into 1x7 and 7x1 with `channels` inside."""
    c = channels
    branches = (
        _branch(x, ((192, 1),), name=f"{name}_1x1"),
        _branch(x, ((c, 1), (c, (1, 7)), (192, (7, 1))), name=f"{name}_7x7"),
        _branch(
            x,
            ((c, 1), (c, (7, 1)), (c, (1, 7)), (c, (7, 1)), (192, (1, 7))),
            name=f"{name}_7x7dbl",
        ),
        _pool_branch(x, 192, name=name),
    )
    return layers.Concatenate(name=name)(list(branches))


def reduction_b(x, *, name):
    """17 -> 8: 1x1 -> 3x3/2; 1x1 -> 1x7 -> 7x1 -> 3x3/2; 3x3/2 max-pool."""
    branches = (
        _branch(x, ((192, 1), (320, 3, 2)), name=f"{name}_3x3"),
        _branch(x, ((192, 1), (192, (1, 7)), (192, (7, 1)), (192, 3, 2)), name=f"{name}_7x7x3"),
        layers.MaxPooling2D(3, strides=2, name=f"{name}_pool")(x),
    )
    return layers.Concatenate(name=name)(list(branches))


def inception_c(x, *, name):
    """Figure 7 (8x8 grid): 1x1; 1x1 -> (1x3 | 3x1); 1x1 -> 3x3 -> (1x3 | 3x1); avg pool -> 1x1."""
    branch_3x3 = _branch(x, ((384, 1),), name=f"{name}_3x3")
    branch_3x3dbl = _branch(x, ((448, 1), (384, 3)), name=f"{name}_3x3dbl")
    branches = (
        _branch(x, ((320, 1),), name=f"{name}_1x1"),
        _expanded(branch_3x3, 384, name=f"{name}_3x3"),
        _expanded(branch_3x3dbl, 384, name=f"{name}_3x3dbl"),
        _pool_branch(x, 192, name=name),
    )
    return layers.Concatenate(name=name)(list(branches))


# mixed0 to mixed10: the module function and its arguments after `x`.
V3_MODULES = (
    (inception_a, 32),
    (inception_a, 64),
    (inception_a, 64),
    (reduction_a,),
    (inception_b, 128),
    (inception_b, 160),
    (inception_b, 160),
    (inception_b, 192),
    (reduction_b,),
    (inception_c,),
    (inception_c,),
)


def _v3_min_size(stem):
    """The smallest side every layer can take, worked back from reduction B's 1x1 output.

    Each reduction is a "valid" 3x3/2 convolution (n -> (n - 3) // 2 + 1); so are the ImageNet
    stem's max-pools. 75 with the ImageNet stem, as keras.applications asks.
    """
    size = 1
    for _ in (reduction_a, reduction_b):
        size = (size - 1) * 2 + 3
    for layer in reversed(V3_STEMS[stem]):
        if len(layer) == 1:
            size = (size - 1) * 2 + 3
        else:
            _, _, kernel, stride, padding = layer
            size = (size - 1) * stride + (kernel if padding == "valid" else 1)
    return size


@models.register
def inception_v3(
    include_top=True,
    weights=None,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="inception_v3",
    *,
    stem="imagenet",
) -> keras.Model:
    """Inception V3: keras.applications' layout and its 23,851,784 parameters.

    Layout (sides at 299 px): stem conv 32@3x3/2, conv 32@3x3, conv 64@3x3, 3x3/2 max-pool, conv
    80@1x1, conv 192@3x3, 3x3/2 max-pool (35); three modules A (`mixed0` to `mixed2`, 35x35x288);
    reduction A (`mixed3`, 17x17x768); four modules B with 128, 160, 160 and 192 channels inside
    their factorised 7x7 convolutions (`mixed4` to `mixed7`); reduction B (`mixed8`, 8x8x1280);
    two modules C (`mixed9`, `mixed10`, 8x8x2048); global average pool and Dense `classes`. Every
    convolution has no bias and is followed by BatchNorm without scale (keras' defaults, epsilon
    1e-3, momentum 0.99) and ReLU. Weights start from Keras' Glorot-uniform default.

    Parameters at (299, 299, 3) with 1000 classes: 23,851,784, keras.applications'
    `InceptionV3` count (23,817,352 trainable; the rest are BatchNorm statistics). The paper's
    auxiliary classifier and label smoothing are left out, as in keras.applications. With the
    default stem inputs need at least 75x75 pixels, as in keras.applications; smaller ones raise
    an error that suggests `stem="small"`.

    `stem="small"`, for 28-32 px images, gives the stem convolutions stride 1 and "same" padding
    and drops its max-pools, so only the two reductions shrink the image: 32 px reaches mixed10 at
    7x7, 28 px at 6x6; inputs need at least 7x7 pixels. The parameters do not change: 21,823,274
    at (32, 32, 3) with 10 classes (21,788,842 trainable).

    Reference:
    - [Rethinking the Inception Architecture for Computer Vision](
      https://arxiv.org/abs/1512.00567) (CVPR 2016), Figures 5, 6, 7 and 10 and Table 1.
    - keras.applications `inception_v3.py`.

    Args:
        include_top: whether to add the classifier (`avg_pool`, `fc`).
        weights: `None` or the path of a `.weights.h5` / `.keras` file saved by kerascnn.
        input_tensor: optional Keras tensor to use as the input.
        input_shape: (height, width, channels), any number of channels; default (299, 299, 3), or
            (32, 32, 3) with `stem="small"`; at least 75x75, or 7x7 with `stem="small"`: below
            that reduction B gets a map smaller than its 3x3 window.
        pooling: with `include_top=False`, `None` (4-d feature map), `"avg"` or `"max"`.
        classes: number of classes of the top.
        classifier_activation: activation of the `predictions` layer; `None` gives logits.
        name: the model's name.
        stem: `"imagenet"` (strided, "valid" stem with two max-pools) or `"small"` (stride-1,
            "same" stem without max-pools).

    Returns:
        A Functional `keras.Model`; its output is float32.

    Example:
        >>> model = inception_v3()
        >>> model.count_params()
        23851784
    """
    common.check_arguments(
        name=name,
        include_top=include_top,
        weights=weights,
        pooling=pooling,
        classes=classes,
        family="inception_v3",
        arguments={"stem": stem},
    )
    inputs = common.stem_input(
        name=name,
        stem=stem,
        stems=V3_STEMS,
        input_tensor=input_tensor,
        input_shape=input_shape,
        default_shape=(299, 299, 3) if stem == "imagenet" else (32, 32, 3),
        min_size=_v3_min_size,
        small_stem="stride-1 'same' stem convolutions, no stem max-pools",
    )

    x = common.preprocessed(
        inputs, family="inception_v3", weights=weights, include_top=include_top, classes=classes
    )
    for layer in V3_STEMS[stem]:
        if len(layer) == 1:
            x = layers.MaxPooling2D(3, strides=2, name=layer[0])(x)
        else:
            layer_name, filters, kernel, stride, padding = layer
            x = conv_bn(x, filters, kernel, strides=stride, padding=padding, name=layer_name)
    for index, (module, *arguments) in enumerate(V3_MODULES):
        x = module(x, *arguments, name=f"mixed{index}")

    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = layers.Dense(classes, name="fc")(x)
        x = common.predictions(x, classifier_activation)
    else:
        x = common.pooled_features(x, pooling)
    return common.finish(
        inputs,
        x,
        input_tensor=input_tensor,
        name=name,
        weights=weights,
        family="inception_v3",
        include_top=include_top,
        classes=classes,
    )
