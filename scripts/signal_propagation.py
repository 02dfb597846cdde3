"""Prints how a recipe's network carries the signal at initialisation, layer by layer.

    python scripts/signal_propagation.py vgg16
    python scripts/signal_propagation.py vgg16 --set model.args.batch_norm=true

Builds the recipe's model as its run does (input shape and classes of its data, builder arguments,
initialisers), feeds it a batch of real digits from the bundled sample adapted to that input, and
prints for every convolution and dense layer the standard deviation of its output (forward signal)
and of the loss gradient with respect to its kernel (backward signal). A signal that shrinks by
orders of magnitude from the first layer to the last is a network that starts near a flat loss: its
logits are all about 0 and its loss sits at ln(classes) until the weights grow.
"""

from __future__ import annotations

import argparse
import math

import keras
import numpy as np
import tensorflow as tf

from kerascnn.data import batches, load_dataset
from kerascnn.models import create_model
from kerascnn.recipes import DataConfig, parse_assignments, resolve


def measured_layers(model):
    return [
        layer
        for layer in model.layers
        if isinstance(layer, keras.layers.Conv2D | keras.layers.Dense)
    ]


def signal(recipe, count: int):
    """[(layer name, output std, kernel-gradient std)] and the loss, at initialisation."""
    shape = tuple(recipe.data.image_shape or (28, 28, 1))
    data = load_dataset(DataConfig(name="mnist_sample", image_shape=shape, train_limit=count))
    images, labels = next(iter(batches(data.train, batch_size=count)))
    keras.utils.set_random_seed(recipe.seed)
    model = create_model(
        recipe.model.name, input_shape=shape, classes=10, **dict(recipe.model.args)
    )
    layers = measured_layers(model)
    probe = keras.Model(model.inputs, [layer.output for layer in layers] + [model.outputs[0]])
    loss_fn = keras.losses.SparseCategoricalCrossentropy()
    with tf.GradientTape() as tape:
        *outputs, probabilities = probe(tf.cast(images, tf.float32) / 255, training=True)
        loss = loss_fn(labels, probabilities)
    gradients = tape.gradient(loss, [layer.kernel for layer in layers])
    rows = [
        (layer.name, float(np.std(output)), float(np.std(gradient)))
        for layer, output, gradient in zip(layers, outputs, gradients, strict=True)
    ]
    return rows, float(loss)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipe", help="recipe name or file")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--images", type=int, default=64, help="batch of real digits")
    args = parser.parse_args()
    recipe = resolve(args.recipe, parse_assignments(args.set), from_text=True)
    rows, loss = signal(recipe, args.images)
    print(f"{recipe.name} ({recipe.model.name}, {dict(recipe.model.args)}) at initialisation")
    print(f"{'layer':<28}{'output std':>12}{'grad std':>12}")
    for name, output, gradient in rows:
        print(f"{name:<28}{output:>12.3g}{gradient:>12.3g}")
    print(f"loss {loss:.4f} (chance: ln 10 = {math.log(10):.4f})")
    print(f"output std, last / first layer: {rows[-1][1] / rows[0][1]:.3g}")


if __name__ == "__main__":
    main()
