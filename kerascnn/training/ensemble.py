"""Ensembles: K classifiers trained as runs of their own, combined by averaging their probabilities.

A recipe with `members` is an ensemble. Each member is a registered recipe with overrides
(`{"recipe": "mnist_best", "seed": 1}`), trained on the ensemble's data, under its runs directory,
precision, strategy and determinism, without an export of its own. A member is an ordinary run:
an unfinished one resumes, a finished one is reused (unless `fresh`). The ensemble is one Keras
model, images -> mean of the members' probabilities, evaluated on the test split and exported as
one SavedModel.
"""

from __future__ import annotations

import sys
from pathlib import Path

import keras

from kerascnn import runs


def train_members(members, train, *, verbose, fresh: bool) -> list[tuple[keras.Model, dict]]:
    """Each member's final model and metrics: trained by `train` (the run function), resumed, or
    reused when finished."""
    trained = []
    for index, member in enumerate(members, start=1):
        finished = None if fresh else runs.finished_run(member.runs_dir, member)
        if finished is not None:
            print(f"member {index}/{len(members)}: reusing {finished}", flush=True)
            reused = runs.load_trained(finished)
            model, metrics = reused.model, reused.metrics
        else:
            print(f"member {index}/{len(members)}: training {member.name}", flush=True)
            result = train(member, verbose=verbose, fresh=fresh)
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
