"""`kerascnn export RUN --format saved_model|onnx|litert [--quantize float16|int8]`: a trained
run's model for another runtime, verified in that runtime before it is published.

The model is the one `kerascnn.runs.load_trained` gives (a run's final model, weight averages
applied; else its last checkpoint; an export's model), the same that `report`, `sample` and
`--init-from` see. The data are the run's, loaded through the data layer from its recorded recipe
the way the run loaded them: the export is compared with the Keras model on the first test
images, and an int8 export is calibrated on training images taken evenly across the training split.
The version lands under the recipe's export directory (`saved_models/NAME/VERSION/`), with the
run's recipe and metrics and, for ONNX and LiteRT, `export.json` (what was exported, from where,
and what its verification found).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from kerascnn import runs
from kerascnn.config import to_dict
from kerascnn.data import batches
from kerascnn.data.pipeline import take_examples
from kerascnn.errors import ExportError
from kerascnn.export import (
    CALIBRATION_IMAGES,
    MIN_AGREEMENT,
    check_request,
    export_for_runtime,
    export_model,
)
from kerascnn.training.tasks import task_of

# Test images an export is compared on, unless told otherwise.
VERIFY_IMAGES = 1000


def export_run(
    source,
    *,
    format: str = "saved_model",
    quantize: str | None = None,
    calibration_images: int | None = None,
    verify_images: int = VERIFY_IMAGES,
    data_dir: str | None = None,
    export_dir: str | None = None,
    min_agreement: float = MIN_AGREEMENT,
) -> Path:
    """Exports the trained model at `source` (a run directory or an export) and returns the new
    version's folder.

    Args:
        source: a run directory (runs/deep_mnist/20261122-081500) or an export
            (saved_models/deep_mnist/1); a bare `.keras` file records no data to verify on.
        format: "saved_model", "onnx" or "litert".
        quantize: None, or for LiteRT "float16" or "int8" (full integer, calibrated).
        calibration_images: int8 only: training images to calibrate on (default 500).
        verify_images: test images the export is compared on (the first ones of the split).
        data_dir: read the run's dataset from this folder instead of where the run read it.
        export_dir: the export root (default: the recipe's `export.directory`).
        min_agreement: a quantized export's smallest allowed top-1 agreement with the Keras model.

    Raises `ExportError` (one line) when the export cannot be made or does not verify.
    """
    check_request(format, quantize, calibration_images)
    if verify_images < 1:
        raise ExportError(
            f"an export is verified on test images; got --verify-images {verify_images}"
        )
    trained = runs.load_trained(source)
    recipe = trained.recipe
    if recipe is None:
        needs = "test images to verify it on" + (
            " and training images to calibrate int8 on" if quantize == "int8" else ""
        )
        raise ExportError(
            f"{source} records no recipe, so the {needs} cannot be found; export its run "
            "directory (runs/NAME/TIME) or an export of it (saved_models/NAME/VERSION)"
        )
    task = task_of(recipe)
    if format != "saved_model" and not task.runtime_exports:
        raise ExportError(
            f"{format} exports are of classifiers; {recipe.model.name!r} is {task.kind}: "
            "use --format saved_model"
        )
    data_config = recipe.data
    if data_dir is not None:
        data_config = dataclasses.replace(data_config, data_dir=str(data_dir))
    data = task.load(data_config)
    _check_same_data(trained.metrics, data.info, source)
    test = batches(data.test, batch_size=recipe.batch_size)
    model, sample = task.export_parts(trained.model, recipe, test)
    records = {runs.RECIPE: to_dict(recipe), runs.METRICS: trained.metrics}
    directory = export_dir or recipe.export.directory
    if format == "saved_model":
        return export_model(
            model, directory, recipe.name, sample=sample, records=records, atol=task.export_atol
        )
    images, _ = take_examples(test, verify_images)
    calibration = None
    if quantize == "int8":
        calibration = calibration_set(data.train, calibration_images or CALIBRATION_IMAGES)
        if len(calibration) == 0:
            raise ExportError(
                f"int8 quantization calibrates on the run's training images, and "
                f"{data.info.source} has none; nothing was exported"
            )
    return export_for_runtime(
        model,
        directory,
        recipe.name,
        format=format,
        file_name=runs.exported_file(format, quantize),
        images=images,
        quantize=quantize,
        calibration=calibration,
        records=records,
        record=(
            runs.EXPORT_RECORD,
            {"source": str(trained.path), "data": data.info.source},
        ),
        min_agreement=min_agreement,
    )


def calibration_set(train, count: int) -> np.ndarray:
    """Up to `count` training images (float32 pixel values), taken evenly across the split (every
    k-th image), so that every part of it, and so every class of a sorted one, is seen."""
    size = int(train.cardinality())
    stride = max(1, size // count) if size > 0 else 1
    images, _ = take_examples(batches(train.shard(stride, 0), batch_size=256), count)
    return images


def _check_same_data(metrics: dict, info, source) -> None:
    """Refuses data that stand in for what the run trained on: a run that recorded real data
    whose copy cannot be loaded here falls back to the bundled sample."""
    recorded = metrics.get("data") or {}
    if info.fallback and recorded and not recorded.get("fallback"):
        raise ExportError(
            f"{source} trained on {recorded.get('source', 'its own data')}, which cannot be "
            "loaded here (the bundled MNIST sample would stand in); pass --data-dir with a copy"
        )


def describe(version: Path) -> str:
    """One line about an export: its model file, size and what its verification found."""
    record = runs.read_export_record(version)
    if not record:
        return f"export: {version}  (SavedModel, verified in TensorFlow)"
    found = record["verification"]
    agreement = f"top-1 agreement {found['top1_agreement']:.2%}"
    difference = f"largest difference {found['max_difference']:.2g}"
    return (
        f"export: {version / record['file']}  ({record['format']} {record['quantization']}, "
        f"{record['bytes'] / 1e6:.2f} MB; verified in {found['runtime']} on {found['images']} "
        f"test images: {agreement}, {difference})"
    )
