"""Classification: images -> class probabilities; accuracy on the test split; the export serves
probabilities; the report shows the confusion matrix, misclassified digits, filters, feature maps
and each layer's time."""

from __future__ import annotations

import keras
import tensorflow as tf

from kerascnn import viz
from kerascnn.data import batches, load_dataset
from kerascnn.data.pipeline import take_examples
from kerascnn.models import create_model
from kerascnn.models.anatomy import feature_maps
from kerascnn.models.common import PREDICTIONS
from kerascnn.models.pixels import taking_pixels
from kerascnn.training import transfer
from kerascnn.training.callbacks import confusion_matrix, predict_classes
from kerascnn.training.runtime import make_optimizer
from kerascnn.training.tasks.base import (
    Task,
    Unread,
    write_curves,
    write_filters,
    write_layer_time,
)

# GoogLeNet's weight for the losses of its auxiliary classifiers (Szegedy et al. 2014, sec. 5).
AUX_LOSS_WEIGHT = 0.3
MAIN_OUTPUT = PREDICTIONS
# A classifier whose test accuracy is at most this many times chance has not learned.
CHANCE_FACTOR = 1.5


class ClassificationTask(Task):
    """A classifier taking pixel values (`kerascnn.models.pixels.taking_pixels`), trained with
    cross-entropy, scored by accuracy."""

    name = "classification"
    kind = "a classifier"
    target_field = "target_accuracy"
    evaluates_held_out = True
    runtime_exports = True

    def check(self, recipe) -> None:
        """Images with class labels; every schedule, the plateau one included."""
        self.check_labelled_images(recipe)

    def unread_settings(self, recipe) -> dict[str, Unread]:
        rules = super().unread_settings(recipe)
        for key in (
            "transfer.init_from",
            "data.validation",
            "data.label_mode",
            "callbacks.stop_at_accuracy",
            "callbacks.early_stopping_patience",
        ):
            del rules[key]
        model = recipe.model.name
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
            rules["callbacks.stop_at_accuracy"] = Unread(
                "callbacks.stop_at_accuracy stops at a validation accuracy, but data.validation "
                "is 'none'; validate on 'test' or 'holdout', or remove the setting",
                (None,),
            )
        if not recipe.callbacks.tensorboard:
            rules["callbacks.inspect_examples"] = Unread(
                "callbacks.inspect_examples shows held-out images in TensorBoard, but "
                "callbacks.tensorboard is false; turn it on or remove the setting",
                (0,),
            )
        return rules

    def build(self, recipe, data) -> keras.Model:

        info = data.info
        classifier = create_model(
            recipe.model.name,
            input_shape=info.image_shape,
            classes=info.num_classes,
            **transfer.builder_arguments(recipe),
        )
        model = taking_pixels(classifier, name=recipe.name)
        if recipe.transfer.init_from and recipe.transfer.init_from != transfer.IMAGENET:
            transfer.copy_weights(recipe, transfer.load_source(recipe.transfer.init_from), model)
        self.start_phase(model, recipe, info, epoch=0)
        return model

    def start_phase(self, model, recipe, info, epoch: int) -> None:
        """Compiles `model` for the training phase that contains `epoch`: one phase, or with
        transfer learning the head alone and then every layer (`kerascnn.training.transfer`).
        A model compiled for that phase already keeps its optimizer (and its state)."""

        head_only = transfer.frozen(recipe, epoch)
        heads = []
        if recipe.transfer.init_from:
            heads = transfer.head_layers(recipe, transfer.classifier_of(model))
            if model.compiled and transfer.head_only(model, heads) == head_only:
                return
            transfer.set_trainable(model, heads, head_only)
        elif model.compiled:
            return
        config, epochs = transfer.phase_optimizer_config(recipe, epoch)
        optimizer = make_optimizer(
            config, num_examples=info.num_train, batch_size=recipe.batch_size, epochs=epochs
        )
        with model.distribute_strategy.scope():
            compile_classifier(model, recipe, optimizer)

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
        """(the model to export: the main output alone, as evaluated; a batch on which the
        reloaded export must agree with it)."""
        return inference_model(model, recipe), next(iter(test))[0].numpy()

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

    def report_figures(self, folder, recipe, model, run_dir, *, examples: int) -> list[str]:
        """Curves, the confusion matrix and the misclassified examples among the first `examples`
        test images, the first layer's filters and feature maps, and each layer's time."""

        model = inference_model(model, recipe)
        data = load_dataset(recipe.data)
        images, labels = take_examples(batches(data.test, batch_size=256), examples)
        class_names = list(data.info.class_names) or [str(i) for i in range(data.info.num_classes)]
        predicted = predict_classes(model, images)
        matrix = confusion_matrix(labels, predicted, len(class_names))
        wrong = viz.misclassified_grid(images, labels, predicted, class_names)
        paths = [
            *write_curves(folder, recipe, run_dir),
            viz.save(
                viz.confusion_matrix_figure(matrix, class_names), folder / "confusion_matrix.png"
            ),
            viz.save(wrong, folder / "misclassified.png"),
            *write_filters(folder, model),
        ]
        if paths[-1].name == "filters.png":
            maps = viz.feature_maps_figure(images[0], feature_maps(model, images[0]))
            paths.append(viz.save(maps, folder / "feature_maps.png"))
        paths += write_layer_time(folder, model, images[: min(len(images), 100)])
        return [path.name for path in paths]


def heads(model: keras.Model) -> list[str]:
    """The names of a multi-output model's heads; empty for a single output."""
    return list(model.output) if isinstance(model.output, dict) else []


def compile_classifier(model: keras.Model, recipe, optimizer="rmsprop") -> None:
    """Cross-entropy and accuracy on the main output; auxiliary heads add their weighted loss.

    With label smoothing the labels are one-hot (see `ClassificationTask.fit_data`): Keras' sparse
    cross-entropy has no smoothing.
    """
    from_logits = gives_logits(recipe)
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


def gives_logits(recipe) -> bool:
    """Whether the recipe's classifier ends in logits (`classifier_activation=None`) rather than
    probabilities."""
    return recipe.model.args.get("classifier_activation", "softmax") is None


def inference_model(model: keras.Model, recipe) -> keras.Model:
    """The model evaluated and exported: the main output only, compiled for `evaluate`."""
    if not heads(model):
        return model
    inference = keras.Model(model.inputs, model.output[MAIN_OUTPUT], name=model.name)
    compile_classifier(inference, recipe)
    return inference


__all__ = ["ClassificationTask", "compile_classifier", "gives_logits", "heads", "inference_model"]
