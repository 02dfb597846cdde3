"""Turns unbatched (image, label) datasets into the batched `tf.data` pipelines a run trains on."""

from __future__ import annotations

import tensorflow as tf


def batches(
    dataset: tf.data.Dataset,
    *,
    batch_size: int,
    training: bool,
    augmentation=None,
    seed: int | None = None,
    shuffle_buffer: int = 60_000,
) -> tf.data.Dataset:
    """Cache, shuffle (training), batch, augment (training, on whole batches), prefetch.

    Images stay uint8 through the cache (a quarter of the memory of float32) and become float32
    pixel values in [0, 255] after batching; the model's own `Rescaling` layer maps them to [0, 1], so
    evaluation and export see only that deterministic preprocessing.
    """
    dataset = dataset.cache()
    if training:
        dataset = dataset.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size, num_parallel_calls=tf.data.AUTOTUNE)
    dataset = dataset.map(
        lambda x, y: (tf.cast(x, tf.float32), y), num_parallel_calls=tf.data.AUTOTUNE
    )
    if training and augmentation is not None:
        dataset = dataset.map(
            lambda x, y: (augmentation(x, training=True), y), num_parallel_calls=tf.data.AUTOTUNE
        )
    return dataset.prefetch(tf.data.AUTOTUNE)
