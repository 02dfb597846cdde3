"""Images with a class per pixel, for the segmentation task: the synthetic digit canvases or a
Pascal VOC folder.

`load_segmented` gives the same `Splits` as `kerascnn.data.load_dataset`, with a mask (uint8
(height, width): a class index per pixel, `IGNORE_LABEL` where no class counts) as each image's
label. Which source:

- `data.name="digit_canvases"`: `kerascnn.data.canvases`, 4,000 training and 500 test canvases at
  `data.image_shape` (128x128x3 unless set), generated from fixed seeds (every run is scored on
  the same test canvases) with the digits of the bundled MNIST sample, or of the MNIST IDX files
  in `--data-dir` when given (training canvases from its training digits, test canvases from its
  test digits). 11 classes: background and the digits.
- `data.name="voc"` with `--data-dir` (or $KERASCNN_DATA_DIR): a Pascal VOC folder
  (`kerascnn.data.voc`), its `train` list for training and `val` for testing, resized to
  `data.image_shape` (320x320x3 unless set). 21 classes.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import tensorflow as tf

from kerascnn import files
from kerascnn.data import idx, voc
from kerascnn.data.canvases import CLASS_NAMES, make_canvases
from kerascnn.data.sources import BUNDLED_DIR, DATA_DIR_ENV, split_dataset
from kerascnn.errors import DataError

DIGIT_CANVASES = "digit_canvases"
VOC = "voc"
SEGMENTED = (DIGIT_CANVASES, VOC)
IGNORE_LABEL = voc.IGNORE_LABEL
CANVAS_COUNTS = {"train": 4_000, "test": 500}
# Fixed, not the recipe's seed: every run is scored on the same test canvases.
CANVAS_SEEDS = {"train": 1, "test": 2}
CANVAS_SHAPE = (128, 128, 3)
VOC_SHAPE = (320, 320, 3)


def check_dense_config(config, *, task: str, labelled: str, needs: str, names, use: str) -> None:
    """The rules every dense-prediction source shares: all classes kept (each image has a class
    per `labelled` part), a data name from `names` (images with `needs`; `use` says which), RGB
    images."""
    if config.classes is not None:
        raise DataError(
            f"data.classes selects images by class label; {task} has a class per {labelled}, so "
            "every class is kept (remove the setting)"
        )
    if config.name not in names:
        raise DataError(
            f"{task} needs images with {needs}; got data.name={config.name!r}. Use {use}"
        )
    shape = config.image_shape
    if shape is not None and shape[2] != 3:
        raise DataError(f"{task} images are RGB: data.image_shape needs 3 channels, got {shape}")


def check_config(config) -> None:
    """Refuses, before anything is read, what no segmentation source can honour."""
    check_dense_config(
        config,
        task="segmentation",
        labelled="pixel",
        needs="a class per pixel",
        names=SEGMENTED,
        use=f"data.name={DIGIT_CANVASES!r} (synthetic, offline) or data.name={VOC!r} with "
        "--data-dir a Pascal VOC folder",
    )


def load_segmented(config):
    """The images and masks `config` (a `DataConfig`) asks for; see the module docstring."""
    check_config(config)
    folder = config.data_dir or os.environ.get(DATA_DIR_ENV)
    if config.name == VOC:
        if not folder:
            raise DataError(
                "data.name 'voc' is read from a Pascal VOC folder: pass --data-dir DIR (the "
                "VOCdevkit folder, or VOC2012 itself)"
            )
        return _voc(config, files.unpacked(folder))
    return _canvases(config, files.unpacked(folder) if folder else None)


def _canvases(config, folder: Path | None):
    shape = tuple(config.image_shape or CANVAS_SHAPE)
    if shape[0] != shape[1]:
        raise DataError(
            f"the canvases are square: data.image_shape {shape} must have height == width"
        )
    found = idx.find_split_files(folder or BUNDLED_DIR)
    digits = {split: idx.read_split(*paths) for split, paths in found.items()}
    where = f"MNIST IDX files in {Path(folder).resolve()}" if folder else "the bundled MNIST sample"
    arrays = {}
    for split, count in CANVAS_COUNTS.items():
        limit = config.train_limit if split == "train" else config.test_limit
        canvases = make_canvases(
            min(count, limit or count), digits[split], seed=CANVAS_SEEDS[split], size=shape[0]
        )
        arrays[split] = canvases.images, canvases.masks
    source = f"synthetic digit canvases ({shape[0]} px) of {where}"
    return _splits(config, arrays, name=DIGIT_CANVASES, source=source, class_names=CLASS_NAMES)


def _voc(config, folder: Path):
    root = voc.find_root(folder)
    if root is None:
        raise DataError(
            f"{folder} is not a Pascal VOC folder: no JPEGImages/ and ImageSets/ in it or in "
            f"{', '.join(voc.ROOTS[1:])} under it"
        )
    shape = tuple(config.image_shape or VOC_SHAPE)
    arrays = {
        split: voc.read_segmentation(root, listed, size=shape[:2], limit=limit)
        for split, listed, limit in (
            ("train", "train", config.train_limit),
            ("test", "val", config.test_limit),
        )
    }
    source = f"Pascal VOC segmentation in {root.resolve()} (train / val), {shape[0]}x{shape[1]}"
    return _splits(config, arrays, name=VOC, source=source, class_names=voc.CLASS_NAMES)


def _splits(config, arrays, *, name: str, source: str, class_names):
    (train_images, train_masks), (test_images, test_masks) = arrays["train"], arrays["test"]
    return split_dataset(
        dataclasses.replace(config, train_limit=None, test_limit=None, image_shape=None),
        tf.data.Dataset.from_tensor_slices((train_images, train_masks)),
        tf.data.Dataset.from_tensor_slices((test_images, test_masks)),
        {"train": len(train_images), "test": len(test_images)},
        name=name,
        source=source,
        image_shape=tuple(int(d) for d in train_images.shape[1:]),
        num_classes=len(class_names),
        class_names=tuple(class_names),
    )
