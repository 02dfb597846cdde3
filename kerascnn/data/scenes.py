"""Synthetic captioned scenes: one to three coloured shapes, each image with several correct captions.

The offline dataset of the captioning work: generated deterministically from a seed, so tests and a
machine without network have images whose right captions are known exactly. A scene places its
shapes in distinct cells of a 3x3 grid (with jitter) on a dark background, two in one row or column,
three in one column each; each shape has a kind
(circle, square, triangle), a colour (red, green, blue, yellow) and a size (small, large). Captions
say the same scene in different phrasings:

- one shape: "a large red circle", "a red circle", "there is a large red circle";
- two shapes, by the axis on which they are further apart: "a red circle above a small blue
  square", "a small blue square below a red circle" (or "to the left of" / "to the right of");
- three shapes, from left to right: "a red circle , a blue square and a green triangle", "three
  shapes : a red circle , a blue square and a green triangle".

Two-shape captions come with and without the sizes, so that both forms count as correct.
"""

from __future__ import annotations

import numpy as np

KINDS = ("circle", "square", "triangle")
COLOURS = {
    "red": (220, 40, 40),
    "green": (40, 200, 60),
    "blue": (50, 90, 230),
    "yellow": (230, 210, 40),
}
SIZES = ("small", "large")
BACKGROUND = (20, 20, 28)


def make_scenes(count: int, *, seed: int = 0, size: int = 64):
    """`count` scenes: (images uint8 (count, size, size, 3), captions: a list of lists of strings).

    The same `seed` and `size` always give the same images and captions.
    """
    rng = np.random.default_rng(seed)
    images = np.empty((count, size, size, 3), np.uint8)
    captions = []
    for index in range(count):
        shapes = _draw_layout(rng)
        images[index] = render(shapes, size)
        captions.append(describe(shapes))
    return images, captions


def _cells(rng) -> list[tuple[int, int]]:
    """(row, column) of each shape: two shapes share a row or a column (so one is clearly above or
    left of the other), three take one column each (so left to right is clear)."""
    number = int(rng.integers(1, 4))
    if number == 1:
        return [(int(rng.integers(3)), int(rng.integers(3)))]
    if number == 2:
        line, (a, b) = int(rng.integers(3)), rng.choice(3, size=2, replace=False)
        pairs = [(line, int(a)), (line, int(b))]
        return pairs if rng.integers(2) else [(column, row) for row, column in pairs]
    return [(int(rng.integers(3)), column) for column in rng.permutation(3)]


def _draw_layout(rng) -> list[dict]:
    shapes = []
    for row, column in _cells(rng):
        shapes.append(
            {
                "kind": KINDS[int(rng.integers(len(KINDS)))],
                "colour": list(COLOURS)[int(rng.integers(len(COLOURS)))],
                "size": SIZES[int(rng.integers(len(SIZES)))],
                # Centre of the cell, jittered, in units of the image side.
                "x": (column + 0.5 + rng.uniform(-0.12, 0.12)) / 3,
                "y": (row + 0.5 + rng.uniform(-0.12, 0.12)) / 3,
            }
        )
    return shapes


def render(shapes: list[dict], size: int) -> np.ndarray:
    """The scene as an RGB image."""
    image = np.empty((size, size, 3), np.uint8)
    image[:] = BACKGROUND
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    for shape in shapes:
        radius = size / 3 * (0.38 if shape["size"] == "large" else 0.22)
        cx, cy = shape["x"] * size, shape["y"] * size
        dx, dy = xs - cx, ys - cy
        if shape["kind"] == "circle":
            mask = dx**2 + dy**2 <= radius**2
        elif shape["kind"] == "square":
            mask = (np.abs(dx) <= radius * 0.9) & (np.abs(dy) <= radius * 0.9)
        else:  # an upward triangle inside the same radius
            mask = (dy <= radius * 0.8) & (dy >= -radius) & (np.abs(dx) <= (dy + radius) * 0.6)
        image[mask] = COLOURS[shape["colour"]]
    return image


def _name(shape, *, with_size: bool) -> str:
    words = ["a", shape["size"]] if with_size else ["a"]
    return " ".join([*words, shape["colour"], shape["kind"]])


def _relation(first, second) -> tuple[str, str]:
    """How `first` stands to `second`, and the converse, along the axis they differ most on."""
    dx, dy = second["x"] - first["x"], second["y"] - first["y"]
    if abs(dy) >= abs(dx):
        return ("above", "below") if dy > 0 else ("below", "above")
    return (
        ("to the left of", "to the right of") if dx > 0 else ("to the right of", "to the left of")
    )


def describe(shapes: list[dict]) -> list[str]:
    """The scene's reference captions (lower case, words and punctuation separated by spaces)."""
    if len(shapes) == 1:
        (shape,) = shapes
        return [
            _name(shape, with_size=True),
            _name(shape, with_size=False),
            f"there is {_name(shape, with_size=True)}",
        ]
    if len(shapes) == 2:
        first, second = shapes
        forward, backward = _relation(first, second)
        captions = []
        for with_size in (True, False):
            a, b = _name(first, with_size=with_size), _name(second, with_size=with_size)
            captions += [f"{a} {forward} {b}", f"{b} {backward} {a}"]
        return captions
    ordered = sorted(shapes, key=lambda s: s["x"])
    listed = " , ".join(_name(s, with_size=False) for s in ordered[:-1])
    listed += f" and {_name(ordered[-1], with_size=False)}"
    return [f"{listed}", f"three shapes : {listed}", f"{listed} from left to right"]
