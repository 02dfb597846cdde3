"""Fully connected layers as convolutions: `fully_convolutional(model)`.

A Dense layer on a flattened h x w x c feature map computes, for its one position, what a
convolution with `units` filters of size h x w x c computes at every position; later Dense layers
are 1x1 convolutions. So a classifier whose head is Flatten + Dense layers becomes a network of
convolutions only, with the same weights, that takes images of any size at least the original:
at the original size it gives the same class scores, on a larger image a map of them, one per
position of a window of the original size (stride: the network's downsampling). This is the
step from a classifier to a dense predictor that FCN starts from (Long et al. 2015, sec. 3.1)
and the book's example: a Dense layer on a 32x10x10 input is a convolution with 100 filters of
size 32x10x10.

Reference:
- Jonathan Long, Evan Shelhamer, Trevor Darrell, "Fully Convolutional Networks for Semantic
  Segmentation" (CVPR 2015, arXiv:1411.4038), sec. 3.1, "Adapting classifiers for dense
  prediction".
"""

from __future__ import annotations

import copy

import keras
import numpy as np

from kerascnn.errors import KerasCNNError
from kerascnn.layers import ClassicDropout

# Layers that act on each position alone, so they may stay between the Dense layers of the head.
PER_POSITION = (
    keras.layers.Dropout,
    ClassicDropout,
    keras.layers.Activation,
    keras.layers.ReLU,
    keras.layers.Softmax,
    keras.layers.BatchNormalization,
)


def fully_convolutional(model: keras.Model, *, name: str | None = None) -> keras.Model:
    """The convolutions-only equivalent of a classifier whose head is Flatten + Dense layers.

    The first Dense layer after the `Flatten` becomes a "valid" convolution whose kernel spans the
    whole feature map the Flatten saw; every later Dense layer becomes a 1x1 convolution; the
    Flatten becomes an `Identity`. Weights are copied (reshaped), layer names kept, and the input
    takes any height and width. Layers between the Dense layers must act per position (dropout,
    activations, BatchNorm). A model that holds its network as a nested model (a run's model,
    `kerascnn.models.pixels.taking_pixels`) is converted inside.

    Args:
        model: a Functional classifier with a Flatten + Dense head (`deep_mnist_cnn`, `lenet5`,
            `alexnet`, `vgg16` ...), trained or not.
        name: the new model's name; default `<model.name>_convolutional`.

    Returns:
        A Functional `keras.Model` of shape (batch, H, W, channels) -> (batch, h', w', classes):
        at the original input size h' = w' = 1 and the scores equal the classifier's.

    Example:
        >>> classifier = kerascnn.create_model("deep_mnist_cnn")
        >>> dense = fully_convolutional(classifier)
        >>> dense.output_shape
        (None, None, None, 10)
    """
    flatten = _the_flatten(model)
    head = _head(model, flatten)
    height, width, _ = (int(d) for d in flatten.input.shape[1:])
    kernels = {layer.name: (1, 1) for layer in head}
    kernels[head[0].name] = (height, width)
    config = copy.deepcopy(keras.saving.serialize_keras_object(model))
    _rewrite(config, flatten.name, kernels)
    config["config"]["name"] = name or f"{model.name}_convolutional"
    converted = keras.saving.deserialize_keras_object(config)
    _copy_weights(model, converted, kernels)
    return converted


def _leaves(model: keras.Model):
    """The model's layers in order, those of nested models in their place."""
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _leaves(layer)
        else:
            yield layer


def _the_flatten(model):
    flattens = [layer for layer in _leaves(model) if isinstance(layer, keras.layers.Flatten)]
    if len(flattens) != 1:
        raise KerasCNNError(
            f"{model.name} has {len(flattens)} Flatten layers; fully_convolutional converts a "
            "classifier whose head is one Flatten followed by Dense layers (a global-pooling "
            "head is convolutional already)"
        )
    (flatten,) = flattens
    shape = tuple(flatten.input.shape[1:])
    if len(shape) != 3 or None in shape:
        raise KerasCNNError(
            f"{model.name}: its Flatten sees a map of shape {shape}; a fixed (height, width, "
            "channels) map is needed to size the convolution that replaces the first Dense layer"
        )
    return flatten


def _head(model, flatten) -> list:
    """The Dense layers after the Flatten; anything else there must act per position."""
    leaves = list(_leaves(model))
    after = leaves[leaves.index(flatten) + 1 :]
    before_dense = [layer for layer in leaves[: leaves.index(flatten)] if _is_dense(layer)]
    if before_dense:
        raise KerasCNNError(
            f"{model.name}: Dense layer {before_dense[0].name!r} comes before the Flatten; "
            "fully_convolutional converts Dense layers of the head only"
        )
    for layer in after:
        if not _is_dense(layer) and not isinstance(layer, PER_POSITION):
            raise KerasCNNError(
                f"{model.name}: layer {layer.name!r} ({type(layer).__name__}) in the head after "
                "the Flatten is neither Dense nor a per-position layer (dropout, activation, "
                "BatchNorm); it has no convolutional equivalent here"
            )
    head = [layer for layer in after if _is_dense(layer)]
    if not head:
        raise KerasCNNError(
            f"{model.name} has no Dense layer after its Flatten; nothing to convert"
        )
    return head


def _is_dense(layer) -> bool:
    # Exactly Dense: a subclass (DropConnect) computes something else.
    return type(layer) is keras.layers.Dense


def _rewrite(node, flatten_name: str, kernels: dict) -> None:
    """In a serialized model, in place: inputs of any height and width, the Flatten an Identity,
    each Dense layer of `kernels` a convolution of that kernel size."""
    if isinstance(node, list):
        for item in node:
            _rewrite(item, flatten_name, kernels)
        return
    if not isinstance(node, dict):
        return
    if node.get("class_name") == "InputLayer":
        shape = node["config"]["batch_shape"]
        node["config"]["batch_shape"] = [shape[0], None, None, *shape[3:]]
    name = node.get("config", {}).get("name") if isinstance(node.get("config"), dict) else None
    if node.get("class_name") == "Flatten" and name == flatten_name:
        _replace(node, keras.layers.Identity(name=name))
    elif node.get("class_name") == "Dense" and name in kernels:
        dense = node["config"]
        _replace(
            node,
            keras.layers.Conv2D(
                dense["units"],
                kernels[name],
                activation=dense["activation"],
                use_bias=dense["use_bias"],
                trainable=dense.get("trainable", True),
                dtype=dense.get("dtype"),
                name=name,
            ),
        )
    for value in node.values():
        _rewrite(value, flatten_name, kernels)


def _replace(node: dict, layer) -> None:
    """Makes the serialized layer `node` the serialized `layer`, keeping its connections."""
    replacement = keras.saving.serialize_keras_object(layer)
    for key in ("module", "class_name", "config", "registered_name"):
        node[key] = replacement.get(key)
    node.pop("build_config", None)


def _copy_weights(model, converted, kernels: dict) -> None:
    for source, target in zip(_leaves(model), _leaves(converted), strict=True):
        weights = source.get_weights()
        if source.name in kernels:
            kernel, *rest = weights
            height, width = kernels[source.name]
            # Flatten orders a channels-last map as (row, column, channel): the kernel's layout.
            weights = [np.reshape(kernel, (height, width, -1, kernel.shape[-1])), *rest]
        target.set_weights(weights)
