"""vgg16: VGG16 on CIFAR-10, trained as in the paper (SGD 0.01, learning rate /10 three times).

Figure (learns on MNIST at 32x32): not measured yet;

    python scripts/verify_recipes.py vgg16 --data-dir ../shared/datasets/mnist

measures it. CIFAR-10: not reproduced here (no copy on this offline machine); with one,
`python scripts/reproduce.py vgg16 --data-dir PATH/cifar-10-batches-py` measures it.

Copy this file, change anything and run it by path: kerascnn run my_recipe.py
"""

import dataclasses

from kerascnn.recipes import ModelConfig, OptimizerConfig, Recipe
from kerascnn.recipes.library import _cifar10


def recipe() -> Recipe:
    """VGG16 on CIFAR-10: SGD 0.01, momentum 0.9, decay 5e-4, /10 every 25 epochs, 75 epochs."""
    return dataclasses.replace(
        _cifar10.base(),
        name="vgg16",
        model=ModelConfig(name="vgg16"),
        optimizer=OptimizerConfig(
            name="sgd",
            learning_rate=0.01,
            momentum=0.9,
            weight_decay=5e-4,
            schedule="step",
            decay_rate=0.1,
            decay_epochs=25,
        ),
        epochs=75,
        # One epoch of the bundled sample (47 steps of 128, then 2,000 test images), timed from a
        # few steps on 2026-12-03: about 6 min on 2 idle cores (CPU time / 2; 16 min on
        # the shared CPU), so the fallback run trains one.
        fallback_epochs=1,
        source="Simonyan & Zisserman, Very deep convolutional networks (2014): SGD 0.01, "
        "momentum 0.9, weight decay 5e-4, learning rate /10 three times over 74 epochs",
    )
