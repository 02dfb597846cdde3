"""The built-in recipes, one registered function each; the registry key is the recipe's name."""

from __future__ import annotations

from kerascnn.recipes.config import DataConfig, ModelConfig, OptimizerConfig, Recipe
from kerascnn.registry import recipes


@recipes.register
def deep_mnist() -> Recipe:
    """The book's deep CNN on MNIST: Adam 1e-3, batch 100, 20 epochs; the book reports 99.38 %."""
    return Recipe(
        name="deep_mnist",
        data=DataConfig(name="mnist"),
        model=ModelConfig(name="deep_mnist_cnn"),
        augmentation="none",
        optimizer=OptimizerConfig(name="adam", learning_rate=1e-3),
        batch_size=100,
        epochs=20,
        target_accuracy=0.9938,
        source='Koki Saito, "Deep Learning from Scratch" (2016), ch. 8.1, ch08/train_deepnet.py',
    )
