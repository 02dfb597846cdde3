"""The run directory: its layout, its records, finding runs, and the trained model it holds.

Every reader and writer of a run's files goes through this module:

    runs/<recipe>/<YYYYmmdd-HHMMSS>/
        recipe.json          the resolved recipe, written first
        data.json            the data it trains on (`DatasetInfo`: class names, image shape and
                             adaptation), written when training starts
        history.csv          one row per epoch (empty cells: a score not taken that epoch)
        checkpoints/last/    the resumable state (`kerascnn.training.resume`)
        tensorboard/         scalars, images, graph
        curves.png           the training curves
        model.keras          the final model as evaluated (weight averages applied, main head only)
        metrics.json         written last: a run that has it is finished
        report/              `kerascnn report`

A run directory belongs to one recipe (its `recipe.json`). Running the same recipe again continues
the newest unfinished run of it; a finished one is never trained over.

An export (`kerascnn.export`) is a numbered version `saved_models/<recipe>/<N>/`: a SavedModel with
`model.keras` beside it, or one model file for another runtime (`exported_file`: `model.onnx`,
`model.tflite`, `model_float16.tflite`, `model_int8.tflite`) with `export.json`; each keeps the
run's `recipe.json` and `metrics.json`.

`load_trained(source)` is the one way to get a trained model back, from a run directory, an export
(`saved_models/NAME/VERSION`) or a `.keras` file: `kerascnn report`, `sample`, `caption`,
`--init-from` and ensembles all use it, so they all see the same weights.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import json
import math
from datetime import datetime
from pathlib import Path

import keras
import tensorflow as tf

import kerascnn.models  # noqa: F401  (registers the custom classes a saved model may hold)
from kerascnn import files
from kerascnn.config import Recipe, from_dict, to_dict
from kerascnn.errors import KerasCNNError

RECIPE = "recipe.json"
DATA = "data.json"
METRICS = "metrics.json"
HISTORY = "history.csv"
FINAL_MODEL = "model.keras"
CHECKPOINT = Path("checkpoints") / "last"
TENSORBOARD = "tensorboard"
CURVES = "curves.png"
REPORT = "report"
# An export's own files (`kerascnn.export`): the SavedModel's graph and the Keras model beside it.
SAVED_MODEL = "saved_model.pb"
EXPORTED_MODEL = "model.keras"
# An export for another runtime (`kerascnn export RUN --format onnx|litert`): one model file, named
# by format and quantization (`exported_file`), beside the run's recipe and metrics and
# `export.json`, what the export was made from and what its verification in its runtime found.
EXPORTED_FILES = {
    ("onnx", None): "model.onnx",
    ("litert", None): "model.tflite",
    ("litert", "float16"): "model_float16.tflite",
    ("litert", "int8"): "model_int8.tflite",
}
EXPORT_RECORD = "export.json"


def new_run_dir(runs_dir, name: str) -> Path:
    """A new, empty run directory `runs_dir/name/<time>` (a suffix when two start in one second)."""
    base = Path(runs_dir) / name
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    for suffix in [""] + [f"-{i}" for i in range(1, 100)]:
        run_dir = base / f"{stamp}{suffix}"
        try:
            run_dir.mkdir(parents=True)
            return run_dir
        except FileExistsError:
            continue
        except OSError as error:
            raise KerasCNNError(
                f"cannot create the run directory {run_dir}: {error.strerror}; "
                "choose a writable --runs-dir"
            ) from None
    raise KerasCNNError(f"too many runs of {name} started this second under {base}")


def write_recipe(run_dir: Path, recipe: Recipe) -> None:
    files.write_json(Path(run_dir) / RECIPE, to_dict(recipe))


def read_recipe(run_dir) -> Recipe:
    """The recipe a run directory recorded, or a one-line error when it is not a run directory."""
    path = Path(run_dir) / RECIPE
    record = _read_json(path)
    if not isinstance(record, dict) or "name" not in record:
        raise KerasCNNError(
            f"{run_dir} is not a run directory (no readable {RECIPE}); pass a folder such as "
            "runs/deep_mnist/20261122-081500"
        )
    return from_dict(record)


def write_data(run_dir: Path, info: dict) -> None:
    """Records the data a run trains on (`dataclasses.asdict` of its `DatasetInfo`); a finished
    run's and an export's `metrics.json` hold the same under "data"."""
    files.write_json(Path(run_dir) / DATA, info)


def read_data(folder) -> dict:
    """The data a run or export recorded (class names, image shape, adaptation); {} if none."""
    folder = Path(folder)
    data = read_metrics(folder).get("data")
    if not isinstance(data, dict):
        data = _read_json(folder / DATA)
    return data if isinstance(data, dict) else {}


def write_metrics(run_dir: Path, metrics: dict) -> None:
    """Writes `metrics.json`, which marks the run finished: call it last."""
    files.write_json(Path(run_dir) / METRICS, metrics)


def read_metrics(run_dir) -> dict:
    """A finished run's metrics; {} for an unfinished run."""
    metrics = _read_json(Path(run_dir) / METRICS)
    return metrics if isinstance(metrics, dict) else {}


def is_finished(run_dir) -> bool:
    return (Path(run_dir) / METRICS).is_file()


def history_path(run_dir) -> Path:
    return Path(run_dir) / HISTORY


def read_history(run_dir) -> dict[str, list[float]]:
    """The run's history, one value per epoch for every column; an epoch without a value (a
    score taken every few epochs) is NaN, so every column lines up with the epochs."""
    path = history_path(run_dir)
    if not path.is_file():
        return {}
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    columns = [name for name in (rows[0] if rows else {}) if name != "epoch"]
    return {name: [_number(row.get(name)) for row in rows] for name in columns}


def keep_history(run_dir, epochs: int) -> None:
    """Drops the rows of epochs after the checkpoint from a resumed run's history."""
    path = history_path(run_dir)
    if not path.is_file():
        return
    rows = path.read_text().splitlines(keepends=True)
    files.write_text(path, "".join(rows[: 1 + epochs]) if epochs else "")


def _number(text) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):  # CSVLogger writes "NA" or nothing for a missing value
        return math.nan


def unfinished_run(runs_dir, recipe: Recipe, *, fresh: bool) -> Path | None:
    """The run of this recipe to continue, or None for a new run: the newest run with the same
    recipe, unless it finished (then this raises, unless `fresh` asks for a new run)."""
    if fresh:
        return None
    same = _runs_of(runs_dir, recipe)
    if not same:
        return None
    newest = same[0]
    if is_finished(newest):
        raise KerasCNNError(
            f"recipe {recipe.name!r} with these settings already finished in {newest}; "
            "pass --fresh (fresh=True) to train it again in a new run directory"
        )
    return newest


def finished_run(runs_dir, recipe: Recipe) -> Path | None:
    """The newest finished run of this recipe that kept its final model, or None."""
    for run_dir in _runs_of(runs_dir, recipe):
        if is_finished(run_dir) and (run_dir / FINAL_MODEL).is_file():
            return run_dir
    return None


def _runs_of(runs_dir, recipe: Recipe) -> list[Path]:
    """The run directories of this recipe under `runs_dir`, newest first."""
    base = Path(runs_dir) / recipe.name
    if not base.is_dir():
        return []
    record = to_dict(recipe)
    return [
        run_dir
        for run_dir in sorted(base.iterdir(), reverse=True)
        if run_dir.is_dir() and same_recipe(_read_json(run_dir / RECIPE), record)
    ]


def same_recipe(saved, record: dict) -> bool:
    """Whether a run's saved record is this recipe's; fields added to kerascnn since it was
    written count as their defaults. With the data read from `data.data_dir`,
    `data.offline_fallback` (what to do without data) cannot have changed the training, so it may
    differ: `scripts/reproduce.py` turns it off."""
    if not isinstance(saved, dict) or saved.get("name") != record.get("name"):
        return False
    try:
        saved = to_dict(from_dict(saved))
    except KerasCNNError:
        return False
    saved, record = _normalized(saved), _normalized(record)
    for data in (saved.get("data"), record.get("data")):
        if isinstance(data, dict) and data.get("data_dir"):
            data.pop("offline_fallback", None)
    return saved == record


def _normalized(record):
    return json.loads(json.dumps(record, default=str))


def _read_json(path: Path):
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


@dataclasses.dataclass
class Trained:
    """A trained model as `load_trained` found it.

    `model`: the Keras model (a run's final model, else its last checkpoint; an export's or a
    `.keras` file's model), loaded on first use from `path`. `saved_model`: for an export loaded
    with `serving`, its reloaded SavedModel, whose `serve` signature is what a deployment runs.
    `recipe` and `metrics`: what the run or export recorded, also for its `.keras` files given
    by path (None and {} for a `.keras` file on its own). `data`: the data it trained on
    (`read_data`: class names, image shape, adaptation; {} when not recorded).
    """

    path: Path
    recipe: Recipe | None = None
    metrics: dict = dataclasses.field(default_factory=dict)
    data: dict = dataclasses.field(default_factory=dict)
    saved_model: object = None

    @property
    def is_export(self) -> bool:
        return self.saved_model is not None

    @functools.cached_property
    def model(self):
        try:
            return keras.saving.load_model(self.path, compile=False, safe_mode=True)
        except Exception as error:  # a corrupt or foreign file: zip, HDF5, Keras raise many kinds
            first = (str(error).splitlines() or ["damaged"])[0][:200]
            raise KerasCNNError(
                f"{self.path} cannot be loaded as a Keras model ({type(error).__name__}: {first})"
            ) from None


def exported_file(format: str, quantize: str | None = None) -> str:
    """The file name of an export for another runtime: `model.onnx`, `model.tflite`,
    `model_float16.tflite`, `model_int8.tflite`."""
    return EXPORTED_FILES[format, quantize]


def read_export_record(folder) -> dict:
    """What an export for another runtime recorded about itself (`EXPORT_RECORD`); {} for a
    SavedModel export or a folder without one."""
    record = _read_json(Path(folder) / EXPORT_RECORD)
    return record if isinstance(record, dict) else {}


def model_files(source) -> list[Path]:
    """Where `source` may keep a Keras model, best first: a `.keras` file itself; a run's final
    model (weight averages applied) then its last checkpoint; an export's model."""
    source = Path(source)
    if source.suffix == ".keras":
        return [source]
    if (source / SAVED_MODEL).is_file():
        return [source / EXPORTED_MODEL]
    return [source / FINAL_MODEL, source / CHECKPOINT / "model.keras"]


def load_trained(source, *, serving: bool = False) -> Trained:
    """The trained model at `source`: a run directory, an export or a `.keras` file.

    With `serving`, an export's SavedModel is loaded (`Trained.saved_model`). Raises a one-line
    `KerasCNNError` when `source` holds no model; the Keras model loads when first used.
    """
    source = Path(source)
    folder = source if source.is_dir() else None
    exported = folder is not None and (folder / SAVED_MODEL).is_file()
    path = next((path for path in model_files(source) if path.is_file()), None)
    if path is None and not (exported and serving):
        raise KerasCNNError(
            f"{source} holds no trained model (looked for "
            f"{', '.join(str(p) for p in model_files(source))}); give a run directory (e.g. "
            "runs/deep_mnist/<time>), an export (saved_models/NAME/VERSION) or a .keras file"
        )
    saved_model = None
    if exported and serving:
        saved_model = tf.saved_model.load(str(folder))
    records = folder or _holder(source)
    return Trained(
        path=path,
        recipe=read_recipe(records) if records and (records / RECIPE).is_file() else None,
        metrics=read_metrics(records) if records else {},
        data=read_data(records) if records else {},
        saved_model=saved_model,
    )


def _holder(path: Path) -> Path | None:
    """The run or export whose model file `path` is (a run's `model.keras` or checkpoint, an
    export's `model.keras`), so its records describe it; None for a file on its own."""
    for folder in (path.parent, path.parent.parent.parent):
        if (folder / RECIPE).is_file() and path in model_files(folder):
            return folder
    return None
