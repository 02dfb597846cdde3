"""resnet50: ResNet50 with a small stem on CIFAR-10, trained as resnet18 is.

Figure (learns on MNIST at 32x32): not measured yet;

    python scripts/verify_recipes.py resnet50 --data-dir ../shared/datasets/mnist

measures it. CIFAR-10: not reproduced here (no copy on this offline machine); with one,
`python scripts/reproduce.py resnet50 --data-dir PATH/cifar-10-batches-py` measures it.

Copy this file, change anything and run it by path: kerascnn run my_recipe.py
"""

import dataclasses

from kerascnn.recipes import Recipe
from kerascnn.recipes.library import resnet18


def recipe() -> Recipe:
    """ResNet50 (small stem) on CIFAR-10: SGD 0.1, momentum 0.9, decay 5e-4, cosine, 200 epochs."""
    base = resnet18.recipe()
    # resnet18's fallback_epochs, 1, stays: one epoch of the bundled sample (47 steps of 128, then
    # 2,000 test images), timed from a few steps on 2026-12-03, takes about 19 min on 2 idle
    # cores (CPU time / 2; 40 min on the shared CPU), and one is the least a run can train.
    return dataclasses.replace(
        base,
        name="resnet50",
        model=dataclasses.replace(base.model, name="resnet50"),
    )
