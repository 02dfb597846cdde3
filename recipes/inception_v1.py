"""inception_v1: GoogLeNet with a small stem and its auxiliary heads on CIFAR-10, trained as in the paper.

Figure (learns on MNIST at 32x32): not measured yet;

    python scripts/verify_recipes.py inception_v1 --data-dir ../shared/datasets/mnist

measures it. CIFAR-10: not reproduced here (no copy on this offline machine); with one,
`python scripts/reproduce.py inception_v1 --data-dir PATH/cifar-10-batches-py` measures it.

Copy this file, change anything and run it by path: kerascnn run my_recipe.py
"""

import dataclasses

from kerascnn.recipes import ModelConfig, OptimizerConfig, Recipe
from kerascnn.recipes.library import _cifar10


def recipe() -> Recipe:
    """GoogLeNet (small stem, auxiliary heads) on CIFAR-10: SGD 0.01, momentum 0.9, -4 % / 8 epochs."""
    return dataclasses.replace(
        _cifar10.base(),
        name="inception_v1",
        model=ModelConfig(name="inception_v1", args={"stem": "small", "aux_logits": True}),
        optimizer=OptimizerConfig(
            name="sgd",
            learning_rate=0.01,
            momentum=0.9,
            weight_decay=2e-4,
            schedule="step",
            decay_rate=0.96,
            decay_epochs=8,
        ),
        epochs=100,
        # One epoch of the bundled sample (47 steps of 128, then 2,000 test images), timed from a
        # few steps on 2026-12-03: about 19 min on 2 idle cores (CPU time / 2; 61 min on
        # the shared CPU): more than five minutes, but one epoch is the least a run can train.
        fallback_epochs=1,
        source="Szegedy et al., Going deeper with convolutions (2014): momentum 0.9, learning "
        "rate decreased by 4 % every 8 epochs, auxiliary classifiers' losses weighted 0.3",
    )
