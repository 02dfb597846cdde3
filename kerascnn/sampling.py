"""Images from a trained GAN: `kerascnn sample RUN_OR_EXPORT --n 64 --out grid.png`.

The source is an export (`saved_models/dcgan/1`, served by `tf.saved_model.load`, noise -> uint8) or a
run directory: a finished run's final `model.keras` (the generator the export holds, weight averages
applied), else its last checkpoint (the generator as it is training).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kerascnn.errors import KerasCNNError


def load_sampler(source: str | Path):
    """(function from noise (n, latent_dim) float32 to uint8 images, latent_dim) for `source`."""
    import tensorflow as tf

    source = Path(source)
    if (source / "saved_model.pb").is_file():
        loaded = tf.saved_model.load(str(source))
        served = loaded.serve
        spec = served.input_signature[0] if served.input_signature else None
        if spec is None or spec.dtype != tf.float32 or len(spec.shape) != 2:
            raise KerasCNNError(
                f"{source} is not a generator export (its signature takes {spec}); "
                "pass the export of a GAN recipe such as saved_models/dcgan/1"
            )
        # The closure keeps `loaded` alive: its variables go with it.
        return (lambda noise: np.asarray(loaded.serve(tf.constant(noise)))), int(spec.shape[-1])
    from kerascnn.training.resume import model_files

    path = next((path for path in model_files(source) if path.is_file()), None)
    if path is not None:
        import keras

        import kerascnn.models  # noqa: F401  (registers DCGAN and the custom layers for loading)
        from kerascnn.training.tasks import pixel_generator

        model = keras.saving.load_model(path, compile=False, safe_mode=True)
        if not hasattr(model, "generator"):
            raise KerasCNNError(
                f"{source} is a run of {model.name!r}, not of a GAN; pass a run of a GAN recipe"
            )
        generator = pixel_generator(model.generator)
        latent = int(generator.inputs[0].shape[-1])
        return (lambda noise: np.asarray(generator.predict(noise, verbose=0))), latent
    raise KerasCNNError(
        f"{source} is neither an export (no saved_model.pb) nor a run directory "
        "(no model.keras); pass e.g. saved_models/dcgan/1 or runs/dcgan/<time>"
    )


def sample_images(source: str | Path, count: int, *, seed: int = 0) -> np.ndarray:
    """`count` uint8 images generated from seeded normal noise."""
    if count < 1:
        raise KerasCNNError(f"--n must be at least 1, got {count}")
    sampler, latent = load_sampler(source)
    noise = np.random.default_rng(seed).normal(size=(count, latent)).astype(np.float32)
    return sampler(noise)


def write_sample_grid(source, out, *, count: int = 64, seed: int = 0) -> Path:
    """Writes a grid of `count` generated images to the PNG `out`; returns its path."""
    from kerascnn import viz

    out = Path(out)
    if out.suffix.lower() != ".png":
        raise KerasCNNError(f"--out must name a .png file, got {out}")
    images = sample_images(source, count, seed=seed)
    figure = viz.image_grid(
        images.astype(np.float32), columns=8, title=f"{count} samples, seed {seed}"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    return viz.save(figure, out)
