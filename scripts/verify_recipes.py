"""Trains every registered classifier recipe briefly on real data and prints whether it learns.

    python scripts/verify_recipes.py --data-dir ../shared/datasets/mnist            # every recipe
    python scripts/verify_recipes.py vgg16 resnet18 --data-dir ../shared/datasets/mnist

Each recipe trains at its own settings (optimizer, learning-rate plan, initialisers, augmentation,
batch size, precision) on the full MNIST adapted to its input (28 -> 32 px padding, grey -> RGB, as the
data layer does for any recipe) for at most `--epochs` epochs (default 2), stopping after the first
epoch whose test accuracy reaches `--target` (default 98 %). A cosine plan keeps its horizon: the
epochs run are the first ones of the recipe's own plan (`optimizer.schedule_epochs`), not a
compressed plan. Nothing is exported; runs go under `--runs-dir` (default runs/verify).

Prints one table (recipe, images seen, test accuracy after each epoch, wall time) and merges each
result, as it finishes, into `--out` (JSON, default docs/measurements/verify_recipes.json) with the
commit it was measured at. Exits 1 if a recipe did not reach the target. Ensembles are left out:
their members are recipes of their own.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import measurements

import kerascnn
from kerascnn.recipes import list_recipes, resolve
from kerascnn.training.tasks import task_of


def classifier_recipes() -> list[str]:
    """Registered recipes that train one classifier (not ensembles, GANs or captioners)."""
    names = []
    for name in list_recipes():
        recipe = resolve(name)
        if not recipe.members and task_of(recipe).name == "classification":
            names.append(name)
    return names


def budget_overrides(recipe, args) -> dict:
    """The recipe as registered, cut to the budget, on the given data, without export."""
    overrides = {
        "epochs": min(args.epochs, recipe.epochs),
        "data.data_dir": args.data_dir,
        "data.offline_fallback": False,
        "callbacks.stop_at_accuracy": args.target,
        "runs_dir": args.runs_dir,
        "export.enabled": False,
    }
    if recipe.optimizer.schedule == "cosine":
        overrides["optimizer.schedule_epochs"] = recipe.optimizer.schedule_epochs or recipe.epochs
    return overrides


def verify(name: str, args) -> dict:
    recipe = resolve(name)
    code = measurements.provenance()  # before training: the package may change during it
    started = time.perf_counter()
    result = kerascnn.recipes.run(
        resolve(recipe, budget_overrides(recipe, args)), verbose=2, fresh=True
    )
    seconds = time.perf_counter() - started
    metrics = result.metrics
    epoch_accuracies = result.history.get("val_accuracy", [])
    return {
        "recipe": name,
        "model": recipe.model.name,
        "precision": metrics["precision"],
        "batch_size": recipe.batch_size,
        "images_seen": metrics["epochs"] * metrics["data"]["num_train"],
        "epoch_test_accuracy": [round(a, 4) for a in epoch_accuracies],
        "test_accuracy": round(metrics["test_accuracy"], 4),
        "learned": metrics["test_accuracy"] >= args.target,
        "wall_seconds": round(seconds, 1),
        "data": metrics["data"]["source"],
        "adaptation": metrics["data"].get("adaptation", ""),
        **code,
    }


def table(rows: list[dict]) -> str:
    lines = [
        "| recipe | precision | images seen | test accuracy by epoch | reached | wall time |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        by_epoch = " → ".join(f"{a:.2%}" for a in row["epoch_test_accuracy"])
        lines.append(
            f"| `{row['recipe']}` | {row['precision']} | {row['images_seen']:,} | {by_epoch} | "
            f"{'yes' if row['learned'] else '**no**'} | {row['wall_seconds'] / 60:.1f} min |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipes", nargs="*", help="recipe names (default: every classifier)")
    parser.add_argument("--data-dir", required=True, help="folder of the full MNIST IDX files")
    parser.add_argument("--epochs", type=int, default=2, help="the budget in epochs (default 2)")
    parser.add_argument("--target", type=float, default=0.98, help="test accuracy to reach")
    parser.add_argument("--runs-dir", default="runs/verify")
    parser.add_argument(
        "--out", type=Path, default=measurements.MEASUREMENTS / "verify_recipes.json"
    )
    args = parser.parse_args()
    rows = []
    for name in args.recipes or classifier_recipes():
        row = verify(name, args)
        measurements.merge(args.out, [name], row)
        rows.append(row)
        print(f"\nVERIFIED {name}: {row['test_accuracy']:.2%} after {row['images_seen']:,} images")
    print("\n" + table(rows))
    return 0 if all(row["learned"] for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
