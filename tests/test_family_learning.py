"""Every model family learns at its recipe's own settings: optimizer, learning rate and plan,
initialisers, augmentation and batch size, on real digits (the bundled MNIST sample, adapted to the
recipe's input). The loss must fall clearly below chance (ln 10 = 2.303) within a few dozen steps.
VGG with Glorot initialisation stayed at 2.30 here; so would any recipe whose signal dies at
initialisation or whose learning rate is off by orders of magnitude.

Slow (minutes for the ImageNet-era networks on 2 cores); `scripts/verify_recipes.py` is the long
version on the full MNIST."""

import math

import pytest

from kerascnn import recipes

# One recipe per family; the deeper members share their family's builder and settings.
FAMILIES = ["deep_mnist", "lenet5", "alexnet", "vgg16", "resnet18", "inception_v1"]
STEPS_PER_EPOCH = 16  # three epochs: 48 steps
# Clearly below chance: a model that guesses uniformly has a loss of ln 10.
BELOW_CHANCE = math.log(10) - 0.15


@pytest.mark.slow
@pytest.mark.parametrize("name", FAMILIES)
def test_each_family_learns_digits_at_its_recipes_settings(tmp_path, name):
    recipe = recipes.get(name)
    overrides = {
        "epochs": 3,
        "data.name": "mnist_sample",
        "data.train_limit": STEPS_PER_EPOCH * recipe.batch_size,
        "data.test_limit": 256,
        "runs_dir": str(tmp_path / "runs"),
        "export.enabled": False,
        "callbacks.tensorboard": False,
        "callbacks.checkpoint": False,
        "callbacks.inspect_examples": 0,
    }
    if recipe.optimizer.schedule == "cosine":  # the first epochs of the recipe's own plan
        overrides["optimizer.schedule_epochs"] = recipe.optimizer.schedule_epochs or recipe.epochs
    result = recipes.run(recipes.resolve(recipe, overrides), verbose=0)
    losses = result.history["loss"]
    assert losses[-1] < BELOW_CHANCE, f"{name}: training loss per epoch {losses}"
