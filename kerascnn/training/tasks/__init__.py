"""Tasks: what differs between kinds of runs (`Task` says what each answers).

- `ClassificationTask`: images -> class probabilities, scored by test accuracy.
- `GanTask`: a DCGAN, scored by the Inception Score and Fréchet distance of its digits.
- `CaptioningTask`: Show and Tell, scored by BLEU of its captions.
- `SegmentationTask`: FCN, a class per pixel, scored by mean IoU.
- `DetectionTask`: Faster R-CNN, boxes with classes and scores, scored by COCO mAP.
- `RCNNTask`: R-CNN, a detection task whose classifier learns from warped region proposals.

A recipe's task comes from its model's registry entry (`task_of`).
"""

from __future__ import annotations

from kerascnn.errors import RecipeError
from kerascnn.registry import models
from kerascnn.training.tasks.base import Task, Unread
from kerascnn.training.tasks.captioning import CaptioningTask
from kerascnn.training.tasks.classification import (
    MAIN_OUTPUT,
    ClassificationTask,
    compile_classifier,
    heads,
    inference_model,
)
from kerascnn.training.tasks.detection import DetectionTask
from kerascnn.training.tasks.gan import GanTask
from kerascnn.training.tasks.rcnn import RCNNTask
from kerascnn.training.tasks.segmentation import SegmentationTask

TASKS = {
    task.name: task
    for task in (
        ClassificationTask(),
        GanTask(),
        CaptioningTask(),
        SegmentationTask(),
        DetectionTask(),
        RCNNTask(),
    )
}


def task_of(recipe) -> Task:
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


__all__ = [
    "MAIN_OUTPUT",
    "TASKS",
    "CaptioningTask",
    "ClassificationTask",
    "DetectionTask",
    "GanTask",
    "RCNNTask",
    "SegmentationTask",
    "Task",
    "Unread",
    "compile_classifier",
    "heads",
    "inference_model",
    "task_of",
]
