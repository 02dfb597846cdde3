"""Synthetic digit canvases: MNIST digits on coloured backgrounds, with per-pixel masks and boxes.

The offline dataset of the dense-prediction work (segmentation, detection): generated
deterministically from a seed and a set of MNIST digits (the bundled sample, or any MNIST IDX
copy), so tests and a machine without network have images whose right answers are known exactly.
Each canvas (square, `size` pixels) has 1 to `max_digits` digits, each scaled to a random size
(`scale` of the canvas side), coloured, and placed at a random position; a digit may overlap
those drawn before it, but not by more than `max_overlap` (intersection over union of their
boxes), so none is hidden. The background is a random colour gradient, and each digit's colour
differs from it clearly.

A digit is its MNIST image used as opacity: a pixel becomes background x (1 - a) + colour x a,
a = intensity / 255. Its mask is where a >= 1/2 (a later digit paints over an earlier one, in the
image and in the mask), and its box is the tight box of its mask before anything was drawn over
it. Mask values: 0 background, 1 + d for digit d (11 classes).
"""

from __future__ import annotations

import dataclasses

import numpy as np

BACKGROUND = 0
CLASS_NAMES = ("background", *(str(digit) for digit in range(10)))
# A colour differs "clearly" from another when their mean channel difference is at least this.
MIN_CONTRAST = 90
INK = 0.5


@dataclasses.dataclass(frozen=True)
class Canvases:
    """`images` uint8 (n, size, size, 3); `masks` uint8 (n, size, size), 0 background, 1 + digit;
    per canvas, `boxes` float32 (k, 4) as (y_min, x_min, y_max, x_max) in pixels (max exclusive)
    and `labels` int64 (k,) the digits 0-9, in drawing order."""

    images: np.ndarray
    masks: np.ndarray
    boxes: list[np.ndarray]
    labels: list[np.ndarray]


def make_canvases(
    count: int,
    digits: tuple[np.ndarray, np.ndarray],
    *,
    seed: int = 0,
    size: int = 128,
    max_digits: int = 6,
    scale: tuple[float, float] = (0.22, 0.5),
    max_overlap: float = 0.3,
) -> Canvases:
    """`count` canvases drawn from `digits` = (images uint8 (n, 28, 28) or (n, 28, 28, 1),
    labels (n,)).

    The same arguments always give the same canvases.
    """
    images, labels = digits
    images = images.reshape(images.shape[:3])
    rng = np.random.default_rng(seed)
    canvas = Canvases(
        images=np.empty((count, size, size, 3), np.uint8),
        masks=np.zeros((count, size, size), np.uint8),
        boxes=[],
        labels=[],
    )
    for index in range(count):
        background = _gradient(rng, size)
        picture, mask = background.copy(), canvas.masks[index]
        boxes, drawn = [], []
        for _ in range(int(rng.integers(1, max_digits + 1))):
            which = int(rng.integers(len(images)))
            opacity = _resized(images[which].astype(np.float32) / 255, _side(rng, size, scale))
            placed = _place(rng, opacity, size, boxes, max_overlap)
            if placed is None:
                continue
            box, top, left = placed
            colour = _contrasting(rng, background.reshape(-1, 3).mean(0))
            window = (slice(top, top + opacity.shape[0]), slice(left, left + opacity.shape[1]))
            alpha = opacity[..., None]
            picture[window] = picture[window] * (1 - alpha) + colour * alpha
            mask[window][opacity >= INK] = 1 + int(labels[which])
            boxes.append(box)
            drawn.append(int(labels[which]))
        canvas.images[index] = np.clip(np.round(picture), 0, 255).astype(np.uint8)
        canvas.boxes.append(np.asarray(boxes, np.float32).reshape(-1, 4))
        canvas.labels.append(np.asarray(drawn, np.int64))
    return canvas


def _side(rng, size: int, scale) -> int:
    return max(4, int(round(rng.uniform(*scale) * size)))


def _resized(image: np.ndarray, side: int) -> np.ndarray:
    """`image` (h, w) scaled to (side, side) by bilinear interpolation (half-pixel centres)."""
    height, width = image.shape
    ys = np.clip((np.arange(side) + 0.5) * height / side - 0.5, 0, height - 1)
    xs = np.clip((np.arange(side) + 0.5) * width / side - 0.5, 0, width - 1)
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    y1, x1 = np.minimum(y0 + 1, height - 1), np.minimum(x0 + 1, width - 1)
    wy, wx = (ys - y0)[:, None], (xs - x0)[None, :]
    top = image[y0][:, x0] * (1 - wx) + image[y0][:, x1] * wx
    bottom = image[y1][:, x0] * (1 - wx) + image[y1][:, x1] * wx
    return top * (1 - wy) + bottom * wy


def _place(rng, opacity, size, boxes, max_overlap, tries: int = 20):
    """(box, top, left) of a position where the digit's ink box overlaps no drawn box by more
    than `max_overlap`; None when `tries` random positions all do, or the digit has no ink."""
    rows, columns = np.nonzero(opacity >= INK)
    if not rows.size:
        return None
    side = opacity.shape[0]
    for _ in range(tries):
        top, left = (int(v) for v in rng.integers(0, size - side + 1, size=2))
        box = np.array(
            [
                top + rows.min(),
                left + columns.min(),
                top + rows.max() + 1,
                left + columns.max() + 1,
            ],
            np.float32,
        )
        if all(box_iou(box, other) <= max_overlap for other in boxes):
            return box, top, left
    return None


def box_iou(a, b) -> float:
    """Intersection over union of two (y_min, x_min, y_max, x_max) boxes."""
    height = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    width = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = height * width
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def _gradient(rng, size: int) -> np.ndarray:
    """A float32 (size, size, 3) background: one colour to another along a random direction."""
    start, end = rng.uniform(0, 255, size=(2, 3))
    angle = rng.uniform(0, 2 * np.pi)
    ys, xs = np.mgrid[0:size, 0:size] / max(1, size - 1)
    along = np.cos(angle) * xs + np.sin(angle) * ys
    along = (along - along.min()) / max(np.ptp(along), 1e-6)
    return (start + (end - start) * along[..., None]).astype(np.float32)


def _contrasting(rng, background: np.ndarray) -> np.ndarray:
    """A random colour whose mean channel difference from `background` is at least
    `MIN_CONTRAST`: the opposite corner of the colour cube, jittered, when a draw fails."""
    for _ in range(20):
        colour = rng.uniform(0, 255, size=3)
        if np.abs(colour - background).mean() >= MIN_CONTRAST:
            return colour.astype(np.float32)
    opposite = np.where(background < 128, 255.0, 0.0)
    return np.clip(opposite + rng.uniform(-30, 30, size=3), 0, 255).astype(np.float32)
