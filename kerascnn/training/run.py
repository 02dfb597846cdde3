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
from kerascnn import files, runs, viz
from kerascnn.config import Recipe, to_dict
from kerascnn.data import (
    TrainingStream,
    batches,
    create_augmentation,
    flips_left_out,
    load_dataset,
)
from kerascnn.errors import RecipeError, TrainingError
from kerascnn.export import export_model
from kerascnn.training import cluster, ensemble, resume
from kerascnn.training.callbacks import (
    EpochTimeForecast,
    GracefulInterrupt,
    InspectionLogger,
    NonFiniteLossGuard,
    TrainingWeightsKept,
    image_log_dir,
    make_callbacks,
)
from kerascnn.training.checks import check_batch_size, check_members, check_recipe
from kerascnn.training.runtime import make_strategy, precision_policy, resolve_precision
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
    return (
        dataclasses.replace(recipe, epochs=epochs),
        noted(data, note, replace=True),
        recipe.epochs,
    )


def noted(data, note: str, *, replace: bool = False):
    """`data` whose info's note (printed, and recorded in metrics.json) ends with, or with
    `replace` is, `note`."""
    if not note:
        return data
    if not replace:
        note = " ".join(filter(None, [data.info.note, note]))
    return dataclasses.replace(data, info=dataclasses.replace(data.info, note=note))


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
        f"the last good checkpoint is {run_dir / runs.CHECKPOINT}"
        if resume.has_checkpoint(run_dir)
        else "no checkpoint was reached, so there is none"
    )
    return (
        f"training diverged: {name} became {value} at epoch {epoch}, step {step}; nothing was "
        f"exported and {kept}; lower the learning rate (now {recipe.optimizer.learning_rate:g}, "
        "--learning-rate) or clip gradients (--set optimizer.clipnorm=1.0)"
    )


def run_recipe(
    recipe: Recipe, *, members: list[Recipe] | None = None, verbose="auto", fresh: bool = False
) -> RunResult:
    """Trains `recipe` end to end and returns a `RunResult`; prints where everything went.

    An unfinished run of the same recipe (same `recipe.json`) under `runs_dir` is resumed from its
    checkpoint; a finished one is not trained over: that raises, unless `fresh` starts a new run.
    An ensemble needs its `members` resolved (`kerascnn.recipes.member_recipes`).
    """
    recipe = cluster.local_outputs(recipe)
    if recipe.members:
        if members is None:
            raise RecipeError(
                f"{recipe.name!r} is an ensemble: train it with kerascnn.recipes.run or "
                "kerascnn.recipes.train, which resolve its members"
            )
        return run_ensemble(recipe, members, verbose=verbose, fresh=fresh)
    check_recipe(recipe)
    # The recipe as asked for is the run's record, also when the data cut its epochs short: running
    # it again finds this run.
    requested = recipe
    continued = runs.unfinished_run(recipe.runs_dir, recipe, fresh=fresh)
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
        mirror = data.info.mirror_invariant
        data = noted(
            data,
            flips_left_out(recipe.augmentation, image_shape=data.info.image_shape, mirror=mirror),
        )
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
                recipe.augmentation,
                image_shape=data.info.image_shape,
                seed=recipe.seed,
                mirror=mirror,
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
            run_dir = runs.new_run_dir(recipe.runs_dir, recipe.name)
            runs.write_recipe(run_dir, requested)
        else:
            run_dir = continued
            if resume.has_checkpoint(run_dir):
                task.start_phase(model, recipe, data.info, resume.read_progress(run_dir).epoch)
                with strategy.scope():
                    progress, best_weights = resume.restore(model, run_dir)
            print(f"resuming {run_dir} {_position(progress, recipe)}", flush=True)
            runs.keep_history(run_dir, progress.epoch)
        # What `kerascnn predict` needs of the data (class names, adaptation) also before the end.
        runs.write_data(run_dir, dataclasses.asdict(data.info))
        cluster.check_same_position(strategy, progress.epoch, progress.step)
        (run_dir / runs.CHECKPOINT).parent.mkdir(exist_ok=True)
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
                examples=task.inspected_examples(recipe),
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
        history = runs.read_history(run_dir)
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
            records={runs.RECIPE: to_dict(recipe), runs.METRICS: metrics},
            atol=task.export_atol,
        )
        metrics["export_dir"] = str(export_dir)
    if history:
        viz.plot_history(history, run_dir / "curves.png", title=recipe.name)
    # The model as evaluated (averaged weights, main head): what --init-from and ensembles use.
    with files.atomic_path(run_dir / runs.FINAL_MODEL) as temporary:
        model.save(temporary)
    # Last: a run with metrics.json is finished (see runs.unfinished_run).
    runs.write_metrics(run_dir, metrics)
    return metrics, export_dir


def run_ensemble(
    recipe: Recipe, members: list[Recipe], *, verbose="auto", fresh: bool = False
) -> RunResult:
    """Trains (or reuses) an ensemble's resolved members, then evaluates and exports their
    average (`kerascnn.training.ensemble`)."""
    check_recipe(recipe)
    check_members(recipe, members)
    # Before hours of member training; the ensemble's size is not known yet, only writability.
    check_outputs(recipe, 0)
    continued = runs.unfinished_run(recipe.runs_dir, recipe, fresh=fresh)
    task = task_of(recipe)
    with precision_policy(recipe.precision):
        data = load_dataset(recipe.data)
        if data.info.notice:
            announce(data.info.notice)
        test = batches(data.test, batch_size=recipe.batch_size)
        trained = ensemble.train_members(members, run_recipe, verbose=verbose, fresh=fresh)
        # The members' own training times, also of those reused: what the ensemble cost.
        train_seconds = sum(m["train_seconds"] for _, m in trained)
        strategy = make_strategy(recipe.strategy)
        with strategy.scope():
            model = ensemble.average_model(recipe, [m for m, _ in trained], data.info.image_shape)
        evaluation = model.evaluate(test, return_dict=True, verbose=verbose)
        run_dir = continued or runs.new_run_dir(recipe.runs_dir, recipe.name)
        runs.write_recipe(run_dir, recipe)
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
        # Weight averages are written into the model once, at the end of the run's last part.
        kept = [] if last else [TrainingWeightsKept()]
        model.fit(
            task.fit_data(model, stream.dataset(skip), recipe),
            validation_data=task.fit_data(model, validation, recipe),
            initial_epoch=initial_epoch,
            epochs=epochs,
            callbacks=[stream.epoch_callback(skip), *callbacks, *kept],
            verbose=verbose,
            shuffle=False,  # the stream shuffles
            **task.fit_options(last),
        )
        if model.stop_training:
            if not last:
                task.write_averaged_weights(model)
            break


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
            f"{run_dir / runs.CHECKPOINT}; resume it with: kerascnn run {run_dir / runs.RECIPE}",
            file=sys.stderr,
            flush=True,
        )
    else:
        print(
            f"interrupted: nothing was saved (no checkpoint in {run_dir})",
            file=sys.stderr,
            flush=True,
        )
