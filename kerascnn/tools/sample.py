"""Images from a trained GAN: `kerascnn sample RUN_OR_EXPORT --n 64 --out grid.png`.

The source is an export (`saved_models/dcgan/1`, served by its SavedModel, noise -> uint8) or a run
directory (`kerascnn.runs.load_trained`: a finished run's final model, weight averages applied,
the generator the export holds; else its last checkpoint, the generator as it is training).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf

from kerascnn import runs, viz
from kerascnn.errors import KerasCNNError
from kerascnn.models.dcgan import pixel_generator
from kerascnn.training.tasks import task_of


def load_sampler(source: str | Path):
    """(function from noise (n, latent_dim) float32 to uint8 images, latent_dim) for `source`."""

    trained = runs.load_trained(source, serving=True)
    if trained.is_export:
        served = trained.saved_model.serve
        spec = served.input_signature[0] if served.input_signature else None
        if spec is None or spec.dtype != tf.float32 or len(spec.shape) != 2:
            raise KerasCNNError(
                f"{source} is not a generator export (its signature takes {spec}); "
                "pass the export of a GAN recipe such as saved_models/dcgan/1"
            )
        # Through `trained`: the SavedModel's variables live as long as the object holding them.
        return (lambda noise: np.asarray(trained.saved_model.serve(tf.constant(noise)))), int(
            spec.shape[-1]
        )
    if trained.recipe is None or task_of(trained.recipe).name != "gan":
        raise KerasCNNError(
            f"{source} is a run of {trained.model.name!r}, not of a GAN; pass a run of a GAN recipe"
        )
    generator = pixel_generator(trained.model.generator)
    latent = int(generator.inputs[0].shape[-1])
    return (lambda noise: np.asarray(generator.predict(noise, verbose=0))), latent


def sample_images(source: str | Path, count: int, *, seed: int = 0) -> np.ndarray:
    """`count` uint8 images generated from seeded normal noise."""
    if count < 1:
        raise KerasCNNError(f"--n must be at least 1, got {count}")
    sampler, latent = load_sampler(source)
    noise = np.random.default_rng(seed).normal(size=(count, latent)).astype(np.float32)
    return sampler(noise)


def write_sample_grid(source, out, *, count: int = 64, seed: int = 0) -> Path:
    """Writes a grid of `count` generated images to the PNG `out`; returns its path."""
    out = Path(out)
    if out.suffix.lower() != ".png":
        raise KerasCNNError(f"--out must name a .png file, got {out}")
    images = sample_images(source, count, seed=seed)
    figure = viz.image_grid(
        images.astype(np.float32), columns=8, title=f"{count} samples, seed {seed}"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    return viz.save(figure, out)
