"""Segmentation: images -> a class for every pixel (FCN, `kerascnn.models.fcn`), trained with
per-pixel softmax cross-entropy that ignores `IGNORE_LABEL` pixels, scored by mean IoU and pixel
accuracy (`keras.metrics.MeanIoU`, `keras.metrics.SparseCategoricalAccuracy`); the export serves a
uint8 class map and the probabilities; the run pictures held-out images with their true and
predicted masks every epoch."""

from __future__ import annotations

import keras
import tensorflow as tf

from kerascnn import viz
from kerascnn.data import batches
from kerascnn.data.pipeline import take_examples
from kerascnn.data.segmented import (
    DIGIT_CANVASES,
    IGNORE_LABEL,
    check_config,
    load_segmented,
)
from kerascnn.layers import ClassMap
from kerascnn.models import create_model
from kerascnn.models.pixels import taking_pixels
from kerascnn.overrides import apply_overrides
from kerascnn.training.callbacks import MaskLogger, image_log_dir
from kerascnn.training.tasks.base import (
    Task,
    Unread,
    optimizer_for,
    write_curves,
    write_filters,
)
from kerascnn.training.tasks.classification import gives_logits

# A model whose mean IoU is at most this many times 1 / classes has not learned: predicting the
# background everywhere scores at most 1 / classes (its own IoU, below 1, and 0 for the others).
CHANCE_FACTOR = 1.5
REPORT_EXAMPLES = 8
CLASS_MAP, PROBABILITIES = "class_map", "probabilities"


class SegmentationTask(Task):
    """An FCN taking pixel values, trained per pixel, scored by mean IoU."""

    name = "segmentation"
    kind = "a segmentation model"
    target_field = "target_mean_iou"
    evaluates_held_out = True

    def check(self, recipe) -> None:
        """Segmented images, and no augmentation (the presets move images, not their masks)."""
        self.check_no_plateau(recipe)
        self.check_no_augmentation(recipe, "masks")
        check_config(recipe.data)

    def unread_settings(self, recipe) -> dict[str, Unread]:
        rules = super().unread_settings(recipe)
        del rules["data.validation"]
        if recipe.data.validation != "none":
            del rules["callbacks.early_stopping_patience"]
        model = recipe.model.name
        rules["label_smoothing"] = Unread(
            f"label_smoothing is for classifiers and GANs; {model!r} is {self.kind} (remove it)",
            (0.0,),
        )
        rules["callbacks.inspect_examples"] = Unread(
            "callbacks.inspect_examples is for classifiers (a confusion matrix of held-out "
            f"images); {model!r} is {self.kind}, whose run pictures callbacks.sample_grid "
            "held-out images with their masks instead",
            (0,),
        )
        for field in ("quality_examples", "quality_every"):
            rules[f"callbacks.{field}"] = Unread(
                f"callbacks.{field} is for GANs and captioners; {model!r} is {self.kind}, "
                "scored by mean IoU on the test split"
            )
        return rules

    def data_source(self, recipe) -> tuple[str, str | None]:
        source, folder = super().data_source(recipe)
        if source == "tfds":
            # Nothing segmented comes from tfds: the canvases are made, VOC is a folder.
            return ("scenes", None) if recipe.data.name == DIGIT_CANVASES else ("folder", None)
        return source, folder

    def load(self, config):
        return load_segmented(config)

    def build(self, recipe, data) -> keras.Model:
        info = data.info
        network = create_model(
            recipe.model.name,
            input_shape=info.image_shape,
            classes=info.num_classes,
            **dict(recipe.model.args),
        )
        model = taking_pixels(network, name=recipe.name)
        model.compile(
            optimizer=optimizer_for(recipe, info),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=gives_logits(recipe)),
            weighted_metrics=[
                keras.metrics.SparseCategoricalAccuracy(name="pixel_accuracy"),
                keras.metrics.MeanIoU(info.num_classes, sparse_y_pred=False, name="mean_iou"),
            ],
            steps_per_execution=recipe.steps_per_execution,
        )
        return model

    def fit_data(self, model, dataset, recipe):
        """(images, masks, weights): ignored pixels get class 0 and weight 0.

        The loss is the mean over all pixels of the batch, ignored ones counting 0 (Keras'
        `sum_over_batch_size` with the weights as `sample_weight`): a divisor that does not
        depend on how many pixels a batch ignores, as the paper's unnormalised Caffe loss
        (`normalize: false`), and the same on one device and split over replicas. The metrics
        take the same weights, so ignored pixels count nowhere.
        """
        if dataset is None:
            return None

        def weighted(images, masks):
            masks = tf.cast(masks, tf.int32)
            kept = tf.not_equal(masks, IGNORE_LABEL)
            # Integer weights: MeanIoU counts pixels in an integer confusion matrix.
            return images, tf.where(kept, masks, 0), tf.cast(kept, tf.int32)

        return dataset.map(weighted)

    def prepare(self, recipe, data, test):
        """The held-out images pictured every epoch with their masks, and the class count."""
        return take_examples(test, recipe.callbacks.sample_grid), data.info.num_classes

    def callbacks(self, recipe, run_dir, prepared) -> list:
        held_out, classes = prepared
        return [
            MaskLogger(
                held_out,
                run_dir / "masks",
                image_log_dir(recipe.callbacks, run_dir),
                classes=classes,
            )
        ]

    def inspected_examples(self, recipe) -> int:
        """None: a mask is no class to tally in a confusion matrix (`MaskLogger` pictures them)."""
        return 0

    def evaluate(self, model, recipe, test, prepared, *, verbose):
        evaluation = model.evaluate(
            self.fit_data(model, test, recipe), return_dict=True, verbose=verbose
        )
        metrics = {
            "test_mean_iou": float(evaluation["mean_iou"]),
            "test_pixel_accuracy": float(evaluation["pixel_accuracy"]),
            "test_loss": float(evaluation["loss"]),
        }
        return model, metrics

    def export_parts(self, model, recipe, test):
        """(the model to export: images -> {class_map: uint8 (h, w), probabilities}; a batch)."""
        return exported_model(model, logits=gives_logits(recipe)), next(iter(test))[0].numpy()

    def headline(self, metrics) -> str:
        return (
            f"mean IoU {metrics['test_mean_iou']:.3f} (pixel accuracy "
            f"{100 * metrics['test_pixel_accuracy']:.2f} %) on {metrics['data']['num_test']} "
            "test images"
        )

    def learning_failure(self, metrics, history) -> str | None:
        """Why the run did not learn, or "" if it did: a mean IoU clearly above what predicting
        the background everywhere scores, and a training loss that fell below the first epoch's."""
        classes = metrics["data"]["num_classes"]
        score = metrics["test_mean_iou"]
        losses = history.get("loss", [])
        if score <= CHANCE_FACTOR / classes:
            found = (
                f"test mean IoU {score:.3f} is within {CHANCE_FACTOR}x of a model that predicts "
                f"the background everywhere (at most {1 / classes:.3f})"
            )
        elif len(losses) > 1 and min(losses[1:]) >= losses[0]:
            found = f"the training loss never fell below its first epoch's ({losses[0]:.4f})"
        else:
            return ""
        return (
            f"this run did not learn: {found}. Likely causes: a learning rate too high or too low, "
            "too few steps, or masks that do not match the images"
        )

    def report_figures(self, folder, recipe, model, run_dir, *, examples: int) -> list[str]:
        """Curves, test images with their true and predicted masks, first-layer filters."""
        small = apply_overrides(recipe, {"data.train_limit": 1, "data.test_limit": REPORT_EXAMPLES})
        data = self.load(small.data)
        images, masks = take_examples(
            batches(data.test, batch_size=REPORT_EXAMPLES), REPORT_EXAMPLES
        )
        probabilities = model.predict(images, verbose=0)
        if isinstance(probabilities, dict):
            probabilities = probabilities[PROBABILITIES]
        grid = viz.mask_grid(
            images.astype("uint8"),
            masks,
            probabilities.argmax(-1),
            data.info.num_classes,
            title=f"{recipe.name}: test images, true and predicted classes",
        )
        paths = [
            *write_curves(folder, recipe, run_dir),
            viz.save(grid, folder / "masks.png"),
            *write_filters(folder, model),
        ]
        return [path.name for path in paths]


def exported_model(model: keras.Model, *, logits: bool = False) -> keras.Model:
    """`model` (images -> per-pixel probabilities, or logits) with two named outputs: the uint8
    class map and the float32 probabilities."""
    probabilities = model.output
    if logits:
        probabilities = keras.layers.Softmax(dtype="float32", name="softmax")(probabilities)
    outputs = {CLASS_MAP: ClassMap(name=CLASS_MAP)(probabilities), PROBABILITIES: probabilities}
    return keras.Model(model.inputs, outputs, name=model.name)


__all__ = ["CLASS_MAP", "PROBABILITIES", "SegmentationTask", "exported_model"]
