"""Resuming runs: the checkpoint that holds a run's state (which run a request continues is
`kerascnn.runs.unfinished_run`).

A checkpoint is the folder `checkpoints/last/`, replaced as a whole (`files.atomic_directory`), so a
kill at any moment leaves the previous one or the new one, never a mix:

- `model.keras`: the model with its optimizer (weights, moments, step counter, and so the position
  in the learning-rate schedule);
- `random.npz`: the states of the model's random generators (dropout masks), which Keras does not save;
- `progress.json`: epochs and steps done, and the state of the callbacks that have one (the best
  metric and patience of early stopping and of reduce-on-plateau, the steps logged so far);
- `best.npz`: early stopping's best weights, when it keeps them.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import keras
import numpy as np

from kerascnn import files
from kerascnn.errors import KerasCNNError
from kerascnn.runs import CHECKPOINT

# What Keras' own callbacks keep between epochs (each resets it in `on_train_begin`).
CALLBACK_STATE = {
    "EarlyStopping": ("wait", "best", "best_epoch", "stopped_epoch"),
    "ReduceLROnPlateau": ("wait", "best", "cooldown_counter"),
}


@dataclasses.dataclass
class Progress:
    """How far a run got: `epoch` epochs done and `step` steps of the next one."""

    epoch: int = 0
    step: int = 0
    calls: int = 0  # train-function calls so far: the step axis of the TensorBoard scalars
    callbacks: dict = dataclasses.field(default_factory=dict)


def random_states(model: keras.Model) -> list:
    """The model's variables that are random-generator states (Keras saves only weights)."""
    weights = {id(v) for v in model.weights}
    return [v for v in model.variables if id(v) not in weights]


def save(model: keras.Model, run_dir: Path, progress: Progress, best_weights=None) -> None:
    """Writes the checkpoint of `run_dir`, replacing the previous one as a whole."""
    with files.atomic_directory(run_dir / CHECKPOINT) as staging:
        model.save(staging / "model.keras")
        np.savez(staging / "random.npz", *[np.asarray(v.numpy()) for v in random_states(model)])
        if best_weights is not None:
            np.savez(staging / "best.npz", *best_weights)
        files.write_json(staging / "progress.json", dataclasses.asdict(progress))


def has_checkpoint(run_dir: Path) -> bool:
    return (run_dir / CHECKPOINT / "progress.json").is_file()


def read_progress(run_dir: Path) -> Progress:
    return Progress(**json.loads((run_dir / CHECKPOINT / "progress.json").read_text()))


def restore(model: keras.Model, run_dir: Path) -> tuple[Progress, list | None]:
    """Loads the checkpoint of `run_dir` into `model` (built and compiled as for the run); returns
    the progress and early stopping's best weights (or None)."""
    folder = run_dir / CHECKPOINT
    try:
        progress = read_progress(run_dir)
    except (OSError, ValueError, TypeError) as error:
        raise KerasCNNError(
            f"the checkpoint record {folder / 'progress.json'} is damaged ({error}); "
            "pass --fresh to start the run over"
        ) from None
    # Its variables must exist to receive the saved ones (keras-team/keras#19389); a DCGAN builds
    # its two optimizers when compiled.
    if model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    try:
        model.load_weights(folder / "model.keras")
        with np.load(folder / "random.npz", allow_pickle=False) as saved:
            states = [saved[f"arr_{i}"] for i in range(len(saved.files))]
    except Exception as error:  # a damaged file: zip, HDF5 and numpy raise many kinds
        raise KerasCNNError(
            f"the checkpoint in {folder} cannot be loaded ({type(error).__name__}: "
            f"{str(error).splitlines()[0][:200] if str(error) else 'damaged'}); "
            "pass --fresh to start the run over"
        ) from None
    variables = random_states(model)
    if len(states) == len(variables):
        for variable, state in zip(variables, states, strict=True):
            variable.assign(state)
    best = None
    if (folder / "best.npz").is_file():
        with np.load(folder / "best.npz", allow_pickle=False) as saved:
            best = [saved[f"arr_{i}"] for i in range(len(saved.files))]
    return progress, best


def callback_state(callbacks) -> dict:
    """The resumable state of Keras' callbacks in `callbacks`, by class name."""
    state = {}
    for callback in callbacks:
        names = CALLBACK_STATE.get(type(callback).__name__)
        if names:
            state[type(callback).__name__] = {
                name: _plain(getattr(callback, name, None)) for name in names
            }
    return state


def apply_callback_state(callbacks, state: dict) -> None:
    for callback in callbacks:
        for name, value in state.get(type(callback).__name__, {}).items():
            setattr(callback, name, value)


def _plain(value):
    if value is None:
        return None
    return float(value) if isinstance(value, (float, np.floating)) else int(value)
