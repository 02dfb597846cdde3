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
from kerascnn.errors import KerasCNNError, RecipeError
from kerascnn.export import export_model
from kerascnn.inspection import MAIN_OUTPUT, InspectionLogger
from kerascnn.models import check_recipe_arguments, create_model
from kerascnn.recipes.config import Recipe, to_dict
from kerascnn.registry import augmentations, models
from kerascnn.training.callbacks import make_callbacks
from kerascnn.training.runtime import make_optimizer, make_strategy, precision_policy


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

    def summary(self) -> str:
        m = self.metrics
        lines = [
            f"{self.recipe.name}: test accuracy {100 * m['test_accuracy']:.2f} % "
            f"(loss {m['test_loss']:.4f}) on {m['data']['source']}, "
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
    models.get(recipe.model.name)
    augmentations.get(recipe.augmentation)
    check_recipe_arguments(recipe.model.name, dict(recipe.model.args))
    if recipe.optimizer.warmup_epochs and recipe.optimizer.schedule != "cosine":
        raise RecipeError(
            "optimizer.warmup_epochs needs optimizer.schedule='cosine', "
            f"got schedule {recipe.optimizer.schedule!r}"
        )


# GoogLeNet's weight for the losses of its auxiliary classifiers (Szegedy et al. 2014, sec. 5).
AUX_LOSS_WEIGHT = 0.3


def build_classifier(recipe: Recipe, info) -> keras.Model:
    """The recipe's model behind the deterministic preprocessing the export also carries.

    A model with auxiliary classifiers (`aux_logits`) gets a dict of outputs keyed by head name.
    """
    classifier = create_model(
        recipe.model.name,
        input_shape=info.image_shape,
        classes=info.num_classes,
        **dict(recipe.model.args),
    )
    inputs = keras.Input(shape=info.image_shape, name="images")
    outputs = classifier(keras.layers.Rescaling(1 / 255, name="rescale")(inputs))
    if len(classifier.outputs) > 1:
        outputs = dict(zip(classifier.output_names, outputs, strict=True))
    return keras.Model(inputs, outputs, name=recipe.name)


def heads(model: keras.Model) -> list[str]:
    """The names of a multi-output model's heads; empty for a single output."""
    return list(model.output) if isinstance(model.output, dict) else []


def compile_classifier(model: keras.Model, recipe: Recipe, optimizer="rmsprop") -> None:
    """Cross-entropy and accuracy on the main output; auxiliary heads add their weighted loss."""
    from_logits = recipe.model.args.get("classifier_activation", "softmax") is None
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits)
    names = heads(model)
    model.compile(
        optimizer=optimizer,
        loss={name: loss for name in names} if names else loss,
        loss_weights=(
            {name: 1.0 if name == MAIN_OUTPUT else AUX_LOSS_WEIGHT for name in names}
            if names
            else None
        ),
        metrics={MAIN_OUTPUT: ["accuracy"]} if names else ["accuracy"],
        steps_per_execution=recipe.steps_per_execution,
    )


def label_every_head(dataset, names: list[str]):
    """Repeats each label for every head of a multi-output model."""
    if not names or dataset is None:
        return dataset
    return dataset.map(lambda images, labels: (images, {name: labels for name in names}))


def inference_model(model: keras.Model, recipe: Recipe) -> keras.Model:
    """The model evaluated and exported: the main output only, compiled for `evaluate`."""
    if not heads(model):
        return model
    inference = keras.Model(model.inputs, model.output[MAIN_OUTPUT], name=model.name)
    compile_classifier(inference, recipe)
    return inference


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
        with strategy.scope():
            model = build_classifier(recipe, data.info)
            compile_classifier(
                model,
                recipe,
                make_optimizer(
                    recipe.optimizer,
                    num_examples=data.info.num_train,
                    batch_size=recipe.batch_size,
                    epochs=recipe.epochs,
                ),
            )
            train_labels = heads(model)

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
        validation = (
            None
            if data.validation is None or recipe.data.validation == "test"
            else batches(
                data.validation,
                training=False,
                progress=preparing(data.info.num_validation, "validation"),
                **pipeline,
            )
        )
        test = batches(
            data.test,
            training=False,
            progress=preparing(data.info.num_test, "test"),
            **pipeline,
        )
        if recipe.data.validation == "test":
            validation = test  # one pipeline and one cache for both
        run_dir = new_run_dir(recipe)
        files.write_json(run_dir / "recipe.json", to_dict(recipe))
        (run_dir / "checkpoints").mkdir()
        started = time.perf_counter()
        fit = model.fit(
            label_every_head(train, train_labels),
            validation_data=label_every_head(validation, train_labels),
            epochs=recipe.epochs,
            callbacks=make_callbacks(
                recipe.callbacks,
                run_dir,
                inspection=InspectionLogger(
                    run_dir / "tensorboard" / "images",
                    train=train,
                    held_out=test if validation is None else validation,
                    class_names=data.info.class_names,
                    examples_per_epoch=data.info.num_train,
                    batch_size=recipe.batch_size,
                    update_freq=recipe.callbacks.update_freq,
                    examples=recipe.callbacks.inspect_examples,
                ),
            ),
            verbose=verbose,
            shuffle=False,
        )  # the pipeline shuffles
        train_seconds = time.perf_counter() - started
        history = {k: [float(v) for v in values] for k, values in fit.history.items()}
        with strategy.scope():
            model = inference_model(model, recipe)
        evaluation = model.evaluate(test, return_dict=True, verbose=verbose)

        metrics = {
            "test_accuracy": float(evaluation["accuracy"]),
            "test_loss": float(evaluation["loss"]),
            "epochs": len(history.get("loss", [])),
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
            sample = next(iter(test))[0].numpy()
            export_dir = export_model(
                model,
                recipe.export.directory,
                recipe.name,
                sample=sample,
                records={"recipe.json": to_dict(recipe), "metrics.json": metrics},
            )
            metrics["export_dir"] = str(export_dir)
        files.write_json(run_dir / "metrics.json", metrics)
        viz.plot_history(history, run_dir / "curves.png", title=recipe.name)
    result = RunResult(recipe, model, history, metrics, run_dir, export_dir, data.info.notice)
    print(result.summary(), file=sys.stdout, flush=True)
    return result
