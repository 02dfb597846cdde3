"""GANs: a `DCGAN` trained on the training images; scored by the Inception Score and Fréchet
distance of generated digits (`kerascnn.quality`); the export serves the generator, noise ->
uint8 images; the report shows generated images, filters and the generator's time per layer."""

from __future__ import annotations

import dataclasses

import keras
import numpy as np

from kerascnn import viz
from kerascnn.data.pipeline import take_examples
from kerascnn.models import create_model
from kerascnn.models.dcgan import generate_pixels, pixel_generator
from kerascnn.quality import DigitScorer, scorable
from kerascnn.training.callbacks import GanQualityLogger, SampleGrid, image_log_dir
from kerascnn.training.tasks.base import (
    Task,
    Unread,
    optimizer_for,
    write_curves,
    write_filters,
    write_layer_time,
)


class GanTask(Task):
    """A `DCGAN` trained on the training images; scored and exported by its generator."""

    name = "gan"
    kind = "a GAN"
    target_field = "target_inception_score"

    def unread_settings(self, recipe) -> dict[str, Unread]:
        rules = super().unread_settings(recipe)
        del rules["optimizer.discriminator_learning_rate"]
        model = recipe.model.name
        rules["steps_per_execution"] = Unread(
            f"steps_per_execution is not used by a GAN: {model!r} runs its own training step "
            "once per batch; remove the setting",
            (1,),
        )
        rules["callbacks.inspect_examples"] = Unread(
            "callbacks.inspect_examples is for classifiers (a confusion matrix of held-out "
            f"images); {model!r} is {self.kind}, whose run shows callbacks.sample_grid samples "
            "instead",
            (0,),
        )
        return rules

    def build(self, recipe, data) -> keras.Model:

        info = data.info
        gan = create_model(
            recipe.model.name, image_shape=info.image_shape, seed=recipe.seed, **recipe.model.args
        )
        settings = recipe.optimizer
        if settings.discriminator_learning_rate is not None:
            settings = dataclasses.replace(
                settings, learning_rate=settings.discriminator_learning_rate
            )
        gan.compile(
            optimizer_for(recipe, info, config=settings),
            optimizer_for(recipe, info),
            label_smoothing=recipe.label_smoothing,
        )
        return gan

    def fit_options(self, last: bool) -> dict:
        """The networks take their weight averages at the end of the run's last `fit` only."""
        return {"write_averaged_weights": last}

    def write_averaged_weights(self, model) -> None:
        model.write_averaged_weights()

    def prepare(self, recipe, data, test):
        """A `DigitScorer` against the test images, or None for images it cannot score."""

        if not scorable(data.info.image_shape):
            return None
        real, _ = take_examples(test, recipe.callbacks.quality_examples)
        return DigitScorer(real)

    def callbacks(self, recipe, run_dir, scorer) -> list:

        callbacks = [
            SampleGrid(
                run_dir / "samples",
                image_log_dir(recipe.callbacks, run_dir),
                count=recipe.callbacks.sample_grid,
                seed=recipe.seed,
            )
        ]
        if recipe.callbacks.quality_every and scorer is not None:
            quality = GanQualityLogger(
                scorer,
                count=recipe.callbacks.quality_examples,
                every=recipe.callbacks.quality_every,
                seed=recipe.seed,
            )
            callbacks.insert(0, quality)
        return callbacks

    def evaluate(self, model, recipe, test, scorer, *, verbose):
        if scorer is None:
            return model, {}
        images = generate_pixels(
            model.generator, recipe.callbacks.quality_examples, seed=recipe.seed
        )
        return model, scorer(images)

    def export_parts(self, model, recipe, test):
        noise = np.random.default_rng(recipe.seed).normal(size=(16, model.latent_dim))
        return pixel_generator(model.generator), noise.astype(np.float32)

    def headline(self, metrics) -> str:
        if "inception_score" not in metrics:
            return "trained (only grey images of at least 28x28 are scored)"
        return (
            f"inception score {metrics['inception_score']:.2f} of 10 "
            f"(Fréchet distance {metrics['frechet_distance']:.2f})"
        )

    def report_figures(self, folder, recipe, gan, run_dir, *, examples: int) -> list[str]:
        """Curves, 64 generated images, the discriminator's first-layer filters and the
        generator's time per layer."""
        images = generate_pixels(gan.generator, 64, seed=recipe.seed)
        samples = viz.image_grid(images, columns=8, title=f"{recipe.name}: 64 generated images")
        noise = np.random.default_rng(recipe.seed).normal(size=(100, gan.latent_dim))
        paths = [
            *write_curves(folder, recipe, run_dir),
            viz.save(samples, folder / "samples.png"),
            *write_filters(folder, gan.discriminator),
            *write_layer_time(folder, gan.generator, noise.astype(np.float32)),
        ]
        return [path.name for path in paths]
