"""Turns unbatched (image, label) datasets into the batched `tf.data` pipelines a run trains on."""

from __future__ import annotations

import sys

import keras
import tensorflow as tf


def batches(
    dataset: tf.data.Dataset,
    *,
    batch_size: int,
    training: bool,
    augmentation=None,
    seed: int | None = None,
    shuffle_buffer: int = 60_000,
    progress: str | None = None,
) -> tf.data.Dataset:
    """Cache, shuffle (training), batch, augment (training, on whole batches), prefetch.

    Images stay uint8 through the cache (a quarter of the memory of float32) and become float32
    pixel values in [0, 255] after batching; the model's own `Rescaling` layer maps them to [0, 1], so
    evaluation and export see only that deterministic preprocessing.

    With a `progress` label the cache is filled now, behind a progress bar, instead of silently
    during the first epoch (reading, decoding and adapting images can take a while).
    """
    dataset = dataset.cache()
    if progress:
        fill_cache(dataset, progress)
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


def fill_cache(dataset: tf.data.Dataset, label: str) -> None:
    """Runs through a cached dataset once, so its cache is full, showing a progress bar."""
    size = int(dataset.cardinality())
    print(label, flush=True)
    # A live bar on a terminal; in a log, one line when done.
    bar = keras.utils.Progbar(
        size if size > 0 else None, unit_name="image", verbose=1 if sys.stdout.isatty() else 2
    )
    for count, _ in enumerate(dataset.batch(1024), start=1):
        bar.update(min(count * 1024, size) if size > 0 else count * 1024)
