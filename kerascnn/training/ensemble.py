"""Ensembles: K classifiers trained as runs of their own, combined by averaging their probabilities.

A recipe with `members` is an ensemble. Each member is a registered recipe with overrides
(`{"recipe": "mnist_best", "seed": 1}`), trained on the ensemble's data, under its runs directory,
precision, strategy and determinism, without an export of its own. A member is an ordinary run:
an unfinished one resumes, a finished one is reused (unless `fresh`). The ensemble is one Keras
model, images -> mean of the members' probabilities, evaluated on the test split and exported as
one SavedModel.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import keras

from kerascnn.errors import RecipeError

# What members take from the ensemble, so that all of them see the same data and run alike.
INHERITED = ("runs_dir", "precision", "strategy", "deterministic")


def member_recipes(recipe) -> list:
    """The recipes of `recipe`'s members, resolved and given the ensemble's data and settings."""
    from kerascnn import recipes

    members = []
    for index, spec in enumerate(recipe.members, start=1):
        spec = dict(spec)
        name = spec.pop("recipe", None)
        if not isinstance(name, str):
            raise RecipeError(
                f"members[{index - 1}] of {recipe.name!r} needs a 'recipe' key naming a "
                f"registered recipe, e.g. {{'recipe': 'mnist_best', 'seed': {index}}}"
            )
        inherited = {
            "data": dataclasses.asdict(recipe.data),
            "export.enabled": False,
            **{field: getattr(recipe, field) for field in INHERITED},
        }
        member = recipes.resolve(name, {**spec, **inherited})
        if member.members:
            raise RecipeError(f"member {name!r} of {recipe.name!r} is itself an ensemble")
        members.append(member)
    return members


def check_members(recipe) -> None:
    """The checks of every member, before anything trains."""
    from kerascnn.training.run import check_recipe
    from kerascnn.training.tasks import task_of

    for member in member_recipes(recipe):
        check_recipe(member)
        if task_of(member).name != "classification":
            raise RecipeError(
                f"member {member.name!r} of {recipe.name!r} is not a classifier; "
                "ensembles average class probabilities"
            )


def train_members(recipe, *, verbose, fresh: bool) -> list[tuple[keras.Model, dict]]:
    """Each member's final model and metrics: trained, resumed, or reused when finished."""
    import json

    from kerascnn.recipes import to_dict
    from kerascnn.training import resume
    from kerascnn.training.run import FINAL_MODEL, run_recipe

    trained = []
    for index, member in enumerate(member_recipes(recipe), start=1):
        finished = (
            None if fresh else resume.finished_run(member.runs_dir, member.name, to_dict(member))
        )
        if finished is not None:
            print(f"member {index}/{len(recipe.members)}: reusing {finished}", flush=True)
            model = keras.saving.load_model(finished / FINAL_MODEL, safe_mode=True)
            metrics = json.loads((finished / "metrics.json").read_text())
        else:
            print(f"member {index}/{len(recipe.members)}: training {member.name}", flush=True)
            result = run_recipe(member, verbose=verbose, fresh=fresh)
            model, metrics = result.model, result.metrics
        trained.append((model, {**metrics, "run_dir": str(finished or result.run_dir)}))
    return trained


def average_model(recipe, members: list[keras.Model], image_shape) -> keras.Model:
    """images -> the mean of the members' class probabilities, as one Keras model."""
    inputs = keras.Input(shape=tuple(image_shape), name="images")
    outputs = []
    for index, member in enumerate(members, start=1):
        member.name = f"member_{index}"  # members share their recipe's name; layer names may not
        outputs.append(member(inputs))
    average = outputs[0] if len(outputs) == 1 else keras.layers.Average(name="average")(outputs)
    model = keras.Model(inputs, average, name=recipe.name)
    model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def describe(members_metrics: list[dict]) -> list[dict]:
    """What the ensemble record says of each member."""
    return [
        {
            "recipe": Path(m["run_dir"]).parent.name,
            "run_dir": m["run_dir"],
            "test_accuracy": m.get("test_accuracy"),
        }
        for m in members_metrics
    ]


def print_members(members_metrics: list[dict]) -> None:
    for index, member in enumerate(describe(members_metrics), start=1):
        print(
            f"  member {index}: test accuracy {100 * member['test_accuracy']:.2f} % ({member['run_dir']})",
            file=sys.stdout,
        )
