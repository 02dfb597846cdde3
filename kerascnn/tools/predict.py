"""Classifying images: `kerascnn predict RUN_OR_EXPORT_OR_MODEL image.png [...] [--top 5] [--json]`
and `kerascnn.predict(source, images)`.

The source is a classifier's run directory (its final model, else its last checkpoint), its export
(`saved_models/NAME/VERSION`) or a `.keras` file, loaded by `kerascnn.runs.load_trained`. Images
are files (PNG, JPEG, BMP, GIF) or arrays of pixel values 0-255, of any size and 1-4 channels (an
alpha channel is dropped). Each is adapted to the model's input the way its training data was
(`kerascnn.data.adapt`): to the shape the dataset's images had, then by the adaptation the run
recorded (MNIST's 28x28 padded to 32x32, grey repeated to RGB, ...); an image that already has
the model's input size only has its channels converted. Runs' and exports' models take pixel
values 0-255 and scale them themselves; a builder's bare network saved as a `.keras` file (which
takes [0, 1], its pretrained weights' own preprocessing included) gets that scaling in front
(`kerascnn.models.pixels`).

Class names are the ones the run recorded with its data (tfds' label names, class-folder names,
the digits "0".."9" of MNIST); a model without records is named by `kerascnn.class_names`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import keras
import numpy as np

from kerascnn import class_names, runs
from kerascnn.data.adapt import adapt_image, describe_adaptation
from kerascnn.data.folders import read_image
from kerascnn.errors import KerasCNNError
from kerascnn.models.common import PREDICTIONS
from kerascnn.models.pixels import takes_pixels, taking_pixels
from kerascnn.training.tasks import task_of
from kerascnn.training.tasks.classification import gives_logits, inference_model

# Images classified per forward pass.
BATCH_SIZE = 64


@dataclasses.dataclass(frozen=True)
class ClassScore:
    """One class of a prediction: its name, its number (the model's output index) and its
    probability."""

    name: str
    index: int
    probability: float


@dataclasses.dataclass(frozen=True)
class Prediction:
    """What the classifier says of one image.

    `image`: the file, or "array N" for the N-th array given (counting from 0). `top`: the `top`
    most probable classes, best first. `probabilities`: every class's probability, in the model's
    class order. `adaptation`: what was done to the image to fit the model's input ("" if
    nothing), e.g. "resized 280x280 to 28x28, 3 -> 1 channels; padded 28x28 to 32x32".
    """

    image: str
    top: tuple[ClassScore, ...]
    probabilities: np.ndarray
    adaptation: str = ""

    @property
    def label(self) -> str:
        """The most probable class's name."""
        return self.top[0].name

    def to_dict(self) -> dict:
        """JSON-ready: the image, its adaptation and the top classes (not every probability)."""
        return {
            "image": self.image,
            "adaptation": self.adaptation,
            "top": [dataclasses.asdict(score) for score in self.top],
        }


@dataclasses.dataclass(frozen=True)
class Classifier:
    """A trained classifier ready to classify images (`load_classifier`).

    `model`: images (pixel values 0-255) -> class probabilities. `input_shape`: the model's
    (height, width, channels). `source_shape`: the shape of the dataset's own images, where the
    run adapted them to the model (None: not adapted, or not recorded). `class_names`: one per
    output.
    """

    model: keras.Model
    input_shape: tuple[int, int, int]
    class_names: tuple[str, ...]
    source_shape: tuple[int, int, int] | None = None


def load_classifier(source) -> Classifier:
    """The classifier at `source` (a run directory, an export or a `.keras` file), or a one-line
    error when there is none or it is not a classifier."""
    trained = runs.load_trained(source)
    if trained.recipe is not None:
        task = task_of(trained.recipe)
        if task.name != "classification":
            raise KerasCNNError(
                f"{source} holds {task.kind} ({trained.recipe.model.name!r}), not a classifier; "
                "kerascnn predict classifies images with a classifier's run, export or .keras file"
            )
    model = trained.model
    input_shape = _image_input(model, source)
    if not takes_pixels(model):  # a builder's bare network, saved as it was built: [0, 1] in
        model = taking_pixels(model)
    if trained.recipe is not None:
        model = inference_model(model, trained.recipe)
        logits = gives_logits(trained.recipe)
    else:
        model = _main_output(model, source)
        logits = _ends_in_logits(model)
    outputs = int(model.outputs[0].shape[-1])
    if len(model.outputs[0].shape) != 2 or outputs < 2:
        raise KerasCNNError(
            f"{source} holds a model whose output has shape {tuple(model.outputs[0].shape)}, not "
            "class probabilities (batch, classes); pass a classifier's run, export or .keras file"
        )
    if logits:
        model = keras.Model(model.inputs, keras.layers.Softmax()(model.outputs[0]))
    recorded = trained.data.get("source_shape")
    return Classifier(
        model=model,
        input_shape=input_shape,
        class_names=class_names.for_outputs(outputs, trained.data.get("class_names")),
        source_shape=tuple(int(d) for d in recorded) if recorded else None,
    )


def _image_input(model: keras.Model, source) -> tuple[int, int, int]:
    # A subclassed model (a DCGAN, a captioner) has no symbolic inputs to read.
    inputs = getattr(model, "inputs", None)
    if not inputs or not getattr(model, "outputs", None):
        raise KerasCNNError(
            f"{source} holds a {type(model).__name__} model, not a classifier of images; pass "
            "a classifier's run, export or .keras file"
        )
    shapes = [tuple(tensor.shape[1:]) for tensor in inputs]
    if len(shapes) != 1 or len(shapes[0]) != 3 or None in shapes[0]:
        shown = ", ".join(str(shape) for shape in shapes)
        raise KerasCNNError(
            f"{source} holds a model whose input is not one image of fixed size (it takes "
            f"{shown}); pass a classifier's run, export or .keras file"
        )
    return tuple(int(d) for d in shapes[0])


def _main_output(model: keras.Model, source) -> keras.Model:
    """A model of several outputs (a checkpoint of GoogLeNet with its auxiliary heads) without
    its recipe: its `predictions` output."""
    if len(model.outputs) == 1:
        return model
    if not isinstance(model.output, dict) or PREDICTIONS not in model.output:
        raise KerasCNNError(
            f"{source} holds a model of {len(model.outputs)} outputs, none named "
            f"{PREDICTIONS!r}; pass a classifier's run, export or .keras file"
        )
    return keras.Model(model.inputs, model.output[PREDICTIONS], name=model.name)


def _ends_in_logits(model: keras.Model) -> bool:
    """Whether a model without records ends in logits: its output layer (`predictions` in the
    keras.applications grammar the builders share, else its last layer) is linear."""
    return _output_layer(model).get_config().get("activation") == "linear"


def _output_layer(model: keras.Model) -> keras.layers.Layer:
    """The layer named `predictions` in `model` or a model it holds, else its last layer."""
    for layer in _layers_within(model):
        if layer.name == PREDICTIONS:
            return layer
    last = model.layers[-1]
    while isinstance(last, keras.Model):
        last = last.layers[-1]
    return last


def _layers_within(model: keras.Model):
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from _layers_within(layer)


def predict(source, images, *, top: int = 5) -> list[Prediction]:
    """Classifies `images` with the classifier at `source`; one `Prediction` per image.

    Args:
        source: a classifier's run directory, export (`saved_models/NAME/VERSION`) or `.keras`
            file, or a `Classifier` already loaded (`load_classifier`).
        images: an image file, an array (height, width[, channels]) of pixel values 0-255, a
            batch of them (n, height, width, channels), or a list of files and arrays.
        top: how many of the most probable classes each prediction lists (at most all).

    Example:
        >>> kerascnn.predict("runs/deep_mnist/20261122-081500", ["seven.png"])[0].label
        '7'
    """
    if isinstance(top, bool) or not isinstance(top, int) or top < 1:
        raise KerasCNNError(f"--top must be a whole number of at least 1, got {top!r}")
    named = _named_images(images)
    pictures = [(name, _pixels(image, name)) for name, image in named]
    classifier = source if isinstance(source, Classifier) else load_classifier(source)
    adapted = [adapt(picture, classifier) for _, picture in pictures]
    probabilities = _probabilities(classifier.model, np.stack([image for image, _ in adapted]))
    names = classifier.class_names
    count = min(top, len(names))
    predictions = []
    for (name, _), (_, adaptation), row in zip(pictures, adapted, probabilities, strict=True):
        best = np.argsort(-row, kind="stable")[:count]
        scores = tuple(ClassScore(names[i], int(i), float(row[i])) for i in best)
        predictions.append(Prediction(name, scores, row, adaptation))
    return predictions


def adapt(image: np.ndarray, classifier: Classifier) -> tuple[np.ndarray, str]:
    """(the uint8 image as the model takes it, what was done to it): to the dataset's own image
    shape, then by the run's recorded adaptation to the model's input; an image of the input's
    size only has its channels converted."""
    target = classifier.input_shape
    route = [target]
    if classifier.source_shape and image.shape[:2] != target[:2]:
        route = [classifier.source_shape, target]
    steps = []
    for shape in route:
        steps.append(describe_adaptation(image.shape, shape))
        image = np.asarray(adapt_image(image, image.shape, shape))
    return image, "; ".join(step for step in steps if step)


def _named_images(images) -> list[tuple[str, object]]:
    """(name, file or array) for each image in what `predict` was given."""
    if isinstance(images, (str, Path)):
        images = [images]
    elif isinstance(images, np.ndarray):
        images = list(images) if images.ndim == 4 else [images]
    if not isinstance(images, (list, tuple)) or not images:
        raise KerasCNNError(
            "give at least one image to classify: an image file, an array of pixel values, or "
            f"a list of them (got {type(images).__name__})"
        )
    named, arrays = [], 0
    for image in images:
        if isinstance(image, (str, Path)):
            named.append((str(image), image))
        else:
            named.append((f"array {arrays}", image))
            arrays += 1
    return named


def _pixels(image, name: str) -> np.ndarray:
    """A file or array as uint8 (height, width, 1 or 3): an alpha channel is dropped."""
    if isinstance(image, (str, Path)):
        pixels = read_image(image)
    else:
        pixels = _array_pixels(image, name)
    if pixels.shape[-1] in (2, 4):
        pixels = pixels[..., :-1]
    return pixels


def _array_pixels(image, name: str) -> np.ndarray:
    try:
        array = np.asarray(image, dtype=np.float64)
    except (TypeError, ValueError):
        raise KerasCNNError(
            f"{name} is not an image: expected a file path or an array of pixel values, got "
            f"{type(image).__name__}"
        ) from None
    if array.ndim == 2:
        array = array[..., np.newaxis]
    if array.ndim != 3 or array.shape[-1] not in (1, 2, 3, 4) or 0 in array.shape:
        raise KerasCNNError(
            f"{name} has shape {array.shape}; an image array is (height, width) or (height, "
            "width, channels) with 1, 3 (or 2, 4 with alpha) channels"
        )
    outside = array[~((array >= 0) & (array <= 255))]
    if outside.size:
        raise KerasCNNError(
            f"{name} has values outside 0-255 (e.g. {outside.flat[0]:g}); an image array holds "
            "pixel values 0-255 (multiply [0, 1] values by 255)"
        )
    return np.round(array).astype(np.uint8)


def _probabilities(model: keras.Model, images: np.ndarray) -> np.ndarray:
    outputs = model.predict(images.astype(np.float32), batch_size=BATCH_SIZE, verbose=0)
    return np.asarray(outputs, dtype=np.float64)


def format_predictions(predictions: list[Prediction]) -> str:
    """The text `kerascnn predict` prints: per image its name (and adaptation), then one line per
    class, best first, with its probability in per cent."""
    blocks = []
    for prediction in predictions:
        head = prediction.image
        if prediction.adaptation:
            head += f"  ({prediction.adaptation})"
        width = max(len(score.name) for score in prediction.top)
        lines = [
            f"  {score.name:<{width}}  {100 * score.probability:6.2f} %" for score in prediction.top
        ]
        blocks.append("\n".join([head, *lines]))
    return "\n".join(blocks)


__all__ = [
    "ClassScore",
    "Classifier",
    "Prediction",
    "adapt",
    "format_predictions",
    "load_classifier",
    "predict",
]
