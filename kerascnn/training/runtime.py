"""Run settings that are not part of the model: numeric precision, distribution strategy, optimizer."""

from __future__ import annotations

import math
from contextlib import contextmanager

import keras
import tensorflow as tf


@contextmanager
def precision_policy(name: str):
    """Sets the global Keras dtype policy for the block (models must be built inside it)."""
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(name)
    try:
        yield keras.mixed_precision.global_policy()
    finally:
        keras.mixed_precision.set_global_policy(previous)


def make_strategy(name: str) -> tf.distribute.Strategy:
    """'default': the current (single-device) strategy; 'mirrored': all local GPUs, or the CPU."""
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def learning_rate_schedule(config, *, steps_per_epoch: int, epochs: int):
    """The learning rate, constant or a `keras.optimizers.schedules` schedule stepped per batch."""
    schedules = keras.optimizers.schedules
    decay_steps = max(1, round(config.decay_epochs * steps_per_epoch))
    if config.schedule == "cosine":
        warmup = round(config.warmup_epochs * steps_per_epoch)
        return schedules.CosineDecay(
            initial_learning_rate=0.0 if warmup else config.learning_rate,
            decay_steps=max(1, epochs * steps_per_epoch - warmup),
            warmup_target=config.learning_rate if warmup else None,
            warmup_steps=warmup,
        )
    if config.schedule in ("exponential", "step"):
        return schedules.ExponentialDecay(
            config.learning_rate,
            decay_steps,
            config.decay_rate,
            staircase=config.schedule == "step",
        )
    return config.learning_rate


def make_optimizer(config, *, num_examples: int, batch_size: int, epochs: int):
    """The recipe's optimizer with its learning-rate schedule."""
    steps_per_epoch = max(1, math.ceil(num_examples / batch_size))
    rate = learning_rate_schedule(config, steps_per_epoch=steps_per_epoch, epochs=epochs)
    # Only what the recipe sets is passed, so every other option keeps Keras' default.
    options = {
        key: value
        for key, value in (("weight_decay", config.weight_decay), ("clipnorm", config.clipnorm))
        if value is not None
    }
    if config.ema_momentum is not None:
        options.update(use_ema=True, ema_momentum=config.ema_momentum)
    if config.name == "sgd":
        return keras.optimizers.SGD(
            rate, momentum=config.momentum, nesterov=config.nesterov, **options
        )
    if config.epsilon is not None:
        options["epsilon"] = config.epsilon
    if config.name == "rmsprop":
        return keras.optimizers.RMSprop(rate, momentum=config.momentum, **options)
    if config.beta_1 is not None:
        options["beta_1"] = config.beta_1
    if config.name == "adamw":
        return keras.optimizers.AdamW(rate, **options)
    return keras.optimizers.Adam(rate, **options)


def is_chief() -> bool:
    """Whether this process writes logs and exports: the chief of a multi-worker cluster (from
    TF_CONFIG: the `chief` task, or worker 0 when there is none), or any single process."""
    import json
    import os

    config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    task = config.get("task") or {}
    if not task:
        return True
    if task.get("type") == "chief":
        return True
    has_chief = bool(config.get("cluster", {}).get("chief"))
    return task.get("type") == "worker" and int(task.get("index", 0)) == 0 and not has_chief
