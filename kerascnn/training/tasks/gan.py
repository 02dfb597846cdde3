"""GANs: a `DCGAN` (or a class-conditional `ConditionalDCGAN`) trained on the training images;
scored by the Inception Score and Fréchet distance of generated digits, and a conditional one also
by class fidelity (`kerascnn.quality`); the export serves the generator, noise (and labels) ->
uint8 images; the report shows generated images, filters and the generator's time per layer."""

from __future__ import annotations

import dataclasses

import keras

from kerascnn import viz
from kerascnn.data.pipeline import take_examples
from kerascnn.models import create_model
from kerascnn.models.dcgan import (
    generate_pixels,
    generator_inputs,
    pixel_generator,
    requested_labels,
    sample_sheet,
    seeded_noise,
)
from kerascnn.quality import DigitScorer, scorable
from kerascnn.registry import models
from kerascnn.training.callbacks import GanQualityLogger, SampleGrid, image_log_dir
from kerascnn.training.tasks.base import (
    Task,
    Unread,
    optimizer_for,
    write_curves,
    write_filters,
    write_layer_time,
)


def conditional(recipe) -> bool:
    """Whether the recipe's GAN draws images of a class it is given (registered `conditional`)."""
    return bool(models.metadata(recipe.model.name).get("conditional"))


class GanTask(Task):
    """A `DCGAN` trained on the training images, or a `ConditionalDCGAN` on the images and their
    labels; scored and exported by its generator."""

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
        if conditional(recipe):  # it learns the labels, so their kind matters
            del rules["data.label_mode"]
        return rules

    def build(self, recipe, data) -> keras.Model:

        info = data.info
        classes = {"classes": info.num_classes} if conditional(recipe) else {}
        gan = create_model(
            recipe.model.name,
            image_shape=info.image_shape,
            seed=recipe.seed,
            **classes,
            **recipe.model.args,
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
        """A `DigitScorer` against the test images (and their labels), or None for images it
        cannot score."""

        if not scorable(data.info.image_shape):
            return None
        return DigitScorer(*take_examples(test, recipe.callbacks.quality_examples))

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
        count = recipe.callbacks.quality_examples
        labels = requested_labels(model.generator, count)
        images = generate_pixels(model.generator, count, seed=recipe.seed, labels=labels)
        return model, scorer(images, labels)

    def export_parts(self, model, recipe, test):
        """The generator serving uint8 images, and 16 inputs to verify it on: noise, and for a
        conditional GAN labels (every class in turn)."""
        inputs = generator_inputs(model.generator, seeded_noise(model.latent_dim, 16, recipe.seed))
        return pixel_generator(model.generator), inputs

    def headline(self, metrics) -> str:
        if "inception_score" not in metrics:
            return "trained (only grey images of at least 28x28 are scored)"
        fidelity = (
            f", class fidelity {100 * metrics['class_fidelity']:.1f} % "
            f"(lowest class {100 * metrics['min_class_fidelity']:.1f} %)"
            if "class_fidelity" in metrics
            else ""
        )
        return (
            f"inception score {metrics['inception_score']:.2f} of 10 "
            f"(Fréchet distance {metrics['frechet_distance']:.2f}){fidelity}"
        )

    def report_figures(self, folder, recipe, gan, run_dir, *, examples: int) -> list[str]:
        """Curves, 64 generated images (a conditional GAN's in rows by class), the
        discriminator's first-layer filters and the generator's time per layer."""
        images, titles, columns = sample_sheet(gan.generator, 64, seed=recipe.seed)
        samples = viz.image_grid(
            images, titles, columns=columns, title=f"{recipe.name}: {len(images)} generated images"
        )
        noise = seeded_noise(gan.latent_dim, 100, recipe.seed)
        paths = [
            *write_curves(folder, recipe, run_dir),
            viz.save(samples, folder / "samples.png"),
            *write_filters(folder, gan.discriminator),
            *write_layer_time(folder, gan.generator, generator_inputs(gan.generator, noise)),
        ]
        return [path.name for path in paths]
