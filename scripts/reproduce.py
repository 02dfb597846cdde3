"""Reproduces a recipe's published figure on the full data over one or more seeds, and records it.

    python scripts/reproduce.py deep_mnist --data-dir ../shared/datasets/mnist
    python scripts/reproduce.py deep_mnist --data-dir ../shared/datasets/mnist --seeds 0 1 2 3 4

Trains the recipe exactly as registered (any --set overrides are reported and recorded), once per
seed (default: the recipe's own seed), each a fresh run. After each seed it prints the figure (test
accuracy; the Inception Score and Fréchet distance for a GAN; BLEU for a captioner), the epochs and
the times, and merges the result at once into `--out` (JSON, default
docs/measurements/reproduce.json) under the recipe's name, then the seed, with the overrides, the
precision used, the commit it was measured at, the date and the machine: a command stopped midway
keeps the seeds it finished. At the end: mean ± sample standard deviation, minimum and maximum over
the seeds, and where the recipe's target (`target_accuracy`, `target_inception_score`,
`target_bleu4`, from its `source`) falls in that spread.

Exits 1 if the mean over the seeds did not reach the target (with one seed: that seed's figure), 2
on a bad request. Refuses to run on the bundled sample: a published figure needs the full data.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import measurements

import kerascnn
from kerascnn.errors import KerasCNNError
from kerascnn.recipes import parse_assignments, resolve

# The whole command's time starts here: TensorFlow is imported by the first run, and counted.
STARTED = time.perf_counter()

# Per task: the headline figure (the one the target is about), how it is shown, every figure kept.
FIGURES = {
    "classification": ("test_accuracy", "{:.2%}", ("test_accuracy", "test_loss")),
    "gan": (
        "inception_score",
        "{:.2f}",
        # Class fidelity: a conditional GAN's only (None for one that draws from noise alone).
        ("inception_score", "frechet_distance", "class_fidelity", "min_class_fidelity"),
    ),
    "captioning": ("test_bleu4", "{:.3f}", tuple(f"test_bleu{n}" for n in range(1, 5))),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipe", help="recipe name or file")
    parser.add_argument("--data-dir", help="folder of the full dataset's IDX files")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument(
        "--seeds", type=int, nargs="+", metavar="S", help="seeds to train (default: the recipe's)"
    )
    parser.add_argument("--out", type=Path, default=measurements.MEASUREMENTS / "reproduce.json")
    args = parser.parse_args()
    try:
        return reproduce(args)
    except KerasCNNError as error:
        print(f"reproduce.py: error: {error}", file=sys.stderr)
        return 2


def reproduce(args) -> int:
    code = measurements.provenance()  # before training: the package may change during it
    overrides = parse_assignments(args.set)
    recipe = resolve(args.recipe, overrides, from_text=True)
    seeds = chosen_seeds(recipe, overrides, args.seeds)
    overrides.pop("seed", None)  # recorded as the seed itself
    run_overrides = {"data.offline_fallback": False}
    if args.data_dir:
        run_overrides["data.data_dir"] = args.data_dir
    recipe = resolve(recipe, run_overrides)
    # Every seed checked before the first trains.
    seeded = [resolve(recipe, {"seed": seed}) for seed in seeds]

    # Here, not at the top: TensorFlow loads with the tasks, within the command's time.
    from kerascnn.training.checks import check_overrides
    from kerascnn.training.tasks import task_of

    check_overrides(recipe, {**overrides, **run_overrides})
    task = task_of(recipe)
    metric, shown, kept = FIGURES[task.name]
    rows = []
    for one in seeded:
        rows.append(train_seed(one, kept, overrides, code))
        replaced = measurements.merge(args.out, [recipe.name, str(one.seed)], rows[-1])
        print_seed(rows[-1], metric, shown, replaced, args.out)
    target = getattr(recipe, task.target_field)
    print_summary(recipe, rows, seeds, metric, shown, target)
    print(f"  overrides: {overrides or 'none'}; recorded in {args.out}")
    scored = [row[metric] for row in rows if row[metric] is not None]
    if target is None:
        return 0
    return 0 if scored and statistics.mean(scored) >= target else 1


def chosen_seeds(recipe, overrides: dict, seeds: list[int] | None) -> list[int]:
    """`--seeds`, else the recipe's own seed (`--set seed=S` included); one seed for an ensemble,
    whose members carry their own."""
    if seeds is not None and "seed" in overrides:
        raise KerasCNNError("give the seeds with --seeds or with --set seed=S, not both")
    if seeds is not None and recipe.members and seeds != [recipe.seed]:
        raise KerasCNNError(
            f"{recipe.name!r} is an ensemble: its members carry their own seeds "
            "(--set members=...), so --seeds would train the same ensemble again"
        )
    if seeds is not None and len(set(seeds)) != len(seeds):
        raise KerasCNNError(f"--seeds names a seed twice: {seeds}")
    return seeds if seeds is not None else [recipe.seed]


def train_seed(recipe, kept: tuple, overrides: dict, code: dict) -> dict:
    """Trains `recipe` once, afresh, and returns its row of the measurements file."""
    started = time.perf_counter()
    result = kerascnn.recipes.run(recipe, verbose=2, fresh=True)
    finished = time.perf_counter()
    metrics = result.metrics
    figures = {name: metrics.get(name) for name in kept}
    return {
        "recipe": recipe.name,
        "seed": recipe.seed,
        **{name: None if v is None else round(v, 4) for name, v in figures.items()},
        "epochs": metrics["epochs"],
        "train_seconds": metrics["train_seconds"],
        # Data, model, training, evaluation and export of this seed.
        "run_seconds": round(finished - started, 1),
        # From the command's start, TensorFlow's import included: for the first seed, the time a
        # user waits for a one-seed command.
        "command_seconds": round(finished - STARTED, 1),
        "overrides": overrides,
        "precision": metrics["precision"],
        "data": metrics["data"]["source"],
        "num_train": metrics["data"]["num_train"],
        "num_test": metrics["data"]["num_test"],
        "run_dir": str(result.run_dir),
        **code,
    }


def print_seed(row: dict, metric: str, shown: str, replaced: dict | None, out: Path) -> None:
    value = "not scored" if row[metric] is None else shown.format(row[metric])
    epochs = f"{row['epochs']} epoch{'s' * (row['epochs'] != 1)}"
    print(
        f"\nSEED {row['seed']} {row['recipe']}: {metric.replace('_', ' ')} {value} after {epochs}; "
        f"training {row['train_seconds']:.0f} s, run {row['run_seconds']:.0f} s; recorded in {out}"
    )
    if replaced is not None:
        print(f"  (replaces seed {row['seed']}'s {describe(replaced, metric, shown)})")


def print_summary(recipe, rows: list[dict], seeds: list[int], metric, shown, target) -> None:
    """The spread over the seeds, where the target falls in it, and what was measured how."""
    values = [row[metric] for row in rows]
    print(f"\nRESULT {recipe.name}: {spread(values, seeds, metric, shown)}")
    if target is not None:
        where = placement(target, [v for v in values if v is not None], shown)
        print(f"  target {shown.format(target)} ({recipe.source or 'no source given'}): {where}")
    last = rows[-1]
    print(
        f"  data: {last['data']} ({last['num_train']} train / {last['num_test']} test); "
        f"precision {last['precision']}"
    )
    print(
        f"  commit {last['commit']}{' with uncommitted changes' * last['uncommitted_changes']}; "
        f"whole command {(time.perf_counter() - STARTED) / 60:.1f} min on {last['machine']}"
    )


def spread(values: list, seeds: list[int], metric: str, shown: str) -> str:
    """'test accuracy 99.21% ± 0.05% (mean ± sample std of 5 seeds: 0 1 2 3 4), min …, max …'"""
    name = metric.replace("_", " ")
    scored = [v for v in values if v is not None]
    unscored = f"; {len(values) - len(scored)} not scored" if len(scored) < len(values) else ""
    if len(scored) < 2:
        figure = shown.format(scored[0]) if scored else "not scored"
        which = f"seed{'s' * (len(seeds) > 1)} {' '.join(map(str, seeds))}"
        return f"{name} {figure} ({which}; no spread{unscored})"
    mean, std = statistics.mean(scored), statistics.stdev(scored)
    return (
        f"{name} {shown.format(mean)} ± {shown.format(std)} (mean ± sample std of "
        f"{len(scored)} seeds: {' '.join(map(str, seeds))}), min {shown.format(min(scored))}, "
        f"max {shown.format(max(scored))}{unscored}"
    )


def placement(target: float, values: list[float], shown: str) -> str:
    """Where a published figure falls in our spread: above our max, below our min, or within."""
    if not values:
        return "nothing to compare it with (no seed was scored)"
    if target > max(values):
        where = "above our max"
    elif target < min(values):
        where = "below our min"
    else:
        where = "within our range"
    if len(values) < 2:
        return f"{where} (one seed: no spread to judge by)"
    if statistics.stdev(values) == 0:
        return f"{where} (every seed gave {shown.format(values[0])})"
    deviations = (target - statistics.mean(values)) / statistics.stdev(values)
    return f"{where} ({deviations:+.1f} sample std from our mean)"


def describe(row: dict, metric: str, shown: str) -> str:
    """A recorded row in a few words: its figure, commit, date and overrides."""
    value = row.get(metric)
    return (
        f"{'not scored' if value is None else shown.format(value)} of {row.get('date')} at "
        f"{row.get('commit')}, overrides {row.get('overrides') or 'none'}"
    )


if __name__ == "__main__":
    sys.exit(main())
