"""vgg19: VGG19 on CIFAR-10: SGD 0.01, momentum 0.9, decay 5e-4, /10 every 25 epochs, 75 epochs.

Not yet reproduced: this recipe trains on the full CIFAR-10 (50,000 train / 10,000 test images, via
tfds), which this project's offline 2-core machines cannot download, and its 75 epochs would take
days on a CPU. What is tested: the model's parameter count, and one smoke epoch of this exact recipe
on the bundled MNIST sample adapted to 32x32x3 (`tests/test_run.py`). With CIFAR-10 available
(internet, or a prepared tfds data dir), reproduce with:

    python scripts/reproduce.py vgg19 --set data.tfds_data_dir=PATH_TO_TFDS

Training recipe source: Simonyan & Zisserman, Very deep convolutional networks (2014): SGD 0.01,
momentum 0.9, weight decay 5e-4, learning rate /10 three times over 74 epochs.

Copy this file, change anything and run it by path: kerascnn run my_recipe.py
"""

from kerascnn.recipes import (
    CallbackConfig,
    DataConfig,
    ExportConfig,
    ModelConfig,
    OptimizerConfig,
    Recipe,
)


def recipe() -> Recipe:
    return Recipe(
        name="vgg19",
        description="VGG19 on CIFAR-10: SGD 0.01, momentum 0.9, decay 5e-4, /10 every 25 epochs, 75 epochs.",
        data=DataConfig(
            name="cifar10",
            data_dir=None,
            tfds_data_dir=None,
            image_shape=(32, 32, 3),
            validation="test",
            holdout_fraction=0.1,
            train_limit=None,
            test_limit=None,
            shuffle_buffer=50000,
            offline_fallback=True,
        ),
        model=ModelConfig(name="vgg19", args={}),
        augmentation="cifar",
        optimizer=OptimizerConfig(
            name="sgd",
            learning_rate=0.01,
            momentum=0.9,
            nesterov=False,
            weight_decay=0.0005,
            schedule="step",
            warmup_epochs=0.0,
            decay_rate=0.1,
            decay_epochs=25,
            epsilon=None,
            clipnorm=None,
        ),
        batch_size=128,
        epochs=75,
        precision="float32",
        strategy="default",
        steps_per_execution=1,
        seed=0,
        callbacks=CallbackConfig(
            tensorboard=True, histogram_freq=0, checkpoint=True, early_stopping_patience=None
        ),
        export=ExportConfig(enabled=True, directory="saved_models"),
        runs_dir="runs",
        target_accuracy=None,
        source="Simonyan & Zisserman, Very deep convolutional networks (2014): SGD 0.01, momentum 0.9, weight decay 5e-4, learning rate /10 three times over 74 epochs",
        smoke={"batch_size": 8, "data.train_limit": 16, "data.test_limit": 16},
    )
