"""What every task answers, and the pieces tasks share.

A task is what differs between kinds of runs. The one run function
(`kerascnn.training.run.run_recipe`) wires data, strategy, callbacks, fit, records and export the
same way for every recipe and asks the recipe's task for the rest: which recipe settings it reads
(`unread_settings`, `check`), how its data loads, how its model is built and fed, what it scores,
what it exports and which figures its report shows. Adding a kind of run means one new `Task`
subclass and its entry in `kerascnn.training.tasks.TASKS`.
"""

from __future__ import annotations

import dataclasses
import os

import keras

from kerascnn import runs, viz
from kerascnn.data import captioned, load_dataset
from kerascnn.data.sources import BUNDLED_SAMPLE, DATA_DIR_ENV
from kerascnn.errors import RecipeError
from kerascnn.models.anatomy import convolutions, layer_time_shares
from kerascnn.training.runtime import make_optimizer


@dataclasses.dataclass(frozen=True)
class Unread:
    """A recipe field that a recipe would not read: the one-line error that says why and what is
    used instead, and the values of it that are harmless (they leave off what it controls).
    `explicit_only`: judged only when a user sets it (`check_overrides`), because the recipe's
    own value is in every recipe and may just be left from before an override (a decay rate
    after switching to the cosine schedule)."""

    message: str
    harmless: tuple = ()
    explicit_only: bool = False


class Task:
    """The questions every task answers; the defaults fit tasks that train on labelled images."""

    name: str = ""
    kind: str = ""  # "a classifier": how messages name a model of this task
    target_field: str = ""  # the recipe field that holds the published figure
    # Whether a held-out split is evaluated during training (validation data, held-out images).
    evaluates_held_out = False
    # Whether its export may go to other runtimes (ONNX, LiteRT, quantized), where it is verified
    # by its outputs and top-1 labels on test images (`kerascnn.tools.export`): a classifier's.
    runtime_exports = False
    # The largest difference allowed between the reloaded SavedModel's outputs and the Keras
    # model's (`kerascnn.export.export_model`).
    export_atol = 1e-5

    # -- the recipe --------------------------------------------------------------------------
    def check(self, recipe) -> None:
        """The checks of settings this task constrains (RecipeError when one is wrong): by
        default, no plateau schedule (it watches a classifier's validation loss) and images with
        class labels."""
        self.check_no_plateau(recipe)
        self.check_labelled_images(recipe)

    def check_no_plateau(self, recipe) -> None:
        if recipe.optimizer.schedule == "plateau":
            raise RecipeError(
                f"optimizer.schedule='plateau' is for classifiers; {recipe.model.name!r} is not one"
            )

    def check_no_augmentation(self, recipe, labels: str) -> None:
        """Refuses an augmentation preset: they move images, not their `labels` (boxes, masks)."""
        if recipe.augmentation != "none":
            raise RecipeError(
                f"augmentation {recipe.augmentation!r} would move or crop the images but not "
                f"their {labels}; use augmentation 'none' for {self.name}"
            )

    def check_labelled_images(self, recipe) -> None:

        if recipe.data.name in captioned.CAPTIONED and not recipe.data.data_dir:
            raise RecipeError(
                f"data.name {recipe.data.name!r} is captioned images, for captioning recipes; "
                f"{recipe.model.name!r} is {self.kind}, which needs images with class labels: "
                "a tfds name (mnist, cifar10 ...), mnist_sample, or --data-dir"
            )

    def unread_settings(self, recipe) -> dict[str, Unread]:
        """The recipe fields this task does not read, by dotted key: here every setting that only
        some tasks read; each task takes out what it reads and adds its own."""
        model, kind = recipe.model.name, self.kind
        return {
            "optimizer.discriminator_learning_rate": Unread(
                f"optimizer.discriminator_learning_rate is for GANs; {model!r} has no "
                "discriminator (set optimizer.learning_rate)",
                (None,),
            ),
            "transfer.init_from": Unread(
                f"transfer.init_from is for classifiers; {model!r} is not one", (None,)
            ),
            "data.validation": Unread(
                f"data.validation is for classifiers; {model!r} is {kind}, scored on the test "
                "split after training and never validated during it (a holdout would only take "
                "images from training); use data.validation='none'",
                ("none",),
            ),
            "data.label_mode": Unread(
                f"data.label_mode chooses class labels; {model!r} is {kind}, which learns no "
                "labels; remove the setting",
                ("fine",),
            ),
            "callbacks.stop_at_accuracy": Unread(
                f"callbacks.stop_at_accuracy is for classifiers; {model!r} is {kind}, which has "
                "no accuracy; remove the setting",
                (None,),
            ),
            "callbacks.early_stopping_patience": Unread(
                "callbacks.early_stopping_patience stops when the validation loss stops "
                f"improving; {model!r} is {kind}, which has none; remove the setting",
                (None,),
            ),
        }

    def data_source(self, recipe) -> tuple[str, str | None]:
        """(what the data is read from: 'tfds', 'folder', 'bundled' or 'scenes'; the folder)."""

        data = recipe.data
        if data.name == BUNDLED_SAMPLE:
            return "bundled", None
        folder = data.data_dir or os.environ.get(DATA_DIR_ENV)
        return ("folder", folder) if folder else ("tfds", None)

    # -- training ----------------------------------------------------------------------------
    def load(self, config):

        return load_dataset(config)

    def stream_targets(self, model, data):
        """The training examples when they are not the dataset's (image, label); None: they are."""
        return None

    def start_phase(self, model, recipe, info, epoch: int) -> None:
        """Compiles `model` for the training phase that contains `epoch` (one phase by default)."""

    def fit_data(self, model, dataset, recipe):
        """The dataset as `fit` and `evaluate` take it."""
        return dataset

    def fit_options(self, last: bool) -> dict:
        """Keyword arguments of `model.fit` for one part of a run (`last`: the run's last part)."""
        return {}

    def write_averaged_weights(self, model) -> None:
        """What the end of `fit` does: the model takes its optimizer's weight average, if kept."""
        if model.optimizer is not None:
            model.optimizer.finalize_variable_values(model.trainable_weights)

    def prepare(self, recipe, data, test):
        """What the task needs besides the model, made before anything is written."""
        return None

    def callbacks(self, recipe, run_dir, prepared) -> list:
        return []

    def inspected_examples(self, recipe) -> int:
        """How many held-out images the run's `InspectionLogger` classifies every epoch (a
        confusion matrix and the misclassified images): `callbacks.inspect_examples` for a task
        that validates with one class per image, 0 for the others."""
        return recipe.callbacks.inspect_examples if self.evaluates_held_out else 0

    # -- results -----------------------------------------------------------------------------
    def learning_failure(self, metrics, history) -> str | None:
        """Why a finished run did not learn, "" if it did; None: this task makes no judgement."""
        return None

    def report_figures(self, folder, recipe, model, run_dir, *, examples: int) -> list[str]:
        """Writes the report's PNGs into `folder`; returns their file names in page order.
        `examples`: how many held-out images a classifier's figures evaluate."""
        raise NotImplementedError


def optimizer_for(recipe, info, *, examples: int | None = None, config=None):
    """The recipe's optimizer with its learning-rate schedule over the run's steps."""
    return make_optimizer(
        config or recipe.optimizer,
        num_examples=examples or info.num_train,
        batch_size=recipe.batch_size,
        epochs=recipe.optimizer.schedule_epochs or recipe.epochs,
    )


def write_curves(folder, recipe, run_dir) -> list:
    """The training curves of the run, if it has a history."""
    history = runs.read_history(run_dir)
    if not history:
        return []
    title = f"{recipe.name}: training curves"
    return [viz.plot_history(history, folder / "curves.png", title=title)]


def write_filters(folder, model: keras.Model) -> list:
    """The first convolution's filters, if the model has one."""
    first = convolutions(model)[:1]
    if not first:
        return []
    figure = viz.filters_figure(
        first[0].kernel.numpy(), title=f"first-layer filters ({first[0].name})"
    )
    return [viz.save(figure, folder / "filters.png")]


def write_layer_time(folder, model: keras.Model, batch) -> list:
    """Each layer's share of a forward pass's time on `batch` (an array, or a list of them for a
    model of several inputs)."""
    shares = layer_time_shares(model, batch)
    size = len(batch[0] if isinstance(batch, list) else batch)
    figure = viz.layer_time_figure(shares, title=f"forward-pass time per layer (batch of {size})")
    return [viz.save(figure, folder / "layer_time.png")]
