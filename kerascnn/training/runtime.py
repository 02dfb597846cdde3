"""Run settings that are not part of the model: numeric precision, distribution strategy, optimizer."""

from __future__ import annotations

import math
import os
from contextlib import contextmanager

import keras
import tensorflow as tf

from kerascnn.errors import KerasCNNError
from kerascnn.training.cluster import multi_worker_strategy


def choose_precision() -> tuple[str, str]:
    """What `precision="auto"` means on this machine: (policy, why).

    mixed_float16 on GPUs of compute capability 7.0 or more (tensor cores), mixed_bfloat16 on TPUs
    and on CPUs that compute bfloat16 natively (AMX or AVX512-BF16), float32 elsewhere: on other
    CPUs 16-bit arithmetic is emulated and several times slower (tensorflow/tensorflow#45441).
    """
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        details = tf.config.experimental.get_device_details(gpus[0])
        capability = details.get("compute_capability") or (0, 0)
        name = details.get("device_name", "the GPU")
        if tuple(capability) >= (7, 0):
            return (
                "mixed_float16",
                f"{name} has compute capability {capability[0]}.{capability[1]} (float16 tensor cores)",
            )
        return (
            "float32",
            f"{name} has compute capability {capability[0]}.{capability[1]}, below 7.0: float16 would not be faster",
        )
    if tf.config.list_logical_devices("TPU"):
        return "mixed_bfloat16", "TPUs compute in bfloat16"
    flags = cpu_flags()
    native = sorted(flags & {"amx_bf16", "avx512_bf16"})
    if native:
        return "mixed_bfloat16", f"this CPU computes bfloat16 natively ({', '.join(native)})"
    return "float32", (
        "this CPU has no native bfloat16 (AMX or AVX512-BF16) and no GPU: 16-bit would be slower"
    )


def cpu_flags() -> set[str]:
    """The CPU's feature flags (Linux /proc/cpuinfo; empty elsewhere)."""
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def resolve_precision(name: str) -> tuple[str, str]:
    """(the policy to use, why) for a recipe's `precision`; the reason is empty unless 'auto'."""
    return choose_precision() if name == "auto" else (name, "")


@contextmanager
def precision_policy(name: str):
    """Sets the global Keras dtype policy for the block (models must be built inside it);
    'auto' picks one for the machine (`choose_precision`)."""
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(resolve_precision(name)[0])
    try:
        yield keras.mixed_precision.global_policy()
    finally:
        keras.mixed_precision.set_global_policy(previous)


CPU_DEVICES_ENV = "KERASCNN_CPU_DEVICES"


def split_cpu(count: int | str | None = None) -> int | None:
    """Splits the CPU into `count` logical devices (default: $KERASCNN_CPU_DEVICES; unset: leaves
    TensorFlow alone and returns None), so that `strategy="mirrored"` has replicas on a machine
    without GPUs. Works only before TensorFlow has run anything (the CLI calls it first thing)."""

    value = count if count is not None else os.environ.get(CPU_DEVICES_ENV)
    if value in (None, ""):
        return None
    if not str(value).isdigit() or not 1 <= int(value) <= 64:
        raise KerasCNNError(
            f"{CPU_DEVICES_ENV} must be a number of CPU devices from 1 to 64, got {value!r}"
        )
    (cpu,) = tf.config.list_physical_devices("CPU")
    try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * int(value)
        )
    except RuntimeError:
        raise KerasCNNError(
            f"the CPU can only be split before TensorFlow starts; set {CPU_DEVICES_ENV} before "
            "the first TensorFlow operation"
        ) from None
    return int(value)


def make_strategy(name: str) -> tf.distribute.Strategy:
    """'default': the current (single-device) strategy; 'mirrored': every local GPU, or without
    GPUs every logical CPU device (one unless the CPU was split, `split_cpu`); 'multi_worker':
    the workers that TF_CONFIG lists (`kerascnn.training.cluster`)."""
    if name == "multi_worker":
        return multi_worker_strategy()
    if name == "mirrored":
        if tf.config.list_logical_devices("GPU"):
            return tf.distribute.MirroredStrategy()
        cpus = [device.name for device in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices=cpus)
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
