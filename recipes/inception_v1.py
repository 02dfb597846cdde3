"""inception_v1: GoogLeNet (small stem, auxiliary heads) on CIFAR-10: SGD 0.01, momentum 0.9, -4 % / 8 epochs.

Not yet reproduced: this recipe trains on the full CIFAR-10 (50,000 train / 10,000 test images, via
tfds), which this project's offline 2-core machines cannot download, and its 100 epochs would take
days on a CPU. What is tested: the model's parameter count, and one smoke epoch of this exact recipe
on the bundled MNIST sample adapted to 32x32x3 (`tests/test_run.py`). With CIFAR-10 available
(internet, or a prepared tfds data dir), reproduce with:

    python scripts/reproduce.py inception_v1 --set data.tfds_data_dir=PATH_TO_TFDS

Training recipe source: Szegedy et al., Going deeper with convolutions (2014): momentum 0.9,
learning rate decreased by 4 % every 8 epochs, auxiliary classifiers' losses weighted 0.3.

Copy this file, change anything and run it by path: kerascnn run my_recipe.py
"""

from kerascnn.recipes import DataConfig, ModelConfig, OptimizerConfig, Recipe


def recipe() -> Recipe:
    return Recipe(
        name="inception_v1",
        description="GoogLeNet (small stem, auxiliary heads) on CIFAR-10: SGD 0.01, momentum 0.9, -4 % / 8 epochs.",
        data=DataConfig(name="cifar10", image_shape=(32, 32, 3)),
        model=ModelConfig(name="inception_v1", args={"stem": "small", "aux_logits": True}),
        augmentation="cifar",
        optimizer=OptimizerConfig(
            name="sgd",
            learning_rate=0.01,
            momentum=0.9,
            weight_decay=0.0002,
            schedule="step",
            decay_rate=0.96,
            decay_epochs=8,
        ),
        batch_size=128,
        epochs=100,
        source="Szegedy et al., Going deeper with convolutions (2014): momentum 0.9, learning rate decreased by 4 % every 8 epochs, auxiliary classifiers' losses weighted 0.3",
        smoke={"batch_size": 8, "data.train_limit": 16, "data.test_limit": 16},
    )
