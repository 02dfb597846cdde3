"""alexnet: AlexNet with a small stem on CIFAR-10, trained as in the paper (SGD, steps of /10).

Figure (learns on MNIST at 32x32, `docs/measurements/verify_recipes.json`, 2026-12-03): 90.17 %
test accuracy after one epoch of the full MNIST, 97.45 % after two (below the 98 % a sound recipe
reaches), 84 min on this 2-core CPU while other training shared it:

    python scripts/verify_recipes.py alexnet --data-dir ../shared/datasets/mnist

CIFAR-10: not reproduced here (no copy on this offline machine); with one,
`python scripts/reproduce.py alexnet --data-dir PATH/cifar-10-batches-py` measures it.

Copy this file, change anything and run it by path: kerascnn run my_recipe.py
"""

import dataclasses

from kerascnn.recipes import ModelConfig, OptimizerConfig, Recipe
from kerascnn.recipes.library import _cifar10


def recipe() -> Recipe:
    """AlexNet (small stem) on CIFAR-10: SGD 0.01, momentum 0.9, decay 5e-4, /10 every 30 epochs, 90 epochs."""
    return dataclasses.replace(
        _cifar10.base(),
        name="alexnet",
        model=ModelConfig(name="alexnet", args={"stem": "small"}),
        optimizer=OptimizerConfig(
            name="sgd",
            learning_rate=0.01,
            momentum=0.9,
            weight_decay=5e-4,
            schedule="step",
            decay_rate=0.1,
            decay_epochs=30,
        ),
        epochs=90,
        # One epoch of the bundled sample (47 steps of 128, then 2,000 test images), timed from a
        # few steps on 2026-12-03: about 6 min on 2 idle cores (CPU time / 2; 15 min on
        # the shared CPU), so the fallback run trains one.
        fallback_epochs=1,
        source="Krizhevsky, Sutskever & Hinton, ImageNet classification with deep CNNs (2012)",
    )
