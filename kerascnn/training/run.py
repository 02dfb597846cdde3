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
from kerascnn.data import TrainingStream, batches, create_augmentation, load_dataset
from kerascnn.errors import KerasCNNError, RecipeError, TrainingError
from kerascnn.export import export_model
from kerascnn.inspection import InspectionLogger
from kerascnn.models import check_recipe_arguments
from kerascnn.recipes.config import Recipe, to_dict
from kerascnn.registry import augmentations
from kerascnn.training import cluster, resume
from kerascnn.training.callbacks import (
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
        if self.recipe.strategy == "multi_worker" and not cluster.is_chief(
            cluster.cluster_config()
        ):
            lines.append("  NOTE: this worker's copies (scratch); the chief wrote the run's own")
        return "\n".join(lines)


def announce(note: str) -> None:
    """A notice nobody should miss, on stderr."""
    print("\n".join(["", "!" * 100, f"!! {note}", "!" * 100, ""]), file=sys.stderr, flush=True)


def check_recipe(recipe: Recipe) -> None:
    """The checks that need the registries; field types and ranges were checked when it was made."""
    task = task_of(recipe)
    augmentations.get(recipe.augmentation)
    check_recipe_arguments(recipe.model.name, dict(recipe.model.args))
    if task.name != "classification" and recipe.optimizer.schedule == "plateau":
        raise RecipeError(
            f"optimizer.schedule='plateau' is for classifiers; {recipe.model.name!r} is not one"
        )
    if task.name not in ("classification", "gan") and recipe.label_smoothing:
        raise RecipeError(
            f"label_smoothing is for classifiers and GANs; {recipe.model.name!r} is neither"
        )
    if task.name != "gan" and recipe.optimizer.discriminator_learning_rate is not None:
        raise RecipeError(
            f"optimizer.discriminator_learning_rate is for GANs; {recipe.model.name!r} has no "
            "discriminator (set optimizer.learning_rate)"
        )
    if task.name == "captioning" and recipe.augmentation != "none":
        raise RecipeError(
            f"augmentation {recipe.augmentation!r} would make captions wrong (a flipped scene "
            "swaps left and right, a colour change renames colours); use augmentation 'none' "
            "for captioning"
        )
    if task.name != "classification" and recipe.transfer.init_from:
        raise RecipeError(
            f"transfer.init_from is for classifiers; {recipe.model.name!r} is not one"
        )
    if recipe.transfer.init_from:
        from kerascnn.training.transfer import source_path

        source_path(recipe.transfer.init_from)
    if recipe.transfer.frozen_epochs >= recipe.epochs:
        raise RecipeError(
            f"transfer.frozen_epochs ({recipe.transfer.frozen_epochs}) must be fewer than the "
            f"epochs ({recipe.epochs}), so that the whole model trains in the end"
        )
    if recipe.optimizer.warmup_epochs and recipe.optimizer.schedule != "cosine":
        raise RecipeError(
            "optimizer.warmup_epochs needs optimizer.schedule='cosine', "
            f"got schedule {recipe.optimizer.schedule!r}"
        )


# Room for records and figures besides the model files.
OUTPUT_MARGIN_BYTES = 64 * 2**20


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
            task_callbacks=task.callbacks(recipe, run_dir, prepared),
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
    print(result.summary(), file=sys.stdout, flush=True)
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
    print(result.summary(), file=sys.stdout, flush=True)
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
