"""R-CNN: detection by a classifier of warped region proposals (`kerascnn.models.rcnn`).

Everything a detection run does is `DetectionTask`'s: the data (images with padded boxes), the
scores (COCO mAP by pycocotools, on held-out images every `callbacks.quality_every` epochs and
on the whole test split at the end, with images/s, proposals included), the pictures and the
report. What differs is owned here: the training examples are regions, not images (selective
search runs once on every training image and `RCNN.training_regions` labels its proposals; each
example is one region of one stored image, which the model's `train_step` warps and
classifies), and there is no export (selective search is OpenCV code outside the TensorFlow
graph, which a SavedModel cannot carry).
"""

from __future__ import annotations

import sys
import time
import weakref

import keras
import numpy as np

from kerascnn.errors import ExportError, RecipeError
from kerascnn.models import create_model
from kerascnn.training.tasks.base import optimizer_for
from kerascnn.training.tasks.detection import DetectionTask

NO_EXPORT = (
    "R-CNN's region proposals are OpenCV's selective search, code outside the TensorFlow graph "
    "that a SavedModel cannot carry, so there is no export of the whole detector"
)


class RCNNTask(DetectionTask):
    """A detector whose classifier learns from warped regions of the training images."""

    name = "rcnn"
    kind = "an R-CNN detector"
    likely_causes = (
        "a learning rate too high or too low, too few steps, proposals that miss the objects "
        "(model.args.search_k, max_proposals, min_size), or boxes that do not match the images"
    )

    def __init__(self):
        # Per model, its training regions, made once (`examples_of`); gone with the model.
        self._examples = weakref.WeakKeyDictionary()

    def check(self, recipe) -> None:
        super().check(recipe)
        if recipe.export.enabled:
            raise RecipeError(
                f"{NO_EXPORT}; set export.enabled=False (--no-export): the run's final.keras "
                "holds it, and kerascnn detect takes the run directory"
            )

    def build(self, recipe, data) -> keras.Model:
        info = data.info
        model = create_model(
            recipe.model.name,
            input_shape=info.image_shape,
            classes=info.num_classes,
            seed=recipe.seed,
            **dict(recipe.model.args),
        )
        # The loss is the model's own (`RCNN.train_step`); selective search runs in
        # `tf.numpy_function`, which XLA cannot compile.
        examples = self.examples_of(model, data)
        model.compile(
            optimizer=optimizer_for(recipe, info, examples=max(1, len(examples[0]))),
            steps_per_execution=recipe.steps_per_execution,
            jit_compile=False,
        )
        return model

    def examples_of(self, model, data):
        """(image index, region) of every training region: selective search on every training
        image, once per model (the optimizer's schedule counts them, the stream serves them)."""
        if model not in self._examples:
            images, targets = [], []
            for image, target in data.train.batch(256).as_numpy_iterator():
                images.append(image)
                targets.append(target)
            count = sum(len(i) for i in images)
            print(f"selective search on {count} training images ...", file=sys.stderr, flush=True)
            started = time.perf_counter()
            image_of, regions = model.training_regions(
                np.concatenate(images), np.concatenate(targets)
            )
            objects = int((regions[:, 4] > 0).sum())
            print(
                f"  {len(regions)} training regions ({objects} of objects, "
                f"{len(regions) - objects} background) in {time.perf_counter() - started:.0f} s",
                file=sys.stderr,
                flush=True,
            )
            self._examples[model] = image_of, regions, time.perf_counter() - started
        return self._examples[model][:2]

    def stream_targets(self, model, data):
        """(image index, region) pairs: each training example is one region of one image."""
        return self.examples_of(model, data)

    def evaluate(self, model, recipe, test, prepared, *, verbose):
        """`DetectionTask.evaluate` (images/s with selective search included), and the seconds
        selective search took on the training images before training, which `train_seconds`
        leaves out: R-CNN's training time is the sum."""
        model, metrics = super().evaluate(model, recipe, test, prepared, verbose=verbose)
        if model in self._examples:
            metrics["train_proposal_seconds"] = round(self._examples[model][2], 1)
        return model, metrics

    def export_parts(self, model, recipe, test):
        raise ExportError(f"{NO_EXPORT}; kerascnn detect takes the run directory")


__all__ = ["NO_EXPORT", "RCNNTask"]
