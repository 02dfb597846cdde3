"""A model's anatomy: its convolutions, feature maps and the time each layer takes.

Used by `kerascnn report` (filters, feature maps, time per layer) and `kerascnn profile`.
"""

from __future__ import annotations

import time

import keras
import numpy as np
import tensorflow as tf

from kerascnn import compat
from kerascnn.models.pixels import network_of, preprocessing_of


def convolutions(model: keras.Model) -> list[keras.layers.Layer]:
    """The 2-D convolutions of a model, in order, looking inside nested models."""
    found = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            found.extend(convolutions(layer))
        elif isinstance(layer, keras.layers.Conv2D):
            found.append(layer)
    return found


def feature_maps(model: keras.Model, image: np.ndarray, count: int = 3):
    """(layer name, feature map) after each of the first `count` convolutions, for one image."""
    preprocessing, classifier = preprocessing_of(model), network_of(model)
    x = image[None].astype(np.float32)
    for layer in preprocessing:
        x = layer(x)
    layers = [layer for layer in convolutions(classifier) if layer in classifier.layers][:count]
    if not layers:
        return []
    probe = keras.Model(classifier.inputs, [layer.output for layer in layers])
    outputs = probe(x)
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    return [(layer.name, np.asarray(out)[0]) for layer, out in zip(layers, outputs, strict=True)]


def layer_times(model: keras.Model, batch: np.ndarray, *, repeats: int = 3, backward: bool = True):
    """Each layer's wall time on `batch`, measured eagerly: {layer: (forward s, backward s)}.

    Every layer of the Functional graph (inside nested models too) runs on its own, as it would in
    the model; its backward time is that of the gradient of its output with respect to its inputs
    and weights. The median over `repeats` passes after a warm-up is kept.
    """
    forward: dict[str, list[float]] = {}
    backward_times: dict[str, list[float]] = {}

    def timed(operation, prefix=""):
        if compat.is_functional(operation):
            return lambda *args, **kwargs: _run_graph(operation, args, f"{operation.name}/")

        def run(*args, **kwargs):
            kwargs.pop("training", None)
            inputs = [t for t in tf.nest.flatten(args) if tf.is_tensor(t) and t.dtype.is_floating]
            with tf.GradientTape() as tape:
                tape.watch(inputs)
                started = time.perf_counter()
                outputs = operation(*args, **kwargs)
                for tensor in tf.nest.flatten(outputs):
                    _ = tensor.shape  # eager CPU ops have finished when they return
                forward.setdefault(prefix + operation.name, []).append(
                    time.perf_counter() - started
                )
            if backward:
                sources = inputs + list(operation.trainable_weights)
                targets = [t for t in tf.nest.flatten(outputs) if t.dtype.is_floating]
                started = time.perf_counter()
                if sources and targets:
                    grads = tape.gradient(
                        targets, sources, output_gradients=[tf.ones_like(t) for t in targets]
                    )
                    for grad in grads:
                        if grad is not None:
                            _ = grad.shape
                backward_times.setdefault(prefix + operation.name, []).append(
                    time.perf_counter() - started
                )
            return outputs

        return run

    def _run_graph(functional, inputs, prefix):
        return compat.run_through_graph(
            functional,
            inputs[0] if len(inputs) == 1 else inputs,
            lambda operation: timed(operation, prefix),
        )

    x = tf.convert_to_tensor(batch, tf.float32)
    for _ in range(repeats + 1):
        _run_graph(model, (x,), "")
    return {
        name: (
            float(np.median(times[1:])),
            float(np.median(backward_times[name][1:])) if name in backward_times else 0.0,
        )
        for name, times in forward.items()
    }


def layer_time_shares(model: keras.Model, batch: np.ndarray, *, repeats: int = 3, top: int = 14):
    """The share of a forward pass's wall time spent in each layer (`layer_times`): the `top`
    layers by share, and the rest summed as "other layers"."""
    totals = {
        name: seconds
        for name, (seconds, _) in layer_times(model, batch, repeats=repeats, backward=False).items()
    }
    total = sum(totals.values()) or 1.0
    ranked = sorted(totals.items(), key=lambda item: -item[1])
    shares = {name.split("/")[-1]: value / total for name, value in ranked[:top]}
    if len(ranked) > top:
        shares["other layers"] = sum(value for _, value in ranked[top:]) / total
    return shares
