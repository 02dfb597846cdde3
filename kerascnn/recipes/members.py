"""An ensemble's members, resolved before anything trains: each a registered recipe with its
overrides, given the ensemble's data and run settings (`kerascnn.training.checks.INHERITED`)."""

from __future__ import annotations

import dataclasses

from kerascnn.config import Recipe
from kerascnn.errors import RecipeError
from kerascnn.training.checks import INHERITED


def member_recipes(recipe: Recipe, resolve) -> list[Recipe]:
    """The recipes of `recipe`'s members, resolved with `resolve` (name, overrides) and given the
    ensemble's data and settings, without an export of their own; [] for a single recipe."""
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
        member = resolve(name, {**spec, **inherited})
        if member.members:
            raise RecipeError(f"member {name!r} of {recipe.name!r} is itself an ensemble")
        members.append(member)
    return members
