"""Figures of a run, drawn with matplotlib's object API (no pyplot state, no display needed)."""

from __future__ import annotations

import io
import textwrap
from pathlib import Path

import numpy as np
import tensorflow as tf
from matplotlib import colormaps
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
    axis.imshow(_display(image))
    axis.set_xticks([])
    axis.set_yticks([])


def _display(image, cmap=None) -> np.ndarray:
    """`image` as RGB floats in [0, 1]: grey from 0 up to its maximum (at least 1), colour
    stretched to its own range, or a single channel through `cmap`, stretched to its range."""
    image = np.asarray(image, dtype=np.float32)
    if image.ndim == 2:
        image = image[..., None]
    if cmap is not None:
        channel = image[..., 0]
        low, high = float(channel.min()), float(channel.max())
        return colormaps[cmap]((channel - low) / max(high - low, 1e-8))[..., :3]
    if image.shape[-1] == 1:
        return np.repeat(np.clip(image / max(1.0, float(image.max())), 0, 1), 3, axis=-1)
    low, high = float(image.min()), float(image.max())
    return (image[..., :3] - low) / max(high - low, 1e-8)


def _resized(tile: np.ndarray, height: int, width: int) -> np.ndarray:
    """Nearest-neighbour resize: every tile of a mosaic fills its cell, like imshow in an axis."""
    rows = np.arange(height) * tile.shape[0] // height
    columns = np.arange(width) * tile.shape[1] // width
    return tile[rows][:, columns]


def _mosaic(
    rows: list[list],
    titles: list[list],
    colors: list[list],
    *,
    cell: tuple[float, float],
    title: str,
    heading: float = 0.4,
) -> Figure:
    """Rows of RGB tiles, each titled above, drawn as one image on one axis: `cell` is the
    (width, height) in inches of a tile and its title, `heading` the inches for `title`.

    A grid of 64 matplotlib axes takes seconds to lay out and draw, every epoch; one image
    with text on top draws in a fraction of that and looks the same.
    """
    tiles = [tile for row in rows for tile in row]
    side = max([max(tile.shape[0], tile.shape[1]) for tile in tiles] + [24])
    columns = max([len(row) for row in rows] + [1])
    gap = max(1, side // 12)
    cell_width = side + gap
    cell_height = round(cell_width * cell[1] / cell[0])  # the title band: what is above side
    band = max(cell_height - cell_width, 0)
    canvas = np.ones((len(rows) * cell_height + gap, columns * cell_width + gap, 3), np.float32)
    for r, row in enumerate(rows):
        for c, tile in enumerate(row):
            top, left = r * cell_height + band + gap, c * cell_width + gap
            canvas[top : top + side, left : left + side] = _resized(tile, side, side)
    heading = heading if title else 0.0
    height = cell[1] * len(rows)
    figure = Figure(figsize=(cell[0] * columns, height + heading))
    axis = figure.add_axes((0, 0, 1, height / (height + heading)))
    axis.imshow(canvas, interpolation="nearest", aspect="auto")
    axis.set_axis_off()
    for r, row in enumerate(titles):
        for c, text in enumerate(row):
            if text:
                x, y = c * cell_width + gap + side / 2, r * cell_height + gap + band * 0.9
                axis.text(x, y, text, ha="center", va="bottom", fontsize=8, color=colors[r][c])
    if title:
        figure.suptitle(title, y=1 - 0.08 / (height + heading), va="top")
    return figure


def image_grid(images, titles=None, *, columns: int = 8, title: str = "", colors=None) -> Figure:
    """A grid of images (uint8 or float, 1 or 3 channels), each with an optional small title."""
    tiles = [_display(image) for image in images]
    texts = list(titles) if titles is not None else [""] * len(tiles)
    shades = list(colors) if colors is not None else ["black"] * len(tiles)
    columns = max(1, min(columns, len(tiles)))
    rows = [slice(start, start + columns) for start in range(0, len(tiles), columns)]
    return _mosaic(
        [tiles[r] for r in rows] or [[]],
        [texts[r] for r in rows] or [[]],
        [shades[r] for r in rows] or [[]],
        cell=(1.3, 1.45),
        title=title,
    )


def caption_grid(images, generated, references, *, columns: int = 4, title: str = "") -> Figure:
    """Images with the caption a model wrote (black) over one of their references (grey)."""

    # A few panels with paragraphs of text: matplotlib's layout engine places those best.
    panels = max(1, len(images))
    columns = min(columns, panels)
    rows = -(-panels // columns)
    figure = Figure(
        figsize=(2.8 * columns, 3.6 * rows + (0.5 if title else 0)), layout="constrained"
    )
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for axis in axes[len(images) :]:
        axis.axis("off")
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
    rows, titles = [[_display(image)]], [["input"]]
    for name, feature_map in maps:
        count = min(per_layer, feature_map.shape[-1])
        rows.append([_display(feature_map[..., c], cmap="viridis") for c in range(count)])
        titles.append([f"{name}:0"] + [str(c) for c in range(1, count)])
    colors = [["black"] * len(row) for row in rows]
    return _mosaic(rows, titles, colors, cell=(1.3, 1.4), title="feature maps of one test image")


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


def class_colours(classes: int) -> np.ndarray:
    """uint8 (classes, 3): Pascal VOC's palette (class 0 black, then distinct colours), from the
    bits of each class index as the VOC development kit draws it (`labelcolormap.m`)."""
    palette = np.zeros((classes, 3), np.uint8)
    for index in range(classes):
        value, code = index, [0, 0, 0]
        for shift in range(7, -1, -1):
            for channel in range(3):
                code[channel] |= ((value >> channel) & 1) << shift
            value >>= 3
        palette[index] = code
    return palette


def colour_mask(mask, classes: int, ignore: int = 255) -> np.ndarray:
    """A class map as an RGB uint8 image (`class_colours`), `ignore` pixels white."""
    mask = np.asarray(mask)
    palette = np.concatenate([class_colours(classes), [[255, 255, 255]]]).astype(np.uint8)
    return palette[np.where(mask == ignore, classes, np.minimum(mask, classes))]


def overlay(image, mask, classes: int, *, alpha: float = 0.5) -> np.ndarray:
    """`image` (uint8 RGB) with every pixel of a class other than 0 tinted by its colour."""
    image = np.asarray(image, np.float32)
    if image.shape[-1] == 1:
        image = np.repeat(image, 3, axis=-1)
    tinted = (1 - alpha) * image + alpha * colour_mask(mask, classes).astype(np.float32)
    blended = np.where((np.asarray(mask) > 0)[..., None], tinted, image)
    return np.clip(np.round(blended), 0, 255).astype(np.uint8)


def mask_grid(images, true, predicted, classes: int, *, title: str = "") -> Figure:
    """Per image three tiles: the image, its true mask and the predicted one (two per row)."""
    tiles, titles = [], []
    for image, truth, guess in zip(images, true, predicted, strict=True):
        tiles += [image, colour_mask(truth, classes), colour_mask(guess, classes)]
        titles += ["image", "true", "predicted"]
    return image_grid(tiles, titles, columns=6, title=title)


def draw_boxes(image, boxes, labels, class_names, *, scores=None, width: int = 2) -> np.ndarray:
    """`image` (uint8 RGB) with `boxes` ((k, 4) pixel (y_min, x_min, y_max, x_max)) drawn in
    their class's colour, each labelled with its class name (and score, if given)."""
    from PIL import Image, ImageDraw

    image = np.asarray(image, np.uint8)
    if image.ndim == 2 or image.shape[-1] == 1:
        image = np.repeat(image.reshape(image.shape[:2] + (1,)), 3, axis=-1)
    picture = Image.fromarray(np.ascontiguousarray(image[..., :3]))
    draw = ImageDraw.Draw(picture)
    # Class colours of the VOC palette, skipping its black (class 0 there is the background).
    palette = class_colours(len(class_names) + 1)[1:]
    for index, (box, label) in enumerate(
        zip(np.asarray(boxes).reshape(-1, 4), labels, strict=True)
    ):
        top, left, bottom, right = (float(v) for v in box)
        colour = tuple(int(c) for c in palette[int(label) % len(palette)])
        draw.rectangle([left, top, right - 1, bottom - 1], outline=colour, width=width)
        text = str(class_names[int(label)])
        if scores is not None:
            text += f" {float(scores[index]):.2f}"
        corner = (left + 1, max(0.0, top - 11))
        draw.rectangle(draw.textbbox(corner, text), fill=colour)
        draw.text(corner, text, fill=(255, 255, 255) if sum(colour) < 384 else (0, 0, 0))
    return np.asarray(picture)


def box_grid(images, true, predicted, class_names, *, title: str = "", scale: int = 2) -> Figure:
    """Per image two tiles: its true boxes, and the predicted ones with their scores. `true`:
    per image (boxes, labels); `predicted`: per image (boxes, labels, scores); boxes in pixels.
    Tiles are enlarged `scale` times first, so that labels stay legible on small images."""
    tiles, titles = [], []
    for image, (boxes, labels), (found, classes, scores) in zip(
        images, true, predicted, strict=True
    ):
        big = np.repeat(np.repeat(np.asarray(image, np.uint8), scale, axis=0), scale, axis=1)
        tiles.append(draw_boxes(big, np.asarray(boxes) * scale, labels, class_names))
        tiles.append(
            draw_boxes(big, np.asarray(found) * scale, classes, class_names, scores=scores)
        )
        titles += ["true", "predicted"]
    return image_grid(tiles, titles, columns=4, title=title)


def precision_recall_figure(recall, precision, class_names, *, title: str = "") -> Figure:
    """Each class's precision-recall curve (thin) and their mean (bold): `precision` (points,
    classes), NaN for a class without ground truth (left out)."""
    precision = np.asarray(precision, np.float64)
    figure = Figure(figsize=(5.5, 4.2), layout="constrained")
    axis = figure.subplots()
    colours = class_colours(len(class_names) + 1)[1:] / 255
    for index, name in enumerate(class_names):
        if not np.isnan(precision[:, index]).all():
            axis.plot(recall, precision[:, index], lw=0.8, color=colours[index], label=str(name))
    axis.plot(recall, np.nanmean(precision, axis=1), lw=2.5, color="black", label="mean")
    axis.set_xlabel("recall")
    axis.set_ylabel("precision")
    axis.set_xlim(0, 1)
    axis.set_ylim(0, 1.02)
    axis.grid(alpha=0.3)
    if len(class_names) <= 20:
        axis.legend(fontsize=6, ncols=2, loc="lower left")
    if title:
        axis.set_title(title, fontsize=9)
    return figure
