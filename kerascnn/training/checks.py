"""Checks of a whole recipe, before anything is built or written: the ones that need the
registries, several fields at once, or the recipe's task (each field's own type and range was
checked when the recipe was made, `kerascnn.config`).

No setting is silently ignored: a field the recipe would not read (`unread_settings`) is refused
when it holds neither its default nor a harmless value, and `check_overrides` also refuses the
ones a user names explicitly. The task decides what it reads (`Task.unread_settings`); the rules
here are those of the optimizer, the callbacks, the data source and ensembles.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from kerascnn.config import Recipe
from kerascnn.errors import RecipeError
from kerascnn.models import check_recipe_arguments
from kerascnn.overrides import apply_overrides
from kerascnn.registry import augmentations
from kerascnn.training.tasks import TASKS, Unread, task_of
from kerascnn.training.transfer import IMAGENET, check_imagenet, source_path

# What members take from the ensemble, so that all of them see the same data and run alike.
INHERITED = ("runs_dir", "precision", "strategy", "deterministic")


def check_recipe(recipe: Recipe) -> None:
    """Raises a one-line RecipeError for the first thing wrong with `recipe` as a whole. An
    ensemble's own fields are checked here; its members, resolved, by `check_members`."""
    if recipe.smoke:
        try:
            apply_overrides(recipe, recipe.smoke)
        except RecipeError as error:
            raise RecipeError(f"smoke (the --smoke version's overrides): {error}") from None
    if recipe.members:
        return
    task = task_of(recipe)
    augmentations.get(recipe.augmentation)
    check_recipe_arguments(recipe.model.name, dict(recipe.model.args))
    task.check(recipe)
    for key, unread in unread_settings(recipe).items():
        value = _value_at(recipe, key)
        if not unread.explicit_only and value not in (*unread.harmless, _default_at(key)):
            raise RecipeError(unread.message)
    if recipe.transfer.init_from == IMAGENET:
        check_imagenet(recipe)
    elif recipe.transfer.init_from:
        source_path(recipe.transfer.init_from)
    if recipe.transfer.frozen_epochs >= recipe.epochs:
        raise RecipeError(
            f"transfer.frozen_epochs ({recipe.transfer.frozen_epochs}) must be fewer than the "
            f"epochs ({recipe.epochs}), so that the whole model trains in the end"
        )


def check_members(recipe: Recipe, members: list[Recipe]) -> None:
    """The checks of an ensemble's resolved members, before anything trains."""
    for member in members:
        check_recipe(member)
        if member.members:
            raise RecipeError(f"member {member.name!r} of {recipe.name!r} is itself an ensemble")
        if task_of(member).name != "classification":
            raise RecipeError(
                f"member {member.name!r} of {recipe.name!r} is not a classifier; "
                "ensembles average class probabilities"
            )


def check_overrides(recipe: Recipe, overrides) -> None:
    """Refuses each override (a flag, `--set KEY=VALUE`, a keyword of `recipes.run`) that `recipe`,
    resolved with them, would not read, unless its value is harmless (None, 0, off): a user who
    names a setting expects it to act. Mappings of a group (`optimizer={...}`) count key by key."""
    unread = unread_settings(recipe)
    for key in _override_keys(recipe, overrides):
        for prefix in _prefixes(key):
            rule = unread.get(prefix)
            if rule is not None and _value_at(recipe, key) not in rule.harmless:
                raise RecipeError(rule.message)


def check_batch_size(recipe: Recipe, num_train: int) -> None:
    """Refuses a batch larger than the training set (known once the data is loaded), which would
    make every epoch a single step."""
    if recipe.batch_size > num_train:
        limits = []
        if recipe.data.train_limit:
            limits.append(f"data.train_limit {recipe.data.train_limit}")
        if recipe.data.validation == "holdout":
            limits.append(f"after the holdout of {recipe.data.holdout_fraction:g}")
        shown = f" ({', '.join(limits)})" if limits else ""
        raise RecipeError(
            f"batch_size {recipe.batch_size} is larger than the training set, {num_train} "
            f"images{shown}: every epoch would be one step; use a batch size of at most "
            f"{num_train} (--batch-size)"
        )


# What an ensemble reads itself; its members train with their own recipes' settings.
ENSEMBLE_FIELDS = (
    "name",
    "description",
    "data",
    "batch_size",
    "precision",
    "strategy",
    "deterministic",
    "runs_dir",
    "export",
    "members",
    "target_accuracy",
    "source",
    "smoke",
)


def unread_settings(recipe: Recipe) -> dict[str, Unread]:
    """The fields `recipe` would not read, by dotted key (see `Unread`); `offline_fallback` is
    never among them: where no fallback can happen, forbidding one changes nothing."""
    if recipe.members:
        return _unread_by_an_ensemble(recipe)
    task = task_of(recipe)
    return {
        **_unread_targets(recipe),
        **_unread_by_the_transfer(recipe),
        **_unread_by_the_optimizer(recipe.optimizer),
        **_unread_by_the_callbacks(recipe),
        **_unread_by_the_data(recipe),
        **task.unread_settings(recipe),
    }


def _unread_by_an_ensemble(recipe: Recipe) -> dict[str, Unread]:
    passed = _listed(("data", *INHERITED))
    example = recipe.members[0].get("recipe", "NAME")
    return {
        key: Unread(
            f"{key} is not used by the ensemble {recipe.name!r}: its members train with their "
            f"own recipes' settings, and it passes on only {passed}; set it in each member, e.g. "
            f"members=[{{'recipe': {example!r}, '{key}': ...}}, ...]",
            explicit_only=True,
        )
        for key in _leaf_keys()
        if key.split(".")[0] not in ENSEMBLE_FIELDS
    }


def _unread_targets(recipe: Recipe) -> dict[str, Unread]:
    """The other tasks' figures (a classifier's recipe states no Inception Score)."""
    task, model = task_of(recipe), recipe.model.name
    return {
        other.target_field: Unread(
            f"{other.target_field} is the figure of {other.kind}'s recipe; {model!r} is "
            f"{task.kind}, whose figure is {task.target_field}",
            (None,),
        )
        for other in TASKS.values()
        if other.target_field != task.target_field  # R-CNN's and Faster R-CNN's: one figure
    }


def _unread_by_the_transfer(recipe: Recipe) -> dict[str, Unread]:
    transfer, rules = recipe.transfer, {}
    if not transfer.init_from:
        rules["transfer.frozen_epochs"] = Unread(
            "transfer.frozen_epochs trains a transferred model's head alone first, but there is "
            "no transfer.init_from (--init-from) to transfer from; add one or remove the setting",
            (0,),
        )
    if not transfer.init_from or not transfer.frozen_epochs:
        rules["transfer.learning_rate_factor"] = Unread(
            "transfer.learning_rate_factor lowers the learning rate after the head-only epochs, "
            "but without transfer.init_from and transfer.frozen_epochs >= 1 every epoch uses "
            "optimizer.learning_rate; set both or remove the setting",
        )
    return rules


def _unread_by_the_optimizer(optimizer) -> dict[str, Unread]:
    name, schedule = optimizer.name, optimizer.schedule
    rules = {}
    if name not in ("sgd", "rmsprop"):
        rules["optimizer.momentum"] = Unread(
            f"optimizer.momentum is for sgd and rmsprop; optimizer.name is {name!r} "
            "(Adam's momentum is optimizer.beta_1)",
            (0.0,),
        )
    if name != "sgd":
        rules["optimizer.nesterov"] = Unread(
            f"optimizer.nesterov is for sgd; optimizer.name is {name!r}", (False,)
        )
    if name not in ("adam", "adamw"):
        rules["optimizer.beta_1"] = Unread(
            f"optimizer.beta_1 is for adam and adamw; optimizer.name is {name!r} "
            "(its momentum is optimizer.momentum)",
            (None,),
        )
    if name == "sgd":
        rules["optimizer.epsilon"] = Unread(
            "optimizer.epsilon is for adam, adamw and rmsprop; optimizer.name is 'sgd'", (None,)
        )
    if schedule != "cosine":
        rules["optimizer.schedule_epochs"] = Unread(
            "optimizer.schedule_epochs is the span of a cosine schedule; got schedule "
            f"{schedule!r}, whose steps come from optimizer.decay_epochs",
            (None,),
        )
        rules["optimizer.warmup_epochs"] = Unread(
            f"optimizer.warmup_epochs needs optimizer.schedule='cosine', got schedule {schedule!r}",
            (0.0,),
        )
    for field, schedules in (
        ("decay_rate", ("exponential", "step", "plateau")),
        ("decay_epochs", ("exponential", "step")),
        ("plateau_patience", ("plateau",)),
    ):
        if schedule not in schedules:
            rules[f"optimizer.{field}"] = Unread(
                f"optimizer.{field} is for the {_listed(schedules)} schedule"
                f"{'s' * (len(schedules) > 1)}; optimizer.schedule is {schedule!r}; set "
                f"optimizer.schedule={schedules[0]!r} or remove the setting",
                explicit_only=True,
            )
    return rules


def _unread_by_the_callbacks(recipe: Recipe) -> dict[str, Unread]:
    callbacks, rules = recipe.callbacks, {}
    if not callbacks.tensorboard:
        off = "but callbacks.tensorboard is false; turn it on or remove the setting"
        rules["callbacks.histogram_freq"] = Unread(
            f"callbacks.histogram_freq sets TensorBoard's weight histograms, {off}", (0,)
        )
        rules["callbacks.profile_batches"] = Unread(
            f"callbacks.profile_batches records a TensorBoard profile, {off}", (None,)
        )
    if not callbacks.checkpoint:
        rules["callbacks.checkpoint_every"] = Unread(
            "callbacks.checkpoint_every sets how often the checkpoint is written, but "
            "callbacks.checkpoint is false; turn it on or remove the setting",
            (None,),
        )
    if not recipe.export.enabled:
        # Explicit only: a multi-worker run points the other workers' exports elsewhere.
        rules["export.directory"] = Unread(
            "export.directory is not used: export.enabled is false (--no-export); remove one "
            "of them",
            explicit_only=True,
        )
    return rules


def _unread_by_the_data(recipe: Recipe) -> dict[str, Unread]:
    data = recipe.data
    rules = {}
    if data.validation != "holdout":
        rules["data.holdout_fraction"] = Unread(
            "data.holdout_fraction is read only with data.validation='holdout', and "
            f"data.validation is {data.validation!r}; add --set data.validation=holdout or "
            "remove the setting"
        )
    source, folder = task_of(recipe).data_source(recipe)
    instead = {
        "folder": f"the folder {folder} is read instead of tfds",
        "bundled": f"data.name {data.name!r} is the bundled sample, used instead of tfds",
        "scenes": f"data.name {data.name!r} is generated, not read from tfds",
    }
    if source != "tfds":
        rules["data.tfds_data_dir"] = Unread(
            f"data.tfds_data_dir is not read: {instead[source]}; remove one of them", (None,)
        )
    if source == "bundled":
        rules["data.data_dir"] = Unread(
            f"data.data_dir is not read: data.name {data.name!r} is the bundled sample, which "
            f"would be used instead; remove --dataset {data.name} to read {data.data_dir}, or "
            "--data-dir to train on the sample",
            (None,),
        )
    return rules


def _listed(words) -> str:
    """('a', 'b', 'c') -> 'a, b and c'."""
    return " and ".join(filter(None, [", ".join(words[:-1]), words[-1]]))


def _leaf_keys(cls=Recipe, prefix: str = ""):
    """Every field's dotted key (`optimizer.learning_rate`; `model.args` is one field)."""
    for field in dataclasses.fields(cls):
        default = field.default
        if dataclasses.is_dataclass(default):
            yield from _leaf_keys(type(default), f"{prefix}{field.name}.")
        else:
            yield prefix + field.name


def _prefixes(key: str) -> list[str]:
    """'a.b.c' -> ['a.b.c', 'a.b', 'a']."""
    parts = key.split(".")
    return [".".join(parts[:n]) for n in range(len(parts), 0, -1)]


def _value_at(recipe: Recipe, key: str):
    """The value at a dotted key; inside `model.args` its entry (None when absent)."""
    value = recipe
    for part in key.split("."):
        value = value.get(part) if isinstance(value, Mapping) else getattr(value, part, None)
    return value


def _default_at(key: str):
    value = None
    cls = Recipe
    for part in key.split("."):
        field = next(f for f in dataclasses.fields(cls) if f.name == part)
        if field.default_factory is not dataclasses.MISSING:
            value = field.default_factory()
        else:
            value = field.default
        cls = type(value)
    return value


def _override_keys(recipe: Recipe, overrides, prefix: str = ""):
    """The dotted keys that `overrides` set, a group's mapping key by key."""
    for key, value in overrides.items():
        key = f"{prefix}{key}"
        if isinstance(value, Mapping) and dataclasses.is_dataclass(_value_at(recipe, key)):
            yield from _override_keys(recipe, value, f"{key}.")
        else:
            yield key
