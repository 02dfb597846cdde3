"""The one function that wires a run: data, model, compile, fit, evaluate, export, records.

Everything that can be wrong with the request (names, overrides, data files, input sizes) is checked
before the run directory is made, so a bad request leaves nothing under `runs/` or `saved_models/`.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import sys
import time
from datetime import datetime
from pathlib import Path

import keras
import tensorflow as tf

import kerascnn
from kerascnn import files, viz
from kerascnn.config import Recipe, to_dict
from kerascnn.data import TrainingStream, batches, create_augmentation, load_dataset
from kerascnn.errors import KerasCNNError, RecipeError, TrainingError
from kerascnn.export import export_model
from kerascnn.inspection import InspectionLogger
from kerascnn.models import check_recipe_arguments
from kerascnn.registry import augmentations
from kerascnn.training import cluster, resume
from kerascnn.training.callbacks import (
    EpochTimeForecast,
    GracefulInterrupt,
    NonFiniteLossGuard,
    image_log_dir,
    make_callbacks,
)
from kerascnn.training.runtime import make_strategy, precision_policy, resolve_precision
from kerascnn.training.tasks import task_of

FINAL_MODEL = "model.keras"


@dataclasses.dataclass
class RunResult:
    """What a run produced: the trained model, its history and metrics, and where its files went."""

    recipe: Recipe
    model: keras.Model
    history: dict[str, list[float]]
    metrics: dict
    run_dir: Path
    export_dir: Path | None
    notice: str = ""
    headline: str = ""

    def summary(self) -> str:
        m = self.metrics
        lines = [
            f"{self.recipe.name}: {'DID NOT LEARN: ' * (m.get('learned') is False)}"
            f"{self.headline} on {m['data']['source']}, "
            f"{m['epochs']} epoch{'s' * (m['epochs'] != 1)} in {m['train_seconds']:.0f} s",
            f"  run dir:     {self.run_dir}",
            f"  tensorboard: tensorboard --logdir {self.run_dir / 'tensorboard'}",
        ]
        if self.export_dir is not None:
            lines.append(
                f"  export:      {self.export_dir}  "
                f"(saved_model_cli show --all --dir {self.export_dir})"
            )
        if self.notice:
            lines.append(f"  NOTE: {self.notice}")
        if self.metrics.get("learning_failure"):
            lines.append(f"  WARNING: {self.metrics['learning_failure']}")
        if self.recipe.strategy == "multi_worker" and not cluster.is_chief(
            cluster.cluster_config()
        ):
            lines.append("  NOTE: this worker's copies (scratch); the chief wrote the run's own")
        return "\n".join(lines)


def show(result: RunResult) -> None:
    """Prints a finished run's summary; a run that did not learn is also announced loudly."""
    print(result.summary(), file=sys.stdout, flush=True)
    if result.metrics.get("learning_failure"):
        announce(result.metrics["learning_failure"])


def announce(note: str) -> None:
    """A notice nobody should miss, on stderr."""
    print("\n".join(["", "!" * 100, f"!! {note}", "!" * 100, ""]), file=sys.stderr, flush=True)


def check_recipe(recipe: Recipe) -> None:
    """The checks that need the registries or several fields at once; each field's type and range
    was checked when the recipe was made (`kerascnn.config`).

    A setting this recipe would not read (`unread_settings`) is refused when it holds neither its
    default nor a harmless value, so nothing a recipe states is silently ignored; `check_overrides`
    also refuses the ones a user names explicitly. An ensemble's members are checked as recipes;
    of the ensemble itself only what it reads (`ENSEMBLE_FIELDS`).
    """
    task = task_of(recipe)
    if recipe.smoke:
        from kerascnn.overrides import apply_overrides

        try:
            apply_overrides(recipe, recipe.smoke)
        except RecipeError as error:
            raise RecipeError(f"smoke (the --smoke version's overrides): {error}") from None
    if recipe.members:
        from kerascnn.training import ensemble

        ensemble.check_members(recipe)
        return
    augmentations.get(recipe.augmentation)
    check_recipe_arguments(recipe.model.name, dict(recipe.model.args))
    if task.name != "classification" and recipe.optimizer.schedule == "plateau":
        raise RecipeError(
            f"optimizer.schedule='plateau' is for classifiers; {recipe.model.name!r} is not one"
        )
    if task.name == "captioning" and recipe.augmentation != "none":
        raise RecipeError(
            f"augmentation {recipe.augmentation!r} would make captions wrong (a flipped scene "
            "swaps left and right, a colour change renames colours); use augmentation 'none' "
            "for captioning"
        )
    _check_data_name(recipe, task.name)
    for key, unread in unread_settings(recipe).items():
        value = _value_at(recipe, key)
        if not unread.explicit_only and value not in (*unread.harmless, _default_at(key)):
            raise RecipeError(unread.message)
    if recipe.transfer.init_from:
        from kerascnn.training.transfer import source_path

        source_path(recipe.transfer.init_from)
    if recipe.transfer.frozen_epochs >= recipe.epochs:
        raise RecipeError(
            f"transfer.frozen_epochs ({recipe.transfer.frozen_epochs}) must be fewer than the "
            f"epochs ({recipe.epochs}), so that the whole model trains in the end"
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


@dataclasses.dataclass(frozen=True)
class Unread:
    """A recipe field that a recipe would not read: the one-line error that says why and what is
    used instead, and the values of it that are harmless (they leave off what it controls).
    `explicit_only`: judged only when a user sets it (`check_overrides`), because the recipe's
    own value is in every recipe and may just be left from before an override (a decay rate
    after switching to the cosine schedule)."""

    message: str
    harmless: tuple = ()
    explicit_only: bool = False


KINDS = {"classification": "a classifier", "gan": "a GAN", "captioning": "a captioner"}
TARGETS = {
    "classification": "target_accuracy",
    "gan": "target_inception_score",
    "captioning": "target_bleu4",
}
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
    task = task_of(recipe).name
    return {
        **_unread_by_the_task(recipe, task),
        **_unread_by_the_optimizer(recipe.optimizer),
        **_unread_by_the_callbacks(recipe, task),
        **_unread_by_the_data(recipe, task),
    }


def _unread_by_an_ensemble(recipe: Recipe) -> dict[str, Unread]:
    from kerascnn.training.ensemble import INHERITED

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


def _unread_by_the_task(recipe: Recipe, task: str) -> dict[str, Unread]:
    model, kind = recipe.model.name, KINDS[task]
    rules = {
        field: Unread(
            f"{field} is the figure of {KINDS[other]}'s recipe; {model!r} is {kind}, whose "
            f"figure is {TARGETS[task]}",
            (None,),
        )
        for other, field in TARGETS.items()
        if other != task
    }
    if task == "captioning":
        rules["label_smoothing"] = Unread(
            f"label_smoothing is for classifiers and GANs; {model!r} is neither (remove it)", (0.0,)
        )
    if task != "gan":
        rules["optimizer.discriminator_learning_rate"] = Unread(
            f"optimizer.discriminator_learning_rate is for GANs; {model!r} has no "
            "discriminator (set optimizer.learning_rate)",
            (None,),
        )
    if task == "gan":
        rules["steps_per_execution"] = Unread(
            f"steps_per_execution is not used by a GAN: {model!r} runs its own training step "
            "once per batch; remove the setting",
            (1,),
        )
    if task != "classification":
        rules["transfer.init_from"] = Unread(
            f"transfer.init_from is for classifiers; {model!r} is not one", (None,)
        )
        rules["data.validation"] = Unread(
            f"data.validation is for classifiers; {model!r} is {kind}, scored on the test split "
            "after training and never validated during it (a holdout would only take images "
            "from training); use data.validation='none'",
            ("none",),
        )
    transfer = recipe.transfer
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


def _unread_by_the_callbacks(recipe: Recipe, task: str) -> dict[str, Unread]:
    callbacks, model, kind = recipe.callbacks, recipe.model.name, KINDS[task]
    rules = {}
    if task == "classification":
        for field in ("sample_grid", "quality_examples", "quality_every"):
            rules[f"callbacks.{field}"] = Unread(
                f"callbacks.{field} is for GANs and captioners; {model!r} is a classifier, "
                "whose run shows callbacks.inspect_examples held-out images instead"
            )
        if recipe.data.validation == "none":
            rules["callbacks.early_stopping_patience"] = Unread(
                "callbacks.early_stopping_patience stops when the validation loss stops "
                "improving, but data.validation is 'none'; validate on 'test' or 'holdout', "
                "or remove the setting",
                (None,),
            )
        if recipe.data.validation == "none":
            rules["callbacks.stop_at_accuracy"] = Unread(
                "callbacks.stop_at_accuracy stops at a validation accuracy, but data.validation "
                "is 'none'; validate on 'test' or 'holdout', or remove the setting",
                (None,),
            )
    else:
        rules["callbacks.stop_at_accuracy"] = Unread(
            f"callbacks.stop_at_accuracy is for classifiers; {model!r} is {kind}, which has no "
            "accuracy; remove the setting",
            (None,),
        )
        rules["callbacks.inspect_examples"] = Unread(
            "callbacks.inspect_examples is for classifiers (a confusion matrix of held-out "
            f"images); {model!r} is {kind}, whose run shows callbacks.sample_grid "
            f"{'samples' if task == 'gan' else 'captioned test images'} instead",
            (0,),
        )
        rules["callbacks.early_stopping_patience"] = Unread(
            "callbacks.early_stopping_patience stops when the validation loss stops improving; "
            f"{model!r} is {kind}, which has none; remove the setting",
            (None,),
        )
    if not callbacks.tensorboard:
        off = "but callbacks.tensorboard is false; turn it on or remove the setting"
        rules["callbacks.histogram_freq"] = Unread(
            f"callbacks.histogram_freq sets TensorBoard's weight histograms, {off}", (0,)
        )
        rules["callbacks.profile_batches"] = Unread(
            f"callbacks.profile_batches records a TensorBoard profile, {off}", (None,)
        )
        if task == "classification":
            rules["callbacks.inspect_examples"] = Unread(
                f"callbacks.inspect_examples shows held-out images in TensorBoard, {off}", (0,)
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


def _data_source(recipe: Recipe, task: str) -> tuple[str, str | None]:
    """(what the data is read from: 'tfds', 'folder', 'bundled' or 'scenes'; the folder)."""
    import os

    from kerascnn.data.captioned import COCO, SCENES
    from kerascnn.data.sources import BUNDLED_SAMPLE, DATA_DIR_ENV

    data = recipe.data
    if task == "captioning":
        if data.data_dir:
            return "folder", data.data_dir
        if data.name == SCENES:
            return "scenes", None
        return ("tfds", None) if data.name == COCO else ("folder", os.environ.get(DATA_DIR_ENV))
    if data.name == BUNDLED_SAMPLE:
        return "bundled", None
    folder = data.data_dir or os.environ.get(DATA_DIR_ENV)
    return ("folder", folder) if folder else ("tfds", None)


def _unread_by_the_data(recipe: Recipe, task: str) -> dict[str, Unread]:
    data = recipe.data
    rules = {}
    if data.validation != "holdout":
        rules["data.holdout_fraction"] = Unread(
            "data.holdout_fraction is read only with data.validation='holdout', and "
            f"data.validation is {data.validation!r}; add --set data.validation=holdout or "
            "remove the setting"
        )
    if task != "classification":
        rules["data.label_mode"] = Unread(
            f"data.label_mode chooses class labels; {recipe.model.name!r} is {KINDS[task]}, "
            "which learns no labels; remove the setting",
            ("fine",),
        )
    source, folder = _data_source(recipe, task)
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
    if source == "folder" and task == "captioning" and data.name == "scenes":
        rules["data.name"] = Unread(
            f"data.name 'scenes' reads no folder, and with data.data_dir {data.data_dir} the "
            "folder is read (as Flickr8k) instead; remove --dataset scenes to train on the "
            "folder, or --data-dir to train on the scenes",
            explicit_only=True,
        )
    return rules


def _check_data_name(recipe: Recipe, task: str) -> None:
    """Captioned images for captioners only, and only what a captioned source can honour."""
    from kerascnn.data import captioned

    if task == "captioning":
        captioned.check_config(recipe.data)
    elif recipe.data.name in captioned.CAPTIONED and not recipe.data.data_dir:
        raise RecipeError(
            f"data.name {recipe.data.name!r} is captioned images, for captioning recipes; "
            f"{recipe.model.name!r} is {KINDS[task]}, which needs images with class labels: "
            "a tfds name (mnist, cifar10 ...), mnist_sample, or --data-dir"
        )


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
    from collections.abc import Mapping

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
    from collections.abc import Mapping

    for key, value in overrides.items():
        key = f"{prefix}{key}"
        if isinstance(value, Mapping) and dataclasses.is_dataclass(_value_at(recipe, key)):
            yield from _override_keys(recipe, value, f"{key}.")
        else:
            yield key


# Room for records and figures besides the model files.
OUTPUT_MARGIN_BYTES = 64 * 2**20


def fit_to_fallback(recipe: Recipe, data):
    """(recipe, data, planned epochs or None): a run whose data fell back to the bundled sample
    trains the recipe's `fallback_epochs` instead of the epochs planned for the full data, and its
    data note (printed, and recorded in metrics.json) says so."""
    epochs = recipe.fallback_epochs
    if not data.info.fallback or epochs is None or epochs == recipe.epochs:
        return recipe, data, None
    note = (
        f"{data.info.note} This run trains {epochs} epoch{'s' * (epochs != 1)} of it (the "
        f"recipe's fallback_epochs) instead of the {recipe.epochs} planned for the full data; "
        "--epochs N chooses."
    )
    info = dataclasses.replace(data.info, note=note)
    return (
        dataclasses.replace(recipe, epochs=epochs),
        dataclasses.replace(data, info=info),
        recipe.epochs,
    )


def check_outputs(recipe: Recipe, parameters: int) -> None:
    """Checks, before training, that the run and export folders can be written and have room:
    a checkpoint (model and optimizer state, and its staging copy) and an export (SavedModel and
    .keras) are each a few times the size of the weights."""
    weights = 4 * parameters
    files.check_writable(
        recipe.runs_dir,
        what="runs directory",
        flag="--runs-dir",
        needed_bytes=8 * weights + OUTPUT_MARGIN_BYTES,
    )
    if recipe.export.enabled:
        files.check_writable(
            recipe.export.directory,
            what="export directory",
            flag="--export-dir",
            needed_bytes=4 * weights + OUTPUT_MARGIN_BYTES,
        )


def diverged_message(failure, run_dir: Path, recipe: Recipe) -> str:
    """What a user reads when the loss stopped being a number: where, what was kept, what to try."""
    epoch, step, name, value = failure
    kept = (
        f"the last good checkpoint is {run_dir / resume.CHECKPOINT}"
        if resume.has_checkpoint(run_dir)
        else "no checkpoint was reached, so there is none"
    )
    return (
        f"training diverged: {name} became {value} at epoch {epoch}, step {step}; nothing was "
        f"exported and {kept}; lower the learning rate (now {recipe.optimizer.learning_rate:g}, "
        "--learning-rate) or clip gradients (--set optimizer.clipnorm=1.0)"
    )


def new_run_dir(recipe: Recipe) -> Path:
    base = Path(recipe.runs_dir) / recipe.name
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    for suffix in [""] + [f"-{i}" for i in range(1, 100)]:
        run_dir = base / f"{stamp}{suffix}"
        try:
            run_dir.mkdir(parents=True)
            return run_dir
        except FileExistsError:
            continue
        except OSError as error:
            raise KerasCNNError(
                f"cannot create the run directory {run_dir}: {error.strerror}; "
                "choose a writable --runs-dir"
            ) from None
    raise KerasCNNError(f"too many runs of {recipe.name} started this second under {base}")


def run_recipe(recipe: Recipe, *, verbose="auto", fresh: bool = False) -> RunResult:
    """Trains `recipe` end to end and returns a `RunResult`; prints where everything went.

    An unfinished run of the same recipe (same `recipe.json`) under `runs_dir` is resumed from its
    checkpoint; a finished one is not trained over: that raises, unless `fresh` starts a new run.
    """
    recipe = cluster.local_outputs(recipe)
    if recipe.members:
        return run_ensemble(recipe, verbose=verbose, fresh=fresh)
    check_recipe(recipe)
    record = to_dict(recipe)
    continued = resume.find_run(recipe.runs_dir, recipe.name, record, fresh=fresh)
    # First: a multi-worker strategy must exist before TensorFlow runs anything.
    strategy = make_strategy(recipe.strategy)
    if recipe.deterministic:
        tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(recipe.seed)
    policy, why = resolve_precision(recipe.precision)
    if why:
        print(f"precision auto: {policy}, because {why}", flush=True)
    with precision_policy(recipe.precision):
        task = task_of(recipe)
        data = task.load(recipe.data)
        recipe, data, planned_epochs = fit_to_fallback(recipe, data)
        check_batch_size(recipe, data.info.num_train)
        with strategy.scope():
            model = task.build(recipe, data)
        check_outputs(recipe, model.count_params())

        if data.info.notice:
            announce(data.info.notice)

        def preparing(count: int, split: str) -> str | None:
            return f"preparing {count} {split} images" if verbose != 0 else None

        stream = TrainingStream(
            data.train,
            batch_size=recipe.batch_size,
            seed=recipe.seed,
            augmentation=create_augmentation(
                recipe.augmentation, image_shape=data.info.image_shape, seed=recipe.seed
            ),
            sequential_augmentation=recipe.deterministic,
            progress=preparing(data.info.num_train, "training"),
            targets=task.stream_targets(model, data),
        )
        test = batches(
            data.test,
            batch_size=recipe.batch_size,
            progress=preparing(data.info.num_test, "test"),
        )
        if data.validation is None or not task.evaluates_held_out:
            validation = None
        elif recipe.data.validation == "test":
            validation = test  # one pipeline and one cache for both
        else:
            validation = batches(
                data.validation,
                batch_size=recipe.batch_size,
                progress=preparing(data.info.num_validation, "validation"),
            )
        prepared = task.prepare(recipe, data, test)
        progress, best_weights = resume.Progress(), None
        if continued is None:
            run_dir = new_run_dir(recipe)
            files.write_json(run_dir / "recipe.json", record)
        else:
            run_dir = continued
            if resume.has_checkpoint(run_dir):
                task.start_phase(model, recipe, data.info, resume.read_progress(run_dir).epoch)
                with strategy.scope():
                    progress, best_weights = resume.restore(model, run_dir)
            print(f"resuming {run_dir} {_position(progress, recipe)}", flush=True)
            keep_history(run_dir / "history.csv", progress.epoch)
        cluster.check_same_position(strategy, progress.epoch, progress.step)
        (run_dir / "checkpoints").mkdir(exist_ok=True)
        started_at = {"epoch": progress.epoch + 1, "step": progress.step + 1}
        started = time.perf_counter()
        guard = NonFiniteLossGuard()
        interrupt = GracefulInterrupt()
        callbacks = make_callbacks(
            recipe.callbacks,
            run_dir,
            inspection=InspectionLogger(
                image_log_dir(recipe.callbacks, run_dir),
                train=stream.dataset(),
                held_out=test if validation is None else validation,
                class_names=data.info.class_names,
                examples_per_epoch=stream.examples,
                batch_size=recipe.batch_size,
                update_freq=recipe.callbacks.update_freq,
                examples=recipe.callbacks.inspect_examples if task.evaluates_held_out else 0,
                progress=progress,
            ),
            guard=guard,
            task_callbacks=[
                *task.callbacks(recipe, run_dir, prepared),
                *([EpochTimeForecast(planned_epochs, recipe.epochs)] if planned_epochs else []),
            ],
            progress=progress,
            best_weights=best_weights,
            interrupt=interrupt,
        )
        with interrupt:
            try:
                fit_epochs(
                    model, task, recipe, data.info, stream, validation, callbacks, progress, verbose
                )
            except KeyboardInterrupt:  # a second Ctrl-C
                interrupted(run_dir)
                raise
        if interrupt.requested and guard.failure is None:
            interrupted(run_dir)
            raise KeyboardInterrupt
        train_seconds = time.perf_counter() - started
        if guard.failure is not None:
            raise TrainingError(diverged_message(guard.failure, run_dir, recipe))
        history = read_history(run_dir / "history.csv")
        with strategy.scope():
            model, scores = task.evaluate(model, recipe, test, prepared, verbose=verbose)

        if continued is not None:
            scores["resumed_at"] = started_at
        metrics, export_dir = finish(
            recipe, task, model, scores, history, data, strategy, test, run_dir, train_seconds
        )
    result = RunResult(
        recipe,
        model,
        history,
        metrics,
        run_dir,
        export_dir,
        data.info.notice,
        task.headline(metrics),
    )
    show(result)
    return result


def finish(recipe, task, model, scores, history, data, strategy, test, run_dir, train_seconds):
    """The end of every run: metrics, export, curves, final model, and last the metrics file that
    marks the run finished. Returns (metrics, export directory or None)."""
    metrics = {
        "task": task.name,
        "epochs": len(next(iter(history.values()), [])),
        "train_seconds": round(train_seconds, 1),
        "parameters": int(model.count_params()),
        "precision": resolve_precision(recipe.precision)[0],
        "strategy": recipe.strategy,
        "replicas": strategy.num_replicas_in_sync,
        "data": dataclasses.asdict(data.info),
        "versions": {
            "kerascnn": kerascnn.__version__,
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
        },
        "finished": datetime.now().isoformat(timespec="seconds"),
        **scores,
    }
    failure = task.learning_failure(metrics, history)
    if failure is not None:
        metrics["learned"] = not failure
    if failure:
        metrics["learning_failure"] = failure
    export_dir = None
    if recipe.export.enabled:
        exported, sample = task.export_parts(model, recipe, test)
        export_dir = export_model(
            exported,
            recipe.export.directory,
            recipe.name,
            sample=sample,
            records={"recipe.json": to_dict(recipe), "metrics.json": metrics},
        )
        metrics["export_dir"] = str(export_dir)
    if history:
        viz.plot_history(history, run_dir / "curves.png", title=recipe.name)
    # The model as evaluated (averaged weights, main head): what --init-from and ensembles use.
    with files.atomic_path(run_dir / FINAL_MODEL) as temporary:
        model.save(temporary)
    # Last: a run with metrics.json is finished (see resume.find_run).
    files.write_json(run_dir / "metrics.json", metrics)
    return metrics, export_dir


def run_ensemble(recipe: Recipe, *, verbose="auto", fresh: bool = False) -> RunResult:
    """Trains (or reuses) an ensemble's members, then evaluates and exports their average
    (`kerascnn.training.ensemble`)."""
    from kerascnn.training import ensemble

    ensemble.check_members(recipe)
    # Before hours of member training; the ensemble's size is not known yet, only writability.
    check_outputs(recipe, 0)
    continued = resume.find_run(recipe.runs_dir, recipe.name, to_dict(recipe), fresh=fresh)
    task = task_of(recipe)
    with precision_policy(recipe.precision):
        data = load_dataset(recipe.data)
        if data.info.notice:
            announce(data.info.notice)
        test = batches(data.test, batch_size=recipe.batch_size)
        trained = ensemble.train_members(recipe, verbose=verbose, fresh=fresh)
        # The members' own training times, also of those reused: what the ensemble cost.
        train_seconds = sum(m["train_seconds"] for _, m in trained)
        strategy = make_strategy(recipe.strategy)
        with strategy.scope():
            model = ensemble.average_model(recipe, [m for m, _ in trained], data.info.image_shape)
        evaluation = model.evaluate(test, return_dict=True, verbose=verbose)
        run_dir = continued or new_run_dir(recipe)
        files.write_json(run_dir / "recipe.json", to_dict(recipe))
        scores = {
            "test_accuracy": float(evaluation["accuracy"]),
            "test_loss": float(evaluation["loss"]),
            "members": ensemble.describe([m for _, m in trained]),
            "epochs": sum(m["epochs"] for _, m in trained),
        }
        metrics, export_dir = finish(
            recipe, task, model, scores, {}, data, strategy, test, run_dir, train_seconds
        )
    result = RunResult(
        recipe, model, {}, metrics, run_dir, export_dir, data.info.notice, task.headline(metrics)
    )
    show(result)
    ensemble.print_members([m for _, m in trained])
    return result


def fit_epochs(model, task, recipe, info, stream, validation, callbacks, progress, verbose):
    """Trains from `progress` to the last epoch, one `fit` call per part: a resumed epoch's
    remaining steps, then whole epochs up to the end or to the next training phase (transfer
    learning's head-only epochs come first)."""
    parts = []
    first = progress.epoch
    if progress.step and first < recipe.epochs:
        parts.append((first, first + 1, progress.step))
        first += 1
    boundaries = sorted({recipe.transfer.frozen_epochs, recipe.epochs} - {0})
    for boundary in boundaries:
        if first < boundary <= recipe.epochs:
            parts.append((first, boundary, 0))
            first = boundary
    for index, (initial_epoch, epochs, skip) in enumerate(parts):
        task.start_phase(model, recipe, info, initial_epoch)
        last = index == len(parts) - 1
        with contextlib.nullcontext() if last else averaging_deferred(model):
            model.fit(
                task.fit_data(model, stream.dataset(skip), recipe),
                validation_data=task.fit_data(model, validation, recipe),
                initial_epoch=initial_epoch,
                epochs=epochs,
                callbacks=[stream.epoch_callback(skip), *callbacks],
                verbose=verbose,
                shuffle=False,  # the stream shuffles
            )
        if model.stop_training:
            if not last:
                write_averaged_weights(model)
            break


@contextlib.contextmanager
def averaging_deferred(model):
    """Keras writes an optimizer's moving average of the weights (`use_ema`) into the model at the
    end of every `fit` call; a run of several calls (a resumed epoch's rest, transfer learning's
    phases) must train on its own weights until the last one ends."""
    # Every optimizer the model holds: its own, or a GAN's two.
    optimizers = [o for o in vars(model).values() if isinstance(o, keras.optimizers.Optimizer)]
    for optimizer in optimizers:
        optimizer.finalize_variable_values = lambda var_list: None
    # A model's own writing (a GAN's also recalibrates BatchNorm statistics) waits as well.
    own = hasattr(model, "write_averaged_weights")
    if own:
        model.write_averaged_weights = lambda: None
    try:
        yield
    finally:
        for optimizer in optimizers:
            del optimizer.finalize_variable_values
        if own:
            del model.write_averaged_weights


def write_averaged_weights(model) -> None:
    """What the end of `fit` does: the model takes its optimizers' weight averages, if kept."""
    if hasattr(model, "write_averaged_weights"):
        model.write_averaged_weights()
    elif model.optimizer is not None:
        model.optimizer.finalize_variable_values(model.trainable_weights)


def _position(progress, recipe) -> str:
    if progress.epoch >= recipe.epochs:
        return "after its last epoch (evaluating and exporting)"
    return f"at epoch {progress.epoch + 1}/{recipe.epochs}, step {progress.step + 1}"


def interrupted(run_dir: Path) -> None:
    """After Ctrl-C: where the run was saved and the command that resumes it."""
    if resume.has_checkpoint(run_dir):
        saved = resume.read_progress(run_dir)
        print(
            f"interrupted: the run is saved at epoch {saved.epoch + 1}, step {saved.step} in "
            f"{run_dir / resume.CHECKPOINT}; resume it with: kerascnn run {run_dir / 'recipe.json'}",
            file=sys.stderr,
            flush=True,
        )
    else:
        print(
            f"interrupted: nothing was saved (no checkpoint in {run_dir})",
            file=sys.stderr,
            flush=True,
        )


def keep_history(path: Path, epochs: int) -> None:
    """Drops the rows of epochs after the checkpoint from a resumed run's CSV history."""
    if not path.is_file():
        return
    rows = path.read_text().splitlines(keepends=True)
    files.write_text(path, "".join(rows[: 1 + epochs]) if epochs else "")


def read_history(path: Path) -> dict[str, list[float]]:
    """The run's history as written by the CSV logger, all epochs of all its processes."""
    if not path.is_file():
        return {}
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    keys = [key for key in (rows[0] if rows else {}) if key != "epoch"]
    return {
        key: [float(row[key]) for row in rows if row.get(key) not in ("", None)] for key in keys
    }
