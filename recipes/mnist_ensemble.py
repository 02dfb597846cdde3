"""mnist_ensemble: five mnist_best nets and five of the book's network (one with DropConnect), averaged.

Figure: not reproduced here at this version. The target is 99.75 % (`target_accuracy`; the
DropConnect paper's 5-net ensemble: 99.79 %); each member trains as a run of its own (resumable, a
finished one is reused), then their probabilities are averaged:

    python scripts/reproduce.py mnist_ensemble --data-dir ../shared/datasets/mnist

Earlier runs and how the members were chosen: docs/experiments/2026-11-26-mnist_ensemble.md.

Copy this file, change anything and run it by path: kerascnn run my_recipe.py
"""

from kerascnn.recipes import DataConfig, ModelConfig, OptimizerConfig, Recipe

# mnist_best's training (digit jitter, Adam 1e-3 cosine, batch 64) for the book's network, 20 epochs.
BOOK_NET_MEMBER = {"recipe": "mnist_best", "model.name": "deep_mnist_cnn", "epochs": 20}
# The smoke version of an ensemble's members: one short epoch each.
MEMBER_SMOKE = {"epochs": 1, "batch_size": 32, "callbacks.histogram_freq": 0}


def recipe() -> Recipe:
    """Five mnist_best nets and five of the book's (one with DropConnect) averaging probabilities: >= 99.75 %."""
    return Recipe(
        name="mnist_ensemble",
        data=DataConfig(name="mnist"),
        model=ModelConfig(name="deep_mnist_cnn"),
        augmentation="none",
        optimizer=OptimizerConfig(name="adam", learning_rate=1e-3),
        # Five of one network err alike (99.71 %: 29 errors, 13 made by each of four); the book's
        # smaller network, trained the same way, errs differently, and adding it got past 99.75 %.
        members=(
            *({"recipe": "mnist_best", "seed": seed} for seed in range(5)),
            *(BOOK_NET_MEMBER | {"seed": seed} for seed in (5, 6, 7, 8)),
            BOOK_NET_MEMBER | {"seed": 10, "model.args": {"drop_connect": True}},
        ),
        batch_size=500,
        epochs=1,
        precision="float32",  # as reproduced
        target_accuracy=0.9975,
        source="Wan et al., Regularization of neural networks using DropConnect (2013): "
        "an ensemble of 5 networks reached 0.21 % error (99.79 %) on MNIST",
        # A list, as JSON gives it back: the record of a run must equal the recipe.
        smoke={"members": [{"recipe": "mnist_best", "seed": s, **MEMBER_SMOKE} for s in range(2)]},
    )
