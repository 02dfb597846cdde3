"""Figures of a run, drawn with matplotlib's object API (no pyplot state, no display needed)."""

from __future__ import annotations

import io
import textwrap
from pathlib import Path

import numpy as np
import tensorflow as tf
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from kerascnn import files

# Panels come in this order; other metrics follow the first two.
_FIRST = ("loss", "accuracy")
_LAST = ("learning_rate", "images_per_second", "seconds")


def plot_history(history: dict[str, list[float]], path: str | Path, *, title: str = "") -> Path:
    """Training curves, train and validation: loss and accuracy first, learning rate and speed last."""
    names = [k for k in history if not k.startswith("val_")]
    metrics = (
        [k for k in _FIRST if k in names]
        + [k for k in names if k not in _FIRST and k not in _LAST]
        + [k for k in _LAST if k in names]
    )
    columns = min(3, len(metrics))
    rows = -(-len(metrics) // columns)
    figure = Figure(figsize=(4.4 * columns, 3.2 * rows), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for axis in axes[len(metrics) :]:
        axis.axis("off")
    for axis, metric in zip(axes, metrics, strict=False):
        epochs = range(1, len(history[metric]) + 1)
        axis.plot(epochs, history[metric], marker="o", label="train")
        if not np.isnan(np.asarray(history.get(f"val_{metric}", [np.nan]), float)).all():
            axis.plot(epochs, history[f"val_{metric}"], marker="o", label="validation")
            axis.legend()
        axis.set_xlabel("epoch")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.set_title(metric.replace("_", " "))
        axis.grid(alpha=0.3)
    if title:
        figure.suptitle(title)
    return save(figure, path)


def save(figure: Figure, path: str | Path, *, dpi: int = 100) -> Path:
    """Writes `figure` as a PNG atomically."""
    with files.atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=dpi, format="png")
    return Path(path)


def figure_tensor(figure: Figure):
    """The figure as a (1, height, width, 4) uint8 tensor, for `tf.summary.image`."""

    return tf.image.decode_png(png_bytes(figure), channels=4)[None]


def png_bytes(figure: Figure, *, dpi: int = 100) -> bytes:
    """The figure as PNG bytes, e.g. for a TensorBoard image summary."""
    buffer = io.BytesIO()
    figure.savefig(buffer, dpi=dpi, format="png")
    return buffer.getvalue()


def _show_image(axis, image) -> None:
    image = np.asarray(image, dtype=np.float32)
    if image.shape[-1] == 1:
        axis.imshow(image[..., 0], cmap="gray", vmin=0, vmax=max(1.0, float(image.max())))
    else:
        low, high = float(image.min()), float(image.max())
        axis.imshow((image - low) / max(high - low, 1e-8))
    axis.set_xticks([])
    axis.set_yticks([])


def _grid(count: int, columns: int, cell: tuple[float, float], title_height: float):
    """A figure with a grid of `count` panels of `cell` inches, the unused ones blank, and
    `title_height` inches for its title: (figure, the first `count` axes)."""
    panels = max(1, count)
    columns = min(columns, panels)
    rows = -(-panels // columns)
    width, height = cell
    figure = Figure(figsize=(width * columns, height * rows + title_height), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for axis in axes[count:]:
        axis.axis("off")
    return figure, axes[:count]


def image_grid(images, titles=None, *, columns: int = 8, title: str = "", colors=None) -> Figure:
    """A grid of images (uint8 or float, 1 or 3 channels), each with an optional small title."""
    figure, axes = _grid(len(images), columns, (1.3, 1.45), 0.4 if title else 0)
    for index, axis in enumerate(axes):
        _show_image(axis, images[index])
        if titles is not None:
            color = colors[index] if colors is not None else "black"
            axis.set_title(titles[index], fontsize=8, color=color)
    if title:
        figure.suptitle(title)
    return figure


def caption_grid(images, generated, references, *, columns: int = 4, title: str = "") -> Figure:
    """Images with the caption a model wrote (black) over one of their references (grey)."""

    figure, axes = _grid(len(images), columns, (2.8, 3.6), 0.5 if title else 0)
    for index, axis in enumerate(axes):
        _show_image(axis, images[index])
        caption = textwrap.fill(generated[index] or "(empty)", 34)
        axis.set_xlabel(caption, fontsize=7, color="black", fontweight="bold")
        axis.set_title(textwrap.fill(references[index], 34), fontsize=7, color="grey")
    if title:
        figure.suptitle(f"{title}\nabove: a reference; below: the model's caption", fontsize=9)
    return figure


def misclassified_grid(images, labels, predicted, class_names, *, limit: int = 32) -> Figure:
    """The book's figure: wrongly classified test images, titled "true → predicted"."""
    wrong = np.flatnonzero(np.asarray(labels) != np.asarray(predicted))[:limit]
    titles = [f"{class_names[labels[i]]} → {class_names[predicted[i]]}" for i in wrong]
    total = len(np.flatnonzero(np.asarray(labels) != np.asarray(predicted)))
    return image_grid(
        [images[i] for i in wrong],
        titles,
        title=f"misclassified: {total} of {len(labels)} (true → predicted)",
        colors=["tab:red"] * len(wrong),
    )


def confusion_matrix_figure(matrix, class_names) -> Figure:
    """Counts of true (rows) against predicted (columns) classes, with the count in each cell."""
    matrix = np.asarray(matrix)
    size = len(class_names)
    side = min(12.0, 2.5 + 0.5 * size)
    figure = Figure(figsize=(side + 1.2, side), layout="constrained")
    axis = figure.subplots()
    image = axis.imshow(matrix, cmap="Blues")
    figure.colorbar(image, ax=axis, shrink=0.8)
    axis.set_xticks(range(size), class_names, rotation=45 if size > 10 else 0, ha="right")
    axis.set_yticks(range(size), class_names)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    accuracy = np.trace(matrix) / max(1, matrix.sum())
    axis.set_title(f"confusion matrix (accuracy {100 * accuracy:.2f} %)")
    if size <= 20:
        threshold = matrix.max() / 2
        for row in range(size):
            for column in range(size):
                axis.text(
                    column,
                    row,
                    str(matrix[row, column]),
                    ha="center",
                    va="center",
                    fontsize=7 if size > 10 else 9,
                    color="white" if matrix[row, column] > threshold else "black",
                )
    return figure


def filters_figure(kernel, *, title: str = "") -> Figure:
    """First-layer filters, eight to a row: one tile per output channel, each scaled to its own
    range (grey for one input channel, RGB for three, the channel mean otherwise)."""
    kernel = np.asarray(kernel, dtype=np.float32)  # (height, width, in, out)
    tiles = [kernel[..., :, index] for index in range(kernel.shape[-1])]
    if kernel.shape[2] not in (1, 3):
        tiles = [tile.mean(axis=-1, keepdims=True) for tile in tiles]
    tiles = [(tile - tile.min()) / max(float(np.ptp(tile)), 1e-8) for tile in tiles]
    return image_grid(tiles, [str(i) for i in range(len(tiles))], columns=8, title=title)


def feature_maps_figure(image, maps, *, per_layer: int = 8) -> Figure:
    """One image and the first `per_layer` channels of each (layer name, feature map) after it."""
    rows = 1 + len(maps)
    figure = Figure(figsize=(1.3 * per_layer, 1.5 * rows), layout="constrained")
    axes = figure.subplots(rows, per_layer, squeeze=False)
    for axis in axes.ravel():
        axis.axis("off")
    _show_image(axes[0, 0], image)
    axes[0, 0].set_title("input", fontsize=8)
    for row, (name, feature_map) in enumerate(maps, start=1):
        for channel in range(min(per_layer, feature_map.shape[-1])):
            axis = axes[row, channel]
            axis.imshow(feature_map[..., channel], cmap="viridis")
            axis.set_title(f"{name}:{channel}" if channel == 0 else str(channel), fontsize=7)
    figure.suptitle("feature maps of one test image")
    return figure


def layer_time_figure(shares: dict, *, title: str = "") -> Figure:
    """Horizontal bars: the share of the time spent in each layer; with (forward, backward) pairs
    as values, the two stacked."""
    names = list(shares)[::-1]
    pairs = [v if isinstance(v, tuple) else (v, 0.0) for v in (shares[n] for n in names)]
    forward = np.array([100 * f for f, _ in pairs])
    backward = np.array([100 * b for _, b in pairs])
    stacked = bool(backward.any())
    figure = Figure(figsize=(7, 0.9 + 0.28 * len(names)), layout="constrained")
    axis = figure.subplots()
    axis.barh(names, forward, color="tab:blue", label="forward")
    if stacked:
        axis.barh(names, backward, left=forward, color="tab:orange", label="backward")
        axis.legend(loc="lower right", fontsize=8)
    for y, value in enumerate(forward + backward):
        axis.text(value, y, f" {value:.1f} %", va="center", fontsize=8)
    axis.set_xlabel(f"share of {'training-step' if stacked else 'forward-pass'} time (%)")
    axis.set_xlim(0, max(list(forward + backward) + [1]) * 1.18)
    axis.set_title(title or "time per layer", fontsize=9)
    axis.tick_params(axis="y", labelsize=8)
    return figure
