"""Turns unbatched (image, label) datasets into the batched `tf.data` pipelines a run trains on."""

from __future__ import annotations

import math
import sys

import keras
import numpy as np
import tensorflow as tf


def batches(
    dataset: tf.data.Dataset, *, batch_size: int, progress: str | None = None
) -> tf.data.Dataset:
    """The evaluation pipeline: cache, batch, prefetch, in the stored order, never augmented.

    Images stay uint8 through the cache (a quarter of the memory of float32) and become float32
    pixel values in [0, 255] after batching; the model's own `Rescaling` layer maps them to [0, 1], so
    evaluation and export see only that deterministic preprocessing. Training batches come from a
    `TrainingStream`.

    With a `progress` label the cache is filled now, behind a progress bar, instead of silently
    during the first epoch (reading, decoding and adapting images can take a while).
    """
    dataset = dataset.cache()
    if progress:
        fill_cache(dataset, progress)
    dataset = dataset.batch(batch_size, num_parallel_calls=tf.data.AUTOTUNE)
    dataset = dataset.map(
        lambda x, y: (tf.cast(x, tf.float32), y), num_parallel_calls=tf.data.AUTOTUNE
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


class TrainingStream:
    """Training batches whose order and augmentation are functions of (seed, epoch, step) alone.

    So a run resumed at epoch 7, step 120 sees exactly the batches an uninterrupted run sees there:
    every epoch is a fresh permutation of the whole training set drawn from (seed, epoch) with a
    stateless shuffle (read when the epoch's iteration starts), and before each epoch `start_epoch`
    sets the augmentation layers' random state to where that epoch begins (their draws per batch
    are counted once, at construction). `dataset(skip)` is what `fit` iterates: one epoch per
    iteration, the first `skip` batches left out.

    The training images are held in memory, as uint8 (MNIST: 47 MB; CIFAR-10: 150 MB).

    With `sequential_augmentation` (deterministic runs) batches are augmented one after the other,
    so each batch gets the same random draws in every run; otherwise in parallel, faster but in an
    order that can vary.

    `targets` = (image index, label) arrays makes the examples those pairs instead of the
    dataset's own (image, label): an image with five captions is five examples that share one
    stored image.
    """

    def __init__(
        self,
        dataset: tf.data.Dataset,
        *,
        batch_size: int,
        seed: int,
        augmentation=None,
        sequential_augmentation: bool = False,
        progress: str | None = None,
        targets: tuple[np.ndarray, np.ndarray] | None = None,
    ):
        cached = dataset.cache()
        if progress:
            fill_cache(cached, progress)
        images, labels = zip(*cached.batch(4096).as_numpy_iterator(), strict=True)
        self._images = tf.constant(np.concatenate(images))
        if targets is None:
            self._image_of, self._labels = None, tf.constant(np.concatenate(labels))
        else:
            self._image_of, self._labels = (tf.constant(np.asarray(t)) for t in targets)
        examples = int(self._labels.shape[0])
        self.examples = examples
        self.steps_per_epoch = max(1, math.ceil(examples / batch_size))
        self.batch_size = batch_size
        self.seed = seed
        self.augmentation = augmentation
        self.sequential_augmentation = sequential_augmentation
        self._epoch = tf.Variable(0, dtype=tf.int64, trainable=False)
        self._generators, self._draws_per_batch = _random_states(augmentation, self._images[:1])

    def dataset(self, skip: int = 0) -> tf.data.Dataset:
        """The batches of the current epoch (see `start_epoch`) after the first `skip`."""
        images, labels, image_of, epoch = self._images, self._labels, self._image_of, self._epoch
        seed = self.seed

        def one_epoch(_):
            order = tf.random.experimental.stateless_shuffle(
                tf.range(tf.shape(labels, out_type=tf.int64)[0]),
                seed=tf.stack([tf.constant(seed, tf.int64), epoch]),
            )
            pictures = order if image_of is None else tf.gather(image_of, order)
            return tf.data.Dataset.from_tensor_slices(
                (tf.gather(images, pictures), tf.gather(labels, order))
            )

        batches = tf.data.Dataset.from_tensors(0).flat_map(one_epoch).batch(self.batch_size)
        batches = batches.skip(skip).map(lambda x, y: (tf.cast(x, tf.float32), y))
        if self.augmentation is not None:
            augmentation = self.augmentation
            batches = batches.map(
                lambda x, y: (augmentation(x, training=True), y),
                num_parallel_calls=None if self.sequential_augmentation else tf.data.AUTOTUNE,
            )
        batches = batches.apply(
            tf.data.experimental.assert_cardinality(self.steps_per_epoch - skip)
        )
        return batches.prefetch(tf.data.AUTOTUNE)

    def epoch_callback(self, skip: int = 0) -> keras.callbacks.Callback:
        """The callback that calls `start_epoch` before each epoch of `fit` (the first from `skip`)."""
        stream = self

        class StartEpoch(keras.callbacks.Callback):
            def __init__(self):
                super().__init__()
                self.skip = skip

            def on_epoch_begin(self, epoch, logs=None):
                stream.start_epoch(epoch, self.skip)
                self.skip = 0

        return StartEpoch()

    def start_epoch(self, epoch: int, skip: int = 0) -> None:
        """Sets the order and augmentation draws of `epoch` from its step `skip` on."""
        self._epoch.assign(epoch)
        batches_before = epoch * self.steps_per_epoch + skip
        for (generator, start), draws in zip(self._generators, self._draws_per_batch, strict=True):
            generator.state.assign(start + np.array([0, draws * batches_before], np.int64))


def _random_states(augmentation, images):
    """The augmentation's seed generators with their first states, and how many draws each makes
    per batch (counted on a batch of `images`, then reset)."""
    if augmentation is None:
        return [], []
    generators = [
        value
        for layer in _layers_within(augmentation)
        for value in vars(layer).values()
        if isinstance(value, keras.random.SeedGenerator)
    ]
    starts = [np.array(g.state.numpy(), np.int64) for g in generators]
    augmentation(tf.cast(images, tf.float32), training=True)
    draws = [
        int(g.state.numpy()[1] - start[1]) for g, start in zip(generators, starts, strict=True)
    ]
    for generator, start in zip(generators, starts, strict=True):
        generator.state.assign(start)
    return list(zip(generators, starts, strict=True)), draws


def _layers_within(layer, seen=None):
    """`layer` and every layer it holds, depth first and once each: a Sequential's layers, a
    composed layer's parts (attributes that are layers or lists of layers)."""
    seen = set() if seen is None else seen
    if id(layer) in seen:
        return
    seen.add(id(layer))
    yield layer
    for value in vars(layer).values():
        for part in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(part, keras.layers.Layer):
                yield from _layers_within(part, seen)


def take_examples(dataset, limit: int):
    """Up to `limit` (images, labels) as numpy arrays from a batched dataset of (image, label);
    the labels may be per-pixel masks."""
    images, labels, count = [], [], 0
    for batch_images, batch_labels in dataset:
        images.append(np.asarray(batch_images))
        labels.append(np.asarray(batch_labels))
        count += len(labels[-1])
        if count >= limit:
            break
    if not images:
        return np.zeros((0,)), np.zeros((0,), np.int64)
    return np.concatenate(images)[:limit], np.concatenate(labels)[:limit].astype(np.int64)
