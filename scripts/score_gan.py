"""Scores GAN runs' checkpoints the same way: what weight averaging and its BatchNorm statistics add,
and a conditional GAN's class fidelity, side by side.

    python scripts/score_gan.py runs/dcgan/20261202-164547 --data-dir ../shared/datasets/mnist
    python scripts/score_gan.py runs/dcgan/<time> runs/cdcgan/<time> --data-dir ../shared/datasets/mnist

Loads each run's last checkpoint (`checkpoints/last/model.keras`, with both optimizers) and prints
the Inception Score and Fréchet distance (`kerascnn.quality`, the run's number of images, its seed)
of

- the generator's current weights, as the per-epoch scores see it;
- its moving average (`optimizer.ema_momentum`) under the BatchNorm statistics gathered in training,
  which belong to the current weights;
- the average with statistics measured for it (`kerascnn.models.dcgan.recalibrate_batch_norm`), as a
  run's final scores and its export use it.

Each score is also given as its two factors (`kerascnn.quality.inception_score_factors`): how many
digits appear, equally often (10 at best), times the classifier's confidence (1 at best), with the
share of images whose top class probability is below 0.9. A conditional GAN (`cdcgan`) draws every
class in turn; its lines add the class fidelity (the share of images the classifier assigns to the
label asked for, averaged over the classes, and the lowest class's), and for the final generator a
table class by class: fidelity and the Fréchet distance to the real test images of that class.

With several runs, a last table puts their final figures side by side, with the time each took.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import keras
import numpy as np

import kerascnn.models  # noqa: F401  (registers DCGAN and the custom layers for loading)
from kerascnn.data import batches, load_dataset
from kerascnn.data.pipeline import take_examples
from kerascnn.errors import KerasCNNError
from kerascnn.models.dcgan import generate_pixels, recalibrate_batch_norm, requested_labels
from kerascnn.quality import DigitScorer
from kerascnn.recipes import of_run
from kerascnn.training.resume import CHECKPOINT

WAYS = (
    "current weights",
    "averaged weights, statistics from training",
    "averaged weights, statistics measured for them",
)


def checked(run_dir: Path, data_dir):
    """(recipe, the GAN of the run's last checkpoint); KerasCNNError when it is not a GAN run
    whose generator's weights are averaged."""
    checkpoint = run_dir / CHECKPOINT
    recipe = of_run(run_dir, data_dir)
    if not (checkpoint / "model.keras").is_file():
        raise KerasCNNError(f"{run_dir} has no checkpoint ({checkpoint / 'model.keras'})")
    gan = keras.saving.load_model(checkpoint / "model.keras", safe_mode=True)
    if not getattr(gan, "g_optimizer", None) or not gan.g_optimizer.use_ema:
        raise KerasCNNError(f"{run_dir} is not a GAN run whose generator's weights are averaged")
    return recipe, gan


def line(what: str, scores: dict) -> str:
    fidelity = (
        f", class fidelity {100 * scores['class_fidelity']:.1f} % "
        f"(lowest {100 * scores['min_class_fidelity']:.1f} %)"
        if "class_fidelity" in scores
        else ""
    )
    return (
        f"{what:<55} inception score {scores['inception_score']:.2f} "
        f"(classes {scores['classes']:.2f} x confidence {scores['confidence']:.3f}; "
        f"{100 * scores['ambiguous']:.1f} % ambiguous), "
        f"Fréchet distance {scores['frechet_distance']:.2f}{fidelity}"
    )


def score_run(run_dir: Path, recipe, gan) -> dict:
    """Prints the run's three scores (and a conditional GAN's classes); returns the last."""
    started = time.perf_counter()
    test = batches(load_dataset(recipe.data).test, batch_size=500)
    scorer = DigitScorer(*take_examples(test, recipe.callbacks.quality_examples))
    count, seed = recipe.callbacks.quality_examples, recipe.seed
    labels = requested_labels(gan.generator, count)

    def score(final=False):
        images = generate_pixels(gan.generator, count, seed=seed, labels=labels)
        return scorer(images, labels, factors=True, per_class=final and labels is not None)

    epoch = json.loads((run_dir / CHECKPOINT / "progress.json").read_text())["epoch"]
    print(f"{run_dir}: checkpoint after epoch {epoch}, {count} images, seed {seed}")
    print(line(WAYS[0], score()))
    gan.g_optimizer.finalize_variable_values(gan.generator.trainable_weights)
    print(line(WAYS[1], score()))
    recalibrate_batch_norm(gan.generator, seed=gan.seed)
    final = score(final=True)
    print(line(WAYS[2], final))
    if "fidelity_by_class" in final:
        print(f"{'class':>7} {'fidelity':>9} {'Fréchet distance':>17}")
        for c, (f, d) in enumerate(
            zip(final["fidelity_by_class"], final["frechet_distance_by_class"], strict=True)
        ):
            print(f"{c:>7} {100 * f:>8.1f}% {d:>17.2f}")
    final["seconds"] = time.perf_counter() - started
    return {"run": str(run_dir), "recipe": recipe.name, "epoch": epoch, **final}


def side_by_side(rows: list[dict]) -> None:
    print("\nfinal generators (averaged weights, statistics measured for them):")
    print(
        f"{'recipe':<10} {'epoch':>5} {'IS':>6} {'FD':>7} {'fidelity':>9} {'lowest':>7} "
        f"{'mean class FD':>14} {'time':>7}  run"
    )
    for row in rows:
        conditional = "class_fidelity" in row
        fidelity = f"{100 * row['class_fidelity']:8.1f}%" if conditional else f"{'-':>9}"
        lowest = f"{100 * row['min_class_fidelity']:6.1f}%" if conditional else f"{'-':>7}"
        class_fd = (
            f"{np.nanmean(row['frechet_distance_by_class']):14.2f}" if conditional else f"{'-':>14}"
        )
        print(
            f"{row['recipe']:<10} {row['epoch']:>5} {row['inception_score']:6.2f} "
            f"{row['frechet_distance']:7.2f} {fidelity} {lowest} {class_fd} "
            f"{row['seconds']:6.0f}s  {row['run']}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "run_dirs", nargs="+", help="runs of GAN recipes whose optimizers average weights"
    )
    parser.add_argument("--data-dir", help="folder of the dataset's IDX files, as for training")
    args = parser.parse_args()
    try:
        runs = [(Path(d), *checked(Path(d), args.data_dir)) for d in args.run_dirs]
    except KerasCNNError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    rows = []
    for index, (run_dir, recipe, gan) in enumerate(runs):
        if index:
            print()
        rows.append(score_run(run_dir, recipe, gan))
    if len(rows) > 1:
        side_by_side(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
