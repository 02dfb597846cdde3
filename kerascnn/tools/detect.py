"""Detecting objects in image files: `kerascnn detect RUN_OR_EXPORT image.png [...] [--score 0.5]
[--out-dir DIR]`.

The source is a detection run directory, its export (`saved_models/NAME/VERSION`) or a `.keras`
file, loaded by `kerascnn.runs.load_trained`: a Faster R-CNN, or an R-CNN (a run directory or
`.keras` file: it has no export), which runs selective search on each image first. Each image (any size; PNG, JPEG, BMP, GIF) is resized
to the model's input, its objects detected (per-class NMS inside the model), and the boxes scoring
at least `score` scaled back to the original image and drawn on it with their class names and
scores; `<stem>_detected.png` is written to the output folder. Class names are the ones the run
recorded with its data.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import tensorflow as tf

from kerascnn import files, runs, viz
from kerascnn.data.folders import read_image
from kerascnn.errors import KerasCNNError
from kerascnn.models.faster_rcnn import BOXES, CLASSES, SCORES, VALID, FasterRCNN
from kerascnn.models.rcnn import RCNN
from kerascnn.training.tasks import DetectionTask, task_of

SUFFIX = "_detected.png"


@dataclasses.dataclass(frozen=True)
class Detections:
    """One image's detections: where the picture went, and per object (class name, score, box in
    pixels of the original image (y_min, x_min, y_max, x_max)), best first."""

    image: str
    picture: Path
    objects: list[tuple[str, float, tuple[float, float, float, float]]]


def load_detector(source):
    """(model: pixel values 0-255 -> detections, class names) for `source`."""
    trained = runs.load_trained(source)
    if trained.recipe is not None and not isinstance(task_of(trained.recipe), DetectionTask):
        task = task_of(trained.recipe)
        raise KerasCNNError(
            f"{source} holds {task.kind} ({trained.recipe.model.name!r}), not a detector; "
            "kerascnn detect needs a detection run, export or .keras file"
        )
    model = trained.model
    if not isinstance(model, (FasterRCNN, RCNN)):
        raise KerasCNNError(
            f"{source} holds {model.name!r}, not a detector (a Faster R-CNN or an R-CNN); pass "
            "a detection run, export or .keras file"
        )
    names = tuple(trained.data.get("class_names") or ()) or tuple(
        str(c) for c in range(model.classes)
    )
    return model, names


def detect_files(source, paths, *, out_dir=".", score: float = 0.5) -> list[Detections]:
    """Writes `<stem>_detected.png` for each image file in `paths` into `out_dir`."""
    if not paths:
        raise KerasCNNError("give at least one image file to detect objects in")
    if not 0 <= score <= 1:
        raise KerasCNNError(f"--score must be in [0, 1], got {score}")
    model, names = load_detector(source)
    height, width = model.image_shape[:2]
    images = [read_image(path, channels=3) for path in paths]  # every file read before writing
    out = Path(out_dir)
    targets = [out / f"{Path(path).stem}{SUFFIX}" for path in paths]
    if len(set(targets)) < len(targets):
        raise KerasCNNError("two images have the same file name; their pictures would collide")
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for path, image, target in zip(paths, images, targets, strict=True):
        resized = read_image(path, channels=3, size=(height, width)).astype(np.float32)
        outputs = model.predict(resized[np.newaxis], verbose=0)
        count = int(outputs[VALID][0])
        kept = outputs[SCORES][0][:count] >= score
        size = np.array([*image.shape[:2], *image.shape[:2]], np.float32)
        found = outputs[BOXES][0][:count][kept] * size
        classes = outputs[CLASSES][0][:count][kept]
        scores = outputs[SCORES][0][:count][kept]
        with files.atomic_path(target) as temporary:
            picture = viz.draw_boxes(image, found, classes, names, scores=scores)
            Path(temporary).write_bytes(tf.io.encode_png(picture).numpy())
        objects = [
            (names[int(c)], float(s), tuple(round(float(v), 1) for v in box))
            for box, c, s in zip(found, classes, scores, strict=True)
        ]
        results.append(Detections(str(path), target, objects))
    return results


def format_detections(results: list[Detections]) -> str:
    """One line per image: its picture and the objects found, with their scores."""
    lines = []
    for result in results:
        shown = ", ".join(f"{name} {score:.2f}" for name, score, _ in result.objects) or "nothing"
        lines.append(f"{result.image} -> {result.picture}  ({shown})")
    return "\n".join(lines)
