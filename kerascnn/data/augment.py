"""Augmentation presets: named stacks of Keras preprocessing layers applied to training batches only.

A preset is a registered function `(image_shape, seed, mirror) -> keras.Sequential | None`; with
`mirror=False` (data whose mirror images are other classes, such as digits) it leaves out any
horizontal flip.
"""

from __future__ import annotations

import keras
from keras import layers

from kerascnn.layers import ComposedAffine
from kerascnn.registry import augmentations


def create_augmentation(name: str, *, image_shape, seed: int | None = None, mirror: bool = True):
    """The preset `name` for images of `image_shape` as a `keras.Sequential`, or None for 'none';
    without horizontal flips unless `mirror`."""
    return augmentations.get(name)(image_shape=tuple(image_shape), seed=seed, mirror=mirror)


def flips_left_out(name: str, *, image_shape, mirror: bool) -> str:
    """What a user must know when `mirror=False` takes the preset's horizontal flips away; ""
    when it has none or they stay."""
    preset = create_augmentation(name, image_shape=image_shape)
    flips = preset is not None and any(
        isinstance(layer, layers.RandomFlip) for layer in preset.layers
    )
    if mirror or not flips:
        return ""
    return (
        f"The {name!r} augmentation trains without its horizontal flips: a mirrored digit or "
        "letter is not the same character (--augmentation chooses another)."
    )


def _offset(seed, index):
    """One seed per layer: layers given the same seed draw the same numbers (a rotation's angle
    would follow its shift)."""
    return None if seed is None else seed * 16 + index


@augmentations.register(name="none")
def no_augmentation(image_shape, seed=None, mirror=True):
    """No augmentation: training sees the images as they are."""
    return None


def _handwriting_jitter(seed):
    return [
        layers.RandomRotation(10 / 360, fill_mode="constant", seed=_offset(seed, 0)),
        layers.RandomTranslation(0.1, 0.1, fill_mode="constant", seed=_offset(seed, 1)),
        layers.RandomZoom(0.1, fill_mode="constant", seed=_offset(seed, 2)),
    ]


@augmentations.register
def digits(image_shape, seed=None, mirror=True):
    """Handwriting jitter: rotation up to 10 degrees, shift up to 10 %, zoom up to 10 %; black fill.

    Keras' RandomRotation, RandomTranslation and RandomZoom draw it; `ComposedAffine` applies the
    three as one warp (one resampling: a third of the time, and less blur than `digits_chained`)."""
    return keras.Sequential([ComposedAffine(_handwriting_jitter(seed))], name="augment_digits")


@augmentations.register
def digits_chained(image_shape, seed=None, mirror=True):
    """`digits` applied layer after layer, each resampling the image (the same draws, three
    bilinear interpolations): how `mnist_best`'s and `mnist_ensemble`'s figures were reproduced."""
    return keras.Sequential(_handwriting_jitter(seed), name="augment_digits_chained")


@augmentations.register
def cifar(image_shape, seed=None, mirror=True):
    """The standard CIFAR augmentation: pad 4 pixels, random crop back to size, horizontal flip."""
    height, width = image_shape[:2]
    layers_ = [layers.ZeroPadding2D(4), layers.RandomCrop(height, width, seed=_offset(seed, 0))]
    if mirror:
        layers_.append(layers.RandomFlip("horizontal", seed=_offset(seed, 1)))
    return keras.Sequential(layers_, name="augment_cifar")


@augmentations.register
def imagenet(image_shape, seed=None, mirror=True):
    """Inception-style: random resized crop (area 25-100 %, aspect 1:2-2:1), flip, colour jitter."""
    layers_ = [
        # Shift, then zoom in about the centre: together a crop of random size, shape and place,
        # resized back (torchvision's RandomResizedCrop, with scale (0.25, 1)), in one resampling.
        ComposedAffine(
            [
                layers.RandomTranslation(0.25, 0.25, fill_mode="reflect", seed=_offset(seed, 0)),
                layers.RandomZoom(
                    (-0.5, 0.0), (-0.5, 0.0), fill_mode="reflect", seed=_offset(seed, 1)
                ),
            ]
        ),
    ]
    if mirror:
        layers_.append(layers.RandomFlip("horizontal", seed=_offset(seed, 2)))
    if image_shape[-1] == 3:
        layers_.append(
            layers.RandomColorJitter(
                value_range=(0, 255),
                brightness_factor=0.2,
                contrast_factor=0.2,
                saturation_factor=(0.3, 0.7),  # 0.5 keeps it: less or more colour
                seed=_offset(seed, 3),
            )
        )
    return keras.Sequential(layers_, name="augment_imagenet")
