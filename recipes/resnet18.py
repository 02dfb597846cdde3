"""resnet18: ResNet18 (small stem) on CIFAR-10: SGD 0.1, momentum 0.9, decay 5e-4, cosine, 200 epochs.

Not yet reproduced: this recipe trains on the full CIFAR-10 (50,000 train / 10,000 test images, via
tfds), which this project's offline 2-core machines cannot download, and its 200 epochs would take
days on a CPU. What is tested: the model's parameter count, and one smoke epoch of this exact recipe
on the bundled MNIST sample adapted to 32x32x3 (`tests/test_run.py`). With CIFAR-10 available
(internet, or a prepared tfds data dir), reproduce with:

    python scripts/reproduce.py resnet18 --set data.tfds_data_dir=PATH_TO_TFDS

Training recipe source: He et al., Deep residual learning (2015), trained as standard CIFAR
practice: SGD 0.1, momentum 0.9, weight decay 5e-4, cosine decay over 200 epochs.

Copy this file, change anything and run it by path: kerascnn run my_recipe.py
"""

from kerascnn.recipes import DataConfig, ModelConfig, OptimizerConfig, Recipe


def recipe() -> Recipe:
    return Recipe(
        name="resnet18",
        description="ResNet18 (small stem) on CIFAR-10: SGD 0.1, momentum 0.9, decay 5e-4, cosine, 200 epochs.",
        data=DataConfig(name="cifar10", image_shape=(32, 32, 3)),
        model=ModelConfig(name="resnet18", args={"stem": "small"}),
        augmentation="cifar",
        optimizer=OptimizerConfig(
            name="sgd", learning_rate=0.1, momentum=0.9, weight_decay=0.0005, schedule="cosine"
        ),
        batch_size=128,
        epochs=200,
        source="He et al., Deep residual learning (2015), trained as standard CIFAR practice: SGD 0.1, momentum 0.9, weight decay 5e-4, cosine decay over 200 epochs",
        smoke={"batch_size": 8, "data.train_limit": 16, "data.test_limit": 16},
    )
