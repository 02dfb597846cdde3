"""Captioning: Show and Tell on captioned images (`kerascnn.data.captioned`), one example per
(image, caption) pair, padding masked through `sample_weight`; scored by BLEU-1...4 of its greedy
captions of the test images; the export serves captions; the report shows captioned test images."""

from __future__ import annotations

import os

import keras
import numpy as np
import tensorflow as tf

from kerascnn import captions, viz
from kerascnn.data import batches, captioned
from kerascnn.data.captioned import COCO, SCENES, load_captioned
from kerascnn.data.sources import DATA_DIR_ENV
from kerascnn.errors import RecipeError
from kerascnn.models import create_model
from kerascnn.models.captioning import CaptionWriter
from kerascnn.overrides import apply_overrides
from kerascnn.training.callbacks import CaptionLogger, image_log_dir
from kerascnn.training.tasks.base import (
    Task,
    Unread,
    optimizer_for,
    write_curves,
    write_filters,
)

# Test images pictured by `kerascnn report`.
REPORT_EXAMPLES = 16


class CaptioningTask(Task):
    """Show and Tell trained with teacher forcing on every (image, caption) pair."""

    name = "captioning"
    kind = "a captioner"
    target_field = "target_bleu4"

    def check(self, recipe) -> None:
        """What a captioned source can honour, and no augmentation (it would falsify captions)."""

        self.check_no_plateau(recipe)
        if recipe.augmentation != "none":
            raise RecipeError(
                f"augmentation {recipe.augmentation!r} would make captions wrong (a flipped scene "
                "swaps left and right, a colour change renames colours); use augmentation 'none' "
                "for captioning"
            )
        captioned.check_config(recipe.data)

    def unread_settings(self, recipe) -> dict[str, Unread]:
        rules = super().unread_settings(recipe)
        model = recipe.model.name
        rules["label_smoothing"] = Unread(
            f"label_smoothing is for classifiers and GANs; {model!r} is neither (remove it)", (0.0,)
        )
        rules["callbacks.inspect_examples"] = Unread(
            "callbacks.inspect_examples is for classifiers (a confusion matrix of held-out "
            f"images); {model!r} is {self.kind}, whose run shows callbacks.sample_grid captioned "
            "test images instead",
            (0,),
        )
        source, _ = self.data_source(recipe)
        if source == "folder" and recipe.data.name == "scenes":
            rules["data.name"] = Unread(
                f"data.name 'scenes' reads no folder, and with data.data_dir {recipe.data.data_dir} "
                "the folder is read (as Flickr8k) instead; remove --dataset scenes to train on the "
                "folder, or --data-dir to train on the scenes",
                explicit_only=True,
            )
        return rules

    def data_source(self, recipe) -> tuple[str, str | None]:

        data = recipe.data
        if data.data_dir:
            return "folder", data.data_dir
        if data.name == SCENES:
            return "scenes", None
        return ("tfds", None) if data.name == COCO else ("folder", os.environ.get(DATA_DIR_ENV))

    def load(self, config):

        return load_captioned(config)

    def build(self, recipe, data) -> keras.Model:

        texts = [c for group in data.captions["train"] for c in group]
        model = create_model(
            recipe.model.name,
            vocabulary=captions.vocabulary(texts),
            image_shape=data.info.image_shape,
            **dict(recipe.model.args),
        )
        model.compile(
            optimizer=optimizer_for(recipe, data.info, examples=len(texts)),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            weighted_metrics=["accuracy"],
            steps_per_execution=recipe.steps_per_execution,
        )
        return model

    def stream_targets(self, model, data):
        """(image index, tokens) of every training caption, in the model's vocabulary."""
        vectorize = captions.vectorizer(model.max_length, vocabulary=model.vocabulary)
        return captions.caption_pairs(vectorize, data.captions["train"])

    def fit_data(self, model, dataset, recipe):
        """Teacher forcing: the caption without its last token in, without its first as the
        target; padding weighs 0."""
        if dataset is None:
            return None

        def teacher_forcing(images, tokens):
            targets = tokens[:, 1:]
            return (images, tokens[:, :-1]), targets, tf.cast(targets > 0, tf.float32)

        return dataset.map(teacher_forcing)

    def prepare(self, recipe, data, test):
        """The test images with their references (`kerascnn.captions.HeldOut`)."""
        images, indices = [], []
        for batch_images, batch_indices in test:
            images.append(np.asarray(batch_images).astype(np.uint8))
            indices.append(np.asarray(batch_indices))
        references = [data.captions["test"][i] for i in np.concatenate(indices)]
        return captions.HeldOut(np.concatenate(images), references)

    def callbacks(self, recipe, run_dir, held_out) -> list:

        return [
            CaptionLogger(
                held_out,
                run_dir / "captions",
                image_log_dir(recipe.callbacks, run_dir),
                count=recipe.callbacks.quality_examples,
                grid=recipe.callbacks.sample_grid,
                every=recipe.callbacks.quality_every,
            )
        ]

    def evaluate(self, model, recipe, test, held_out, *, verbose):
        scores = held_out.bleu(held_out.caption(model))
        return model, {f"test_{name}": value for name, value in scores.items()}

    def export_parts(self, model, recipe, test):

        return CaptionWriter(model), next(iter(test))[0].numpy()

    def headline(self, metrics) -> str:
        return (
            f"BLEU-4 {metrics['test_bleu4']:.3f} (BLEU-1 {metrics['test_bleu1']:.3f}) "
            f"of greedy captions of {metrics['data']['num_test']} test images"
        )

    def report_figures(self, folder, recipe, captioner, run_dir, *, examples: int) -> list[str]:
        """Curves, 16 test images with their captions, and the encoder's first-layer filters."""

        # Only the pictured test images; one training image (not the whole split) to load.
        small = apply_overrides(recipe, {"data.train_limit": 1, "data.test_limit": REPORT_EXAMPLES})
        data = self.load(small.data)
        held_out = self.prepare(small, data, batches(data.test, batch_size=REPORT_EXAMPLES))
        grid = held_out.grid(held_out.caption(captioner), title=f"{recipe.name}: test images")
        paths = [
            *write_curves(folder, recipe, run_dir),
            viz.save(grid, folder / "captions.png"),
            *write_filters(folder, captioner.encoder),
        ]
        return [path.name for path in paths]
