"""Images with boxes, for the detection task: the synthetic digit canvases, a Pascal VOC or
COCO-style folder, or tfds `voc` / `coco` when prepared.

`load_detected` gives the same `Splits` as `kerascnn.data.load_dataset`; each image's label is
its boxes as `kerascnn.boxes.pad_targets` writes them: float32 (max_boxes, 5), rows of normalised
(y_min, x_min, y_max, x_max, class), padded with class -1 to the most boxes any image of the
data has. Images are resized to `data.image_shape` (aspect ratio not kept; normalised boxes stay
right). Which source:

- `data.name="digit_canvases"`: `kerascnn.data.canvases`, the segmentation task's canvases
  (`kerascnn.data.segmented`: 4,000 training and 500 test canvases from fixed seeds, the bundled
  MNIST sample or `--data-dir` MNIST IDX files), each digit a box of class 0-9.
- `data.name="voc"` with `--data-dir`: a Pascal VOC folder (`kerascnn.data.voc`), `ImageSets/Main`
  `trainval` (or `train`) for training and `test` (or `val`) for testing; 20 classes.
- `data.name="coco"` with `--data-dir`: a COCO-style folder (`kerascnn.data.coco`),
  `annotations/instances_train2017.json` with `train2017/` and `instances_val2017.json` with
  `val2017/` (or `instances_train.json` with `train/`, and `test` or `val`).
- `data.name="voc"` or `"coco"` without a folder: tfds `voc/2007` (trainval / test) or
  `coco/2017` (train / validation) when prepared in `data.tfds_data_dir`; otherwise a one-line
  how-to (kerascnn never starts those downloads itself).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import tensorflow as tf

from kerascnn import files
from kerascnn.boxes import pad_targets
from kerascnn.data import coco, idx, voc
from kerascnn.data.canvases import make_canvases
from kerascnn.data.segmented import (
    CANVAS_COUNTS,
    CANVAS_SEEDS,
    CANVAS_SHAPE,
    check_dense_config,
)
from kerascnn.data.sources import BUNDLED_DIR, DATA_DIR_ENV, network_reachable, split_dataset
from kerascnn.errors import DataError

DIGIT_CANVASES, VOC, COCO = "digit_canvases", "voc", "coco"
DETECTED = (DIGIT_CANVASES, VOC, COCO)
DIGIT_NAMES = tuple(str(digit) for digit in range(10))
VOC_SHAPE = (480, 480, 3)
COCO_SHAPE = (512, 512, 3)
TFDS = {VOC: ("voc/2007", "trainval", "test"), COCO: ("coco/2017", "train", "validation")}
TFDS_HOWTO = (
    "prepare it once where there is network and disk space with `tfds build {name}` (tfds "
    "prints any manual steps), then pass --set data.tfds_data_dir=DIR if it is not in "
    "~/tensorflow_datasets; or pass --data-dir a {kind} folder"
)


def check_config(config) -> None:
    """Refuses, before anything is read, what no detection source can honour."""
    check_dense_config(
        config,
        task="detection",
        labelled="box",
        needs="boxes",
        names=DETECTED,
        use=f"data.name={DIGIT_CANVASES!r} (synthetic, offline), {VOC!r} or {COCO!r} (with "
        "--data-dir a folder, or prepared in tfds)",
    )


def load_detected(config):
    """The images and boxes `config` (a `DataConfig`) asks for; see the module docstring."""
    check_config(config)
    folder = config.data_dir or os.environ.get(DATA_DIR_ENV)
    if config.name == DIGIT_CANVASES:
        return _canvases(config, files.unpacked(folder) if folder else None)
    if not folder:
        return _tfds(config)
    folder = files.unpacked(folder)
    return _voc(config, folder) if config.name == VOC else _coco(config, folder)


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
        arrays[split] = canvases.images, [b / shape[0] for b in canvases.boxes], canvases.labels
    source = f"synthetic digit canvases ({shape[0]} px) of {where}"
    return _splits(config, arrays, name=DIGIT_CANVASES, source=source, class_names=DIGIT_NAMES)


def _voc(config, folder: Path):
    root = voc.find_root(folder)
    if root is None:
        raise DataError(
            f"{folder} is not a Pascal VOC folder: no JPEGImages/ and ImageSets/ in it or in "
            f"{', '.join(voc.ROOTS[1:])} under it"
        )
    shape = tuple(config.image_shape or VOC_SHAPE)
    lists = root / voc.DETECTION_SETS
    train = "trainval" if (lists / "trainval.txt").is_file() else "train"
    test = "test" if (lists / "test.txt").is_file() else "val"
    arrays = {
        split: voc.read_detection(root, listed, size=shape[:2], limit=limit)
        for split, listed, limit in (
            ("train", train, config.train_limit),
            ("test", test, config.test_limit),
        )
    }
    source = f"Pascal VOC detection in {root.resolve()} ({train} / {test}), {shape[0]}x{shape[1]}"
    return _splits(config, arrays, name=VOC, source=source, class_names=voc.OBJECT_NAMES)


def _coco(config, folder: Path):
    shape = tuple(config.image_shape or COCO_SHAPE)
    arrays, names, categories = {}, None, None
    for split, limit in (("train", config.train_limit), ("test", config.test_limit)):
        found = coco.find_split(folder, split)
        if found is None:
            raise DataError(
                f"{folder} is not a COCO-style folder: no annotations/instances_"
                f"{coco.SPLITS[split]}.json with a {coco.SPLITS[split]}/ image folder (or "
                f"instances_{split}.json with {split}/)"
            )
        images, boxes, labels, names, categories = coco.read_detection(
            *found, size=shape[:2], limit=limit, categories=categories
        )
        arrays[split] = images, boxes, labels
    source = f"COCO-style detection in {Path(folder).resolve()}, {shape[0]}x{shape[1]}"
    return _splits(config, arrays, name=COCO, source=source, class_names=names)


def _tfds(config):
    # Here, not at the top: tensorflow_datasets takes seconds to import.
    import tensorflow_datasets as tfds

    name, train, test = TFDS[config.name]
    builder = tfds.builder(name, data_dir=config.tfds_data_dir)
    if not builder.is_prepared():
        online = "there is network" if network_reachable() else "there is no network"
        kind = "Pascal VOC" if config.name == VOC else "COCO-style"
        raise DataError(
            f"tfds {name} is not prepared in {builder.data_dir} ({online}); "
            + TFDS_HOWTO.format(name=name, kind=kind)
        )
    shape = tuple(config.image_shape or (VOC_SHAPE if config.name == VOC else COCO_SHAPE))
    arrays = {}
    for split, listed, limit in (
        ("train", train, config.train_limit),
        ("test", test, config.test_limit),
    ):
        dataset = builder.as_dataset(split=listed)
        if limit:
            dataset = dataset.take(limit)
        images, boxes, labels = [], [], []
        for example in dataset.as_numpy_iterator():
            resized = tf.image.resize(example["image"], shape[:2]).numpy()
            images.append(np.clip(np.round(resized), 0, 255).astype(np.uint8))
            kept = ~example["objects"].get(
                "is_crowd", np.zeros(len(example["objects"]["label"]), bool)
            )
            boxes.append(example["objects"]["bbox"][kept].astype(np.float32))
            labels.append(example["objects"]["label"][kept].astype(np.int64))
        arrays[split] = np.stack(images), boxes, labels
    names = tuple(builder.info.features["objects"]["label"].names)
    source = f"tfds {name} ({builder.data_dir}), {shape[0]}x{shape[1]}"
    return _splits(config, arrays, name=config.name, source=source, class_names=names)


def _splits(config, arrays, *, name: str, source: str, class_names):
    """`Splits` of (image, padded boxes), padded to the most boxes of any image."""
    most = max(1, *(len(b) for _, boxes, _ in arrays.values() for b in boxes))
    datasets = {
        split: tf.data.Dataset.from_tensor_slices(
            (
                images,
                np.stack([pad_targets(b, c, most) for b, c in zip(boxes, labels, strict=True)])
                if len(images)
                else np.zeros((0, most, 5), np.float32),
            )
        )
        for split, (images, boxes, labels) in arrays.items()
    }
    train_images = arrays["train"][0]
    return split_dataset(
        dataclasses.replace(config, train_limit=None, test_limit=None, image_shape=None),
        datasets["train"],
        datasets["test"],
        {split: len(images) for split, (images, _, _) in arrays.items()},
        name=name,
        source=source,
        image_shape=tuple(int(d) for d in train_images.shape[1:]),
        num_classes=len(class_names),
        class_names=tuple(class_names),
    )
