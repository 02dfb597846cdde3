"""What a run shows besides its scalars: TensorBoard images during training, and `kerascnn report`.

The same computations serve both: predictions on held-out examples give the confusion matrix and the
misclassified examples (the book's figure); the first convolution gives the filters and feature maps;
timing every layer's forward pass gives the per-layer time share.
"""

from __future__ import annotations

import base64
import html
import json
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from kerascnn import files, viz
from kerascnn.errors import KerasCNNError
from kerascnn.training.tasks import MAIN_OUTPUT

REPORT_DIR = "report"


def main_output(outputs):
    """The class probabilities of a model's output (a dict when it has auxiliary heads)."""
    return outputs[MAIN_OUTPUT] if isinstance(outputs, dict) else outputs


def take_examples(dataset, limit: int):
    """Up to `limit` (images, labels) as numpy arrays from a batched dataset of (image, label)."""
    images, labels, count = [], [], 0
    for batch_images, batch_labels in dataset:
        images.append(np.asarray(batch_images))
        labels.append(np.asarray(batch_labels))
        count += len(labels[-1])
        if count >= limit:
            break
    if not images:
        return np.zeros((0,)), np.zeros((0,), np.int64)
    return np.concatenate(images)[:limit], np.concatenate(labels)[:limit].astype(np.int64)


def predict_classes(model: keras.Model, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    probabilities = main_output(model.predict(images, batch_size=batch_size, verbose=0))
    return np.argmax(np.asarray(probabilities), axis=-1)


def confusion_matrix(labels, predicted, num_classes: int) -> np.ndarray:
    return tf.math.confusion_matrix(labels, predicted, num_classes=num_classes).numpy()


def classifier_parts(model: keras.Model):
    """(preprocessing layers, classifier) of a run's model: the layers in front of the nested
    builder model, and that model. A bare builder model is its own classifier."""
    preprocessing = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            return preprocessing, layer
        if not isinstance(layer, keras.layers.InputLayer):
            preprocessing.append(layer)
    return [], model


def convolutions(model: keras.Model) -> list[keras.layers.Layer]:
    """The 2-D convolutions of a model, in order, looking inside nested models."""
    found = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            found.extend(convolutions(layer))
        elif isinstance(layer, keras.layers.Conv2D):
            found.append(layer)
    return found


def feature_maps(model: keras.Model, image: np.ndarray, count: int = 3):
    """(layer name, feature map) after each of the first `count` convolutions, for one image."""
    preprocessing, classifier = classifier_parts(model)
    x = image[None].astype(np.float32)
    for layer in preprocessing:
        x = layer(x)
    layers = [layer for layer in convolutions(classifier) if layer in classifier.layers][:count]
    if not layers:
        return []
    probe = keras.Model(classifier.inputs, [layer.output for layer in layers])
    outputs = probe(x)
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    return [(layer.name, np.asarray(out)[0]) for layer, out in zip(layers, outputs, strict=True)]


def layer_times(model: keras.Model, batch: np.ndarray, *, repeats: int = 3, backward: bool = True):
    """Each layer's wall time on `batch`, measured eagerly: {layer: (forward s, backward s)}.

    Every layer of the Functional graph (inside nested models too) runs on its own, as it would in
    the model; its backward time is that of the gradient of its output with respect to its inputs
    and weights. The median over `repeats` passes after a warm-up is kept.
    """
    forward: dict[str, list[float]] = {}
    backward_times: dict[str, list[float]] = {}

    def timed(operation, prefix=""):
        if isinstance(operation, keras.Model) and hasattr(operation, "_run_through_graph"):
            return lambda *args, **kwargs: _run_graph(operation, args, f"{operation.name}/")

        def run(*args, **kwargs):
            kwargs.pop("training", None)
            inputs = [t for t in tf.nest.flatten(args) if tf.is_tensor(t) and t.dtype.is_floating]
            with tf.GradientTape() as tape:
                tape.watch(inputs)
                started = time.perf_counter()
                outputs = operation(*args, **kwargs)
                for tensor in tf.nest.flatten(outputs):
                    _ = tensor.shape  # eager CPU ops have finished when they return
                forward.setdefault(prefix + operation.name, []).append(
                    time.perf_counter() - started
                )
            if backward:
                sources = inputs + list(operation.trainable_weights)
                targets = [t for t in tf.nest.flatten(outputs) if t.dtype.is_floating]
                started = time.perf_counter()
                if sources and targets:
                    grads = tape.gradient(
                        targets, sources, output_gradients=[tf.ones_like(t) for t in targets]
                    )
                    for grad in grads:
                        if grad is not None:
                            _ = grad.shape
                backward_times.setdefault(prefix + operation.name, []).append(
                    time.perf_counter() - started
                )
            return outputs

        return run

    def _run_graph(functional, inputs, prefix):
        return functional._run_through_graph(
            inputs[0] if len(inputs) == 1 else inputs,
            operation_fn=lambda operation: timed(operation, prefix),
        )

    x = tf.convert_to_tensor(batch, tf.float32)
    for _ in range(repeats + 1):
        _run_graph(model, (x,), "")
    return {
        name: (
            float(np.median(times[1:])),
            float(np.median(backward_times[name][1:])) if name in backward_times else 0.0,
        )
        for name, times in forward.items()
    }


def layer_time_shares(model: keras.Model, batch: np.ndarray, *, repeats: int = 3, top: int = 14):
    """The share of a forward pass's wall time spent in each layer (`layer_times`): the `top`
    layers by share, and the rest summed as "other layers"."""
    totals = {
        name: seconds
        for name, (seconds, _) in layer_times(model, batch, repeats=repeats, backward=False).items()
    }
    total = sum(totals.values()) or 1.0
    ranked = sorted(totals.items(), key=lambda item: -item[1])
    shares = {name.split("/")[-1]: value / total for name, value in ranked[:top]}
    if len(ranked) > top:
        shares["other layers"] = sum(value for _, value in ranked[top:]) / total
    return shares


def profile_recipe(name_or_path, *, batch_size: int = 32, repeats: int = 3, out=None):
    """`kerascnn profile`: each layer's share of a training step's forward and backward time for a
    recipe's model (the seed's figure of AlexNet's time per layer); prints a table, writes a PNG."""
    from kerascnn import recipes
    from kerascnn.data import load_dataset
    from kerascnn.training.run import check_recipe
    from kerascnn.training.tasks import task_of

    recipe = recipes.resolve(name_or_path, {"data.train_limit": 1, "data.test_limit": 1})
    check_recipe(recipe)
    if task_of(recipe).name != "classification":
        raise KerasCNNError(
            f"kerascnn profile measures classifiers; {recipe.model.name!r} is not one"
        )
    data = load_dataset(recipe.data)
    model = task_of(recipe).build(recipe, data)
    batch = np.random.default_rng(0).uniform(0, 255, (batch_size, *data.info.image_shape))
    times = layer_times(model, batch.astype(np.float32), repeats=repeats)
    rows = sorted(
        ((name.split("/")[-1], f, b) for name, (f, b) in times.items()),
        key=lambda r: -(r[1] + r[2]),
    )
    total = sum(f + b for _, f, b in rows) or 1.0
    width = max(len(r[0]) for r in rows)
    lines = [
        f"{recipe.name}: {recipe.model.name} on a batch of {batch_size} "
        f"{'x'.join(map(str, data.info.image_shape))} images, median of {repeats} passes",
        f"{'layer':<{width}}  forward ms  backward ms   share",
    ]
    lines += [
        f"{name:<{width}}  {1000 * f:10.2f}  {1000 * b:11.2f}  {100 * (f + b) / total:5.1f} %"
        for name, f, b in rows
    ]
    print("\n".join(lines), flush=True)
    path = Path(out or f"profile_{recipe.name}.png")
    shown = [r for r in rows if (r[1] + r[2]) / total >= 0.005][:25]
    figure = viz.layer_time_figure({n: (f / total, b / total) for n, f, b in shown}, title=lines[0])
    viz.save(figure, path)
    return path


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
        from kerascnn.training.callbacks import steps_done

        self._step = steps_done(self.progress)
        if self.log_dir is None:
            return
        self._writer = tf.summary.create_file_writer(self.log_dir)
        images, labels = take_examples(self.train, 32)
        # Captioned images have captions, not class names, for labels.
        titles = [self.class_names[label] for label in labels] if self.class_names else None
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
        if self._held_out is None or not len(self._held_out[1]):
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


def write_report(run_dir, *, examples: int = 2000) -> Path:
    """Writes the figures of a finished run as PNGs and one self-contained HTML page; returns its path."""
    from kerascnn.data import batches, load_dataset
    from kerascnn.recipes import from_dict
    from kerascnn.training.tasks import inference_model

    run_dir = Path(run_dir)
    if not (run_dir / "recipe.json").is_file():
        raise KerasCNNError(
            f"{run_dir} is not a run directory (it has no recipe.json); pass a folder such as "
            "runs/deep_mnist/20261122-081500"
        )
    recipe = from_dict(json.loads((run_dir / "recipe.json").read_text()))
    metrics_path = run_dir / "metrics.json"
    metrics = json.loads(metrics_path.read_text()) if metrics_path.is_file() else {}
    model = _load_run_model(run_dir, metrics)
    notice = metrics.get("data", {}).get("note", "")
    with files.atomic_directory(run_dir / REPORT_DIR) as staging:
        if hasattr(model, "generator"):
            names = _write_gan_figures(staging, recipe, model, run_dir)
        elif hasattr(model, "caption"):
            names = _write_caption_figures(staging, recipe, model, run_dir)
        else:
            model = inference_model(model, recipe)
            data = load_dataset(recipe.data)
            notice = data.info.notice
            test = batches(data.test, batch_size=256)
            images, labels = take_examples(test, examples)
            class_names = list(data.info.class_names) or [
                str(i) for i in range(data.info.num_classes)
            ]
            predicted = predict_classes(model, images)
            names = _write_figures(
                staging, recipe, model, data, images, labels, predicted, class_names, run_dir
            )
        files.write_text(staging / "index.html", _html(recipe, metrics, staging, names, notice))
    return run_dir / REPORT_DIR / "index.html"


def _write_curves(output, recipe, run_dir) -> list[Path]:
    history = _read_history(run_dir / "history.csv")
    if not history:
        return []
    title = f"{recipe.name}: training curves"
    return [viz.plot_history(history, output / "curves.png", title=title)]


def _write_filters(output, model) -> list[Path]:
    first = convolutions(model)[:1]
    if not first:
        return []
    figure = viz.filters_figure(
        first[0].kernel.numpy(), title=f"first-layer filters ({first[0].name})"
    )
    return [viz.save(figure, output / "filters.png")]


def _write_layer_time(output, model, batch) -> list[Path]:
    shares = layer_time_shares(model, batch)
    figure = viz.layer_time_figure(
        shares, title=f"forward-pass time per layer (batch of {len(batch)})"
    )
    return [viz.save(figure, output / "layer_time.png")]


def _write_gan_figures(output, recipe, gan, run_dir) -> list[str]:
    """A GAN run's PNGs: curves, 64 generated images, the discriminator's first-layer filters and
    the generator's time per layer."""
    from kerascnn.training.tasks import generate_pixels

    images = generate_pixels(gan.generator, 64, seed=recipe.seed)
    samples = viz.image_grid(images, columns=8, title=f"{recipe.name}: 64 generated images")
    noise = np.random.default_rng(recipe.seed).normal(size=(100, gan.latent_dim))
    paths = [
        *_write_curves(output, recipe, run_dir),
        viz.save(samples, output / "samples.png"),
        *_write_filters(output, gan.discriminator),
        *_write_layer_time(output, gan.generator, noise.astype(np.float32)),
    ]
    return [path.name for path in paths]


def _write_caption_figures(output, recipe, captioner, run_dir) -> list[str]:
    """A captioning run's PNGs: curves, 16 test images with their captions, and the encoder's
    first-layer filters."""
    from kerascnn.data import batches
    from kerascnn.recipes import resolve
    from kerascnn.training.tasks import task_of

    # Only the 16 pictured test images; one training image (not the whole split) to load.
    recipe = resolve(recipe, {"data.train_limit": 1, "data.test_limit": 16})
    task = task_of(recipe)
    data = task.load(recipe.data)
    held_out = task.prepare(recipe, data, batches(data.test, batch_size=16))
    grid = held_out.grid(held_out.caption(captioner), title=f"{recipe.name}: test images")
    paths = [
        *_write_curves(output, recipe, run_dir),
        viz.save(grid, output / "captions.png"),
        *_write_filters(output, captioner.encoder),
    ]
    return [path.name for path in paths]


def _write_figures(output, recipe, model, data, images, labels, predicted, class_names, run_dir):
    """A classifier run's PNGs, written into `output`; returns their file names in page order."""
    matrix = confusion_matrix(labels, predicted, len(class_names))
    wrong = viz.misclassified_grid(images, labels, predicted, class_names)
    paths = [
        *_write_curves(output, recipe, run_dir),
        viz.save(viz.confusion_matrix_figure(matrix, class_names), output / "confusion_matrix.png"),
        viz.save(wrong, output / "misclassified.png"),
        *_write_filters(output, model),
    ]
    if paths[-1].name == "filters.png":
        maps = viz.feature_maps_figure(images[0], feature_maps(model, images[0]))
        paths.append(viz.save(maps, output / "feature_maps.png"))
    paths += _write_layer_time(output, model, images[: min(len(images), 100)])
    return [path.name for path in paths]


def _load_run_model(run_dir: Path, metrics: dict) -> keras.Model:
    import kerascnn.models  # noqa: F401  (registers the custom classes a checkpoint may hold)

    candidates = [run_dir / "checkpoints" / "last" / "model.keras"]
    if metrics.get("export_dir"):
        candidates.append(Path(metrics["export_dir"]) / "model.keras")
    for path in candidates:
        if path.is_file():
            return keras.saving.load_model(path, compile=False, safe_mode=True)
    raise KerasCNNError(
        f"{run_dir} holds no trained model (looked for {', '.join(map(str, candidates))}); "
        "report on a run made with checkpoints or an export"
    )


def _read_history(path: Path) -> dict[str, list[float]]:
    if not path.is_file():
        return {}
    import csv

    with path.open() as handle:
        rows = list(csv.DictReader(handle))
    columns = [name for name in (rows[0] if rows else {}) if name != "epoch"]
    # CSVLogger writes NA where an epoch lacks a value (scores taken every few epochs).
    return {name: [_number(row[name]) for row in rows] for name in columns}


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return float("nan")


def _html(recipe, metrics: dict, folder: Path, names: list[str], notice: str) -> str:
    from kerascnn.config import to_dict

    def embed(path: Path) -> str:
        data = base64.b64encode(path.read_bytes()).decode()
        return (
            f'<figure><a href="{path.name}"><img src="data:image/png;base64,{data}" '
            f'alt="{path.stem}"></a><figcaption>{path.stem.replace("_", " ")}</figcaption></figure>'
        )

    shown = {
        key: metrics[key]
        for key in (
            "test_accuracy",
            "test_loss",
            "inception_score",
            "frechet_distance",
            "epochs",
            "train_seconds",
            "parameters",
        )
        if key in metrics
    }
    rows = "".join(
        f"<tr><th>{html.escape(key)}</th><td>{html.escape(str(value))}</td></tr>"
        for key, value in shown.items()
    )
    note = f'<p class="note">{html.escape(notice)}</p>' if notice else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(recipe.name)} report</title>
<style>
body {{ font-family: sans-serif; max-width: 1100px; margin: 2em auto; color: #222; }}
img {{ max-width: 100%; }} figure {{ margin: 1.5em 0; }} figcaption {{ color: #555; }}
table {{ border-collapse: collapse; }} th, td {{ border: 1px solid #ccc; padding: .3em .8em; text-align: left; }}
pre {{ background: #f6f6f6; padding: 1em; overflow-x: auto; }} .note {{ background: #fff3cd; padding: .6em; }}
</style></head><body>
<h1>{html.escape(recipe.name)}</h1>
<p>{html.escape(recipe.description)}</p>
{note}
<h2>Final metrics</h2><table>{rows}</table>
<h2>Figures</h2>
{"".join(embed(folder / name) for name in names)}
<h2>Recipe</h2><pre>{html.escape(json.dumps(to_dict(recipe), indent=2, default=str))}</pre>
</body></html>
"""
