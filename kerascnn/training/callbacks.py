"""The callbacks of a run: TensorBoard, CSV history, checkpoint, learning rate, speed and held-out
images (`InspectionLogger`), NaN guard, and the GAN's, captioner's, segmenter's and detector's
per-epoch figures and scores."""

from __future__ import annotations

import signal
import sys
import threading
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from kerascnn import boxes, compat, runs, viz
from kerascnn.data.pipeline import take_examples
from kerascnn.models.common import PREDICTIONS
from kerascnn.models.dcgan import generate_pixels, requested_labels, sample_sheet
from kerascnn.training import resume
from kerascnn.training.resume import Progress


class LearningRateLogger(keras.callbacks.Callback):
    """Adds the optimizer's current learning rate to the logs: every epoch, and every
    `update_freq` steps of the whole run (the steps TensorBoard writes), so both curves have it."""

    def __init__(self, update_freq: int | None = None, progress=None):
        super().__init__()
        self.update_freq = update_freq
        self.progress = progress
        self._step = 0

    def _add_rate(self, logs):
        # A model with several optimizers (a GAN) has no single rate to report.
        if logs is not None and self.model.optimizer is not None:
            logs["learning_rate"] = float(
                keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)
            )

    def on_train_begin(self, logs=None):
        self._step = steps_done(self.progress)

    def on_train_batch_end(self, batch, logs=None):
        # Counted like TensorBoard's own step (once per call, also with steps_per_execution > 1).
        self._step += 1
        if self.update_freq and self._step % self.update_freq == 0:
            self._add_rate(logs)

    def on_epoch_end(self, epoch, logs=None):
        self._add_rate(logs)


class EpochFigure(keras.callbacks.Callback):
    """A figure after every epoch, as `epoch_NNN.png` under `folder` and as the TensorBoard image
    `tag` (when `log_dir` is set); subclasses draw it in `figure(epoch, logs)`."""

    tag = "figure"

    def __init__(self, folder, log_dir=None):
        super().__init__()
        self.folder = Path(folder)
        self.log_dir = None if log_dir is None else str(log_dir)

    def on_train_begin(self, logs=None):
        self.folder.mkdir(parents=True, exist_ok=True)
        self._writer = None if self.log_dir is None else tf.summary.create_file_writer(self.log_dir)

    def on_epoch_end(self, epoch, logs=None):
        if self.model.stop_training:
            return  # an epoch cut short (Ctrl-C, a broken step): the resumed run draws it
        figure = self.figure(epoch, logs)
        viz.save(figure, self.folder / f"epoch_{epoch + 1:03d}.png")
        if self._writer is not None:
            # record_if: TensorBoard's step filter must not drop these (see TensorBoard below).
            with self._writer.as_default(), tf.summary.record_if(True):
                tf.summary.image(self.tag, viz.figure_tensor(figure), step=epoch)
            self._writer.flush()

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()

    def figure(self, epoch, logs):
        raise NotImplementedError


class SampleGrid(EpochFigure):
    """A GAN's generator on fixed noise after every epoch (`EpochFigure`, tag `samples`), so one
    sees it learn; a conditional GAN's with one row per class (`dcgan.sample_sheet`)."""

    tag = "samples"

    def __init__(self, folder, log_dir=None, *, count=64, seed=0):
        super().__init__(folder, log_dir)
        self.count = count
        self.seed = seed

    def figure(self, epoch, logs):

        # The same seed every epoch: the same noise, so the grids show one set of images learning.
        images, titles, columns = sample_sheet(self.model.generator, self.count, seed=self.seed)
        return viz.image_grid(
            images, titles, columns=columns, title=f"epoch {epoch + 1}: fixed noise"
        )


class GanQualityLogger(keras.callbacks.Callback):
    """Adds `inception_score` and `frechet_distance` of `count` generated images to the epoch logs
    every `every` epochs (and after the last), scored by a `kerascnn.quality.DigitScorer`; for a
    conditional GAN, drawn for every class in turn, also `class_fidelity` and
    `min_class_fidelity`."""

    def __init__(self, scorer, *, count=2000, every=1, seed=0):
        super().__init__()
        self.scorer = scorer
        self.count = count
        self.every = every
        self.seed = seed

    def on_epoch_end(self, epoch, logs=None):

        last = epoch + 1 == self.params.get("epochs")
        if logs is None or not ((epoch + 1) % self.every == 0 or last):
            return
        generator = self.model.generator
        labels = requested_labels(generator, self.count)
        images = generate_pixels(generator, self.count, seed=self.seed + epoch, labels=labels)
        logs.update(self.scorer(images, labels))


class CaptionLogger(EpochFigure):
    """A captioning model on held-out images after every epoch: BLEU-1...4 of its greedy captions
    of the first `count` of them in the epoch logs (`val_bleu1`... every `every` epochs and after
    the last), and a grid of the first `grid` with their captions (`EpochFigure`, tag
    `captions`)."""

    tag = "captions"

    def __init__(self, references, folder, log_dir=None, *, count=1000, grid=16, every=1):
        super().__init__(folder, log_dir)
        self.references = references
        self.count = count
        self.grid = grid
        self.every = every

    def figure(self, epoch, logs):
        last = epoch + 1 == self.params.get("epochs")
        scored = self.every and ((epoch + 1) % self.every == 0 or last)
        generated = self.references.caption(self.model, self.count if scored else self.grid)
        if scored and logs is not None:
            logs.update({f"val_{k}": v for k, v in self.references.bleu(generated).items()})
        return self.references.grid(generated[: self.grid], title=f"epoch {epoch + 1}")


class MaskLogger(EpochFigure):
    """A segmentation model on held-out images after every epoch: each image beside its true and
    its predicted class map (`EpochFigure`, tag `masks`). `held_out` = (images, masks)."""

    tag = "masks"

    def __init__(self, held_out, folder, log_dir=None, *, classes: int):
        super().__init__(folder, log_dir)
        self.images, self.masks = held_out
        self.classes = classes

    def figure(self, epoch, logs):
        probabilities = self.model.predict(self.images, verbose=0)
        predicted = np.argmax(np.asarray(probabilities), axis=-1)
        return viz.mask_grid(
            self.images.astype(np.uint8),
            self.masks,
            predicted,
            self.classes,
            title=f"epoch {epoch + 1}: held-out images, true and predicted classes",
        )


class BoxLogger(EpochFigure):
    """A detector on held-out images after every epoch: COCO mAP, mAP@0.5 and mAP@0.75
    (`kerascnn.boxes.coco_map`) of its detections of the first `count` of them in the epoch logs
    (`val_map`, `val_map50`, `val_map75`, after the first epoch, every `every` epochs and after
    the last; NaN in between), and the first
    `grid` with their true and predicted boxes (`EpochFigure`, tag `boxes`). `held_out` =
    (images, padded box labels); `score` the smallest score drawn."""

    tag = "boxes"

    def __init__(
        self, held_out, folder, log_dir=None, *, class_names, count, every=1, grid=8, score=0.5
    ):
        super().__init__(folder, log_dir)
        self.images, self.targets = held_out
        self.class_names = tuple(class_names)
        self.count = count
        self.every = every
        self.grid = grid
        self.score = score

    def figure(self, epoch, logs):
        last = epoch + 1 == self.params.get("epochs")
        # The first epoch too: the history's columns are those of the first epoch's logs.
        scored = bool(self.count) and (
            epoch == 0 or last or bool(self.every and (epoch + 1) % self.every == 0)
        )
        shown = max(self.count if scored else 0, self.grid)
        detections = predict_detections(self.model, self.images[:shown])
        truth = boxes.truth_in_pixels(self.targets[:shown], self.images.shape[1:3])
        if self.count and logs is not None:
            scores = (
                boxes.coco_map(
                    truth[: self.count], detections[: self.count], classes=len(self.class_names)
                )
                if scored
                else dict.fromkeys(("map", "map50", "map75"), float("nan"))
            )
            # NaN when not scored: every epoch has the same columns (a resumed run's too).
            logs.update({f"val_{key}": value for key, value in scores.items()})
        kept = [
            tuple(part[found[2] >= self.score] for part in found)
            for found in detections[: self.grid]
        ]
        return viz.box_grid(
            self.images[: self.grid],
            [(found, labels) for found, labels, _ in truth[: self.grid]],
            kept,
            self.class_names,
            title=f"epoch {epoch + 1}: held-out images, true and predicted boxes "
            f"(score >= {self.score:g})",
        )


def predict_detections(model: keras.Model, images: np.ndarray, batch_size: int = 32) -> list:
    """A detector's detections of `images` (pixel values): per image (pixel boxes, classes,
    scores), best first."""
    if not len(images):
        return []
    outputs = model.predict(np.asarray(images, np.float32), batch_size=batch_size, verbose=0)
    return boxes.unpad_detections(
        outputs["pixel_boxes"], outputs["classes"], outputs["scores"], outputs["valid_detections"]
    )


def main_output(outputs):
    """The class probabilities of a model's output (a dict when it has auxiliary heads)."""
    return outputs[PREDICTIONS] if isinstance(outputs, dict) else outputs


def predict_classes(model: keras.Model, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    probabilities = main_output(model.predict(images, batch_size=batch_size, verbose=0))
    return np.argmax(np.asarray(probabilities), axis=-1)


def confusion_matrix(labels, predicted, num_classes: int) -> np.ndarray:
    return tf.math.confusion_matrix(labels, predicted, num_classes=num_classes).numpy()


class InspectionLogger(keras.callbacks.Callback):
    """Adds speed to the logs and writes images to TensorBoard.

    Speed: `images_per_second` every `update_freq` steps (over those steps) and every epoch (over
    its training steps), and the epoch's wall time as `seconds`. Images: at the start, a grid of
    augmented training inputs; after every epoch, the confusion matrix and the misclassified
    examples among up to `examples` held-out images (none when 0). With `log_dir` None it only
    measures speed. Put it before the TensorBoard callback so that the speed reaches TensorBoard
    and the CSV history.
    """

    def __init__(
        self,
        log_dir,
        *,
        train,
        held_out,
        class_names,
        examples_per_epoch,
        batch_size,
        update_freq=None,
        examples=1000,
        progress=None,
    ):
        super().__init__()
        self.log_dir = None if log_dir is None else str(log_dir)
        self.train = train
        self.held_out = held_out
        self.class_names = list(class_names)
        self.examples_per_epoch = examples_per_epoch
        self.batch_size = batch_size
        self.update_freq = update_freq
        self.examples = examples
        self.progress = progress
        self._writer = None
        self._held_out = None

    def on_train_begin(self, logs=None):
        self._step = steps_done(self.progress)
        if self.log_dir is None:
            return
        self._writer = tf.summary.create_file_writer(self.log_dir)
        images, labels = take_examples(self.train, 32)
        # Captioned images have captions, segmented images masks: no class name to show.
        titles = (
            [self.class_names[label] for label in labels]
            if self.class_names and labels.ndim == 1
            else None
        )
        figure = viz.image_grid(images, titles, title="augmented training inputs")
        # record_if: TensorBoard's step filter must not drop these (see callbacks.TensorBoard).
        with self._writer.as_default(), tf.summary.record_if(True):
            tf.summary.image("training_inputs", viz.figure_tensor(figure), step=0)
        if self.examples and self.held_out is not None:
            self._held_out = take_examples(self.held_out, self.examples)

    def on_epoch_begin(self, epoch, logs=None):
        now = time.perf_counter()
        self._epoch_started = self._last_batch_end = self._window_started = now
        self._window_steps = 0

    def on_train_batch_end(self, batch, logs=None):
        self._last_batch_end = time.perf_counter()
        self._step += 1
        self._window_steps += 1
        if self.update_freq and self._step % self.update_freq == 0 and logs is not None:
            elapsed = max(self._last_batch_end - self._window_started, 1e-9)
            logs["images_per_second"] = self._window_steps * self.batch_size / elapsed
            self._window_started, self._window_steps = self._last_batch_end, 0

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            training = max(self._last_batch_end - self._epoch_started, 1e-9)
            logs["images_per_second"] = self.examples_per_epoch / training
            logs["seconds"] = time.perf_counter() - self._epoch_started
        # Not for an epoch cut short (Ctrl-C, a broken step): the resumed run shows it.
        if self._held_out is None or not len(self._held_out[1]) or self.model.stop_training:
            return
        images, labels = self._held_out
        predicted = predict_classes(self.model, images)
        matrix = confusion_matrix(labels, predicted, len(self.class_names))
        with self._writer.as_default(), tf.summary.record_if(True):
            tf.summary.image(
                "confusion_matrix",
                viz.figure_tensor(viz.confusion_matrix_figure(matrix, self.class_names)),
                step=epoch,
            )
            tf.summary.image(
                "misclassified",
                viz.figure_tensor(
                    viz.misclassified_grid(images, labels, predicted, self.class_names)
                ),
                step=epoch,
            )
        self._writer.flush()

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()


class TrainingWeightsKept(keras.callbacks.Callback):
    """Keeps a model on its own weights across the end of a `fit` call: Keras writes an
    optimizer's moving average of the weights (`use_ema`) into the model when `fit` ends (after
    the last epoch's callbacks, before `on_train_end`); a run trained in several `fit` calls (a
    resumed epoch's rest, transfer learning's phases) goes on from its own weights and takes the
    average once, at the end of its last call."""

    def __init__(self):
        super().__init__()
        self.weights = None

    def on_epoch_end(self, epoch, logs=None):
        optimizer = self.model.optimizer
        if optimizer is not None and optimizer.use_ema:
            self.weights = [variable.numpy() for variable in self.model.trainable_weights]

    def on_train_end(self, logs=None):
        if self.weights is not None:
            for variable, value in zip(self.model.trainable_weights, self.weights, strict=True):
                variable.assign(value)


class NonFiniteLossGuard(keras.callbacks.Callback):
    """Stops training at the first step whose loss is NaN or infinite and remembers where.

    Keras' `TerminateOnNaN` stops too, but the epoch still ends: a checkpoint callback would save
    the broken weights over the last good ones, and the run would go on to evaluate and export them.
    Callbacks after this one can ask `failure` (None, or (epoch, step, loss name, value)).
    """

    def __init__(self):
        super().__init__()
        self.failure = None
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        for name, value in (logs or {}).items():
            if name.endswith("loss") and not np.isfinite(float(value)):
                self.failure = (self._epoch + 1, batch + 1, name, float(value))
                self.model.stop_training = True
                return


class GracefulInterrupt:
    """Ctrl-C during training: the first finishes the current step, saves the checkpoint there and
    stops (`requested`); a second stops at once. A context manager that installs the SIGINT
    handler (in the main thread only) and puts the previous one back."""

    def __init__(self):
        self.requested = False
        self._previous = None

    def __enter__(self):

        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):

        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print(
            "\nstopping after this step to save the run (Ctrl-C again to stop at once)",
            file=sys.stderr,
            flush=True,
        )

    def __exit__(self, *exc):

        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
        return False


class Checkpoint(keras.callbacks.Callback):
    """Saves the run's checkpoint (`kerascnn.training.resume`) after every epoch and, with
    `every_steps`, every that many steps of an epoch; skips once the guard saw a broken step.

    `tracked`: the callbacks whose state the checkpoint keeps. Put this callback after them: on
    `on_train_begin` (of each `fit` call of a resumed run) it gives them back what they reset there.
    """

    def __init__(
        self, run_dir, guard, *, progress=None, every_steps=None, best_weights=None, interrupt=None
    ):
        super().__init__()

        self.run_dir = Path(run_dir)
        self.guard = guard
        self.interrupt = interrupt
        self._stopped_mid_epoch = False
        self.every_steps = every_steps
        self.progress = progress or Progress()
        self.tracked = []
        self._best_weights = best_weights
        self._skip = self.progress.step  # steps of the first epoch done before a resume
        self._offset = 0

    def on_train_begin(self, logs=None):

        resume.apply_callback_state(self.tracked, self.progress.callbacks)
        stopper = self._early_stopping()
        if stopper is not None and self._best_weights is not None:
            stopper.best_weights = self._best_weights

    def on_epoch_begin(self, epoch, logs=None):
        self.progress.epoch, self.progress.step = epoch, self._skip
        self._offset, self._skip = self._skip, 0

    def on_train_batch_end(self, batch, logs=None):
        before = self.progress.step
        self.progress.step = self._offset + batch + 1  # `batch` is the last step of the call
        self.progress.calls += 1
        # Not at the epoch's last step: the epoch's end (validation, logs) would be lost.
        last = self.progress.step >= self._offset + self.params.get("steps", float("inf"))
        if self.interrupt is not None and self.interrupt.requested and not last:
            self._save()
            self._stopped_mid_epoch = True
            self.model.stop_training = True
        elif (
            self.every_steps
            and not last
            and self.progress.step // self.every_steps > before // self.every_steps
        ):
            self._save()

    def on_epoch_end(self, epoch, logs=None):
        if self._stopped_mid_epoch:
            return  # saved where it stopped; this epoch is not done
        self.progress.epoch, self.progress.step = epoch + 1, 0
        self._save()
        if self.interrupt is not None and self.interrupt.requested:
            self.model.stop_training = True

    def on_train_end(self, logs=None):

        # A resumed run's next `fit` call starts from here.
        self.progress.callbacks = resume.callback_state(self.tracked)
        stopper = self._early_stopping()
        self._best_weights = None if stopper is None else stopper.best_weights

    def _early_stopping(self):
        found = [c for c in self.tracked if isinstance(c, keras.callbacks.EarlyStopping)]
        return found[0] if found else None

    def _save(self):

        if self.guard.failure is not None:
            return
        self.progress.callbacks = resume.callback_state(self.tracked)
        stopper = self._early_stopping()
        best = None if stopper is None else stopper.best_weights
        resume.save(self.model, self.run_dir, self.progress, best)


class CSVLogger(keras.callbacks.CSVLogger):
    """Keras' CSV history without the empty `val_` columns it adds to a run that has no validation
    (a GAN's)."""

    def on_epoch_end(self, epoch, logs=None):
        if self.keys is None and logs:
            self.keys = sorted(logs)
        super().on_epoch_end(epoch, logs)


class TensorBoard(keras.callbacks.TensorBoard):
    """Keras' TensorBoard callback whose epoch summaries are always written.

    With an integer `update_freq`, Keras keeps `record_if(step % update_freq == 0)` active through
    the whole of training, which also drops the epoch scalars and histograms (and every other
    callback's summaries) whenever the epoch's last step is not a multiple of it
    (tensorflow/tensorflow#49109).

    An epoch cut short (Ctrl-C: Keras still ends the epoch it stopped in) writes no epoch
    summaries: the resumed run writes that epoch whole, once.
    """

    def __init__(self, *args, progress=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.progress = progress
        self.steps_this_epoch = 0

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        # A resumed run's step scalars continue where the interrupted run's stopped.
        compat.continue_tensorboard_steps(self, steps_done(self.progress))

    def on_epoch_begin(self, epoch, logs=None):
        super().on_epoch_begin(epoch, logs)
        self.steps_this_epoch = 0

    def on_train_batch_end(self, batch, logs=None):
        super().on_train_batch_end(batch, logs)
        self.steps_this_epoch = batch + 1  # `batch`: the call's last step

    def on_epoch_end(self, epoch, logs=None):
        steps = self.params.get("steps")
        if self.model.stop_training and steps and self.steps_this_epoch < steps:
            return
        with tf.summary.record_if(True):
            super().on_epoch_end(epoch, logs)


class EpochTimeForecast(keras.callbacks.Callback):
    """After the first epoch a process trains, says how long the `planned` epochs would take at
    that pace, against the `running` ones this run trains (a run cut short for its data)."""

    def __init__(self, planned: int, running: int):
        super().__init__()
        self.planned, self.running = planned, running
        self.started, self.reported = None, False

    def on_epoch_begin(self, epoch, logs=None):
        if self.started is None:
            self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if self.reported:
            return
        self.reported = True
        seconds = time.perf_counter() - self.started
        print(
            f"\nepoch time {seconds:.0f} s: the {self.planned} planned epochs would take about "
            f"{minutes(self.planned * seconds)} here; this run trains {self.running} "
            f"(about {minutes(self.running * seconds)})",
            file=sys.stderr,
            flush=True,
        )


def minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


class StopAtAccuracy(keras.callbacks.Callback):
    """Ends training after the first epoch whose validation accuracy reaches `target`: a budget
    counted in images, for time-to-accuracy figures and `scripts/verify_recipes.py`."""

    def __init__(self, target: float):
        super().__init__()
        self.target = target

    def on_epoch_end(self, epoch, logs=None):
        if (logs or {}).get("val_accuracy", -1.0) >= self.target:
            self.model.stop_training = True


def steps_done(progress) -> int:
    """Train-function calls before this `fit` call: 0 for a new run, more for a resumed one."""
    return 0 if progress is None else progress.calls


def image_log_dir(config, run_dir: Path) -> Path | None:
    """Where a run's TensorBoard images go; None when TensorBoard is off."""
    return run_dir / "tensorboard" / "images" if config.tensorboard else None


def make_callbacks(
    config,
    run_dir: Path,
    *,
    inspection,
    guard,
    task_callbacks=(),
    progress=None,
    best_weights=None,
    interrupt=None,
) -> list[keras.callbacks.Callback]:
    """The run's callbacks, in the order that lets the loggers see what the others add to `logs`.

    `guard` (a `NonFiniteLossGuard`) comes first, so that nothing is saved after a broken step.

    `inspection` (an `InspectionLogger`) adds speed to the logs and writes images; the task's
    callbacks add what its kind of run logs. Every worker of a multi-worker run has the same
    callbacks (they may enter collective operations); the others' run directories are scratch
    (`kerascnn.training.cluster`).

    `progress` (a `resume.Progress`) is where a resumed run continues: the checkpoint gives the
    callbacks their saved state and the step counters start from its steps.
    """
    writes_tensorboard = image_log_dir(config, run_dir) is not None
    callbacks = [
        guard,
        LearningRateLogger(config.update_freq if writes_tensorboard else None, progress),
        inspection,
        *task_callbacks,
    ]
    if writes_tensorboard:
        callbacks.append(
            TensorBoard(
                log_dir=str(run_dir / "tensorboard"),
                histogram_freq=config.histogram_freq,
                write_graph=True,
                update_freq=config.update_freq,
                profile_batch=tuple(config.profile_batches or (0, 0)),
                progress=progress,
            )
        )
    callbacks.append(CSVLogger(str(runs.history_path(run_dir)), append=True))
    if config.early_stopping_patience:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                patience=config.early_stopping_patience, restore_best_weights=True
            )
        )
    if config.stop_at_accuracy is not None:
        callbacks.append(StopAtAccuracy(config.stop_at_accuracy))
    if config.checkpoint:
        checkpoint = Checkpoint(
            run_dir,
            guard,
            progress=progress,
            every_steps=config.checkpoint_every,
            best_weights=best_weights,
            interrupt=interrupt,
        )
        checkpoint.tracked = list(callbacks)
        callbacks.append(checkpoint)
    return callbacks
