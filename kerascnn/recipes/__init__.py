"""Recipes: named, registered, config-as-code training runs.

    >>> import kerascnn
    >>> result = kerascnn.recipes.run("deep_mnist", epochs=2)
    >>> result.metrics["test_accuracy"], result.run_dir, result.export_dir

A recipe is found by its registered name or by the path of a recipe file: a `.py` file defining
`recipe()` (like the files under `recipes/` in the repository) or a `recipe.json` written by an earlier run.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kerascnn.config import (
    CallbackConfig,
    DataConfig,
    ExportConfig,
    ModelConfig,
    OptimizerConfig,
    Recipe,
    TransferConfig,
    from_dict,
    to_dict,
)
from kerascnn.errors import KerasCNNError, RecipeError
from kerascnn.overrides import apply_overrides, parse_assignments
from kerascnn.recipes import library  # noqa: F401  (registers the built-in recipes: recipes/*.py)
from kerascnn.registry import recipes as registry

register_recipe = registry.register

SMOKE_OVERRIDES = {
    "epochs": 1,
    "batch_size": 32,
    "data.train_limit": 256,
    "data.test_limit": 64,
    # Histograms of an ImageNet-size network take longer than its smoke epoch.
    "callbacks.histogram_freq": 0,
    # One epoch also when the data fall back to the bundled sample.
    "fallback_epochs": None,
}


def get(name: str) -> Recipe:
    """The registered recipe `name`."""
    function = registry.get(name)
    recipe = _described(function(), function)
    if recipe.name != name:
        raise RecipeError(
            f"recipe function {name!r} returned a recipe named {recipe.name!r}; "
            "the registry key and the recipe's name must be one string"
        )
    return recipe


def list_recipes() -> list[str]:
    """The names of all registered recipes."""
    return registry.names()


def load_file(path: str | Path) -> Recipe:
    """A recipe from a `.py` file that defines `recipe()` or from a `recipe.json` record."""
    path = Path(path)
    if not path.is_file():
        raise RecipeError(
            f"recipe file {path} does not exist; give a registered name "
            "(see 'kerascnn list') or the path of a .py or .json recipe file"
        )
    if path.suffix == ".json":
        try:
            record = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise RecipeError(f"recipe file {path} is not valid JSON: {error}") from None
        if not isinstance(record, dict) or "name" not in record:
            raise RecipeError(f"recipe file {path} must hold a JSON object with a 'name'")
        return from_dict(record)
    if path.suffix != ".py":
        raise RecipeError(f"recipe file {path} must end in .py or .json")
    spec = importlib.util.spec_from_file_location(f"kerascnn_recipe_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as error:  # the file is the user's code: anything can happen
        raise RecipeError(f"recipe file {path} {_failure(error, path)}; fix the file") from None
    if not callable(getattr(module, "recipe", None)):
        raise RecipeError(f"recipe file {path} must define a function recipe() returning a Recipe")
    try:
        recipe = module.recipe()
    except (Exception, SystemExit) as error:
        raise RecipeError(f"recipe() in {path} {_failure(error, path)}") from None
    if not isinstance(recipe, Recipe):
        raise RecipeError(f"recipe() in {path} returned {type(recipe).__name__}, expected a Recipe")
    return _described(recipe, module.recipe)


def _described(recipe: Recipe, function) -> Recipe:
    """`recipe` with the first line of `function`'s docstring as its description if it has none:
    a recipe file's `recipe()` docstring is the recipe's summary in `kerascnn list`, so a file run
    by path and the registered recipe read the same."""
    if recipe.description:
        return recipe
    lines = (function.__doc__ or "").strip().splitlines()
    return dataclasses.replace(recipe, description=lines[0] if lines else "")


def _failure(error: BaseException, path: Path) -> str:
    """What went wrong in a recipe file, in a few words: where and which error."""
    if isinstance(error, SyntaxError):
        return f"has a syntax error at line {error.lineno}: {error.msg}"
    lines = [
        frame.lineno
        for frame in traceback.extract_tb(error.__traceback__)
        if Path(frame.filename).resolve() == path.resolve()
    ]
    where = f" at line {lines[-1]}" if lines else ""
    message = (str(error).splitlines() or [""])[0]
    message = message if len(message) <= 200 else message[:197] + "..."
    if isinstance(error, KerasCNNError):
        return f"made an invalid recipe{where}: {message}"
    return f"failed{where}: {type(error).__name__}: {message}"


def of_run(run_dir: str | Path, data_dir: str | None = None) -> Recipe:
    """The recipe a run directory recorded (its `recipe.json`), reading its data from `data_dir`
    (a folder of IDX files) when given, as the run did."""

    from kerascnn import runs  # the registry loads without TensorFlow

    recipe = runs.read_recipe(run_dir)
    return apply_overrides(recipe, {"data.data_dir": data_dir}) if data_dir else recipe


def smoke_version(recipe: Recipe) -> Recipe:
    """The seconds-long version of `recipe`: one epoch on a few hundred images, plus its `smoke` overrides."""
    return apply_overrides(recipe, {**SMOKE_OVERRIDES, **recipe.smoke})


def resolve(
    name_or_path: str | Path | Recipe,
    overrides: Mapping[str, Any] | None = None,
    *,
    from_text: bool = False,
    smoke: bool = False,
) -> Recipe:
    """The recipe to run: looked up (name, file or object), shrunk if `smoke`, then overridden."""
    if isinstance(name_or_path, Recipe):
        recipe = name_or_path
    elif str(name_or_path).endswith((".py", ".json")) or "/" in str(name_or_path):
        recipe = load_file(name_or_path)
    else:
        recipe = get(str(name_or_path))
    if smoke:
        recipe = smoke_version(recipe)
    overrides = dict(overrides or {})
    if "epochs" in overrides and "fallback_epochs" not in overrides:
        # Epochs asked for are what runs, whatever data the run ends up with.
        overrides["fallback_epochs"] = overrides["epochs"]
    return apply_overrides(recipe, overrides, from_text=from_text)


def member_recipes(recipe: Recipe) -> list[Recipe]:
    """An ensemble's members as recipes, resolved (`kerascnn.recipes.members`); [] for others."""

    from kerascnn.recipes.members import member_recipes as resolved_members  # (see train)

    return resolved_members(recipe, resolve)


def check(recipe: Recipe) -> None:
    """Raises a one-line RecipeError for the first thing wrong with `recipe` as a whole (an
    ensemble's members included), before anything is built or written."""

    from kerascnn.training.checks import check_members, check_recipe  # (see train)

    check_recipe(recipe)
    if recipe.members:
        check_members(recipe, member_recipes(recipe))


def train(recipe: Recipe, *, verbose="auto", fresh: bool = False):
    """Trains a resolved recipe (`kerascnn.training.run.run_recipe`), an ensemble's members
    resolved first; returns a `RunResult`."""

    # Here, not at the top: the recipe registry loads without TensorFlow (`kerascnn list`).
    from kerascnn.training.run import run_recipe

    members = member_recipes(recipe) if recipe.members else None
    return run_recipe(recipe, members=members, verbose=verbose, fresh=fresh)


def run(
    name_or_path: str | Path | Recipe,
    *,
    smoke: bool = False,
    verbose="auto",
    fresh: bool = False,
    **overrides,
):
    """Resolves a recipe with `overrides` and trains it; returns a `RunResult`.

    An unfinished run of the same recipe is resumed; a finished one is not trained again unless
    `fresh` (see `kerascnn.training.run.run_recipe`).

    Overrides are recipe fields as keywords (`epochs=2`, `batch_size=64`), nested groups as mappings
    (`optimizer={"learning_rate": 3e-4}`) or dotted keys (`**{"optimizer.learning_rate": 3e-4}`);
    one the resolved recipe would not read is refused (`kerascnn.training.checks.check_overrides`).
    """

    from kerascnn.training.checks import check_overrides  # (see train)

    recipe = resolve(name_or_path, overrides, smoke=smoke)
    check_overrides(recipe, overrides)
    return train(recipe, verbose=verbose, fresh=fresh)


# What a recipe file always states, even where it equals the default.
ESSENTIAL_FIELDS = ("name", "data", "model", "augmentation", "optimizer", "batch_size", "epochs")


def python_source(recipe: Recipe) -> str:
    """The recipe as a runnable recipe file (what `kerascnn show NAME --format python` prints).

    Besides the essentials (data, model, augmentation, optimizer, batch size, epochs), only the
    fields that differ from the dataclass defaults are written, so a file reads as what makes the
    recipe what it is; `kerascnn show NAME` prints every resolved field.
    """
    groups = {f.name: f.type for f in dataclasses.fields(Recipe)}
    lines = []
    used = {"Recipe"}
    for field in dataclasses.fields(recipe):
        value = getattr(recipe, field.name)
        if field.name not in ESSENTIAL_FIELDS and value == _default(field):
            continue
        if dataclasses.is_dataclass(value):
            inner = ", ".join(
                f"{f.name}={getattr(value, f.name)!r}"
                for f in dataclasses.fields(value)
                if f.name == "name" or getattr(value, f.name) != _default(f)
            )
            lines.append(f"        {field.name}={groups[field.name]}({inner}),")
            used.add(groups[field.name])
        else:
            lines.append(f"        {field.name}={value!r},")
    body = "\n".join(lines)
    return (
        f"from kerascnn.recipes import {', '.join(sorted(used))}\n\n\n"
        f"def recipe() -> Recipe:\n    return Recipe(\n{body}\n    )\n"
    )


def _default(field: dataclasses.Field):
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return field.default


__all__ = [
    "check",
    "member_recipes",
    "of_run",
    "train",
    "CallbackConfig",
    "DataConfig",
    "ExportConfig",
    "ModelConfig",
    "OptimizerConfig",
    "Recipe",
    "TransferConfig",
    "apply_overrides",
    "from_dict",
    "get",
    "list_recipes",
    "load_file",
    "parse_assignments",
    "python_source",
    "register_recipe",
    "resolve",
    "run",
    "smoke_version",
    "to_dict",
]
