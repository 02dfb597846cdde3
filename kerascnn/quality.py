"""How good generated digits are, judged by a digit classifier that kerascnn trained itself.

- **Inception Score** (Salimans et al. 2016) with that classifier in place of Inception:
  exp(E_x KL(p(y|x) || p(y))). It is high when every image is confidently one digit and all ten digits
  appear equally often; 10 is the maximum for ten classes, and real MNIST test images score about 9.8.
- **Fréchet distance** (Heusel et al. 2017, "FID" with Inception) between the Gaussians fitted to the
  classifier's penultimate features (the 50 units of `fc1`) of real and of generated images; 0 when the
  two sets match.
- **Class fidelity**, for a conditional generator: the share of the images asked for as a class that
  the classifier assigns to it, per class and averaged; and the Fréchet distance class by class.

The classifier is the book's deep CNN with inverted dropout, trained on the full MNIST by
`scripts/make_digit_classifier.py`; its weights ship in the package (`assets/`), so scoring works
offline.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import keras
import numpy as np

from kerascnn.errors import KerasCNNError
from kerascnn.models import create_model
from kerascnn.models.pixels import rescale

CLASSIFIER_WEIGHTS = Path(__file__).resolve().parent / "assets" / "digit_classifier.weights.h5"
FEATURES_LAYER = "fc1"


def load_digit_classifier(weights: str | Path = CLASSIFIER_WEIGHTS) -> keras.Model:
    """The scoring classifier: pixel values 0-255, shape (28, 28, 1) -> (probabilities, features)."""

    if not Path(weights).is_file():
        raise KerasCNNError(
            f"the digit classifier's weights {weights} are missing; make them with "
            "python scripts/make_digit_classifier.py --data-dir DIR"
        )
    classifier = create_model("deep_mnist_cnn", inverted_dropout=True, weights=str(weights))
    inputs = keras.Input((28, 28, 1), name="images")
    scaled = rescale(inputs)
    probe = keras.Model(
        classifier.inputs, [classifier.output, classifier.get_layer(FEATURES_LAYER).output]
    )
    probabilities, features = probe(scaled)
    return keras.Model(inputs, [probabilities, features], name="digit_classifier")


MNIST_SIDE = 28


def scorable(image_shape) -> bool:
    """Whether images of `image_shape` can be scored: grey, at least MNIST's 28x28 (larger ones,
    such as MNIST padded to 32x32, are cropped to their centre)."""
    height, width, channels = image_shape
    return channels == 1 and min(height, width) >= MNIST_SIDE


def _as_pixels(images) -> np.ndarray:
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 4 or not scorable(images.shape[1:]):
        raise KerasCNNError(
            f"the digit classifier scores (n, 28, 28, 1) images (or larger grey ones, cropped "
            f"to their centre), got shape {images.shape}; generate grey images of at least 28x28"
        )
    top = (images.shape[1] - MNIST_SIDE) // 2
    left = (images.shape[2] - MNIST_SIDE) // 2
    return images[:, top : top + MNIST_SIDE, left : left + MNIST_SIDE]


def classify(classifier, images, batch_size: int = 500):
    """(probabilities, penultimate features) of `images` (pixel values 0-255)."""
    probabilities, features = classifier.predict(
        _as_pixels(images), batch_size=batch_size, verbose=0
    )
    return np.asarray(probabilities, np.float64), np.asarray(features, np.float64)


def inception_score(probabilities, splits: int = 1) -> float:
    """exp(E KL(p(y|x) || p(y))) of class probabilities (n, classes), averaged over `splits`."""
    scores = []
    for part in np.array_split(np.asarray(probabilities, np.float64), splits):
        factors = inception_score_factors(part)
        scores.append(factors["classes"] * factors["confidence"])
    return float(np.mean(scores))


def inception_score_factors(probabilities, ambiguous_below: float = 0.9) -> dict[str, float]:
    """The Inception Score as the product of its two factors, and the share of unsure images.

    E KL(p(y|x) || p(y)) = H(p(y)) - E H(p(y|x)), so the score is `classes` = exp H(p(y)) (how many
    classes appear, equally often: 10 at best) times `confidence` = exp(-E H(p(y|x))) (1 when every
    image is surely one class). `ambiguous` is the share of images whose top probability is below
    `ambiguous_below`: it tells a generator that blends digits from one that misses some.
    """
    p = np.asarray(probabilities, np.float64)
    marginal = p.mean(axis=0)
    classes = np.exp(-np.sum(marginal * np.log(marginal + 1e-12)))
    confidence = np.exp(np.mean(np.sum(p * np.log(p + 1e-12), axis=1)))
    ambiguous = np.mean(p.max(axis=1) < ambiguous_below)
    return {
        "classes": float(classes),
        "confidence": float(confidence),
        "ambiguous": float(ambiguous),
    }


def frechet_distance(features_a, features_b) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)) between two sets of feature vectors."""
    a, b = np.asarray(features_a, np.float64), np.asarray(features_b, np.float64)
    mean_a, mean_b = a.mean(axis=0), b.mean(axis=0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    # Tr((S_a S_b)^(1/2)) from the eigenvalues of S_a^(1/2) S_b S_a^(1/2), which is symmetric.
    root_a = _sqrtm_psd(cov_a)
    middle = np.linalg.eigvalsh(root_a @ cov_b @ root_a)
    trace_root = np.sum(np.sqrt(np.clip(middle, 0, None)))
    distance = np.sum((mean_a - mean_b) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2 * trace_root
    return float(max(distance, 0.0))


def _sqrtm_psd(matrix):
    values, vectors = np.linalg.eigh(matrix)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def class_fidelity(probabilities, labels) -> np.ndarray:
    """For each class 0..k-1, the share of the images asked for as that class (`labels`) that the
    classifier assigns to it (`probabilities`' top class); NaN for a class not asked for."""
    labels = np.asarray(labels)
    hits = np.argmax(probabilities, axis=1) == labels
    classes = np.asarray(probabilities).shape[1]
    return np.array(
        [hits[labels == c].mean() if np.any(labels == c) else np.nan for c in range(classes)]
    )


@dataclasses.dataclass
class DigitScorer:
    """Scores batches of generated digits against a fixed set of real ones (and, given the real
    ones' `real_labels`, a conditional generator's digits class by class)."""

    real_images: np.ndarray
    real_labels: np.ndarray | None = None
    classifier: keras.Model | None = None

    def __post_init__(self):
        self.classifier = self.classifier or load_digit_classifier()
        _, self.real_features = classify(self.classifier, self.real_images)

    def __call__(
        self, images, labels=None, *, factors: bool = False, per_class: bool = False
    ) -> dict:
        """Inception Score and Fréchet distance of `images`; with `factors`, also the score's
        factors (`inception_score_factors`).

        With the `labels` the images were asked for (a conditional generator's), also the class
        fidelity: `class_fidelity`, the share of images the classifier assigns to their label,
        averaged over the classes, and `min_class_fidelity`, the lowest class's. With `per_class`,
        also lists by class: `fidelity_by_class` and `frechet_distance_by_class` (each class's
        generated images against the real ones of that class; needs `real_labels`).
        """
        probabilities, features = classify(self.classifier, images)
        scores = {
            "inception_score": inception_score(probabilities),
            "frechet_distance": frechet_distance(self.real_features, features),
        }
        if factors:
            scores.update(inception_score_factors(probabilities))
        if labels is None:
            return scores
        labels = np.asarray(labels)
        fidelity = class_fidelity(probabilities, labels)
        scores["class_fidelity"] = float(np.nanmean(fidelity))
        scores["min_class_fidelity"] = float(np.nanmin(fidelity))
        if per_class:
            scores["fidelity_by_class"] = [float(f) for f in fidelity]
            scores["frechet_distance_by_class"] = self.frechet_by_class(features, labels)
        return scores

    def frechet_by_class(self, features, labels) -> list[float]:
        """For each class, the Fréchet distance of the generated `features` asked for as that
        class to the real images' of that class (NaN for a class not asked for)."""
        if self.real_labels is None:
            raise KerasCNNError(
                "a per-class Fréchet distance needs the real images' labels: "
                "DigitScorer(real_images, real_labels)"
            )
        real_labels = np.asarray(self.real_labels)
        return [
            frechet_distance(self.real_features[real_labels == c], features[labels == c])
            if np.any(labels == c)
            else float("nan")
            for c in range(self.classifier.outputs[0].shape[-1])
        ]
