"""Reproduces a recipe's published figure on the full dataset and says whether it was reached.

    python scripts/reproduce.py deep_mnist --data-dir ../shared/datasets/mnist

Trains the recipe exactly as registered (any --set overrides are reported), prints the test accuracy
(the Inception Score for a GAN, BLEU-4 for a captioner), the wall time and the machine, and exits 1
if the recipe's `target_accuracy` (`target_inception_score`, `target_bleu4`) was not reached.
Refuses to run on the bundled sample: a published figure needs the full data.
"""

import argparse
import os
import platform
import sys
import time

import kerascnn
from kerascnn.recipes import parse_assignments, resolve


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipe", help="recipe name or file")
    parser.add_argument("--data-dir", help="folder of the full dataset's IDX files")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    overrides = parse_assignments(args.set)
    if args.data_dir:
        overrides["data.data_dir"] = args.data_dir
    recipe = resolve(args.recipe, overrides, from_text=True)
    recipe = resolve(recipe, {"data.offline_fallback": False})
    started = time.perf_counter()
    result = kerascnn.recipes.run(recipe, verbose=2)
    minutes = (time.perf_counter() - started) / 60
    if recipe.target_inception_score is not None:
        metric, target, shown = "inception_score", recipe.target_inception_score, "{:.2f}"
    elif recipe.target_bleu4 is not None:
        metric, target, shown = "test_bleu4", recipe.target_bleu4, "{:.3f}"
    else:
        metric, target, shown = "test_accuracy", recipe.target_accuracy, "{:.2%}"
    value = result.metrics.get(metric)
    if value is not None:
        goal = f" (target {shown.format(target)})" if target else ""
        print(f"\nRESULT {recipe.name}: {metric.replace('_', ' ')} {shown.format(value)}{goal}")
    print(
        f"  data: {result.metrics['data']['source']} "
        f"({result.metrics['data']['num_train']} train / {result.metrics['data']['num_test']} test)"
    )
    print(
        f"  wall time: {minutes:.1f} min on {os.cpu_count()} cores ({platform.processor() or platform.machine()})"
    )
    print(f"  overrides: {overrides or 'none'}; run dir: {result.run_dir}")
    return 0 if target is None or (value is not None and value >= target) else 1


if __name__ == "__main__":
    sys.exit(main())
