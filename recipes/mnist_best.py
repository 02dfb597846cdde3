"""mnist_best: the book's CNN with BatchNorm, a 256-unit head, digit jitter, Adam 2e-3 cosine, 30 epochs.

Not yet reproduced: the target is 99.65 % test accuracy on the full MNIST.

    python scripts/reproduce.py mnist_best --data-dir ../shared/datasets/mnist

Copy this file, change anything and run it by path: kerascnn run my_recipe.py
"""

from kerascnn.recipes import DataConfig, ModelConfig, OptimizerConfig, Recipe


def recipe() -> Recipe:
    return Recipe(
        name="mnist_best",
        description="The book's CNN with BatchNorm, a 256-unit head, digit jitter, Adam 2e-3 cosine, 30 epochs: >= 99.65 %.",
        data=DataConfig(name="mnist"),
        model=ModelConfig(
            name="deep_mnist_cnn",
            args={
                "batch_norm": True,
                "inverted_dropout": True,
                "hidden_units": 256,
                "dropout": 0.3,
            },
        ),
        augmentation="digits",
        label_smoothing=0.1,
        optimizer=OptimizerConfig(
            name="adam", learning_rate=0.002, schedule="cosine", warmup_epochs=1.0
        ),
        batch_size=128,
        epochs=30,
        target_accuracy=0.9965,
        source="kerascnn issue 4: the book's 99.38 % network taken toward the top of the MNIST table with BatchNorm, augmentation and a decaying learning rate",
    )
