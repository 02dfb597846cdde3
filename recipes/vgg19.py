"""vgg19: VGG19 on CIFAR-10, trained as vgg16 is: the paper trained all its configurations alike.

Figure (learns on MNIST at 32x32): not measured yet;

    python scripts/verify_recipes.py vgg19 --data-dir ../shared/datasets/mnist

measures it. CIFAR-10: not reproduced here (no copy on this offline machine); with one,
`python scripts/reproduce.py vgg19 --data-dir PATH/cifar-10-batches-py` measures it.

Copy this file, change anything and run it by path: kerascnn run my_recipe.py
"""

import dataclasses

from kerascnn.recipes import ModelConfig, Recipe
from kerascnn.recipes.library import vgg16


def recipe() -> Recipe:
    """VGG19 on CIFAR-10: SGD 0.01, momentum 0.9, decay 5e-4, /10 every 25 epochs, 75 epochs."""
    # vgg16's fallback_epochs, 1, stays: one epoch of the bundled sample (47 steps of 128, then
    # 2,000 test images), timed from a few steps on 2026-12-03, takes about 8 min on 2 idle
    # cores (CPU time / 2; 33 min on the shared CPU), and one is the least a run can train.
    return dataclasses.replace(
        vgg16.recipe(),
        name="vgg19",
        model=ModelConfig(name="vgg19"),
    )
