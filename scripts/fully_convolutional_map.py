"""The picture of `kerascnn.fully_convolutional`: a trained digit classifier made convolutional
and run over a canvas of several digits gives a map of class scores, one per 28x28 window.

    python scripts/fully_convolutional_map.py [--out docs/images/fully_convolutional_map.png]

The classifier is the book's deep CNN (`deep_mnist_cnn`) trained on the full MNIST set, the one
kerascnn bundles for GAN scores (`kerascnn/assets/`); no training here. The canvas is white
digits on black, as MNIST's, from the bundled test digits. Seconds on a CPU.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import keras
import numpy as np
from matplotlib.figure import Figure

import kerascnn
from kerascnn.data.canvases import make_canvases
from kerascnn.data.sources import BUNDLED_DIR, _read_idx_dir
from kerascnn.models.pixels import rescale
from kerascnn.quality import CLASSIFIER_WEIGHTS

OUT = Path(__file__).resolve().parent.parent / "docs" / "images" / "fully_convolutional_map.png"
SIZE = 112
# Windows whose best class is less probable than this are left blank in the map.
CONFIDENT = 0.9


def classifier() -> keras.Model:
    network = kerascnn.create_model(
        "deep_mnist_cnn", inverted_dropout=True, weights=str(CLASSIFIER_WEIGHTS)
    )
    inputs = keras.Input((28, 28, 1), name="images")
    return keras.Model(inputs, network(rescale(inputs)), name="digit_classifier")


def canvas(seed: int) -> np.ndarray:
    """Digits at about MNIST's scale, white on black: the classifier's own kind of input."""
    digits = _read_idx_dir(BUNDLED_DIR)["test"]
    drawn = make_canvases(1, digits, seed=seed, size=SIZE, max_digits=5, scale=(0.25, 0.3))
    # The canvases colour digits on gradients; their masks are MNIST's ink, white on black here.
    return (drawn.masks[0] > 0).astype(np.float32)[..., None] * 255


def main(argv=None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    dense = kerascnn.fully_convolutional(classifier())
    image = canvas(args.seed)
    scores = np.asarray(dense(image[None]))[0]
    best, confidence = scores.argmax(-1), scores.max(-1)
    figure = Figure(figsize=(9, 4.4), layout="constrained")
    left, right = figure.subplots(1, 2)
    left.imshow(image[..., 0], cmap="gray")
    left.set_title(f"a {SIZE}x{SIZE} canvas")
    shown = np.where(confidence >= CONFIDENT, best, np.nan)
    # Each score sits at the centre of its window: 14 px in, then every 8 px (three poolings).
    low, high = 14 - 4, 14 + 8 * scores.shape[0] - 4
    right.imshow(image[..., 0], cmap="gray", alpha=0.25, extent=(0, SIZE, SIZE, 0))
    right.imshow(shown, cmap="tab10", vmin=0, vmax=9, alpha=0.8, extent=(low, high, high, low))
    for (row, column), digit in np.ndenumerate(best):
        if confidence[row, column] >= CONFIDENT:
            right.text(
                14 + 8 * column, 14 + 8 * row, str(digit), ha="center", va="center", fontsize=7
            )
    right.set_xlim(0, SIZE)
    right.set_ylim(SIZE, 0)
    right.set_title(
        f"deep_mnist_cnn as convolutions: {scores.shape[0]}x{scores.shape[1]} class map\n"
        f"(one 28x28 window every 8 px; blank below {CONFIDENT:.0%})",
        fontsize=9,
    )
    for axis in (left, right):
        axis.set_xticks([])
        axis.set_yticks([])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(args.out, dpi=100)
    print(f"map: {args.out}")
    return args.out


if __name__ == "__main__":
    main()
