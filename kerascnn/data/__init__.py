"""The data layer: dataset sources, the tf.data pipeline and augmentation presets."""

from kerascnn.data.augment import create_augmentation, flips_left_out
from kerascnn.data.pipeline import TrainingStream, batches
from kerascnn.data.sources import BUNDLED_SAMPLE, DatasetInfo, Splits, load_dataset

__all__ = [
    "BUNDLED_SAMPLE",
    "DatasetInfo",
    "Splits",
    "TrainingStream",
    "batches",
    "create_augmentation",
    "flips_left_out",
    "load_dataset",
]
