"""Every model family learns at its recipe's own settings: optimizer, learning rate and plan,
initialisers, augmentation and batch size, on real digits (the bundled MNIST sample, adapted to the
recipe's input). The loss must fall clearly below chance (ln 10 = 2.303) within a few dozen steps.
VGG with Glorot initialisation stayed at 2.30 here; so would any recipe whose signal dies at
initialisation or whose learning rate is off by orders of magnitude.

Slow (minutes for the ImageNet-era networks on 2 cores); `scripts/verify_recipes.py` is the long
version on the full MNIST."""

import math

import pytest
from script_loader import load_script

from kerascnn import recipes

# Measured here on 2026-12-03 (48 steps of 128 on 2 shared cores, about 9 minutes each): training
# accuracy 10.3 / 10.4 / 12.4 % (alexnet) and 9.9 / 9.8 / 11.9 % (vgg16) in epochs 1-3, the
# loss at chance. Open in issue 22; strict, so a fix that makes them learn makes this test fail
# until the mark goes.
NOT_LEARNING_YET = pytest.mark.xfail(
    strict=True, reason="issue 22: at chance after 48 steps at the recipe's settings"
)
# One recipe per family; the deeper members share their family's builder and settings.
# resnet18 and inception_v1 are not measured this way yet (issue 22).
FAMILIES = [
    "deep_mnist",
    "lenet5",
    pytest.param("alexnet", marks=NOT_LEARNING_YET),
    pytest.param("vgg16", marks=NOT_LEARNING_YET),
]
# Clearly below chance: a model that guesses uniformly has a loss of ln 10.
BELOW_CHANCE = math.log(10) - 0.15
early_learning = load_script("early_learning")


@pytest.mark.slow
@pytest.mark.parametrize("name", FAMILIES)
def test_each_family_learns_digits_at_its_recipes_settings(tmp_path, name):
    # Three epochs of 16 steps at the recipe's batch size (scripts/early_learning.py's budget).
    result = early_learning.early_losses(recipes.get(name), str(tmp_path / "runs"))
    losses = result.history["loss"]
    assert losses[-1] < BELOW_CHANCE, f"{name}: training loss per epoch {losses}"
