"""Captioned images for the captioning task: the synthetic scenes, a Flickr8k folder, or tfds
`coco_captions`.

`load_captioned` gives the same `Splits` as `kerascnn.data.load_dataset`, with one difference: an
image's label is its index in `Splits.captions[split]`, the list of its reference captions (the
validation split's indices point into the list it was cut from). Which source:

- `data.name="scenes"`: `kerascnn.data.scenes`, generated from fixed seeds (the same test scenes
  for every run), 10,000 training and 1,000 test scenes at `data.image_shape` (64x64x3 unless set).
- `--data-dir` (or `data.data_dir`) with the Flickr8k layout (`kerascnn.data.folders`): its
  train and test split files when present (6,000 / 1,000 images), else the last sixth of the images
  by name, at most 1,000, are the test split. Images are resized to `data.image_shape` (224x224x3 unless set).
  A folder is read whatever `data.name` says, as a classifier's folder replaces its tfds dataset:
  `kerascnn run captioning --data-dir FOLDER` trains the scenes recipe on the folder's photos.
  `data.name="flickr8k"` also reads $KERASCNN_DATA_DIR.
- `data.name="coco_captions"`: tfds' COCO 2014 with Karpathy's splits, when it has been prepared
  (a 37.6 GiB download kerascnn never starts on its own; see `COCO_HOWTO`); a folder is refused
  with it, not read instead.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from kerascnn import files
from kerascnn.data import folders
from kerascnn.data.scenes import make_scenes
from kerascnn.data.sources import DATA_DIR_ENV, network_reachable, split_dataset
from kerascnn.errors import DataError

SCENES = "scenes"
SCENE_COUNTS = {"train": 10_000, "test": 1_000}
# Fixed, not the recipe's seed: every run is scored on the same test scenes.
SCENE_SEEDS = {"train": 1, "test": 2}
SCENE_SHAPE = (64, 64, 3)
PHOTO_SHAPE = (224, 224, 3)
FLICKR8K = "flickr8k"
FLICKR8K_TEST = 1_000
COCO = "coco_captions"
CAPTIONED = (SCENES, FLICKR8K, COCO)
COCO_HOWTO = (
    "prepare it once where there is network and disk space with `tfds build coco_captions` "
    "(37.6 GiB of COCO 2014 images, tfds prints any manual steps), then pass "
    "--set data.tfds_data_dir=DIR if it is not in ~/tensorflow_datasets"
)


def check_config(config) -> None:
    """Refuses, before anything is read, what no captioned source can honour: class labels, a
    name that is no captioned source (without a folder), and a folder given with tfds' COCO."""
    if config.classes is not None:
        raise DataError("data.classes selects class labels; captioned images have none")
    if config.data_dir and config.name == COCO:
        raise DataError(
            f"data.name={COCO!r} is read from tfds (data.tfds_data_dir), not from the folder "
            f"{config.data_dir}; for a Flickr8k folder use --dataset {FLICKR8K}, for COCO "
            "remove --data-dir"
        )
    if not config.data_dir and config.name not in CAPTIONED:
        raise DataError(
            f"captioning needs captioned images; got data.name={config.name!r} and no --data-dir. "
            f"Use data.name={SCENES!r} (synthetic, offline), --data-dir with a Flickr8k folder, "
            f"or data.name={COCO!r} (tfds)"
        )


def load_captioned(config):
    """The captioned images `config` (a `DataConfig`) asks for; see the module docstring."""
    check_config(config)
    if config.data_dir:
        return _flickr8k(config, files.unpacked(config.data_dir))
    if config.name == SCENES:
        return _scenes(config)
    if config.name == COCO:
        return _coco(config)
    if os.environ.get(DATA_DIR_ENV):
        return _flickr8k(config, files.unpacked(os.environ[DATA_DIR_ENV]))
    raise DataError(
        "Flickr8k is not in tfds: pass --data-dir DIR, a folder (or .zip) with its images "
        f"folder ({', '.join(folders.IMAGE_FOLDERS)}) and {folders.TOKEN_FILE} or "
        f"{folders.CSV_FILE}"
    )


def _scenes(config):
    shape = tuple(config.image_shape or SCENE_SHAPE)
    if shape[2] != 3:
        raise DataError(f"the scenes are RGB: data.image_shape needs 3 channels, got {shape}")
    if shape[0] != shape[1]:
        raise DataError(
            f"the scenes are square: data.image_shape {shape} must have height == width"
        )
    arrays = {}
    for split, count in SCENE_COUNTS.items():
        limit = config.train_limit if split == "train" else config.test_limit
        arrays[split] = make_scenes(
            min(count, limit or count), seed=SCENE_SEEDS[split], size=shape[0]
        )
    return _splits(config, arrays, name=SCENES, source=f"synthetic scenes ({shape[0]} px)")


def _flickr8k(config, directory: Path):
    layout = folders.read_flickr8k(directory)
    names = sorted(layout["captions"])
    held_out = max(1, min(FLICKR8K_TEST, len(names) // 6))
    train = layout["splits"].get("train") or names[:-held_out]
    test = layout["splits"].get("test") or names[-held_out:]
    if not train:
        raise DataError(f"{directory} captions only {len(names)} image(s); training needs more")
    shape = tuple(config.image_shape or PHOTO_SHAPE)
    arrays = {}
    for split, chosen, limit in (
        ("train", train, config.train_limit),
        ("test", test, config.test_limit),
    ):
        chosen = chosen[: limit or len(chosen)]
        images = _read_images(
            [layout["images"] / name for name in chosen], shape, f"reading {split} images"
        )
        arrays[split] = images, [layout["captions"][name] for name in chosen]
    return _splits(
        config, arrays, name=FLICKR8K, source=f"Flickr8k layout in {Path(directory).resolve()}"
    )


def _read_images(paths, shape, label) -> np.ndarray:
    print(label, flush=True)
    bar = keras.utils.Progbar(
        len(paths), unit_name="image", verbose=1 if sys.stdout.isatty() else 2
    )
    images = np.empty((len(paths), *shape), np.uint8)
    for index, path in enumerate(paths):
        images[index] = folders.read_image(path, channels=shape[2], size=shape[:2])
        bar.update(index + 1)
    return images


def _progress_bar(count):
    """A live bar on a terminal; in a log, one line when done."""
    return keras.utils.Progbar(count, unit_name="image", verbose=1 if sys.stdout.isatty() else 2)


def _coco(config):
    # Here, not at the top: tensorflow_datasets takes seconds to import, and local data never needs it.
    import tensorflow_datasets as tfds

    builder = tfds.builder(COCO, data_dir=config.tfds_data_dir)
    if not builder.is_prepared():
        online = "there is network" if network_reachable() else "there is no network"
        raise DataError(
            f"tfds {COCO} is not prepared in {builder.data_dir} ({online}); {COCO_HOWTO}; "
            f"or train on data.name={SCENES!r} or a Flickr8k folder (--data-dir)"
        )
    shape = tuple(config.image_shape or PHOTO_SHAPE)
    arrays = {}
    for split, limit in (("train", config.train_limit), ("test", config.test_limit)):
        dataset = builder.as_dataset(split=split)
        if limit:
            dataset = dataset.take(limit)
        count = int(dataset.cardinality())
        print(f"reading {split} images", flush=True)
        bar = _progress_bar(count if count > 0 else None)
        images, references = [], []
        for example in dataset.as_numpy_iterator():
            resized = tf.image.resize(example["image"], shape[:2]).numpy()
            images.append(np.clip(np.round(resized), 0, 255).astype(np.uint8))
            references.append([t.decode("utf-8") for t in example["captions"]["text"]])
            bar.add(1)
        arrays[split] = np.stack(images), references
    return _splits(config, arrays, name=COCO, source=f"tfds {COCO} ({builder.data_dir})")


def _splits(config, arrays, *, name: str, source: str):
    """`Splits` of (image, index of its captions) with the captions beside them."""
    (train_images, train_captions), (test_images, test_captions) = (
        arrays["train"],
        arrays["test"],
    )
    splits = split_dataset(
        dataclasses.replace(config, train_limit=None, test_limit=None, image_shape=None),
        tf.data.Dataset.from_tensor_slices((train_images, np.arange(len(train_images)))),
        tf.data.Dataset.from_tensor_slices((test_images, np.arange(len(test_images)))),
        {"train": len(train_images), "test": len(test_images)},
        name=name,
        source=source,
        image_shape=tuple(int(d) for d in train_images.shape[1:]),
        num_classes=0,
    )
    validation = test_captions if config.validation == "test" else train_captions
    captions = {"train": train_captions, "validation": validation, "test": test_captions}
    return dataclasses.replace(splits, captions=captions)
