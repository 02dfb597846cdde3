"""lenet5: LeNet-5 (modern form, tanh) on MNIST padded to 32x32: Adam 1e-3 cosine, batch 128, 20 epochs; the paper: 99.05 %.

Not yet reproduced.

Copy this file, change anything and run it by path: kerascnn run my_recipe.py
"""

from kerascnn.recipes import DataConfig, ModelConfig, OptimizerConfig, Recipe


def recipe() -> Recipe:
    return Recipe(
        name="lenet5",
        description="LeNet-5 (modern form, tanh) on MNIST padded to 32x32: Adam 1e-3 cosine, batch 128, 20 epochs; the paper: 99.05 %.",
        data=DataConfig(name="mnist"),
        model=ModelConfig(name="lenet5"),
        augmentation="none",
        optimizer=OptimizerConfig(name="adam", schedule="cosine"),
        batch_size=128,
        epochs=20,
        target_accuracy=0.9905,
        source="LeCun et al., Gradient-based learning applied to document recognition (1998): LeNet-5 reached 0.95 % test error on MNIST without distortions",
    )
