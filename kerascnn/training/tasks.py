"""What differs between kinds of runs: how the model is built, fed, scored and exported.

The one run function (`kerascnn.training.run.run_recipe`) wires data, strategy, callbacks, fit, records
and export the same way for every recipe and asks the recipe's task (from its model's registry entry)
for the rest:

- `ClassificationTask`: images -> class probabilities; accuracy on the test split; the export serves
  probabilities.
- `GanTask`: a `DCGAN`; the Inception Score and Fréchet distance of generated digits
  (`kerascnn.quality`); the export serves the generator, noise -> uint8 images.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from kerascnn.errors import RecipeError
from kerascnn.registry import models
from kerascnn.training.runtime import make_optimizer

# GoogLeNet's weight for the losses of its auxiliary classifiers (Szegedy et al. 2014, sec. 5).
AUX_LOSS_WEIGHT = 0.3
MAIN_OUTPUT = "predictions"


def _optimizer(recipe, info):
    return make_optimizer(
        recipe.optimizer,
        num_examples=info.num_train,
        batch_size=recipe.batch_size,
        epochs=recipe.epochs,
    )


class ClassificationTask:
    """A classifier behind `Rescaling(1/255)`, trained with cross-entropy, scored by accuracy."""

    name = "classification"
    evaluates_held_out = True

    def build(self, recipe, info) -> keras.Model:
        from kerascnn.models import create_model

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
        model = keras.Model(inputs, outputs, name=recipe.name)
        if recipe.transfer.init_from:
            from kerascnn.training import transfer

            transfer.copy_weights(recipe, transfer.load_source(recipe.transfer.init_from), model)
        self.start_phase(model, recipe, info, epoch=0)
        return model

    def start_phase(self, model, recipe, info, epoch: int) -> None:
        """Compiles `model` for the training phase that contains `epoch`: one phase, or with
        transfer learning the head alone and then every layer (`kerascnn.training.transfer`)."""
        from kerascnn.training import transfer

        head_only = transfer.frozen(recipe, epoch)
        if getattr(model, "_head_only", None) == head_only:
            return
        if recipe.transfer.init_from:
            heads = transfer.head_layers(recipe, transfer.classifier_of(model))
            transfer.set_trainable(model, heads, head_only)
        config, epochs = transfer.phase_optimizer_config(recipe, epoch)
        optimizer = make_optimizer(
            config, num_examples=info.num_train, batch_size=recipe.batch_size, epochs=epochs
        )
        with model.distribute_strategy.scope():
            compile_classifier(model, recipe, optimizer)
        model._head_only = head_only

    def fit_data(self, model, dataset, recipe):
        """Labels as the loss wants them: one-hot under label smoothing, repeated for every head
        of a multi-output model."""
        if dataset is None:
            return None
        if recipe.label_smoothing:
            outputs = model.output[MAIN_OUTPUT] if heads(model) else model.output
            classes = int(outputs.shape[-1])
            dataset = dataset.map(lambda images, labels: (images, tf.one_hot(labels, classes)))
        names = heads(model)
        if names:
            dataset = dataset.map(lambda images, labels: (images, {n: labels for n in names}))
        return dataset

    def prepare(self, recipe, data, test):
        """What the task needs besides the model, made before anything is written."""
        return None

    def callbacks(self, recipe, run_dir, prepared) -> list:
        if recipe.optimizer.schedule != "plateau":
            return []
        validated = recipe.data.validation != "none"
        return [
            keras.callbacks.ReduceLROnPlateau(
                monitor="val_loss" if validated else "loss",
                factor=recipe.optimizer.decay_rate,
                patience=recipe.optimizer.plateau_patience,
                verbose=1,
            )
        ]

    def evaluate(self, model, recipe, test, prepared, *, verbose):
        model = inference_model(model, recipe)
        evaluation = model.evaluate(
            self.fit_data(model, test, recipe), return_dict=True, verbose=verbose
        )
        metrics = {
            "test_accuracy": float(evaluation["accuracy"]),
            "test_loss": float(evaluation["loss"]),
        }
        return model, metrics

    def export_parts(self, model, recipe, test):
        """(the model to export, a batch on which the reloaded export must agree with it)."""
        return model, next(iter(test))[0].numpy()

    def headline(self, metrics) -> str:
        return f"test accuracy {100 * metrics['test_accuracy']:.2f} % (loss {metrics['test_loss']:.4f})"


def heads(model: keras.Model) -> list[str]:
    """The names of a multi-output model's heads; empty for a single output."""
    return list(model.output) if isinstance(model.output, dict) else []


def compile_classifier(model: keras.Model, recipe, optimizer="rmsprop") -> None:
    """Cross-entropy and accuracy on the main output; auxiliary heads add their weighted loss.

    With label smoothing the labels are one-hot (see `ClassificationTask.fit_data`): Keras' sparse
    cross-entropy has no smoothing.
    """
    from_logits = recipe.model.args.get("classifier_activation", "softmax") is None
    if recipe.label_smoothing:
        loss = keras.losses.CategoricalCrossentropy(
            from_logits=from_logits, label_smoothing=recipe.label_smoothing
        )
    else:
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


def inference_model(model: keras.Model, recipe) -> keras.Model:
    """The model evaluated and exported: the main output only, compiled for `evaluate`."""
    if not heads(model):
        return model
    inference = keras.Model(model.inputs, model.output[MAIN_OUTPUT], name=model.name)
    compile_classifier(inference, recipe)
    return inference


class GanTask:
    """A `DCGAN` trained on the training images; scored and exported by its generator."""

    name = "gan"
    evaluates_held_out = False

    def build(self, recipe, info) -> keras.Model:
        from kerascnn.models import create_model

        gan = create_model(
            recipe.model.name, image_shape=info.image_shape, seed=recipe.seed, **recipe.model.args
        )
        gan.compile(_optimizer(recipe, info), _optimizer(recipe, info))
        return gan

    def fit_data(self, model, dataset, recipe):
        return dataset

    def start_phase(self, model, recipe, info, epoch: int) -> None:
        """A GAN trains in one phase."""

    def prepare(self, recipe, data, test):
        """A `DigitScorer` against the test images, or None for images it cannot score."""
        from kerascnn.inspection import take_examples
        from kerascnn.quality import DigitScorer, scorable

        if not scorable(data.info.image_shape):
            return None
        real, _ = take_examples(test, recipe.callbacks.quality_examples)
        return DigitScorer(real)

    def callbacks(self, recipe, run_dir, scorer) -> list:
        from kerascnn.training.callbacks import GanQualityLogger, SampleGrid, image_log_dir

        callbacks = [
            SampleGrid(
                run_dir / "samples",
                image_log_dir(recipe.callbacks, run_dir),
                count=recipe.callbacks.sample_grid,
                seed=recipe.seed,
            )
        ]
        if recipe.callbacks.quality_every and scorer is not None:
            quality = GanQualityLogger(
                scorer,
                count=recipe.callbacks.quality_examples,
                every=recipe.callbacks.quality_every,
                seed=recipe.seed,
            )
            callbacks.insert(0, quality)
        return callbacks

    def evaluate(self, model, recipe, test, scorer, *, verbose):
        if scorer is None:
            return model, {}
        images = generate_pixels(
            model.generator, recipe.callbacks.quality_examples, seed=recipe.seed
        )
        return model, scorer(images)

    def export_parts(self, model, recipe, test):
        noise = np.random.default_rng(recipe.seed).normal(size=(16, model.latent_dim))
        return pixel_generator(model.generator), noise.astype(np.float32)

    def headline(self, metrics) -> str:
        if "inception_score" not in metrics:
            return "trained (only grey images of at least 28x28 are scored)"
        return (
            f"inception score {metrics['inception_score']:.2f} of 10 "
            f"(Fréchet distance {metrics['frechet_distance']:.2f})"
        )


def pixel_generator(generator: keras.Model) -> keras.Model:
    """The generator as served: noise (n, latent_dim) float32 -> images uint8 0-255."""
    from kerascnn.layers import ToPixels

    noise = keras.Input(shape=generator.inputs[0].shape[1:], name="noise", dtype="float32")
    return keras.Model(noise, ToPixels(name="pixels")(generator(noise)), name=generator.name)


def generate_pixels(generator: keras.Model, count: int, *, seed: int = 0, batch_size: int = 500):
    """`count` generated images as float32 pixel values 0-255, from seeded noise."""
    latent = int(generator.inputs[0].shape[-1])
    noise = np.random.default_rng(seed).normal(size=(count, latent)).astype(np.float32)
    images = generator.predict(noise, batch_size=batch_size, verbose=0)
    return np.clip(np.round((np.asarray(images, np.float32) + 1) * 127.5), 0, 255)


TASKS = {task.name: task for task in (ClassificationTask(), GanTask())}


def task_of(recipe):
    """The task of the recipe's model; a model that is only part of another (a GAN's generator),
    or of a task no recipe trains yet (captioning), cannot be a recipe's model."""
    task = models.metadata(recipe.model.name)["task"]
    if task not in TASKS:
        raise RecipeError(
            f"model {recipe.model.name!r} is a {task.replace('_', ' ')} model, not a model a "
            f"recipe trains; a recipe needs one of "
            f"{', '.join(models.names(task='classification'))} or "
            f"{', '.join(models.names(task='gan'))}"
        )
    return TASKS[task]
