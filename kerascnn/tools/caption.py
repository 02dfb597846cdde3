"""Captions of image files: `kerascnn caption RUN_OR_EXPORT image.png [...] [--beam 3]`.

The source is a captioning export (`saved_models/captioning/1`, decoding greedily in its graph) or a
run directory (`kerascnn.runs.load_trained`: its final model, else its last checkpoint), which can
also decode by beam search.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from kerascnn import runs
from kerascnn.captions import strings
from kerascnn.data.folders import read_image
from kerascnn.errors import KerasCNNError
from kerascnn.training.tasks import task_of


def load_captioner(source):
    """(function from images to caption strings, the image shape it takes, the Keras captioner
    or None for an export) for `source`."""

    trained = runs.load_trained(source, serving=True)
    if trained.is_export:
        served = trained.saved_model.serve
        spec = served.input_signature[0] if served.input_signature else None
        outputs = served.get_concrete_function(spec).structured_outputs if spec else None
        if spec is None or len(spec.shape) != 4 or getattr(outputs, "dtype", None) != tf.string:
            raise KerasCNNError(
                f"{source} is not a captioning export (it does not map images to text); pass "
                "the export of a captioning recipe such as saved_models/captioning/1"
            )
        # Through `trained`: the SavedModel's variables live as long as the object holding them.
        return (
            (lambda images: strings(trained.saved_model.serve(tf.constant(images)))),
            spec.shape[1:],
            None,
        )
    if trained.recipe is None or task_of(trained.recipe).name != "captioning":
        raise KerasCNNError(
            f"{source} is a run of {trained.model.name!r}, not of a captioning model; pass a run "
            "of a captioning recipe"
        )
    model = trained.model
    return model.caption_strings, model.encoder.input_shape[1:], model


def caption_files(source, paths, *, beam: int = 0) -> list[str]:
    """Captions of the image files `paths` by the captioner at `source` (`load_captioner`):
    greedy, or beam search of width `beam` (run directories only)."""
    if not paths:
        raise KerasCNNError("give at least one image file to caption")
    if beam < 0:
        raise KerasCNNError(f"--beam must be 0 (greedy) or a width of at least 1, got {beam}")
    greedy, shape, model = load_captioner(source)
    if beam and model is None:
        raise KerasCNNError(
            f"{source} is an export, which decodes greedily; pass its run directory for --beam"
        )
    images = np.stack([read_image(p, channels=shape[2], size=tuple(shape[:2])) for p in paths])
    images = images.astype(np.float32)
    return model.beam_caption(images, width=beam) if beam else greedy(images)
