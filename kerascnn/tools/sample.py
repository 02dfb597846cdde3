"""Images from a trained GAN: `kerascnn sample RUN_OR_EXPORT --n 64 --out grid.png`.

The source is an export (`saved_models/dcgan/1`, served by its SavedModel: noise -> uint8, or for a
conditional GAN (noise, labels) -> uint8) or a run directory (`kerascnn.runs.load_trained`: a
finished run's final model, weight averages applied, the generator the export holds; else its last
checkpoint, the generator as it is training).

A conditional GAN (`cdcgan`) draws the class `--label` asks for: `--label 7` makes `--n` sevens,
`--label all` one row of `--n` images per class (default 8), the same noise in every row.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np
import tensorflow as tf

from kerascnn import runs, viz
from kerascnn.errors import KerasCNNError
from kerascnn.models.dcgan import (
    class_cycle,
    class_rows,
    generator_classes,
    latent_size,
    pixel_generator,
    row_titles,
    seeded_noise,
)
from kerascnn.training.tasks import task_of

ALL = "all"
PER_CLASS = 8  # images per class of `--label all` when --n is not given
COUNT = 64  # images otherwise


@dataclasses.dataclass(frozen=True)
class Sampler:
    """A trained generator as the command uses it: `draw(noise, labels)` -> uint8 images; `labels`
    None for an unconditional one (`classes` None)."""

    draw: Callable
    latent_dim: int
    classes: int | None


def load_sampler(source: str | Path) -> Sampler:
    """The generator of the export or run at `source`."""

    trained = runs.load_trained(source, serving=True)
    if trained.is_export:
        return _export_sampler(source, trained)
    if trained.recipe is None or task_of(trained.recipe).name != "gan":
        raise KerasCNNError(
            f"{source} is a run of {trained.model.name!r}, not of a GAN; pass a run of a GAN recipe"
        )
    generator = pixel_generator(trained.model.generator)

    def draw(noise, labels=None):
        inputs = noise if labels is None else [noise, labels]
        return np.asarray(generator.predict(inputs, verbose=0))

    return Sampler(draw, latent_size(generator), generator_classes(trained.model.generator))


def _export_sampler(source, trained) -> Sampler:
    served = trained.saved_model.serve
    specs = list(served.input_signature or ())
    expected = [tf.float32, tf.int32][: len(specs)]
    if not specs or len(specs) > 2 or [s.dtype for s in specs] != expected:
        raise KerasCNNError(
            f"{source} is not a generator export (its signature takes {specs or None}); "
            "pass the export of a GAN recipe such as saved_models/dcgan/1"
        )
    classes = None
    if len(specs) == 2:
        classes = trained.metrics.get("data", {}).get("num_classes")
        if not isinstance(classes, int) or classes < 1:
            raise KerasCNNError(
                f"{source} is a conditional generator export whose metrics.json does not record "
                "the number of classes (data.num_classes); export the run again"
            )

    # Through `trained`: the SavedModel's variables live as long as the object holding them.
    def draw(noise, labels=None):
        inputs = [tf.constant(noise)] + ([] if labels is None else [tf.constant(labels)])
        return np.asarray(trained.saved_model.serve(*inputs))

    return Sampler(draw, int(specs[0].shape[-1]), classes)


def parse_label(label: str | int | None, classes: int | None) -> int | str | None:
    """`label` as the command takes it: None, "all" or a class from 0 to classes - 1."""
    if label is None:
        return None
    if classes is None:
        raise KerasCNNError(
            f"--label {label} needs a conditional GAN (such as cdcgan); this one draws from "
            "noise alone"
        )
    if str(label).strip().lower() == ALL:
        return ALL
    try:
        value = int(str(label).strip())
    except ValueError:
        value = None
    if value is None or not 0 <= value < classes:
        raise KerasCNNError(
            f"--label must be a class from 0 to {classes - 1} or 'all', got {label!r}"
        )
    return value


def sample_images(source: str | Path, count: int | None = None, *, seed: int = 0, label=None):
    """uint8 images generated from seeded normal noise: `count` (default 64); for a conditional
    GAN of class `label` (None: every class in turn), and with `label="all"` one row of `count`
    (default 8) per class, row after row."""
    return sample_sheet(source, count, seed=seed, label=label)[0]


def sample_sheet(source, count: int | None = None, *, seed: int = 0, label=None):
    """(images as `sample_images` makes them, titles or None, columns): what the grid shows."""
    if count is not None and count < 1:
        raise KerasCNNError(f"--n must be at least 1, got {count}")
    sampler = load_sampler(source)
    label = parse_label(label, sampler.classes)
    if label == ALL:
        count = count or PER_CLASS
        noise, labels = class_rows(sampler.latent_dim, sampler.classes, count, seed=seed)
        return sampler.draw(noise, labels), row_titles(labels, count), count
    count = count or COUNT
    noise = seeded_noise(sampler.latent_dim, count, seed)
    if sampler.classes is None:
        return sampler.draw(noise), None, 8
    labels = class_cycle(count, sampler.classes)
    if label is not None:
        labels = np.full(count, label, np.int32)
    return sampler.draw(noise, labels), None, 8


def write_sample_grid(source, out, *, count: int | None = None, seed: int = 0, label=None) -> Path:
    """Writes a grid of generated images (see `sample_images`) to the PNG `out`; returns its
    path."""
    out = Path(out)
    if out.suffix.lower() != ".png":
        raise KerasCNNError(f"--out must name a .png file, got {out}")
    images, titles, columns = sample_sheet(source, count, seed=seed, label=label)
    of = "" if label is None else f", label {label}"
    figure = viz.image_grid(
        images.astype(np.float32),
        titles,
        columns=columns,
        title=f"{len(images)} samples{of}, seed {seed}",
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    return viz.save(figure, out)
