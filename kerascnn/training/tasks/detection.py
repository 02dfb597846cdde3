"""Detection: images -> boxes, classes and scores (Faster R-CNN, `kerascnn.models.faster_rcnn`),
trained end to end with the model's own `train_step` (approximate joint training), scored by
COCO mAP@[.5:.95], mAP@0.5 and mAP@0.75 (pycocotools, `kerascnn.boxes.coco_map`) on a held-out
subset every `callbacks.quality_every` epochs and on the whole test split at the end; the export
serves normalised and pixel boxes, classes, scores and the count of detections, per-class NMS
inside the graph; the run pictures held-out images with their true and predicted boxes every
epoch."""

from __future__ import annotations

import time

import keras
import numpy as np

from kerascnn import boxes, viz
from kerascnn.data import batches
from kerascnn.data.detected import DIGIT_CANVASES, check_config, load_detected
from kerascnn.models import create_model
from kerascnn.overrides import apply_overrides
from kerascnn.training.callbacks import BoxLogger, image_log_dir, predict_detections
from kerascnn.training.tasks.base import Task, Unread, optimizer_for, write_curves

# A detector whose mAP@0.5 is at most this has not learned (an untrained one scores ~0).
CHANCE_MAP50 = 0.05
REPORT_EXAMPLES = 8
# Test images the report's precision-recall curves are measured on, at most.
CURVE_EXAMPLES = 500
# The smallest score of the boxes the pictures draw.
PICTURE_SCORE = 0.5


class DetectionTask(Task):
    """A detector taking pixel values and (image, padded boxes) examples, scored by COCO mAP."""

    name = "detection"
    kind = "a detector"
    target_field = "target_map50"
    # Pixel boxes are hundreds of pixels: float32 rounds them by ~1e-5 where the SavedModel's
    # graph orders an operation differently (measured 1.5e-5 at 64 px); a thousandth of a pixel
    # (or of the image, for normalised boxes and for scores) still catches a detection that
    # differs.
    export_atol = 1e-3
    # What `learning_failure` suggests.
    likely_causes = (
        "a learning rate too high or too low, too few steps, anchors (model.args.anchor_scales) "
        "far from the objects' sizes, or boxes that do not match the images"
    )

    def check(self, recipe) -> None:
        """Images with boxes, and no augmentation (the presets move images, not their boxes)."""
        self.check_no_plateau(recipe)
        self.check_no_augmentation(recipe, "boxes")
        check_config(recipe.data)

    def unread_settings(self, recipe) -> dict[str, Unread]:
        rules = super().unread_settings(recipe)
        # Read: the held-out images scored every epoch ('test', 'holdout'; 'none': none).
        del rules["data.validation"]
        model = recipe.model.name
        rules["label_smoothing"] = Unread(
            f"label_smoothing is for classifiers and GANs; {model!r} is {self.kind} (remove it)",
            (0.0,),
        )
        rules["callbacks.inspect_examples"] = Unread(
            "callbacks.inspect_examples is for classifiers (a confusion matrix of held-out "
            f"images); {model!r} is {self.kind}, whose run pictures callbacks.sample_grid "
            "held-out images with their boxes and scores callbacks.quality_examples of them by mAP",
            (0,),
        )
        return rules

    def data_source(self, recipe) -> tuple[str, str | None]:
        source, folder = super().data_source(recipe)
        if source == "tfds" and recipe.data.name == DIGIT_CANVASES:
            return "scenes", None  # made, not downloaded
        return source, folder

    def load(self, config):
        return load_detected(config)

    def build(self, recipe, data) -> keras.Model:
        info = data.info
        model = create_model(
            recipe.model.name,
            input_shape=info.image_shape,
            classes=info.num_classes,
            seed=recipe.seed,
            **dict(recipe.model.args),
        )
        # The losses are the model's own (`FasterRCNN.train_step`).
        model.compile(
            optimizer=optimizer_for(recipe, info), steps_per_execution=recipe.steps_per_execution
        )
        return model

    def prepare(self, recipe, data, test):
        """The held-out images scored and pictured every epoch (numpy), or None without
        validation; and the class names."""
        held_out = {"test": test, "holdout": None, "none": None}[recipe.data.validation]
        if recipe.data.validation == "holdout" and data.validation is not None:
            held_out = batches(data.validation, batch_size=recipe.batch_size)
        wanted = max(recipe.callbacks.quality_examples, recipe.callbacks.sample_grid)
        examples = None if held_out is None else first_examples(held_out, wanted)
        return examples, data.info.class_names

    def callbacks(self, recipe, run_dir, prepared) -> list:
        examples, names = prepared
        if examples is None:
            return []
        return [
            BoxLogger(
                examples,
                run_dir / "boxes",
                image_log_dir(recipe.callbacks, run_dir),
                class_names=names,
                count=recipe.callbacks.quality_examples,
                every=recipe.callbacks.quality_every,
                grid=recipe.callbacks.sample_grid,
                score=PICTURE_SCORE,
            )
        ]

    def inspected_examples(self, recipe) -> int:
        """None: an image has many boxes, no one class (`BoxLogger` pictures them)."""
        return 0

    def evaluate(self, model, recipe, test, prepared, *, verbose):
        """COCO mAP, mAP@0.5 and mAP@0.75 of the whole test split, and detection speed."""
        _, names = prepared
        truth, detections, seconds = [], [], 0.0
        for images, targets in test:
            images = images.numpy()
            started = time.perf_counter()
            detections += predict_detections(model, images, batch_size=recipe.batch_size)
            seconds += time.perf_counter() - started
            truth += boxes.truth_in_pixels(targets.numpy(), images.shape[1:3])
        scores = boxes.coco_map(truth, detections, classes=len(names))
        metrics = {f"test_{key}": value for key, value in scores.items()}
        metrics["test_images_per_second"] = round(len(truth) / max(seconds, 1e-9), 1)
        return model, metrics

    def export_parts(self, model, recipe, test):
        """(the detector itself: images -> boxes, pixel_boxes, classes, scores,
        valid_detections; a batch of test images)."""
        return model, next(iter(test))[0].numpy()

    def headline(self, metrics) -> str:
        return (
            f"COCO mAP {metrics['test_map']:.3f}, mAP@0.5 {metrics['test_map50']:.3f}, mAP@0.75 "
            f"{metrics['test_map75']:.3f} on {metrics['data']['num_test']} test images"
        )

    def learning_failure(self, metrics, history) -> str | None:
        """Why the run did not learn, or "" if it did: an mAP@0.5 above what an untrained
        detector scores, and a training loss that fell below the first epoch's."""
        score = metrics["test_map50"]
        losses = history.get("loss", [])
        if score <= CHANCE_MAP50:
            found = f"test mAP@0.5 {score:.3f} is at most {CHANCE_MAP50} (an untrained detector's)"
        elif len(losses) > 1 and min(losses[1:]) >= losses[0]:
            found = f"the training loss never fell below its first epoch's ({losses[0]:.4f})"
        else:
            return ""
        return f"this run did not learn: {found}. Likely causes: {self.likely_causes}"

    def report_figures(self, folder, recipe, model, run_dir, *, examples: int) -> list[str]:
        """Curves, test images with their true and predicted boxes, and the precision-recall
        curves at IoU 0.5 of up to `examples` (at most `CURVE_EXAMPLES`) test images."""
        count = max(REPORT_EXAMPLES, min(examples, CURVE_EXAMPLES))
        small = apply_overrides(recipe, {"data.train_limit": 1, "data.test_limit": count})
        data = self.load(small.data)
        images, targets = first_examples(batches(data.test, batch_size=recipe.batch_size), count)
        detections = predict_detections(model, images, batch_size=recipe.batch_size)
        truth = boxes.truth_in_pixels(targets, images.shape[1:3])
        found = [
            tuple(part[scores >= PICTURE_SCORE] for part in (b, c, scores))
            for b, c, scores in detections[:REPORT_EXAMPLES]
        ]
        names = data.info.class_names
        grid = viz.box_grid(
            images[:REPORT_EXAMPLES].astype("uint8"),
            [(b, labels) for b, labels, _ in truth[:REPORT_EXAMPLES]],
            found,
            names,
            title=f"{recipe.name}: test images, true and predicted boxes "
            f"(score >= {PICTURE_SCORE:g})",
        )
        scores = boxes.coco_map(truth, detections, classes=len(names), curves=True)
        curves = viz.precision_recall_figure(
            scores["recall"],
            scores["precision"],
            names,
            title=f"{recipe.name}: precision-recall at IoU 0.5 on {len(truth)} test images "
            f"(mAP@0.5 {scores['map50']:.3f})",
        )
        paths = [
            *write_curves(folder, recipe, run_dir),
            viz.save(grid, folder / "boxes.png"),
            viz.save(curves, folder / "precision_recall.png"),
        ]
        return [path.name for path in paths]


def first_examples(dataset, limit: int) -> tuple[np.ndarray, np.ndarray]:
    """Up to `limit` (images, padded box labels) as numpy arrays from a batched dataset."""
    images, targets, count = [], [], 0
    for batch_images, batch_targets in dataset:
        images.append(np.asarray(batch_images))
        targets.append(np.asarray(batch_targets))
        count += len(images[-1])
        if count >= limit:
            break
    if not images:
        return np.zeros((0,), np.float32), np.zeros((0, 1, 5), np.float32)
    return np.concatenate(images)[:limit], np.concatenate(targets)[:limit]


__all__ = ["DetectionTask", "first_examples"]
