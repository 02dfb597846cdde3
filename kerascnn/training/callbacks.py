"""The callbacks of a run: TensorBoard, CSV history, checkpoint, learning rate, NaN guard."""

from __future__ import annotations

from pathlib import Path

import keras
import tensorflow as tf


class LearningRateLogger(keras.callbacks.Callback):
    """Adds the optimizer's current learning rate to the logs: every epoch, and every
    `update_freq` steps of the whole run (the steps TensorBoard writes), so both curves have it."""

    def __init__(self, update_freq: int | None = None):
        super().__init__()
        self.update_freq = update_freq
        self._step = 0

    def _add_rate(self, logs):
        if logs is not None:
            logs["learning_rate"] = float(
                keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)
            )

    def on_train_begin(self, logs=None):
        self._step = 0

    def on_train_batch_end(self, batch, logs=None):
        # Counted like TensorBoard's own step (once per call, also with steps_per_execution > 1).
        self._step += 1
        if self.update_freq and self._step % self.update_freq == 0:
            self._add_rate(logs)

    def on_epoch_end(self, epoch, logs=None):
        self._add_rate(logs)


class TensorBoard(keras.callbacks.TensorBoard):
    """Keras' TensorBoard callback whose epoch summaries are always written.

    With an integer `update_freq`, Keras keeps `record_if(step % update_freq == 0)` active through
    the whole of training, which also drops the epoch scalars and histograms (and every other
    callback's summaries) whenever the epoch's last step is not a multiple of it
    (tensorflow/tensorflow#49109).
    """

    def on_epoch_end(self, epoch, logs=None):
        with tf.summary.record_if(True):
            super().on_epoch_end(epoch, logs)


def make_callbacks(config, run_dir: Path, *, inspection) -> list[keras.callbacks.Callback]:
    """The run's callbacks, in the order that lets the loggers see what the others add to `logs`.

    `inspection` (an `InspectionLogger`) adds speed to the logs and writes images; only the chief
    of a multi-worker run writes TensorBoard files.
    """
    from kerascnn.training.runtime import is_chief

    writes_tensorboard = config.tensorboard and is_chief()
    if not writes_tensorboard:
        inspection.log_dir = None
    callbacks = [
        LearningRateLogger(config.update_freq if writes_tensorboard else None),
        keras.callbacks.TerminateOnNaN(),
        inspection,
    ]
    if writes_tensorboard:
        callbacks.append(
            TensorBoard(
                log_dir=str(run_dir / "tensorboard"),
                histogram_freq=config.histogram_freq,
                write_graph=True,
                update_freq=config.update_freq,
                profile_batch=tuple(config.profile_batches or (0, 0)),
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
