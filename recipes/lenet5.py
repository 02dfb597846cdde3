"""lenet5: LeNet-5 (modern form, tanh) on MNIST padded to 32x32: Adam 1e-3, batch 128, 20 epochs; the paper: 99.05 %.

Not yet reproduced.

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
        name="lenet5",
        description="LeNet-5 (modern form, tanh) on MNIST padded to 32x32: Adam 1e-3, batch 128, 20 epochs; the paper: 99.05 %.",
        data=DataConfig(
            name="mnist",
            data_dir=None,
            tfds_data_dir=None,
            image_shape=None,
            validation="test",
            holdout_fraction=0.1,
            train_limit=None,
            test_limit=None,
            shuffle_buffer=60000,
            offline_fallback=True,
        ),
        model=ModelConfig(name="lenet5", args={}),
        augmentation="none",
        optimizer=OptimizerConfig(
            name="adam",
            learning_rate=0.001,
            momentum=0.0,
            nesterov=False,
            weight_decay=None,
            schedule="constant",
            warmup_epochs=0.0,
            decay_rate=0.1,
            decay_epochs=10.0,
            epsilon=None,
            clipnorm=None,
        ),
        batch_size=128,
        epochs=20,
        precision="float32",
        strategy="default",
        steps_per_execution=1,
        seed=0,
        callbacks=CallbackConfig(
            tensorboard=True, histogram_freq=0, checkpoint=True, early_stopping_patience=None
        ),
        export=ExportConfig(enabled=True, directory="saved_models"),
        runs_dir="runs",
        target_accuracy=0.9905,
        source="LeCun et al., Gradient-based learning applied to document recognition (1998): LeNet-5 reached 0.95 % test error on MNIST without distortions",
        smoke={},
    )
