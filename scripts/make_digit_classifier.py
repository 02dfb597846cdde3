"""Trains the digit classifier that scores generated digits (kerascnn/assets/digit_classifier.weights.h5).

The book's deep CNN (`deep_mnist_cnn`) with Keras' inverted dropout, so that its test-time class
probabilities are not flattened by the book's output scaling; Adam 1e-3 with cosine decay, 10 epochs on
the full MNIST. The Inception Score and the Fréchet distance of `kerascnn.quality` are computed with
it. Usage:

    python scripts/make_digit_classifier.py --data-dir ../shared/datasets/mnist
"""

import argparse
import dataclasses
import sys
import tempfile
import time

from kerascnn import recipes
from kerascnn.quality import CLASSIFIER_WEIGHTS


def classifier_recipe():
    """The recipe that trains the scoring classifier (see `scripts/make_digit_classifier.py`)."""
    return dataclasses.replace(
        recipes.resolve(
            "deep_mnist",
            {
                "model.args": {"inverted_dropout": True},
                "optimizer.schedule": "cosine",
                "epochs": 10,
                "data.offline_fallback": False,
            },
        ),
        name="digit_classifier",
        description="The digit classifier that scores generated digits (kerascnn.quality).",
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True, help="folder of the full MNIST's IDX files")
    args = parser.parse_args()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        recipe = recipes.resolve(
            classifier_recipe(),
            {"data.data_dir": args.data_dir, "runs_dir": scratch, "export.enabled": False},
        )
        result = recipes.run(recipe, verbose=2)
    classifier = result.model.get_layer(recipe.model.name)
    classifier.save_weights(CLASSIFIER_WEIGHTS)
    print(
        f"digit classifier: test accuracy {100 * result.metrics['test_accuracy']:.2f} % on "
        f"{result.metrics['data']['source']}, {(time.perf_counter() - started) / 60:.1f} min; "
        f"weights in {CLASSIFIER_WEIGHTS}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
