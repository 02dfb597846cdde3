"""Scores a GAN run's checkpoint three ways: what weight averaging and its BatchNorm statistics add.

    python scripts/score_gan.py runs/dcgan/20261202-164547 --data-dir ../shared/datasets/mnist

Loads the run's last checkpoint (`checkpoints/last/model.keras`, with both optimizers) and prints the
Inception Score and Fréchet distance (`kerascnn.quality`, the run's number of images, its seed) of

- the generator's current weights, as the per-epoch scores see it;
- its moving average (`optimizer.ema_momentum`) under the BatchNorm statistics gathered in training,
  which belong to the current weights;
- the average with statistics measured for it (`kerascnn.models.dcgan.recalibrate_batch_norm`), as a
  run's final scores and its export use it.

Each score is also given as its two factors (`kerascnn.quality.inception_score_factors`): how many
digits appear, equally often (10 at best), times the classifier's confidence (1 at best), with the
share of images whose top class probability is below 0.9.
"""

import argparse
import json
import sys
from pathlib import Path

import keras

import kerascnn.models  # noqa: F401  (registers DCGAN and the custom layers for loading)
from kerascnn.data import batches, load_dataset
from kerascnn.data.pipeline import take_examples
from kerascnn.errors import KerasCNNError
from kerascnn.models.dcgan import generate_pixels, recalibrate_batch_norm
from kerascnn.quality import DigitScorer
from kerascnn.recipes import of_run
from kerascnn.training.resume import CHECKPOINT


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", help="a run of a GAN recipe whose optimizers average weights")
    parser.add_argument("--data-dir", help="folder of the dataset's IDX files, as for training")
    args = parser.parse_args()
    run_dir = Path(args.run_dir)
    checkpoint = run_dir / CHECKPOINT
    try:
        recipe = of_run(run_dir, args.data_dir)
        if not (checkpoint / "model.keras").is_file():
            raise KerasCNNError(f"{run_dir} has no checkpoint ({checkpoint / 'model.keras'})")
    except KerasCNNError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    gan = keras.saving.load_model(checkpoint / "model.keras", safe_mode=True)
    if not getattr(gan, "g_optimizer", None) or not gan.g_optimizer.use_ema:
        print(
            f"error: {run_dir} is not a GAN run whose generator's weights are averaged",
            file=sys.stderr,
        )
        return 2
    test = batches(load_dataset(recipe.data).test, batch_size=500)
    real, _ = take_examples(test, recipe.callbacks.quality_examples)
    scorer = DigitScorer(real)
    count, seed = recipe.callbacks.quality_examples, recipe.seed

    def report(what):
        scores = scorer(generate_pixels(gan.generator, count, seed=seed), factors=True)
        print(
            f"{what:<55} inception score {scores['inception_score']:.2f} "
            f"(classes {scores['classes']:.2f} x confidence {scores['confidence']:.3f}; "
            f"{100 * scores['ambiguous']:.1f} % ambiguous), "
            f"Fréchet distance {scores['frechet_distance']:.2f}"
        )

    epoch = json.loads((checkpoint / "progress.json").read_text())["epoch"]
    print(f"{run_dir}: checkpoint after epoch {epoch}, {count} images, seed {seed}")
    report("current weights")
    gan.g_optimizer.finalize_variable_values(gan.generator.trainable_weights)
    report("averaged weights, statistics from training")
    recalibrate_batch_norm(gan.generator, seed=gan.seed)
    report("averaged weights, statistics measured for them")
    return 0


if __name__ == "__main__":
    sys.exit(main())
