"""dcgan: DCGAN (Radford, Metz & Chintala 2015) on MNIST, scored by a digit classifier kerascnn trained.

Not yet reproduced.

Copy this file, change anything and run it by path: kerascnn run my_recipe.py
"""

from kerascnn.recipes import DataConfig, ModelConfig, OptimizerConfig, Recipe


def recipe() -> Recipe:
    return Recipe(
        name="dcgan",
        description="DCGAN on MNIST: Adam 2e-4, beta1 0.5, batch 128 (Radford et al.), weight averaging, 40 epochs.",
        data=DataConfig(name="mnist", validation="none"),
        model=ModelConfig(name="dcgan"),
        augmentation="none",
        optimizer=OptimizerConfig(
            name="adam", learning_rate=0.0002, beta_1=0.5, ema_momentum=0.999
        ),
        batch_size=128,
        epochs=40,
        target_inception_score=9.0,
        source="Radford, Metz & Chintala, Unsupervised representation learning with deep convolutional GANs (2015): Adam 2e-4, beta1 0.5, batch 128, N(0, 0.02) weights",
        smoke={"callbacks.quality_examples": 256, "callbacks.sample_grid": 16},
    )
