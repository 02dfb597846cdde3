"""Export: a verified SavedModel plus a `.keras` file, published as a new numbered version.

Layout: `<directory>/<name>/<version>/` holds `saved_model.pb`, `variables/` (TF Serving's layout; the
serving signature `serve` maps the model's input to its output: images to class probabilities for a
classifier, noise to uint8 images for a GAN's generator, images to caption strings for a captioner), `model.keras` and any records passed in.
The version is built under a temporary name, reloaded with `tf.saved_model.load` and compared with the
Keras model, and only then renamed into place; an existing version is never touched.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from kerascnn import files
from kerascnn.errors import ExportError


def export_model(
    model: keras.Model,
    directory: str | os.PathLike,
    name: str,
    *,
    sample: np.ndarray,
    records: dict | None = None,
    atol: float = 1e-5,
) -> Path:
    """Exports `model` as the next version under `directory/name` and returns its path.

    Args:
        model: the trained Keras model.
        directory: the export root, e.g. "saved_models".
        name: the sub-folder, usually the recipe's name.
        sample: a batch of inputs on which the reloaded SavedModel must match the Keras model.
        records: file name -> JSON-ready data written beside the model (recipe, metrics).
        atol: largest allowed absolute difference between the two predictions.
    """
    base = Path(directory) / name
    try:
        base.mkdir(parents=True, exist_ok=True)
        remove_abandoned(base)
        staging = Path(tempfile.mkdtemp(prefix=f".partial-{os.getpid()}-", dir=base))
    except OSError as error:
        raise ExportError(
            f"cannot write exports under {base}: {error.strerror}; choose a writable --export-dir"
        ) from None
    try:
        # The input's shape and float32, whatever the policy; the batch size is free.
        signature = [tf.TensorSpec((None, *np.shape(sample)[1:]), tf.float32)]
        model.export(
            str(staging), format="tf_saved_model", verbose=False, input_signature=signature
        )
        model.save(staging / "model.keras")
        for file_name, data in (records or {}).items():
            files.write_json(staging / file_name, data)
        verify_saved_model(model, staging, sample, atol=atol)
        return _publish(staging, base)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def verify_saved_model(model: keras.Model, path: Path, sample: np.ndarray, *, atol: float) -> None:
    """Reloads the SavedModel at `path` and checks that it predicts what `model` predicts
    (numbers within `atol`, strings exactly)."""
    # predict, not a direct call: the graph it runs computes what the SavedModel's graph does
    # (eager 16-bit kernels differ in the last bits).
    expected = np.asarray(model.predict(sample, verbose=0))
    reloaded = tf.saved_model.load(str(path))
    served = np.asarray(reloaded.serve(tf.constant(sample, dtype=tf.float32)))
    if expected.dtype == object:
        if not np.array_equal(served, expected):
            raise ExportError(
                "the reloaded SavedModel writes other text than the Keras model "
                f"({served[0]!r} against {expected[0]!r}); nothing was published"
            )
        return
    difference = float(np.max(np.abs(served.astype(np.float64) - expected)))
    if not difference <= atol:
        raise ExportError(
            f"the reloaded SavedModel differs from the Keras model by {difference:.3g} "
            f"(allowed {atol:g}); nothing was published"
        )


def remove_abandoned(base: Path) -> None:
    """Deletes the staging folders of exports whose process died (killed mid-export); they were
    never versions, but they take space."""
    for staging in base.glob(".partial-*-*"):
        pid = staging.name.split("-")[1]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(staging, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def next_version(base: Path) -> int:
    """One more than the highest numbered version under `base` (1 for the first)."""
    numbers = [int(p.name) for p in base.iterdir() if p.is_dir() and p.name.isdigit()]
    return max(numbers, default=0) + 1


def _publish(staging: Path, base: Path) -> Path:
    # A rename onto an existing directory fails, so two runs finishing at once get distinct versions.
    for _ in range(100):
        target = base / str(next_version(base))
        try:
            os.rename(staging, target)
            return target
        except OSError:
            if not target.exists():
                raise
    raise ExportError(f"could not find a free version number under {base}")
