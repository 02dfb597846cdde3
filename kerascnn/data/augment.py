"""Augmentation presets: named stacks of Keras preprocessing layers applied to training batches only."""

from __future__ import annotations

import keras
from keras import layers

from kerascnn.registry import augmentations


def create_augmentation(name: str, *, seed: int | None = None) -> keras.Sequential | None:
    """The preset `name` as a `keras.Sequential`, or None for 'none'."""
    return augmentations.get(name)(seed=seed)


@augmentations.register(name="none")
def no_augmentation(seed=None):
    """No augmentation: training sees the images as they are."""
    return None


@augmentations.register
def digits(seed=None):
    """Handwriting jitter: rotation up to 10 degrees, shift up to 10 %, zoom up to 10 %; black fill."""
    return keras.Sequential(
        [
            layers.RandomRotation(10 / 360, fill_mode="constant", seed=seed),
            layers.RandomTranslation(0.1, 0.1, fill_mode="constant", seed=seed),
            layers.RandomZoom(0.1, fill_mode="constant", seed=seed),
        ],
        name="augment_digits",
    )
