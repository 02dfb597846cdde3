"""Trains a recipe for a few dozen steps on real digits and prints its loss per epoch.

    python scripts/early_learning.py vgg16
    python scripts/early_learning.py alexnet --set model.args.initialization=paper
    python scripts/early_learning.py vgg16 --set model.args.batch_norm=true --steps 16 --epochs 3

The recipe's own optimizer, learning rate and plan, initialisers, augmentation and batch size, on the
bundled MNIST sample adapted to its input: `--epochs` epochs of `--steps` steps each, nothing
exported. A network whose loss is still at ln(classes) after them starts on a plateau (a signal too
small at initialisation, a learning rate off by orders of magnitude): the first thing
`tests/test_family_learning.py` checks, and a quicker question than `scripts/verify_recipes.py`'s.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time

from kerascnn import recipes
from kerascnn.recipes import parse_assignments

STEPS_PER_EPOCH = 16
EPOCHS = 3


def early_overrides(recipe, runs_dir: str, *, steps: int = STEPS_PER_EPOCH, epochs: int = EPOCHS):
    """The recipe's settings, cut to `epochs` of `steps` steps on the bundled sample."""
    overrides = {
        "epochs": epochs,
        "data.name": "mnist_sample",
        "data.train_limit": steps * recipe.batch_size,
        "data.test_limit": 256,
        "runs_dir": runs_dir,
        "export.enabled": False,
        "callbacks.tensorboard": False,
        "callbacks.checkpoint": False,
        "callbacks.inspect_examples": 0,
    }
    if recipe.optimizer.schedule == "cosine":  # the first epochs of the recipe's own plan
        overrides["optimizer.schedule_epochs"] = recipe.optimizer.schedule_epochs or recipe.epochs
    return overrides


def early_losses(recipe, runs_dir: str, **budget):
    """The run's result after the budget of `early_overrides`."""
    resolved = recipes.resolve(recipe, early_overrides(recipe, runs_dir, **budget))
    return recipes.run(resolved, verbose=0, fresh=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipe")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--steps", type=int, default=STEPS_PER_EPOCH, help="steps per epoch")
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    args = parser.parse_args()
    recipe = recipes.resolve(args.recipe, parse_assignments(args.set), from_text=True)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as runs_dir:
        result = early_losses(recipe, runs_dir, steps=args.steps, epochs=args.epochs)
    chance = math.log(result.metrics["data"]["num_classes"])
    losses = " ".join(f"{loss:.3f}" for loss in result.history["loss"])
    accuracy = " ".join(f"{a:.3f}" for a in result.history.get("val_accuracy", []))
    print(
        f"{args.recipe} {' '.join(args.set)}: training loss per epoch {losses} (chance "
        f"{chance:.3f}); held-out accuracy {accuracy}; {args.epochs} x {args.steps} steps of "
        f"{recipe.batch_size} in {time.perf_counter() - started:.0f} s"
    )


if __name__ == "__main__":
    main()
