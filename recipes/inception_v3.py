"""inception_v3: InceptionV3 (small stem) on CIFAR-10: RMSprop 0.045, eps 1.0, x0.94 every 2 epochs, clip 2.0.

Not yet reproduced: this recipe trains on the full CIFAR-10 (50,000 train / 10,000 test images, via
tfds), which this project's offline 2-core machines cannot download, and its 100 epochs would take
days on a CPU. What is tested: the model's parameter count, and one smoke epoch of this exact recipe
on the bundled MNIST sample adapted to 32x32x3 (`tests/test_run.py`). With CIFAR-10 available
(internet, or a prepared tfds data dir), reproduce with:

    python scripts/reproduce.py inception_v3 --set data.tfds_data_dir=PATH_TO_TFDS

Training recipe source: Szegedy et al., Rethinking the Inception architecture (2015): RMSProp decay
0.9, epsilon 1.0, learning rate 0.045 decayed by 0.94 every two epochs, gradient clipping 2.0.

Copy this file, change anything and run it by path: kerascnn run my_recipe.py
"""

from kerascnn.recipes import DataConfig, ModelConfig, OptimizerConfig, Recipe


def recipe() -> Recipe:
    return Recipe(
        name="inception_v3",
        description="InceptionV3 (small stem) on CIFAR-10: RMSprop 0.045, eps 1.0, x0.94 every 2 epochs, clip 2.0.",
        data=DataConfig(name="cifar10", image_shape=(32, 32, 3)),
        model=ModelConfig(name="inception_v3", args={"stem": "small"}),
        augmentation="cifar",
        optimizer=OptimizerConfig(
            name="rmsprop",
            learning_rate=0.045,
            schedule="step",
            decay_rate=0.94,
            decay_epochs=2,
            epsilon=1.0,
            clipnorm=2.0,
        ),
        batch_size=32,
        epochs=100,
        source="Szegedy et al., Rethinking the Inception architecture (2015): RMSProp decay 0.9, epsilon 1.0, learning rate 0.045 decayed by 0.94 every two epochs, gradient clipping 2.0",
        smoke={"batch_size": 8, "data.train_limit": 16, "data.test_limit": 16},
    )
