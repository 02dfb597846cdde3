"""dcgan: DCGAN (Radford, Metz & Chintala 2015) on MNIST, scored by a digit classifier kerascnn trained.

Not yet reproduced.

Copy this file, change anything and run it by path: kerascnn run my_recipe.py
"""

from kerascnn.recipes import DataConfig, ModelConfig, OptimizerConfig, Recipe


def recipe() -> Recipe:
    return Recipe(
        name="dcgan",
        description="DCGAN on MNIST padded to 32x32: Adam 2e-4, beta1 0.5, batch 128 (Radford et al.), 15 epochs.",
        data=DataConfig(name="mnist", image_shape=(32, 32, 1), validation="none"),
        model=ModelConfig(name="dcgan"),
        augmentation="none",
        optimizer=OptimizerConfig(name="adam", learning_rate=0.0002, beta_1=0.5),
        batch_size=128,
        epochs=15,
        target_inception_score=9.0,
        source="Radford, Metz & Chintala, Unsupervised representation learning with deep convolutional GANs (2015): Adam 2e-4, beta1 0.5, batch 128, N(0, 0.02) weights",
        smoke={"callbacks.quality_examples": 256, "callbacks.sample_grid": 16},
    )
