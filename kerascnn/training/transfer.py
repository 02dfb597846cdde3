"""Transfer learning: copy a trained classifier's weights into a new run's model, head excepted.

`recipe.transfer.init_from` names a run directory (its final `model.keras`, else its checkpoint), an
export (`saved_models/NAME/VERSION`, its `model.keras`), a `.keras` file, or `"imagenet"`: the
family's published ImageNet weights (`kerascnn.models.weights`), which the builder loads itself
(`weights="imagenet"` with the run's class count: everything but the head, and the weights'
preprocessing in the network). Otherwise the source must be a
kerascnn classifier of the same architecture: every layer with weights is copied by name except
the classifier's top (the layers its builder leaves out with `include_top=False`), which starts
fresh for the new task and may have another class count. Training then runs in two phases (`TransferConfig`): the head alone for `frozen_epochs`,
then every layer at a lower learning rate.
"""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path

import keras

from kerascnn import runs
from kerascnn.errors import KerasCNNError, RecipeError
from kerascnn.models import create_model
from kerascnn.models import weights as pretrained
from kerascnn.models.pixels import network_of
from kerascnn.registry import models

# `transfer.init_from` / `--init-from` value that starts from the published ImageNet weights.
IMAGENET = "imagenet"


def builder_arguments(recipe) -> dict:
    """The recipe's model arguments, with `weights="imagenet"` when the run starts from them."""
    arguments = dict(recipe.model.args)
    if recipe.transfer.init_from == IMAGENET:
        arguments["weights"] = IMAGENET
    return arguments


def check_imagenet(recipe) -> None:
    """Refuses `init_from="imagenet"` for a model without published weights, or whose recipe
    arguments differ from those the weights were trained with, before anything is built."""
    name = recipe.model.name
    arguments = {
        key: parameter.default
        for key, parameter in inspect.signature(models.get(name)).parameters.items()
        if parameter.default is not inspect.Parameter.empty
    }
    arguments.update(recipe.model.args)
    if recipe.model.args.get("weights") is not None:
        raise RecipeError(
            "transfer.init_from 'imagenet' sets the model's weights; remove model.args.weights"
        )
    try:
        pretrained.check(name, IMAGENET, include_top=True, classes=None, arguments=arguments)
    except KerasCNNError as error:
        raise RecipeError(f"transfer.init_from 'imagenet': {error}") from None


def source_path(init_from: str) -> Path | None:
    """The `.keras` file that `init_from` designates (None for "imagenet", which the builder
    loads), or a one-line error saying what was found."""
    if init_from == IMAGENET:
        return None
    candidates = runs.model_files(init_from)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise RecipeError(
        f"transfer.init_from {init_from!r} holds no model (looked for "
        f"{', '.join(repr(str(c)) for c in candidates)}); give a run directory, an export "
        "(saved_models/NAME/VERSION) or a .keras file"
    )


def classifier_of(model: keras.Model) -> keras.Model:
    """The registered classifier inside a run's model (`kerascnn.models.pixels.network_of`)."""
    return network_of(model)


def load_source(init_from: str) -> keras.Model:
    """The trained model `init_from` designates (`kerascnn.runs.load_trained`)."""
    source_path(init_from)
    try:
        return runs.load_trained(init_from).model
    except KerasCNNError as error:
        raise RecipeError(f"transfer.init_from: {error}") from None


def head_layers(recipe, classifier: keras.Model) -> list[keras.layers.Layer]:
    """The classifier's top: its layers with weights that the same builder leaves out with
    `include_top=False` (keras.applications' line between backbone and head)."""

    backbone = create_model(
        recipe.model.name,
        include_top=False,
        input_shape=tuple(classifier.inputs[0].shape[1:]),
        **dict(recipe.model.args),
    )
    kept = {layer.name for layer in backbone.layers}
    return [layer for layer in classifier.layers if layer.weights and layer.name not in kept]


def copy_weights(recipe, source: keras.Model, model: keras.Model) -> list:
    """Copies `source`'s weights into `model`'s classifier; returns the head layers left fresh."""
    init_from = recipe.transfer.init_from
    source, target = classifier_of(source), classifier_of(model)
    if source.name != target.name:
        raise RecipeError(
            f"transfer.init_from {init_from!r} holds a {source.name!r}, but this recipe trains a "
            f"{target.name!r}; start from a run or export of the same model"
        )
    preprocessing = ["preprocess" in {layer.name for layer in m.layers} for m in (source, target)]
    if preprocessing[0] != preprocessing[1]:
        raise RecipeError(
            f"transfer.init_from {init_from!r} started from pretrained weights and preprocesses "
            "its input for them (layer `preprocess`), which this run's model would not; start "
            "from --init-from imagenet instead, or from a run trained from scratch"
        )
    source_layers = {layer.name: layer for layer in source.layers}
    heads = head_layers(recipe, target)
    fresh = []
    for layer in target.layers:
        if not layer.weights:
            continue
        origin = source_layers.get(layer.name)
        shapes = [tuple(w.shape) for w in layer.weights]
        theirs = [tuple(w.shape) for w in origin.weights] if origin is not None else None
        if layer in heads and theirs is not None:
            fresh.append(layer)  # a new task: its head learns from scratch
        elif shapes == theirs:
            layer.set_weights(origin.get_weights())
        else:
            raise RecipeError(
                f"transfer.init_from {init_from!r} does not fit this recipe's model: layer "
                f"{layer.name!r} has weights of shapes {theirs} there and {shapes} here; start "
                "from a model with the same arguments and input channels"
            )
    return fresh


def frozen(recipe, epoch: int) -> bool:
    """Whether `epoch` (0-based) is in the head-only phase."""
    return bool(recipe.transfer.init_from) and epoch < recipe.transfer.frozen_epochs


def phase_optimizer_config(recipe, epoch: int):
    """(optimizer settings, epochs its schedule spans) of the phase that contains `epoch`; the
    run's phases span `optimizer.schedule_epochs` when it is set (a run of a plan's first epochs)."""
    transfer = recipe.transfer
    planned = recipe.optimizer.schedule_epochs or recipe.epochs
    if not transfer.init_from or not transfer.frozen_epochs:
        return recipe.optimizer, planned
    if frozen(recipe, epoch):
        return recipe.optimizer, transfer.frozen_epochs
    lower = recipe.optimizer.learning_rate * transfer.learning_rate_factor
    return (
        dataclasses.replace(recipe.optimizer, learning_rate=lower),
        planned - transfer.frozen_epochs,
    )


def set_trainable(model: keras.Model, heads: list, head_only: bool) -> None:
    """Freezes all but the head layers (or unfreezes everything)."""
    classifier = classifier_of(model)
    head_names = {layer.name for layer in heads}
    for layer in classifier.layers:
        layer.trainable = not head_only or layer.name in head_names


def head_only(model: keras.Model, heads: list) -> bool:
    """Whether `model` trains its head layers alone (every other layer with weights frozen)."""
    head_names = {layer.name for layer in heads}
    others = [
        layer
        for layer in classifier_of(model).layers
        if layer.weights and layer.name not in head_names
    ]
    return bool(others) and not any(layer.trainable for layer in others)
