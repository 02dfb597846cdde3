"""Segmenting image files: `kerascnn segment RUN_OR_EXPORT image.png [...] [--out-dir DIR]`.

The source is a segmentation run directory, its export (`saved_models/NAME/VERSION`) or a `.keras`
file, loaded by `kerascnn.runs.load_trained`. Each image (any size; PNG, JPEG, BMP, GIF) is resized
to the model's input, every pixel classified, and the class map resized back (nearest neighbour)
and drawn over the original image in Pascal VOC's colours; `<stem>_segmented.png` is written to
the output folder. Class names are the ones the run recorded with its data.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import tensorflow as tf

from kerascnn import files, runs, viz
from kerascnn.data.folders import read_image
from kerascnn.errors import KerasCNNError
from kerascnn.models.pixels import takes_pixels, taking_pixels
from kerascnn.training.tasks import task_of
from kerascnn.training.tasks.segmentation import PROBABILITIES

SUFFIX = "_segmented.png"


@dataclasses.dataclass(frozen=True)
class Segmentation:
    """One segmented image: where its overlay went, and each class's share of its pixels
    (classes present only, largest first)."""

    image: str
    overlay: Path
    shares: dict[str, float]


def load_segmenter(source):
    """(model: pixel values 0-255 -> per-pixel probabilities, class names) for `source`."""
    trained = runs.load_trained(source)
    if trained.recipe is not None and task_of(trained.recipe).name != "segmentation":
        task = task_of(trained.recipe)
        raise KerasCNNError(
            f"{source} holds {task.kind} ({trained.recipe.model.name!r}), not a segmentation "
            "model; kerascnn segment needs a segmentation run, export or .keras file"
        )
    model = trained.model
    if isinstance(model.output, dict):
        if PROBABILITIES not in model.output:
            raise KerasCNNError(f"{source} has no {PROBABILITIES!r} output to segment with")
        model = type(model)(model.inputs, model.output[PROBABILITIES], name=model.name)
    shape = tuple(model.outputs[0].shape)
    if len(shape) != 4 or len(model.inputs[0].shape) != 4:
        raise KerasCNNError(
            f"{source} holds a model whose output has shape {shape}, not a class per pixel "
            "(batch, height, width, classes); pass a segmentation run, export or .keras file"
        )
    if not takes_pixels(model):  # a builder's bare network: [0, 1] in
        model = taking_pixels(model)
    names = tuple(trained.data.get("class_names") or ()) or tuple(map(str, range(shape[-1])))
    return model, names


def segment_files(source, paths, *, out_dir=".", alpha: float = 0.5) -> list[Segmentation]:
    """Writes `<stem>_segmented.png` for each image file in `paths` into `out_dir`."""
    if not paths:
        raise KerasCNNError("give at least one image file to segment")
    if not 0 < alpha <= 1:
        raise KerasCNNError(f"--alpha must be in (0, 1], got {alpha}")
    model, names = load_segmenter(source)
    height, width, channels = model.inputs[0].shape[1:]
    images = [read_image(path, channels=3) for path in paths]  # every file read before writing
    out = Path(out_dir)
    targets = [out / f"{Path(path).stem}{SUFFIX}" for path in paths]
    if len(set(targets)) < len(targets):
        raise KerasCNNError("two images have the same file name; their overlays would collide")
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for path, image, target in zip(paths, images, targets, strict=True):
        resized = read_image(path, channels=channels, size=(height, width))
        probabilities = model.predict(resized[np.newaxis].astype(np.float32), verbose=0)[0]
        classes = np.argmax(probabilities, axis=-1).astype(np.uint8)
        full = _nearest(classes, image.shape[:2])
        with files.atomic_path(target) as temporary:
            Path(temporary).write_bytes(
                tf.io.encode_png(viz.overlay(image, full, len(names), alpha=alpha)).numpy()
            )
        counts = np.bincount(full.ravel(), minlength=len(names))
        shares = {names[c]: float(counts[c] / full.size) for c in np.argsort(-counts) if counts[c]}
        results.append(Segmentation(str(path), target, shares))
    return results


def _nearest(classes: np.ndarray, size) -> np.ndarray:
    rows = np.minimum((np.arange(size[0]) + 0.5) * classes.shape[0] / size[0], classes.shape[0] - 1)
    columns = np.minimum(
        (np.arange(size[1]) + 0.5) * classes.shape[1] / size[1], classes.shape[1] - 1
    )
    return classes[rows.astype(int)][:, columns.astype(int)]


def format_segmentations(results: list[Segmentation]) -> str:
    """One line per image: its overlay and the classes it holds, with their share of pixels."""
    lines = []
    for result in results:
        shown = ", ".join(f"{name} {100 * share:.1f} %" for name, share in result.shares.items())
        lines.append(f"{result.image} -> {result.overlay}  ({shown})")
    return "\n".join(lines)
