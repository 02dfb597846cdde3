"""Resume after a crash: a run killed with SIGKILL at any moment and run again ends with the weights
of an uninterrupted run (deterministic runs), and a finished run is not trained over."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

import kerascnn.models  # noqa: F401  (registers the layers the checkpoints hold)
from kerascnn.cli import main

# 8 steps per epoch, 3 epochs, a checkpoint every 2 steps, augmentation, dropout, a cosine schedule,
# weight averaging (written into the model once, after the last of a resumed run's fit calls).
RUN = [
    "deep_mnist",
    "--dataset",
    "mnist_sample",
    "--epochs",
    "3",
    "--batch-size",
    "32",
    "--augmentation",
    "digits",
    "--deterministic",
    "--set",
    "data.train_limit=256",
    "--set",
    "data.test_limit=64",
    "--set",
    "optimizer.schedule=cosine",
    "--set",
    "optimizer.ema_momentum=0.9",
    "--set",
    "callbacks.checkpoint_every=2",
    "--set",
    "callbacks.histogram_freq=0",
    "--set",
    "callbacks.inspect_examples=0",
]


def kerascnn(cwd, *args, kill_when=None, sig=signal.SIGKILL, run=RUN):
    """Runs the CLI in `cwd`; with `kill_when`, sends `sig` as soon as `kill_when()` holds."""
    process = subprocess.Popen(
        [sys.executable, "-m", "kerascnn", "run", *run, *args, "--verbose", "0"],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )
    if kill_when is not None:
        deadline = time.monotonic() + 300
        while process.poll() is None and not kill_when():
            assert time.monotonic() < deadline, "the kill point was never reached"
            time.sleep(0.01)
        assert process.poll() is None, "the run finished before the kill point"
        os.kill(process.pid, sig)
    out, err = process.communicate(timeout=600)
    if kill_when is None:
        assert process.returncode == 0, err[-3000:]
    elif sig == signal.SIGINT:
        assert process.returncode == 130, err[-3000:]
    return out, err


def progress(cwd, name="deep_mnist"):
    runs = sorted((Path(cwd) / "runs" / name).glob("*/checkpoints/last/progress.json"))
    if not runs:
        return None
    try:
        saved = json.loads(runs[-1].read_text())
    except ValueError:
        return None
    return saved["epoch"], saved["step"]


def final_weights(cwd, name="deep_mnist"):
    (path,) = Path(cwd).glob(f"runs/{name}/*/checkpoints/last/model.keras")
    return keras.saving.load_model(path).get_weights()


def assert_identical(first, second):
    assert len(first) == len(second)
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("uninterrupted")
    kerascnn(cwd, "--no-export")
    return final_weights(cwd)


@pytest.mark.slow  # four processes; in process: test_tensorboard_step_scalars_continue_after_a_resume
def test_killed_mid_epoch_and_between_epochs_resumes_to_the_same_weights(tmp_path, uninterrupted):
    kerascnn(tmp_path, "--no-export", kill_when=lambda: (progress(tmp_path) or (0, 0)) >= (1, 2))
    assert progress(tmp_path)[0] == 1  # killed in epoch 2, after a step checkpoint
    out, _ = kerascnn(
        tmp_path, "--no-export", kill_when=lambda: (progress(tmp_path) or (0, 0)) >= (2, 0)
    )
    assert "resuming" in out and "at epoch 2/3, step " in out
    out, _ = kerascnn(tmp_path, "--no-export")
    assert "resuming" in out and "at epoch 3/3" in out
    assert_identical(final_weights(tmp_path), uninterrupted)
    (run_dir,) = (tmp_path / "runs" / "deep_mnist").iterdir()  # one run, continued twice
    history = (run_dir / "history.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in history[1:]] == ["0", "1", "2"]  # each epoch once
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["epochs"] == 3 and metrics["resumed_at"]["epoch"] == 3


@pytest.mark.slow  # two more processes; Ctrl-C in process: test_tensorboard_step_scalars_continue_after_a_resume
def test_ctrl_c_saves_where_it_stopped_and_prints_the_command_that_resumes(tmp_path, uninterrupted):
    _, err = kerascnn(
        tmp_path,
        "--no-export",
        kill_when=lambda: (progress(tmp_path) or (0, 0)) >= (1, 2),
        sig=signal.SIGINT,
    )
    lines = [line for line in err.splitlines() if line.startswith("interrupted: ")]
    assert len(lines) == 1 and "Traceback" not in err, err[-2000:]
    (run_dir,) = (tmp_path / "runs" / "deep_mnist").iterdir()
    saved = progress(tmp_path)
    assert f"the run is saved at epoch {saved[0] + 1}, step {saved[1]} in" in lines[0]
    command = lines[0].split("resume it with: ")[1].split()
    assert command[:2] == ["kerascnn", "run"] and len(command) == 3
    assert (tmp_path / command[2]).resolve() == (run_dir / "recipe.json").resolve()
    done = subprocess.run(
        [sys.executable, "-m", "kerascnn", *command[1:], "--verbose", "0"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0 and "resuming" in done.stdout, done.stderr[-2000:]
    assert_identical(final_weights(tmp_path), uninterrupted)


@pytest.mark.slow  # two more processes, each exporting
def test_killed_during_export_publishes_nothing_then_resumes_and_exports(
    tmp_path, uninterrupted, monkeypatch, capfd
):
    exports = tmp_path / "saved_models" / "deep_mnist"
    kerascnn(tmp_path, kill_when=lambda: any(exports.glob(".partial-*")))
    assert not [p for p in exports.iterdir() if not p.name.startswith(".")]  # no version
    # Its training was whole and uninterrupted: a second run, bit-identical to the first.
    assert_identical(final_weights(tmp_path), uninterrupted)
    out, _ = kerascnn(tmp_path)
    assert "after its last epoch" in out
    assert [p.name for p in exports.iterdir()] == ["1"]  # the dead export's folder is gone
    assert_identical(final_weights(tmp_path), uninterrupted)

    # The finished run is not trained over: the same command is refused, --fresh starts over.
    # In this process: the refusal comes before anything is set up (op determinism stays off).
    monkeypatch.chdir(tmp_path)
    code = main(["run", *RUN])
    stderr = capfd.readouterr().err
    assert code == 2 and "already finished" in stderr
    assert "--fresh" in stderr and "Traceback" not in stderr


def test_the_checkpoint_keeps_early_stopping_and_plateau_state(tmp_path):
    from kerascnn.training import resume
    from kerascnn.training.callbacks import Checkpoint, NonFiniteLossGuard

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.Adam(1e-2), "mse")
    x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
    stopper = keras.callbacks.EarlyStopping(monitor="loss", patience=50, restore_best_weights=True)
    plateau = keras.callbacks.ReduceLROnPlateau(monitor="loss", patience=50)
    checkpoint = Checkpoint(tmp_path, NonFiniteLossGuard())
    checkpoint.tracked = [stopper, plateau]
    model.fit(x, x[:, :1], epochs=3, verbose=0, callbacks=[stopper, plateau, checkpoint])

    fresh_stopper = keras.callbacks.EarlyStopping(
        monitor="loss", patience=50, restore_best_weights=True
    )
    fresh_plateau = keras.callbacks.ReduceLROnPlateau(monitor="loss", patience=50)
    progress, best = resume.restore(model, tmp_path)
    resumed = Checkpoint(tmp_path, NonFiniteLossGuard(), progress=progress, best_weights=best)
    resumed.tracked = [fresh_stopper, fresh_plateau]
    for callback in (fresh_stopper, fresh_plateau, resumed):
        callback.set_model(model)
        callback.on_train_begin()
    assert progress.epoch == 3
    assert fresh_stopper.best == pytest.approx(stopper.best) and fresh_stopper.wait == stopper.wait
    assert fresh_plateau.best == pytest.approx(plateau.best)
    for saved, kept in zip(fresh_stopper.best_weights, stopper.best_weights, strict=True):
        np.testing.assert_array_equal(saved, kept)
    assert int(model.optimizer.iterations.numpy()) == 6  # 3 epochs of 2 steps


# Two deterministic smoke epochs with a checkpoint every 2 steps, then what makes each model small.
SHORT = "--smoke --epochs 2 --deterministic --no-export --set callbacks.checkpoint_every=2".split()
# Resuming does not depend on the width; a narrow DCGAN saves time.
GAN = ["dcgan", *SHORT, "--set", "callbacks.quality_every=0", "--set", "model.args.base_filters=16"]
# Epochs of 7 steps: 64 scenes of 32 px with three or four captions each.
CAPTIONING = [
    "captioning",
    *SHORT,
    *("--set", "data.train_limit=64", "--set", "data.image_shape=[32,32,3]"),
    *("--set", "model.args.units=32", "--set", "model.args.embedding_dim=16"),
]


@pytest.mark.slow  # three processes per model
@pytest.mark.parametrize("run", [GAN, CAPTIONING], ids=["dcgan", "captioning"])
def test_a_custom_model_killed_mid_epoch_resumes_to_the_same_weights(tmp_path, run):
    name = run[0]
    reference = tmp_path / "reference"
    reference.mkdir()
    kerascnn(reference, run=run)
    kerascnn(tmp_path, run=run, kill_when=lambda: (progress(tmp_path, name) or (0, 0)) >= (0, 2))
    out, _ = kerascnn(tmp_path, run=run)
    assert "resuming" in out
    assert_identical(final_weights(tmp_path, name), final_weights(reference, name))


def _steps_by_file(folder, tags):
    """[{tag: steps}] of the event files under `folder`, oldest file first."""
    found = []
    for path in Path(folder).glob("events.out.tfevents.*"):
        events = list(tf.compat.v1.train.summary_iterator(str(path)))
        steps = {tag: [] for tag in tags}
        for event in events:
            for value in event.summary.value:
                if value.tag in steps:
                    steps[value.tag].append(event.step)
        found.append((events[0].wall_time, steps))
    return [steps for _, steps in sorted(found, key=lambda item: item[0])]


@pytest.fixture(scope="module")
def ctrl_c_then_resumed(tmp_path_factory):
    """A run stopped by Ctrl-C (a real SIGINT to its handler) after the 6th of its 8 steps (2 epochs
    of 4), in process, then run again: it continues from the checkpoint saved at that step."""
    from kerascnn import recipes
    from kerascnn.training.tasks import ClassificationTask

    class CtrlC(keras.callbacks.Callback):
        steps = 0

        def on_train_batch_end(self, batch, logs=None):
            self.steps += 1
            if self.steps == 6:
                signal.raise_signal(signal.SIGINT)

    task_callbacks = ClassificationTask.callbacks
    overrides = {
        "epochs": 2,
        "deterministic": True,
        "runs_dir": str(tmp_path_factory.mktemp("ctrl_c") / "runs"),
        "export": {"enabled": False},
        "data.train_limit": 128,
        "callbacks.update_freq": 1,
        "callbacks.inspect_examples": 0,
    }
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            ClassificationTask,
            "callbacks",
            lambda self, *args: [*task_callbacks(self, *args), CtrlC()],
        )
        with pytest.raises(KeyboardInterrupt):
            recipes.run("deep_mnist", smoke=True, verbose=0, **overrides)
    return recipes.run("deep_mnist", smoke=True, verbose=0, **overrides)


def test_tensorboard_step_scalars_continue_after_a_resume(ctrl_c_then_resumed):
    result = ctrl_c_then_resumed
    assert result.metrics["resumed_at"] == {"epoch": 2, "step": 3}
    tags = ("batch_loss", "batch_learning_rate", "batch_images_per_second")
    interrupted, resumed = _steps_by_file(result.run_dir / "tensorboard" / "train", tags)
    for tag in tags:
        assert interrupted[tag] == [1, 2, 3, 4, 5, 6], tag
        assert resumed[tag] == [7, 8], tag  # from 7 on, not from 1 again


def test_tensorboard_epoch_scalars_are_written_once_per_epoch_after_a_resume(ctrl_c_then_resumed):
    result = ctrl_c_then_resumed
    for split in ("train", "validation"):
        interrupted, resumed = _steps_by_file(
            result.run_dir / "tensorboard" / split, ("epoch_loss",)
        )
        assert interrupted["epoch_loss"] == [0] and resumed["epoch_loss"] == [1], split
