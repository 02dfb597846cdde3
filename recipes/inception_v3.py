"""inception_v3: InceptionV3 with a small stem on CIFAR-10, trained as in the paper (RMSprop, clipping).

Figure (learns on MNIST at 32x32): not measured yet;

    python scripts/verify_recipes.py inception_v3 --data-dir ../shared/datasets/mnist

measures it. CIFAR-10: not reproduced here (no copy on this offline machine); with one,
`python scripts/reproduce.py inception_v3 --data-dir PATH/cifar-10-batches-py` measures it.

Copy this file, change anything and run it by path: kerascnn run my_recipe.py
"""

import dataclasses

from kerascnn.recipes import ModelConfig, OptimizerConfig, Recipe
from kerascnn.recipes.library import _cifar10


def recipe() -> Recipe:
    """InceptionV3 (small stem) on CIFAR-10: RMSprop 0.045, eps 1.0, x0.94 every 2 epochs, clip 2.0."""
    return dataclasses.replace(
        _cifar10.base(),
        name="inception_v3",
        model=ModelConfig(name="inception_v3", args={"stem": "small"}),
        optimizer=OptimizerConfig(
            name="rmsprop",
            learning_rate=0.045,
            epsilon=1.0,
            clipnorm=2.0,
            schedule="step",
            decay_rate=0.94,
            decay_epochs=2,
        ),
        batch_size=32,
        epochs=100,
        # One epoch of the bundled sample (188 steps of 32, then 2,000 test images), timed from a
        # few steps on 2026-12-03: about 33 min on 2 idle cores (CPU time / 2; 70 min on
        # the shared CPU): more than five minutes, but one epoch is the least a run can train.
        fallback_epochs=1,
        source="Szegedy et al., Rethinking the Inception architecture (2015): RMSProp decay 0.9, "
        "epsilon 1.0, learning rate 0.045 decayed by 0.94 every two epochs, gradient clipping 2.0",
    )
