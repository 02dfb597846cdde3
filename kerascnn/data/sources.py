"""Where images come from: tfds by name, a local folder (IDX files, class folders of images
(`kerascnn.data.folders`) or a CIFAR-10/100 copy (`kerascnn.data.cifar`); an archive of one is
extracted beside it), or the bundled MNIST sample.

`load_dataset` resolves a recipe's `DataConfig` to unbatched `tf.data` datasets of (uint8 image, int label)
plus a `DatasetInfo` that records which data was really used. With no network and no local copy it falls
back to the bundled real-MNIST sample, unless the recipe forbids it, and says so in `DatasetInfo.note`
(which the run prints loudly and records). Whatever the source, what no classifier can learn from
(fewer than two classes, a label outside them, an empty split) is refused in one place, `_classified`.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import threading
from pathlib import Path

import numpy as np
import tensorflow as tf

from kerascnn import files
from kerascnn.data import cifar, folders, idx
from kerascnn.data.adapt import adapt_images, describe_adaptation
from kerascnn.errors import DataError, UnknownNameError
from kerascnn.registry import unknown_name_message

BUNDLED_SAMPLE = "mnist_sample"
BUNDLED_DIR = Path(__file__).resolve().parent / "mnist_sample"
DATA_DIR_ENV = "KERASCNN_DATA_DIR"
OFFLINE_ENV = "KERASCNN_OFFLINE"
TFDS_HOST = ("storage.googleapis.com", 443)


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """What a run was trained and evaluated on, recorded with its results."""

    name: str
    source: str
    image_shape: tuple[int, int, int]
    num_classes: int
    num_train: int
    num_validation: int
    num_test: int
    note: str = ""
    source_shape: tuple[int, int, int] | None = None
    adaptation: str = ""
    class_names: tuple[str, ...] = ()
    # The bundled sample stands in for data that could not be loaded (`DataConfig.offline_fallback`).
    fallback: bool = False
    # Whether a mirrored image still shows its class. Not for handwriting and printed digits: a
    # mirrored 2, 3 or 7 is no digit at all, so augmentation leaves horizontal flips out.
    mirror_invariant: bool = True

    @property
    def notice(self) -> str:
        """What a user must not miss about this data: a fallback, an adaptation; empty if neither."""
        adapted = f"Images adapted to the model: {self.adaptation}." if self.adaptation else ""
        return " ".join(filter(None, [self.note, adapted]))


@dataclasses.dataclass(frozen=True)
class Splits:
    """Unbatched datasets of (uint8 image, int64 label); `validation` is None when not validating.

    Captioned images (`kerascnn.data.captioned`) have `captions`: per split, each image's reference
    captions, and an image's label is its index there.
    """

    train: tf.data.Dataset
    validation: tf.data.Dataset | None
    test: tf.data.Dataset
    info: DatasetInfo
    captions: dict[str, list[list[str]]] | None = None


# tfds datasets of characters, whose mirror images are other shapes or none (`mirror_invariant`).
HANDWRITTEN_OR_PRINTED = frozenset({"mnist", "emnist", "kmnist", "binarized_mnist", "svhn_cropped"})


def load_dataset(config) -> Splits:
    """Loads the data a recipe's `DataConfig` asks for; see the module docstring for the order."""
    data_dir = config.data_dir or os.environ.get(DATA_DIR_ENV)
    if config.name == BUNDLED_SAMPLE:
        arrays, source = _read_idx_dir(BUNDLED_DIR), f"bundled MNIST sample ({BUNDLED_DIR})"
        return _from_arrays(config, arrays, source=source, name=config.name, mirror_invariant=False)
    if data_dir:
        data_dir = files.unpacked(data_dir)
        if folders.has_class_folders(data_dir):
            arrays, class_names = folders.read_class_folders(data_dir, config.image_shape)
            return _from_arrays(
                config,
                arrays,
                source=f"class folders in {Path(data_dir).resolve()}",
                name=config.name,
                class_names=class_names,
            )
        found = cifar.find(data_dir)
        if found is not None:
            return _from_cifar(config, *found)
        if folders.find_captions_file(data_dir) is not None:
            folders.read_flickr8k(data_dir)  # a malformed captions file is named first
            raise DataError(
                f"{data_dir} holds captioned images (the Flickr8k layout), not class labels; "
                f"train a captioning recipe on it: kerascnn run flickr8k --data-dir {data_dir}"
            )
        arrays = _read_idx_dir(data_dir)
        # IDX is MNIST's format (and EMNIST's, KMNIST's): handwriting.
        return _from_arrays(
            config,
            arrays,
            source=f"IDX files in {Path(data_dir).resolve()}",
            name=config.name,
            mirror_invariant=False,
        )
    return _from_tfds(config)


def network_reachable(address=TFDS_HOST, timeout: float = 3.0) -> bool:
    """Whether tfds could download now; answers within `timeout` seconds instead of tfds' minutes of retries.

    The name lookup runs in a daemon thread because `getaddrinfo` ignores socket timeouts.
    """
    if os.environ.get(OFFLINE_ENV, "").strip().lower() in ("1", "true", "yes"):
        return False
    answer = []

    def connect():
        try:
            with socket.create_connection(address, timeout=timeout):
                answer.append(True)
        except OSError:
            pass

    probe = threading.Thread(target=connect, daemon=True)
    probe.start()
    probe.join(timeout)
    return bool(answer)


def _from_cifar(config, layout: cifar.Layout, folder: Path) -> Splits:
    # Coarse labels where the data has them; otherwise `_classified` refuses the setting.
    label_mode = config.label_mode if config.label_mode in layout.label_sets else "fine"
    arrays, class_names = cifar.read(folder, layout, label_mode)
    labels = ", coarse labels" if label_mode == "coarse" else ""
    return _from_arrays(
        config,
        arrays,
        source=f"{layout.dataset} {layout.form} files in {folder.resolve()}{labels}",
        name=layout.name,
        class_names=class_names,
        label_mode=label_mode,
    )


def _read_idx_dir(directory) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    files = idx.find_split_files(directory)
    return {split: idx.read_split(*paths) for split, paths in files.items()}


def _from_tfds(config) -> Splits:
    # Here, not at the top: tensorflow_datasets takes seconds to import, and local data never needs it.
    import tensorflow_datasets as tfds

    known = tfds.list_builders(with_community_datasets=False)
    if config.name not in known:
        raise UnknownNameError(
            unknown_name_message("dataset", config.name, [*known, BUNDLED_SAMPLE])
        )
    absl_logger = logging.getLogger("absl")
    level = absl_logger.level
    absl_logger.setLevel(
        logging.ERROR
    )  # tfds warns of a missing dataset_info.json when not prepared
    try:
        builder = tfds.builder(config.name, data_dir=config.tfds_data_dir)
        prepared = builder.is_prepared()
    finally:
        absl_logger.setLevel(level)
    if not prepared:
        if not network_reachable():
            return _fall_back(config, reason="there is no network and no prepared tfds copy")
        builder.download_and_prepare()
    if "image" not in builder.info.features or "label" not in builder.info.features:
        raise DataError(
            f"tfds dataset {config.name!r} has no 'image' and 'label' features; "
            "kerascnn classifiers need an image classification dataset"
        )
    # tfds cifar100 has a coarse_label feature; any other dataset is refused by `_classified`.
    has_coarse = "coarse_label" in builder.info.features
    label_mode = config.label_mode if has_coarse else "fine"
    label = "coarse_label" if label_mode == "coarse" else "label"
    train_raw, test_raw = (
        dataset.map(lambda example: (example["image"], example[label]))
        for dataset in builder.as_dataset(split=["train", "test"])
    )
    shape = tuple(builder.info.features["image"].shape)
    if None in shape:
        raise DataError(
            f"tfds dataset {config.name!r} has images of varying size {shape}; "
            "kerascnn needs fixed-size images for now"
        )
    info = dict(
        name=config.name,
        source=f"tfds {config.name} {builder.info.version} ({builder.data_dir})",
        image_shape=shape,
        num_classes=builder.info.features[label].num_classes,
        class_names=tuple(builder.info.features[label].names),
        mirror_invariant=config.name not in HANDWRITTEN_OR_PRINTED,
    )
    sizes = {split: builder.info.splits[split].num_examples for split in ("train", "test")}
    return _classified(config, train_raw, test_raw, sizes, label_mode=label_mode, **info)


def _fall_back(config, *, reason: str) -> Splits:
    if config.label_mode != "fine":  # said here, or `_classified` would blame the sample
        raise DataError(
            f"cannot load {config.name!r}: {reason}; the bundled MNIST sample it would fall back "
            f"to has no data.label_mode={config.label_mode!r} labels: pass --data-dir with a "
            "CIFAR-100 copy, or prepare it with tfds where there is network"
        )
    if not config.offline_fallback:
        raise DataError(
            f"cannot load {config.name!r}: {reason}; pass --data-dir DIR with the IDX files, "
            f"prepare it with tfds where there is network, or use --dataset {BUNDLED_SAMPLE}"
        )
    note = (
        f"tfds cannot load {config.name!r}: {reason}. Using the bundled MNIST sample "
        "(6,000 train / 2,000 test images) instead: results are NOT comparable with full-data "
        "figures. For the full data pass --data-dir DIR (the four IDX files) or run with network."
    )
    arrays = _read_idx_dir(BUNDLED_DIR)
    return _from_arrays(
        config,
        arrays,
        source=f"bundled MNIST sample ({BUNDLED_DIR})",
        name=BUNDLED_SAMPLE,
        note=note,
        fallback=True,
        mirror_invariant=False,
    )


def _from_arrays(
    config,
    arrays,
    *,
    source: str,
    name: str,
    note: str = "",
    class_names=None,
    label_mode: str = "fine",
    fallback: bool = False,
    mirror_invariant: bool = True,
) -> Splits:
    (train_x, train_y), (test_x, test_y) = arrays["train"], arrays["test"]
    if class_names:
        num_classes = len(class_names)
    else:
        every = np.concatenate([train_y, test_y])
        num_classes = int(every.max()) + 1 if every.size else 0
    return _classified(
        config,
        tf.data.Dataset.from_tensor_slices((train_x, train_y)),
        tf.data.Dataset.from_tensor_slices((test_x, test_y)),
        {"train": len(train_x), "test": len(test_x)},
        labels={"train": train_y, "test": test_y},
        label_mode=label_mode,
        name=name,
        source=source,
        image_shape=tuple(int(d) for d in train_x.shape[1:]),
        num_classes=num_classes,
        class_names=tuple(class_names or (str(label) for label in range(num_classes))),
        note=note,
        fallback=fallback,
        mirror_invariant=mirror_invariant,
    )


def _classified(
    config, train, test, sizes, *, labels=None, label_mode: str = "fine", **info
) -> Splits:
    """`split_dataset` for the class-labelled sources, refusing what no classifier can learn from.

    Every source of (image, class) pairs comes through here: at least two classes, every label one
    of them (checked when the labels are at hand; tfds' class labels are in range by construction),
    training images of two classes or more, and at least one image in each split after
    `data.classes`, the limits and a holdout. `label_mode` is the labels the source gave.
    """
    source = info["source"]
    if config.label_mode != label_mode:
        raise DataError(
            f"data.label_mode={config.label_mode!r} needs a dataset with coarse labels "
            f"(CIFAR-100), but {source} has one label per image; remove the setting"
        )
    count, names = info["num_classes"], tuple(info.get("class_names") or ())
    if count < 2:
        raise DataError(
            f"{source} has {count} class{'' if count == 1 else 'es'} {_listed(names)}; a "
            "classifier needs at least two: add images of another class (for class folders, "
            "a folder per class in train/ and test/)"
        )
    for split, values in (labels or {}).items():
        outside = np.flatnonzero((values < 0) | (values >= count))
        if outside.size:
            raise DataError(
                f"{source}: {split} image {outside[0]} (counting from 0) has label "
                f"{values[outside[0]]}, outside the {count} classes 0-{count - 1}; fix the labels "
                "or the list of class names"
            )
    if labels is not None:
        kept = set(config.classes or range(count))
        present = sorted(set(np.unique(labels["train"]).tolist()) & kept)
        if len(present) == 1:  # none at all is an empty split, below
            chosen = f" of data.classes {tuple(config.classes)}" if config.classes else ""
            only = names[present[0]] if present[0] < len(names) else str(present[0])
            raise DataError(
                f"{source}: the training images{chosen} are all of one class ({only!r}); a "
                "classifier needs images of at least two classes to train on, add some"
            )
    splits = split_dataset(config, train, test, sizes, **info)
    for split, kept in (("train", splits.info.num_train), ("test", splits.info.num_test)):
        if kept == 0:
            raise DataError(_empty_split_message(config, split, sizes[split], source))
    return splits


def _listed(names) -> str:
    shown = ", ".join(repr(n) for n in names[:5]) + (", ..." if len(names) > 5 else "")
    return f"({shown})" if names else "(none)"


def _empty_split_message(config, split: str, size: int, source: str) -> str:
    if size == 0:
        return (
            f"{source} has no {split} images; a run needs at least one in each of train and test "
            f"(for class folders, images in {split}/<class>/)"
        )
    if config.classes is not None:
        return (
            f"data.classes {tuple(config.classes)} keeps none of the {size} {split} images of "
            f"{source}; choose classes that have {split} images"
        )
    return (
        f"holding out {config.holdout_fraction} of the training images of {source} leaves none "
        "to train on; use data.validation='test' or more training images"
    )


def split_dataset(config, train, test, sizes, **info) -> Splits:
    """Applies the recipe's classes, limits, image shape and validation choice to the raw datasets."""
    if config.classes is not None:
        train, test, sizes = _keep_classes(config.classes, train, test, info)
    num_train = min(sizes["train"], config.train_limit or sizes["train"])
    num_test = min(sizes["test"], config.test_limit or sizes["test"])
    train, test = train.take(num_train), test.take(num_test)
    if config.image_shape is not None and tuple(config.image_shape) != info["image_shape"]:
        source_shape, target = info["image_shape"], tuple(config.image_shape)
        train, test = (adapt_images(ds, source_shape, target) for ds in (train, test))
        info.update(
            image_shape=target,
            source_shape=source_shape,
            adaptation=describe_adaptation(source_shape, target),
        )
    validation, num_validation = None, 0
    if config.validation == "test":
        validation, num_validation = test, num_test
    elif config.validation == "holdout":
        num_validation = max(1, int(round(num_train * config.holdout_fraction)))
        num_train -= num_validation
        validation, train = train.skip(num_train), train.take(num_train)
    info = DatasetInfo(
        num_train=num_train, num_validation=num_validation, num_test=num_test, **info
    )
    return Splits(train=train, validation=validation, test=test, info=info)


def _keep_classes(classes, train, test, info):
    """The images of `classes` only, relabelled 0..k-1 in that order; `info` updated to match."""
    if max(classes) >= info["num_classes"]:
        raise DataError(
            f"data.classes {tuple(classes)} names a label the dataset does not have "
            f"(its labels are 0-{info['num_classes'] - 1}); choose labels from that range"
        )
    table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(
            tf.constant(classes, tf.int64), tf.range(len(classes), dtype=tf.int64)
        ),
        default_value=-1,
    )

    def keep(dataset):
        dataset = dataset.map(lambda x, y: (x, table.lookup(tf.cast(y, tf.int64))))
        return dataset.filter(lambda x, y: y >= 0)

    train, test = keep(train), keep(test)
    sizes = {
        name: int(ds.reduce(0, lambda n, _: n + 1))
        for name, ds in (("train", train), ("test", test))
    }
    # Known sizes, so that Keras knows the number of batches (and shows progress) at once.
    train = train.apply(tf.data.experimental.assert_cardinality(sizes["train"]))
    test = test.apply(tf.data.experimental.assert_cardinality(sizes["test"]))
    names = info.get("class_names") or tuple(str(c) for c in range(info["num_classes"]))
    info.update(num_classes=len(classes), class_names=tuple(names[c] for c in classes))
    return train, test, sizes
