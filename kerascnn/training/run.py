"""The one function that wires a run: data, model, compile, fit, evaluate, export, records.

Everything that can be wrong with the request (names, overrides, data files, input sizes) is checked
before the run directory is made, so a bad request leaves nothing under `runs/` or `saved_models/`.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from datetime import datetime
from pathlib import Path

import keras
import tensorflow as tf

import kerascnn
from kerascnn import files, viz
from kerascnn.data import batches, create_augmentation, load_dataset
from kerascnn.errors import KerasCNNError, RecipeError, TrainingError
from kerascnn.export import export_model
from kerascnn.inspection import InspectionLogger
from kerascnn.models import check_recipe_arguments
from kerascnn.recipes.config import Recipe, to_dict
from kerascnn.registry import augmentations
from kerascnn.training.callbacks import NonFiniteLossGuard, image_log_dir, make_callbacks
from kerascnn.training.runtime import make_strategy, precision_policy
from kerascnn.training.tasks import task_of


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
            f"{self.recipe.name}: {self.headline} on {m['data']['source']}, "
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
        return "\n".join(lines)


def announce(note: str) -> None:
    """A notice nobody should miss, on stderr."""
    print("\n".join(["", "!" * 100, f"!! {note}", "!" * 100, ""]), file=sys.stderr, flush=True)


def check_recipe(recipe: Recipe) -> None:
    """The checks that need the registries; field types and ranges were checked when it was made."""
    task = task_of(recipe)
    augmentations.get(recipe.augmentation)
    check_recipe_arguments(recipe.model.name, dict(recipe.model.args))
    if task.name != "classification" and (
        recipe.optimizer.schedule == "plateau" or recipe.label_smoothing
    ):
        raise RecipeError(
            "optimizer.schedule='plateau' and label_smoothing are for classifiers; "
            f"{recipe.model.name!r} is not one"
        )
    if recipe.optimizer.warmup_epochs and recipe.optimizer.schedule != "cosine":
        raise RecipeError(
            "optimizer.warmup_epochs needs optimizer.schedule='cosine', "
            f"got schedule {recipe.optimizer.schedule!r}"
        )


def diverged_message(failure, run_dir: Path, recipe: Recipe) -> str:
    """What a user reads when the loss stopped being a number: where, what was kept, what to try."""
    epoch, step, name, value = failure
    checkpoint = run_dir / "checkpoints" / "last.keras"
    kept = (
        f"the checkpoint of the last good epoch is {checkpoint}"
        if checkpoint.is_file()
        else "no epoch finished, so there is no checkpoint"
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


def run_recipe(recipe: Recipe, *, verbose="auto") -> RunResult:
    """Trains `recipe` end to end and returns a `RunResult`; prints where everything went."""
    check_recipe(recipe)
    keras.utils.set_random_seed(recipe.seed)
    with precision_policy(recipe.precision):
        data = load_dataset(recipe.data)
        strategy = make_strategy(recipe.strategy)
        task = task_of(recipe)
        with strategy.scope():
            model = task.build(recipe, data.info)

        if data.info.notice:
            announce(data.info.notice)
        pipeline = dict(batch_size=recipe.batch_size, seed=recipe.seed)

        def preparing(count: int, split: str) -> str | None:
            return f"preparing {count} {split} images" if verbose != 0 else None

        train = batches(
            data.train,
            training=True,
            shuffle_buffer=recipe.data.shuffle_buffer,
            augmentation=create_augmentation(
                recipe.augmentation, image_shape=data.info.image_shape, seed=recipe.seed
            ),
            progress=preparing(data.info.num_train, "training"),
            **pipeline,
        )
        test = batches(
            data.test,
            training=False,
            progress=preparing(data.info.num_test, "test"),
            **pipeline,
        )
        if data.validation is None or not task.evaluates_held_out:
            validation = None
        elif recipe.data.validation == "test":
            validation = test  # one pipeline and one cache for both
        else:
            validation = batches(
                data.validation,
                training=False,
                progress=preparing(data.info.num_validation, "validation"),
                **pipeline,
            )
        prepared = task.prepare(recipe, data, test)
        run_dir = new_run_dir(recipe)
        files.write_json(run_dir / "recipe.json", to_dict(recipe))
        (run_dir / "checkpoints").mkdir()
        started = time.perf_counter()
        guard = NonFiniteLossGuard()
        fit = model.fit(
            task.fit_data(model, train, recipe),
            validation_data=task.fit_data(model, validation, recipe),
            epochs=recipe.epochs,
            callbacks=make_callbacks(
                recipe.callbacks,
                run_dir,
                inspection=InspectionLogger(
                    image_log_dir(recipe.callbacks, run_dir),
                    train=train,
                    held_out=test if validation is None else validation,
                    class_names=data.info.class_names,
                    examples_per_epoch=data.info.num_train,
                    batch_size=recipe.batch_size,
                    update_freq=recipe.callbacks.update_freq,
                    examples=recipe.callbacks.inspect_examples if task.evaluates_held_out else 0,
                ),
                guard=guard,
                task_callbacks=task.callbacks(recipe, run_dir, prepared),
            ),
            verbose=verbose,
            shuffle=False,
        )  # the pipeline shuffles
        train_seconds = time.perf_counter() - started
        if guard.failure is not None:
            raise TrainingError(diverged_message(guard.failure, run_dir, recipe))
        history = {k: [float(v) for v in values] for k, values in fit.history.items()}
        with strategy.scope():
            model, scores = task.evaluate(model, recipe, test, prepared, verbose=verbose)

        metrics = {
            **scores,
            "task": task.name,
            "epochs": len(next(iter(history.values()), [])),
            "train_seconds": round(train_seconds, 1),
            "parameters": int(model.count_params()),
            "precision": recipe.precision,
            "strategy": recipe.strategy,
            "replicas": strategy.num_replicas_in_sync,
            "data": dataclasses.asdict(data.info),
            "versions": {
                "kerascnn": kerascnn.__version__,
                "tensorflow": tf.__version__,
                "keras": keras.__version__,
            },
            "finished": datetime.now().isoformat(timespec="seconds"),
        }
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
        files.write_json(run_dir / "metrics.json", metrics)
        viz.plot_history(history, run_dir / "curves.png", title=recipe.name)
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
    print(result.summary(), file=sys.stdout, flush=True)
    return result
