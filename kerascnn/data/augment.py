"""Augmentation presets: named stacks of Keras preprocessing layers applied to training batches only.

A preset is a registered function `(image_shape, seed) -> keras.Sequential | None`.
"""

from __future__ import annotations

import keras
from keras import layers

from kerascnn.registry import augmentations


def create_augmentation(name: str, *, image_shape, seed: int | None = None):
    """The preset `name` for images of `image_shape` as a `keras.Sequential`, or None for 'none'."""
    return augmentations.get(name)(image_shape=tuple(image_shape), seed=seed)


@augmentations.register(name="none")
def no_augmentation(image_shape, seed=None):
    """No augmentation: training sees the images as they are."""
    return None


@augmentations.register
def digits(image_shape, seed=None):
    """Handwriting jitter: rotation up to 10 degrees, shift up to 10 %, zoom up to 10 %; black fill."""
    return keras.Sequential(
        [
            layers.RandomRotation(10 / 360, fill_mode="constant", seed=seed),
            layers.RandomTranslation(0.1, 0.1, fill_mode="constant", seed=seed),
            layers.RandomZoom(0.1, fill_mode="constant", seed=seed),
        ],
        name="augment_digits",
    )


@augmentations.register
def cifar(image_shape, seed=None):
    """The standard CIFAR augmentation: pad 4 pixels, random crop back to size, horizontal flip."""
    height, width = image_shape[:2]
    return keras.Sequential(
        [
            layers.ZeroPadding2D(4),
            layers.RandomCrop(height, width, seed=seed),
            layers.RandomFlip("horizontal", seed=seed),
        ],
        name="augment_cifar",
    )
