"""Model builders, one file per family, all registered in `kerascnn.registry.models`."""

from __future__ import annotations

import difflib
import inspect

import keras

from kerascnn.errors import RecipeError

# Importing a family registers its builders.
from kerascnn.models import (  # noqa: F401
    captioning,
    cdcgan,
    classic,
    dcgan,
    deep_cnn,
    faster_rcnn,
    fcn,
    inception,
    rcnn,
    resnet,
    vgg,
)
from kerascnn.registry import models


def create_model(model_name: str, /, **kwargs) -> keras.Model:
    """Builds the registered model `model_name`; `kwargs` go to its keras.applications-style
    builder, its own `name=` included (`create_model("vgg16", name="mine")`)."""
    return models.get(model_name)(**kwargs)


def list_models(task: str | None = None) -> list[str]:
    """The names of all registered models, or of those for `task` ("classification", ...)."""
    return models.names() if task is None else models.names(task=task)


# Set by the run from the data (or fixed for a classifier); a recipe may not pass them.
RUN_ARGUMENTS = (
    "include_top",
    "input_tensor",
    "input_shape",
    "image_shape",
    "classes",
    "name",
    "seed",
    "vocabulary",
)


def check_recipe_arguments(name: str, args: dict) -> None:
    """Rejects `model.args` keys the builder `name` does not take, naming the ones it does."""

    parameters = [
        p for p in inspect.signature(models.get(name)).parameters if p not in RUN_ARGUMENTS
    ]
    for key in args:
        if key in RUN_ARGUMENTS:
            raise RecipeError(f"model.args.{key} is set by the run from the data; remove it")
        if key not in parameters:
            close = difflib.get_close_matches(key, parameters, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise RecipeError(
                f"unknown recipe key 'model.args.{key}' for model {name!r}; {hint}"
                f"it takes: {', '.join(parameters)}"
            )
