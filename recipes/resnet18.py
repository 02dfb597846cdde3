"""resnet18: ResNet18 with a small stem on CIFAR-10, trained as standard CIFAR practice; the ResNet base.

resnet34 and resnet50 are this recipe with another network.

Figure (learns on MNIST at 32x32): not measured yet;

    python scripts/verify_recipes.py resnet18 --data-dir ../shared/datasets/mnist

measures it. CIFAR-10: not reproduced here (no copy on this offline machine); with one,
`python scripts/reproduce.py resnet18 --data-dir PATH/cifar-10-batches-py` measures it.

Copy this file, change anything and run it by path: kerascnn run my_recipe.py
"""

import dataclasses

from kerascnn.recipes import ModelConfig, OptimizerConfig, Recipe
from kerascnn.recipes.library import _cifar10


def recipe() -> Recipe:
    """ResNet18 (small stem) on CIFAR-10: SGD 0.1, momentum 0.9, decay 5e-4, cosine, 200 epochs."""
    return dataclasses.replace(
        _cifar10.base(),
        name="resnet18",
        model=ModelConfig(name="resnet18", args={"stem": "small"}),
        optimizer=OptimizerConfig(
            name="sgd", learning_rate=0.1, momentum=0.9, weight_decay=5e-4, schedule="cosine"
        ),
        epochs=200,
        # One epoch of the bundled sample (47 steps of 128, then 2,000 test images), timed from a
        # few steps on 2026-12-03: about 6 min on 2 idle cores (CPU time / 2; 19 min on
        # the shared CPU), so the fallback run trains one.
        fallback_epochs=1,
        source="He et al., Deep residual learning (2015), trained as standard CIFAR practice: "
        "SGD 0.1, momentum 0.9, weight decay 5e-4, cosine decay over 200 epochs",
    )
