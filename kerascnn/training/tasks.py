"""What differs between kinds of runs: how the model is built, fed, scored and exported.

The one run function (`kerascnn.training.run.run_recipe`) wires data, strategy, callbacks, fit, records
and export the same way for every recipe and asks the recipe's task (from its model's registry entry)
for the rest:

- `ClassificationTask`: images -> class probabilities; accuracy on the test split; the export serves
  probabilities.
- `GanTask`: a `DCGAN`; the Inception Score and Fréchet distance of generated digits
  (`kerascnn.quality`); the export serves the generator, noise -> uint8 images.
- `CaptioningTask`: Show and Tell on captioned images (`kerascnn.data.captioned`), one example per
  (image, caption) pair; BLEU of greedy captions of the test images; the export serves captions.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import tensorflow as tf

from kerascnn.errors import RecipeError
from kerascnn.registry import models
from kerascnn.training.runtime import make_optimizer

# GoogLeNet's weight for the losses of its auxiliary classifiers (Szegedy et al. 2014, sec. 5).
AUX_LOSS_WEIGHT = 0.3
MAIN_OUTPUT = "predictions"
# A classifier whose test accuracy is at most this many times chance has not learned.
CHANCE_FACTOR = 1.5


def _optimizer(recipe, info, *, examples: int | None = None, config=None):
    return make_optimizer(
        config or recipe.optimizer,
        num_examples=examples or info.num_train,
        batch_size=recipe.batch_size,
        epochs=recipe.optimizer.schedule_epochs or recipe.epochs,
    )


class ImageTask:
    """What classifiers and GANs share: images with class labels, one example per image."""

    def load(self, config):
        from kerascnn.data import load_dataset

        return load_dataset(config)

    def stream_targets(self, model, data):
        """The training examples when they are not the dataset's (image, label); None: they are."""
        return None

    def learning_failure(self, metrics, history) -> str | None:
        """Why a finished run did not learn, "" if it did; None: this task makes no judgement."""
        return None


class ClassificationTask(ImageTask):
    """A classifier behind `Rescaling(1/255)`, trained with cross-entropy, scored by accuracy."""

    name = "classification"
    evaluates_held_out = True

    def build(self, recipe, data) -> keras.Model:
        from kerascnn.models import create_model

        info = data.info
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

    def learning_failure(self, metrics, history) -> str | None:
        """Why the run did not learn, or "" if it did: its test accuracy must be clearly above
        chance (more than 1.5 times 1 / classes) and, over several epochs, its training loss must
        have fallen below the first epoch's."""
        chance = 1 / metrics["data"]["num_classes"]
        accuracy = metrics["test_accuracy"]
        losses = history.get("loss", [])
        if accuracy <= CHANCE_FACTOR * chance:
            found = (
                f"test accuracy {accuracy:.2%} is within {CHANCE_FACTOR}x of chance ({chance:.2%})"
            )
        elif len(losses) > 1 and min(losses[1:]) >= losses[0]:
            found = f"the training loss never fell below its first epoch's ({losses[0]:.4f})"
        else:
            return ""
        return (
            f"this run did not learn: {found}. Likely causes: a learning rate too high or too low "
            "for this network, an initialisation that shrinks the signal through many layers, "
            "too few steps, or labels that do not match the images"
        )


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


class GanTask(ImageTask):
    """A `DCGAN` trained on the training images; scored and exported by its generator."""

    name = "gan"
    evaluates_held_out = False

    def build(self, recipe, data) -> keras.Model:
        from kerascnn.models import create_model

        info = data.info
        gan = create_model(
            recipe.model.name, image_shape=info.image_shape, seed=recipe.seed, **recipe.model.args
        )
        settings = recipe.optimizer
        if settings.discriminator_learning_rate is not None:
            settings = dataclasses.replace(
                settings, learning_rate=settings.discriminator_learning_rate
            )
        gan.compile(
            _optimizer(recipe, info, config=settings),
            _optimizer(recipe, info),
            label_smoothing=recipe.label_smoothing,
        )
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


class CaptioningTask:
    """Show and Tell trained with teacher forcing on every (image, caption) pair, padding masked
    through `sample_weight`; scored by BLEU-1...4 of its greedy captions of the test images."""

    name = "captioning"
    # Held-out images are scored by BLEU (`CaptionLogger`), not by a validation loss.
    evaluates_held_out = False

    def load(self, config):
        from kerascnn.data.captioned import load_captioned

        return load_captioned(config)

    def learning_failure(self, metrics, history) -> str | None:
        """No judgement: BLEU on scenes and on photos have no common floor."""
        return None

    def build(self, recipe, data) -> keras.Model:
        from kerascnn import captions
        from kerascnn.models import create_model

        texts = [c for group in data.captions["train"] for c in group]
        model = create_model(
            recipe.model.name,
            vocabulary=captions.vocabulary(texts),
            image_shape=data.info.image_shape,
            **dict(recipe.model.args),
        )
        model.compile(
            optimizer=_optimizer(recipe, data.info, examples=len(texts)),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            weighted_metrics=["accuracy"],
            steps_per_execution=recipe.steps_per_execution,
        )
        return model

    def stream_targets(self, model, data):
        """(image index, tokens) of every training caption, in the model's vocabulary."""
        from kerascnn import captions

        vectorize = captions.vectorizer(model.max_length, vocabulary=model.vocabulary)
        return captions.caption_pairs(vectorize, data.captions["train"])

    def start_phase(self, model, recipe, info, epoch: int) -> None:
        """A captioner trains in one phase."""

    def fit_data(self, model, dataset, recipe):
        """Teacher forcing: the caption without its last token in, without its first as the
        target; padding weighs 0."""
        if dataset is None:
            return None

        def teacher_forcing(images, tokens):
            targets = tokens[:, 1:]
            return (images, tokens[:, :-1]), targets, tf.cast(targets > 0, tf.float32)

        return dataset.map(teacher_forcing)

    def prepare(self, recipe, data, test):
        """The test images with their references (`kerascnn.captions.HeldOut`)."""
        from kerascnn.captions import HeldOut

        images, indices = [], []
        for batch_images, batch_indices in test:
            images.append(np.asarray(batch_images).astype(np.uint8))
            indices.append(np.asarray(batch_indices))
        references = [data.captions["test"][i] for i in np.concatenate(indices)]
        return HeldOut(np.concatenate(images), references)

    def callbacks(self, recipe, run_dir, held_out) -> list:
        from kerascnn.training.callbacks import CaptionLogger, image_log_dir

        return [
            CaptionLogger(
                held_out,
                run_dir / "captions",
                image_log_dir(recipe.callbacks, run_dir),
                count=recipe.callbacks.quality_examples,
                grid=recipe.callbacks.sample_grid,
                every=recipe.callbacks.quality_every,
            )
        ]

    def evaluate(self, model, recipe, test, held_out, *, verbose):
        scores = held_out.bleu(held_out.caption(model))
        return model, {f"test_{name}": value for name, value in scores.items()}

    def export_parts(self, model, recipe, test):
        from kerascnn.models.captioning import CaptionWriter

        return CaptionWriter(model), next(iter(test))[0].numpy()

    def headline(self, metrics) -> str:
        return (
            f"BLEU-4 {metrics['test_bleu4']:.3f} (BLEU-1 {metrics['test_bleu1']:.3f}) "
            f"of greedy captions of {metrics['data']['num_test']} test images"
        )


TASKS = {task.name: task for task in (ClassificationTask(), GanTask(), CaptioningTask())}


def task_of(recipe):
    """The task of the recipe's model; a model that is only part of another (a GAN's generator)
    cannot be a recipe's model."""
    task = models.metadata(recipe.model.name)["task"]
    if task not in TASKS:
        raise RecipeError(
            f"model {recipe.model.name!r} is a {task.replace('_', ' ')} model, not a model a "
            "recipe trains; a recipe needs one of "
            + "; ".join(f"{', '.join(models.names(task=name))}" for name in TASKS)
        )
    return TASKS[task]
