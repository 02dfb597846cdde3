"""Adapting images to the shape a recipe's model expects: channels first, then size.

Deterministic, per example, before the cache, and kept uint8: grey to colour repeats the channel,
colour to grey takes the luminance; a slightly smaller image is zero-padded around its centre (MNIST's
28x28 into 32x32, as LeNet-5 did), anything else is resized bilinearly.
"""

from __future__ import annotations

import tensorflow as tf

from kerascnn.errors import DataError

# Up to this ratio a smaller image is padded rather than stretched (28 -> 32 is 1.14).
MAX_PAD_RATIO = 1.25


def describe_adaptation(source: tuple[int, int, int], target: tuple[int, int, int]) -> str:
    """A short account of what `adapt_images` does, e.g. 'padded 28x28 to 32x32, 1 -> 3 channels'."""
    steps = []
    if source[:2] != target[:2]:
        verb = "padded" if _pads(source, target) else "resized"
        steps.append(f"{verb} {source[0]}x{source[1]} to {target[0]}x{target[1]}")
    if source[2] != target[2]:
        steps.append(f"{source[2]} -> {target[2]} channels")
    return ", ".join(steps)


def adapt_images(dataset: tf.data.Dataset, source, target) -> tf.data.Dataset:
    """Maps (image, label) examples of shape `source` to `target`; the identity when they match."""
    source, target = tuple(source), tuple(target)
    if source == target:
        return dataset
    check_channels(source, target)
    return dataset.map(
        lambda image, label: (adapt_image(image, source, target), label),
        num_parallel_calls=tf.data.AUTOTUNE,
    )


def adapt_image(image, source, target) -> tf.Tensor:
    """One uint8 image of shape `source` as `target`, by the rules above (what `adapt_images`
    does to every example; `kerascnn predict` does it to a user's image)."""
    source, target = tuple(source), tuple(target)
    check_channels(source, target)
    image = tf.convert_to_tensor(image, dtype=tf.uint8)
    if source[2] == 1 and target[2] == 3:
        image = tf.image.grayscale_to_rgb(image)
    elif source[2] == 3 and target[2] == 1:
        image = tf.cast(tf.round(tf.image.rgb_to_grayscale(tf.cast(image, tf.float32))), tf.uint8)
    if source[:2] != target[:2]:
        if _pads(source, target):
            image = tf.image.resize_with_crop_or_pad(image, target[0], target[1])
        else:
            resized = tf.image.resize(image, target[:2], method="bilinear", antialias=True)
            image = tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8)
    return image


def check_channels(source, target) -> None:
    """Refuses channel counts that do not convert (only 1 and 3 do)."""
    if source[2] != target[2] and (target[2] not in (1, 3) or source[2] not in (1, 3)):
        raise DataError(
            f"cannot adapt {source[2]}-channel images to {target[2]} channels; "
            "only 1 and 3 channels convert (set data.image_shape to the dataset's channels)"
        )


def _pads(source, target) -> bool:
    return all(s <= t <= s * MAX_PAD_RATIO for s, t in zip(source[:2], target[:2], strict=True))
