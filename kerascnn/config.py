"""The recipe format: frozen dataclasses, config-as-code.

A recipe is a registered function that returns a `Recipe`; variants use `dataclasses.replace`. Every field
is checked when a recipe is made, its type first (`check_types`), then its range, so a wrong or
out-of-range value fails with one line before anything is built or written. What needs the registries
or several fields at once (a setting the recipe's kind of model does not read) is checked by
`kerascnn.training.checks.check_recipe`.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import typing
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from kerascnn.errors import RecipeError
from kerascnn.overrides import apply_overrides, checked_type, shown

Precision = Literal["float32", "mixed_float16", "mixed_bfloat16", "auto"]
Strategy = Literal["default", "mirrored", "multi_worker"]

# NumPy's seeds (`keras.utils.set_random_seed` seeds it) are 32-bit unsigned integers.
MAX_SEED = 2**32 - 1
# Every count reaches TensorFlow as an int64 somewhere.
MAX_INT = 2**63 - 1
# Beyond this the images of a dataset no longer fit any machine's memory.
MAX_IMAGE_SIDE = 4096
# A grid of sample images is 8 columns wide; 256 images make 32 rows.
MAX_SAMPLE_GRID = 256
# Generated images scored per evaluation; the Fréchet distance is usually taken over 50,000.
MAX_QUALITY_EXAMPLES = 100_000


def _require(condition: bool, field: str, expected: str, value: Any) -> None:
    if not condition:
        raise RecipeError(f"{field} must be {expected}, got {shown(value)}")


def _positive(value, field):
    _require(value is None or value >= 1, field, "at least 1", value)


def _path(value, field):
    """A folder or file name given as text: not empty (which would mean the current folder or
    nothing) and without NUL characters (which no file system allows)."""
    _require(
        value is None or (value.strip() and "\0" not in value),
        field,
        "a non-empty path without NUL characters",
        value,
    )


@functools.cache
def _hints(cls) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def check_types(config) -> None:
    """Checks every field of a recipe dataclass against its annotation, before its ranges.

    A list given for a tuple is stored as a tuple and a mapping as a dict, as an override would;
    a float must be finite (an infinite learning rate or warmup has no meaning) and an integer,
    also inside a tuple, an int64 (what TensorFlow takes).
    """
    hints = _hints(type(config))
    for field in dataclasses.fields(config):
        key = f"{config.group}.{field.name}" if config.group else field.name
        value = getattr(config, field.name)
        converted = checked_type(value, hints[field.name], key)
        for item in converted if isinstance(converted, tuple) else (converted,):
            if isinstance(item, float):
                _require(math.isfinite(item), key, "a finite number", value)
            if isinstance(item, int) and not isinstance(item, bool):
                _require(abs(item) <= MAX_INT, key, "an integer below 2**63", value)
        if isinstance(value, (list, tuple, Mapping)) and converted is not value:
            object.__setattr__(config, field.name, converted)


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Which dataset, where it lives, and how it is split.

    `name` is a tfds name (mnist, fashion_mnist, cifar10 ...) or 'mnist_sample' for the bundled sample;
    captioning recipes take 'scenes' (synthetic), 'flickr8k' (with `data_dir`) or 'coco_captions'
    (`kerascnn.data.captioned`).
    `data_dir` is a folder used instead of tfds (also: $KERASCNN_DATA_DIR): MNIST-format IDX files,
    class folders of images, a CIFAR-10/100 copy (binary or Python version), or for captioning the
    Flickr8k layout.
    `tfds_data_dir` is where tfds keeps prepared datasets (default: tfds' own, ~/tensorflow_datasets).
    `image_shape` is the (height, width, channels) the model trains on; other images are adapted
    (padded or resized, channels repeated or averaged; see `kerascnn.data.adapt`). None: as stored.
    `validation`: 'test' evaluates on the test split every epoch (as the book does), 'holdout' on the
    last `holdout_fraction` of the training split, 'none' not at all.
    `classes`: keep only the images of these labels, relabelled 0, 1, ... in the order given (a
    digits-0-4 model to fine-tune on 5-9, for example); None: all. `train_limit` and `test_limit`
    count what is kept.
    `offline_fallback`: with no network and no local copy, use the bundled MNIST sample (loudly);
    harmless where no fallback can happen (a folder, the bundled sample, captioned images).
    `label_mode`: CIFAR-100's 'fine' labels (100 classes) or its 'coarse' ones (20 superclasses);
    other datasets have only 'fine'.
    """

    group: ClassVar[str] = "data"

    name: str = "mnist"
    data_dir: str | None = None
    tfds_data_dir: str | None = None
    image_shape: tuple[int, int, int] | None = None
    validation: Literal["test", "holdout", "none"] = "test"
    holdout_fraction: float = 0.1
    classes: tuple[int, ...] | None = None
    train_limit: int | None = None
    test_limit: int | None = None
    offline_fallback: bool = True
    label_mode: Literal["fine", "coarse"] = "fine"

    def __post_init__(self):
        check_types(self)
        _require(bool(self.name.strip()), "data.name", "a dataset name", self.name)
        _path(self.data_dir, "data.data_dir")
        _path(self.tfds_data_dir, "data.tfds_data_dir")
        _require(
            self.label_mode in ("fine", "coarse"),
            "data.label_mode",
            "'fine' or 'coarse'",
            self.label_mode,
        )
        _require(
            0 < self.holdout_fraction < 1,
            "data.holdout_fraction",
            "in (0, 1)",
            self.holdout_fraction,
        )
        _require(
            self.classes is None
            or (len(self.classes) >= 2 and len(set(self.classes)) == len(self.classes))
            and min(self.classes) >= 0,
            "data.classes",
            "None or at least two distinct labels >= 0",
            self.classes,
        )
        _positive(self.train_limit, "data.train_limit")
        _positive(self.test_limit, "data.test_limit")
        _require(
            self.image_shape is None
            or (
                len(self.image_shape) == 3
                and min(self.image_shape) >= 1
                and max(self.image_shape) <= MAX_IMAGE_SIDE
            ),
            "data.image_shape",
            f"None or (height, width, channels), each from 1 to {MAX_IMAGE_SIDE}",
            self.image_shape,
        )


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """A registered model and the keyword arguments of its builder (input shape and classes come from the data)."""

    group: ClassVar[str] = "model"

    name: str = "deep_mnist_cnn"
    args: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        check_types(self)
        _require(bool(self.name.strip()), "model.name", "a registered model name", self.name)
        _require(
            all(isinstance(key, str) for key in self.args),
            "model.args",
            "a mapping of builder argument names",
            self.args,
        )


@dataclasses.dataclass(frozen=True)
class OptimizerConfig:
    """Optimizer and learning-rate schedule.

    `ema_momentum`: keep an exponential moving average of the weights (Keras' `use_ema`) and use it
    for evaluation and export; None: off.
    `schedule`: 'constant'; 'cosine' (to 0 over the run, after `warmup_epochs` of linear warmup);
    'exponential' (times `decay_rate` every `decay_epochs`, smoothly); 'step' (times `decay_rate` every
    `decay_epochs`, in steps); 'plateau' (times `decay_rate` when the validation loss, or the
    training loss without validation, has not improved for `plateau_patience` epochs). `epsilon`
    (Adam, AdamW, RMSprop), `beta_1` (Adam, AdamW) and `clipnorm` default to Keras'.
    `discriminator_learning_rate`: GANs only, the discriminator's own learning rate (the two
    time-scale update rule of Heusel et al. 2017); None: `learning_rate`, as Radford et al.
    `schedule_epochs`: the epochs a cosine schedule spans; None: the run's `epochs`. Set it to train
    only the first epochs of a longer plan at the plan's learning rates (`scripts/verify_recipes.py`).
    """

    group: ClassVar[str] = "optimizer"

    name: Literal["adam", "adamw", "sgd", "rmsprop"] = "adam"
    learning_rate: float = 1e-3
    momentum: float = 0.0
    nesterov: bool = False
    weight_decay: float | None = None
    schedule: Literal["constant", "cosine", "exponential", "step", "plateau"] = "constant"
    warmup_epochs: float = 0.0
    decay_rate: float = 0.1
    decay_epochs: float = 10.0
    plateau_patience: int = 5
    epsilon: float | None = None
    beta_1: float | None = None
    clipnorm: float | None = None
    ema_momentum: float | None = None
    discriminator_learning_rate: float | None = None
    schedule_epochs: float | None = None

    def __post_init__(self):
        check_types(self)
        _require(
            self.schedule_epochs is None or self.schedule_epochs > 0,
            "optimizer.schedule_epochs",
            "None or positive",
            self.schedule_epochs,
        )
        # 0 is allowed: the weights stay as initialised, a baseline (and a run that cannot learn).
        _require(
            self.learning_rate >= 0, "optimizer.learning_rate", "at least 0", self.learning_rate
        )
        _require(
            self.discriminator_learning_rate is None or self.discriminator_learning_rate > 0,
            "optimizer.discriminator_learning_rate",
            "None or positive",
            self.discriminator_learning_rate,
        )
        _require(0 <= self.momentum < 1, "optimizer.momentum", "in [0, 1)", self.momentum)
        _require(
            self.weight_decay is None or self.weight_decay >= 0,
            "optimizer.weight_decay",
            "None or at least 0",
            self.weight_decay,
        )
        _require(
            self.warmup_epochs >= 0, "optimizer.warmup_epochs", "at least 0", self.warmup_epochs
        )
        _require(0 < self.decay_rate <= 1, "optimizer.decay_rate", "in (0, 1]", self.decay_rate)
        _require(self.decay_epochs > 0, "optimizer.decay_epochs", "positive", self.decay_epochs)
        _positive(self.plateau_patience, "optimizer.plateau_patience")
        _require(
            self.epsilon is None or self.epsilon > 0,
            "optimizer.epsilon",
            "None or positive",
            self.epsilon,
        )
        _require(
            self.beta_1 is None or 0 <= self.beta_1 < 1,
            "optimizer.beta_1",
            "None or in [0, 1)",
            self.beta_1,
        )
        _require(
            self.ema_momentum is None or 0 < self.ema_momentum < 1,
            "optimizer.ema_momentum",
            "None or in (0, 1)",
            self.ema_momentum,
        )
        _require(
            self.clipnorm is None or self.clipnorm > 0,
            "optimizer.clipnorm",
            "None or positive",
            self.clipnorm,
        )


@dataclasses.dataclass(frozen=True)
class CallbackConfig:
    """What a run logs and keeps besides its history: TensorBoard, a checkpoint, early stopping.

    TensorBoard gets epoch scalars, step scalars every `update_freq` steps, weight histograms
    every `histogram_freq` epochs (0: none), the graph, images (augmented inputs; confusion matrix
    and misclassified examples among `inspect_examples` held-out images, 0: no images), and a
    profiler trace of the steps `profile_batches` = (first, last) when set.

    `stop_at_accuracy`: end training after the first epoch whose validation accuracy reaches it
    (a classifier with validation); None: train every epoch.

    `checkpoint`: keep the run's state in `checkpoints/last/` after every epoch, and every
    `checkpoint_every` steps when set, so that running the same recipe again resumes it
    (`kerascnn.training.resume`).

    GAN runs instead write a grid of `sample_grid` images from fixed noise every epoch, and score
    `quality_examples` generated images (Inception Score, Fréchet distance; `kerascnn.quality`)
    every `quality_every` epochs (0: only at the end). Detection runs picture `sample_grid`
    held-out images with their boxes every epoch and score the first `quality_examples` of them
    by COCO mAP every `quality_every` epochs.
    """

    group: ClassVar[str] = "callbacks"

    tensorboard: bool = True
    update_freq: int = 50
    histogram_freq: int = 1
    inspect_examples: int = 1000
    profile_batches: tuple[int, int] | None = None
    sample_grid: int = 64
    quality_examples: int = 10_000
    quality_every: int = 1
    checkpoint: bool = True
    checkpoint_every: int | None = None
    early_stopping_patience: int | None = None
    stop_at_accuracy: float | None = None

    def __post_init__(self):
        check_types(self)
        _require(
            self.histogram_freq >= 0, "callbacks.histogram_freq", "at least 0", self.histogram_freq
        )
        _positive(self.update_freq, "callbacks.update_freq")
        _require(
            self.inspect_examples >= 0,
            "callbacks.inspect_examples",
            "at least 0",
            self.inspect_examples,
        )
        _require(
            self.profile_batches is None
            or (
                len(self.profile_batches) == 2
                and 1 <= self.profile_batches[0] <= self.profile_batches[1]
            ),
            "callbacks.profile_batches",
            "None or (first, last) steps with 1 <= first <= last",
            self.profile_batches,
        )
        _require(
            1 <= self.sample_grid <= MAX_SAMPLE_GRID,
            "callbacks.sample_grid",
            f"from 1 to {MAX_SAMPLE_GRID}",
            self.sample_grid,
        )
        _require(
            2 <= self.quality_examples <= MAX_QUALITY_EXAMPLES,
            "callbacks.quality_examples",
            f"from 2 to {MAX_QUALITY_EXAMPLES:,}",
            self.quality_examples,
        )
        _require(
            self.quality_every >= 0, "callbacks.quality_every", "at least 0", self.quality_every
        )
        _positive(self.early_stopping_patience, "callbacks.early_stopping_patience")
        _require(
            self.stop_at_accuracy is None or 0 < self.stop_at_accuracy <= 1,
            "callbacks.stop_at_accuracy",
            "None or in (0, 1]",
            self.stop_at_accuracy,
        )
        _positive(self.checkpoint_every, "callbacks.checkpoint_every")


@dataclasses.dataclass(frozen=True)
class TransferConfig:
    """Transfer learning: start from another model's weights instead of from scratch.

    `init_from`: a run directory, an export (`saved_models/NAME/VERSION`) or a `.keras` file of a
    kerascnn classifier of the same architecture; every layer is copied except the classifier
    head when the class count differs (it starts fresh). `"imagenet"` starts from the model's
    published ImageNet weights (`kerascnn.models.weights`), with their preprocessing. Then `frozen_epochs` epochs train the head
    alone (the rest frozen, BatchNorm in inference mode), and the remaining epochs train all layers
    with the learning rate times `learning_rate_factor`.
    """

    group: ClassVar[str] = "transfer"

    init_from: str | None = None
    frozen_epochs: int = 0
    learning_rate_factor: float = 0.1

    def __post_init__(self):
        check_types(self)
        _path(self.init_from, "transfer.init_from")
        _require(
            self.frozen_epochs >= 0, "transfer.frozen_epochs", "at least 0", self.frozen_epochs
        )
        _require(
            0 < self.learning_rate_factor <= 1,
            "transfer.learning_rate_factor",
            "in (0, 1]",
            self.learning_rate_factor,
        )


@dataclasses.dataclass(frozen=True)
class ExportConfig:
    """Export of the trained model: a SavedModel plus a .keras file under `directory/<recipe>/<version>/`."""

    group: ClassVar[str] = "export"

    enabled: bool = True
    directory: str = "saved_models"

    def __post_init__(self):
        check_types(self)
        _path(self.directory, "export.directory")


@dataclasses.dataclass(frozen=True)
class Recipe:
    """Everything one training run needs; see `kerascnn show NAME` for a resolved example.

    `precision` and `strategy` are run settings applied by the run function, never builder arguments;
    `precision="auto"` (the default) picks mixed_float16, mixed_bfloat16 or float32 for the machine
    and says why (`kerascnn.training.runtime.choose_precision`); recipes whose published figure was
    reproduced in float32 pin "float32" until it is measured again.
    `label_smoothing` (classifiers) trains against targets of 1 - s + s/K for the true class and s/K
    for the others (Szegedy et al. 2015); in a GAN it is one-sided (Salimans et al. 2016): the
    discriminator's target for real images is 1 - s.
    `fallback_epochs`: the epochs of a run whose data fell back to the bundled MNIST sample (no
    network, no local copy; `DataConfig.offline_fallback`), sized to end in about five minutes on 2
    CPU cores; None: `epochs`. An `epochs` override sets it too, unless it is given itself.
    `seed` seeds Python, NumPy and TensorFlow, and so takes NumPy's range, 0 to 2**32 - 1.
    `deterministic`: TensorFlow's op determinism and one-at-a-time augmentation, so that two runs
    of the recipe, or a run killed and resumed, end with bit-identical weights (slower).
    `members` makes the recipe an ensemble: one recipe per member, as overrides of a registered
    recipe named by the member's "recipe" key (e.g. `{"recipe": "mnist_best", "seed": 1}`); each is
    trained on this recipe's data as a run of its own (resumable; a finished one is reused), and
    the ensemble averages their probabilities (`kerascnn.training.ensemble`).
    `target_accuracy` is the published test accuracy the recipe reproduces on the full data, from `source`;
    `target_inception_score` the score a GAN recipe must reach (`kerascnn.quality`);
    `target_bleu4` the corpus BLEU-4 of a captioning recipe's greedy test captions;
    `target_mean_iou` the mean IoU over the classes of a segmentation recipe's test split;
    `target_map50` a detection recipe's COCO-style mAP at IoU 0.5 on its test split.
    `smoke` holds extra overrides for the seconds-long smoke version (see `smoke_version`).
    """

    group: ClassVar[str] = ""

    name: str
    description: str = ""
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    augmentation: str = "none"
    label_smoothing: float = 0.0
    optimizer: OptimizerConfig = OptimizerConfig()
    batch_size: int = 32
    epochs: int = 10
    fallback_epochs: int | None = None
    precision: Precision = "auto"
    strategy: Strategy = "default"
    steps_per_execution: int = 1
    seed: int = 0
    deterministic: bool = False
    callbacks: CallbackConfig = CallbackConfig()
    transfer: TransferConfig = TransferConfig()
    members: tuple[Mapping[str, Any], ...] = ()
    export: ExportConfig = ExportConfig()
    runs_dir: str = "runs"
    target_accuracy: float | None = None
    target_inception_score: float | None = None
    target_bleu4: float | None = None
    target_mean_iou: float | None = None
    target_map50: float | None = None
    source: str = ""
    smoke: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        check_types(self)
        _require(
            bool(self.name) and self.name.replace("_", "").replace("-", "").isalnum(),
            "name",
            "letters, digits, '_' or '-'",
            self.name,
        )
        _require(
            0 <= self.label_smoothing < 1, "label_smoothing", "in [0, 1)", self.label_smoothing
        )
        _positive(self.batch_size, "batch_size")
        _positive(self.epochs, "epochs")
        _positive(self.fallback_epochs, "fallback_epochs")
        _positive(self.steps_per_execution, "steps_per_execution")
        _require(0 <= self.seed <= MAX_SEED, "seed", f"from 0 to {MAX_SEED} (2**32 - 1)", self.seed)
        _path(self.runs_dir, "runs_dir")
        _require(
            self.target_inception_score is None or 1 <= self.target_inception_score,
            "target_inception_score",
            "None or at least 1",
            self.target_inception_score,
        )
        _require(
            self.target_bleu4 is None or 0 < self.target_bleu4 <= 1,
            "target_bleu4",
            "None or in (0, 1]",
            self.target_bleu4,
        )
        _require(
            self.target_mean_iou is None or 0 < self.target_mean_iou <= 1,
            "target_mean_iou",
            "None or in (0, 1]",
            self.target_mean_iou,
        )
        _require(
            self.target_map50 is None or 0 < self.target_map50 <= 1,
            "target_map50",
            "None or in (0, 1]",
            self.target_map50,
        )
        _require(
            self.target_accuracy is None or 0 < self.target_accuracy <= 1,
            "target_accuracy",
            "None or in (0, 1]",
            self.target_accuracy,
        )


def to_dict(recipe: Recipe) -> dict[str, Any]:
    """The recipe as plain JSON-ready data (the record written next to a run's outputs)."""
    return dataclasses.asdict(recipe)


def from_dict(record: Mapping[str, Any]) -> Recipe:
    """The inverse of `to_dict`: unknown keys and ill-typed values are rejected like overrides."""
    record = dict(record)
    return apply_overrides(Recipe(name=record.pop("name")), record)
