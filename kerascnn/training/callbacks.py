"""The callbacks of a run: TensorBoard, CSV history, checkpoint, learning rate, NaN guard."""

from __future__ import annotations

from pathlib import Path

import keras


class LearningRateLogger(keras.callbacks.Callback):
    """Adds the optimizer's current learning rate to the epoch logs, so the CSV history has it too."""

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(
                keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)
            )


def make_callbacks(config, run_dir: Path) -> list[keras.callbacks.Callback]:
    """The run's callbacks; `LearningRateLogger` comes first so the others see the rate."""
    callbacks = [LearningRateLogger(), keras.callbacks.TerminateOnNaN()]
    if config.tensorboard:
        callbacks.append(
            keras.callbacks.TensorBoard(
                log_dir=str(run_dir / "tensorboard"),
                histogram_freq=config.histogram_freq,
                write_graph=True,
            )
        )
    callbacks.append(keras.callbacks.CSVLogger(str(run_dir / "history.csv")))
    if config.checkpoint:
        callbacks.append(
            keras.callbacks.ModelCheckpoint(str(run_dir / "checkpoints" / "last.keras"))
        )
    if config.early_stopping_patience:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                patience=config.early_stopping_patience, restore_best_weights=True
            )
        )
    return callbacks
