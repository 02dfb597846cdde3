import gzip
import time

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from kerascnn.data import (
    TrainingStream,
    batches,
    create_augmentation,
    flips_left_out,
    load_dataset,
)
from kerascnn.data.idx import find_split_files, read_idx, read_split, write_idx
from kerascnn.data.sources import BUNDLED_DIR, network_reachable
from kerascnn.errors import DataError, UnknownNameError
from kerascnn.recipes import DataConfig
from kerascnn.registry import augmentations


@pytest.fixture
def idx_dir(tmp_path):
    """A small MNIST-format folder: 120 training and 40 test images."""
    rng = np.random.default_rng(0)
    for stem, count in (("train", 120), ("t10k", 40)):
        write_idx(
            tmp_path / f"{stem}-images-idx3-ubyte.gz",
            rng.integers(0, 256, (count, 28, 28), dtype=np.uint8),
        )
        write_idx(
            tmp_path / f"{stem}-labels-idx1-ubyte.gz", (np.arange(count) % 10).astype(np.uint8)
        )
    return tmp_path


@pytest.mark.parametrize("dtype", ["u1", "i1", ">i2", ">i4", ">f4", ">f8"])
def test_idx_round_trip(tmp_path, dtype):
    array = (np.arange(24).reshape(2, 3, 4) - 5).astype(dtype)
    write_idx(tmp_path / "a.gz", array)
    np.testing.assert_array_equal(read_idx(tmp_path / "a.gz"), array)


def test_idx_truncated_and_foreign_files(tmp_path):
    write_idx(tmp_path / "a.gz", np.zeros((10, 28, 28), np.uint8))
    data = gzip.decompress((tmp_path / "a.gz").read_bytes())
    (tmp_path / "short").write_bytes(data[:-5])
    with pytest.raises(DataError, match="truncated or corrupt"):
        read_idx(tmp_path / "short")
    (tmp_path / "cut.gz").write_bytes((tmp_path / "a.gz").read_bytes()[:40])
    with pytest.raises(DataError, match="cannot read IDX file"):
        read_idx(tmp_path / "cut.gz")
    (tmp_path / "png").write_bytes(b"\x89PNG\r\n\x1a\n")
    with pytest.raises(DataError, match="not an IDX file"):
        read_idx(tmp_path / "png")


def test_data_dir_missing_files_are_named(idx_dir):
    (idx_dir / "t10k-labels-idx1-ubyte.gz").unlink()
    (idx_dir / "train-images-idx3-ubyte.gz").unlink()
    with pytest.raises(
        DataError, match="missing train-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz;"
    ):
        load_dataset(DataConfig(data_dir=str(idx_dir)))
    with pytest.raises(DataError, match="does not exist"):
        load_dataset(DataConfig(data_dir=str(idx_dir / "nope")))


def test_data_dir_label_count_mismatch(idx_dir):
    write_idx(idx_dir / "t10k-labels-idx1-ubyte.gz", np.zeros(39, np.uint8))
    with pytest.raises(DataError, match="holds 40 images but .* holds 39 labels"):
        load_dataset(DataConfig(data_dir=str(idx_dir)))


def write_split(folder, stem, labels, dtype=np.uint8):
    labels = np.asarray(labels, dtype)
    write_idx(folder / f"{stem}-images-idx3-ubyte.gz", np.zeros((len(labels), 28, 28), np.uint8))
    write_idx(folder / f"{stem}-labels-idx1-ubyte.gz", labels)


MINIMUMS = [
    ("one_class", {"train": [0] * 4, "t10k": [0] * 2}, {}, r"has 1 class \('0'\); a classifier"),
    (
        "one_class_to_train",
        {"train": [3] * 4, "t10k": [1, 2]},
        {},
        r"the training images are all of one class \('3'\)",
    ),
    ("no_test_images", {"train": [0, 1], "t10k": []}, {}, "has no test images; a run needs"),
    (
        "classes_keep_no_test_image",
        {"train": [0, 1, 2], "t10k": [2, 2]},
        {"classes": (0, 1)},
        r"data.classes \(0, 1\) keeps none of the 2 test images",
    ),
    (
        "holdout_keeps_no_training_image",
        {"train": [0, 1], "t10k": [0, 1]},
        {"validation": "holdout", "holdout_fraction": 0.9},
        "holding out 0.9 of the training images .* leaves none to train on",
    ),
    (
        "label_out_of_range",
        {"train": [0, 1, 9], "t10k": [1, -1]},
        {},
        r"test image 1 \(counting from 0\) has label -1, outside the 10 classes 0-9",
    ),
]


@pytest.mark.parametrize("case,labels,settings,message", MINIMUMS, ids=[m[0] for m in MINIMUMS])
def test_a_source_without_two_classes_and_images_in_each_split_is_refused(
    tmp_path, case, labels, settings, message
):
    for stem, values in labels.items():
        write_split(tmp_path, stem, values, np.int8)
    with pytest.raises(DataError, match=message) as refused:
        load_dataset(DataConfig(data_dir=str(tmp_path), **settings))
    assert "\n" not in str(refused.value) and str(tmp_path) in str(refused.value)


def test_data_dir_is_loaded_and_recorded(idx_dir):
    splits = load_dataset(
        DataConfig(
            data_dir=str(idx_dir), validation="holdout", holdout_fraction=0.25, test_limit=30
        )
    )
    info = splits.info
    assert str(idx_dir) in info.source
    assert (info.num_train, info.num_validation, info.num_test) == (90, 30, 30)
    assert info.image_shape == (28, 28, 1) and info.num_classes == 10
    assert sum(1 for _ in splits.train) == 90 and sum(1 for _ in splits.validation) == 30
    image, label = next(iter(splits.test))
    assert image.dtype == tf.uint8 and image.shape == (28, 28, 1) and label.dtype == tf.int64


def test_data_dir_from_environment(idx_dir, monkeypatch):
    monkeypatch.setenv("KERASCNN_DATA_DIR", str(idx_dir))
    assert load_dataset(DataConfig()).info.num_train == 120


def test_bundled_sample_is_real_balanced_mnist_with_attribution():
    splits = load_dataset(DataConfig(name="mnist_sample"))
    info = splits.info
    assert (info.num_train, info.num_test, info.num_classes) == (6000, 2000, 10)
    labels = np.array([int(y) for _, y in splits.test])
    assert np.bincount(labels).tolist() == [200] * 10
    images = np.stack([x.numpy() for x, _ in splits.test.take(50)])
    assert images.max() == 255 and 0.1 < (images > 0).mean() < 0.3  # ink on a black page
    readme = (BUNDLED_DIR / "README.md").read_text()
    assert "CC BY-SA 3.0" in readme and "LeCun" in readme


def test_offline_tfds_request_falls_back_quickly_and_says_so():
    started = time.perf_counter()
    splits = load_dataset(DataConfig(name="mnist"))
    assert time.perf_counter() - started < 30
    assert splits.info.name == "mnist_sample" and "NOT comparable" in splits.info.note
    assert "Using the bundled MNIST sample" in splits.info.note
    with pytest.raises(DataError, match="cannot load 'mnist'.*--data-dir"):
        load_dataset(DataConfig(name="mnist", offline_fallback=False))


class TinyDigits(tfds.core.GeneratorBasedBuilder):
    """A real tfds dataset, prepared offline from the bundled sample."""

    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        features = tfds.features.FeaturesDict(
            {
                "image": tfds.features.Image(shape=(28, 28, 1)),
                "label": tfds.features.ClassLabel(num_classes=10),
            }
        )
        return tfds.core.DatasetInfo(
            builder=self, features=features, supervised_keys=("image", "label")
        )

    def _split_generators(self, dl_manager):
        files = find_split_files(BUNDLED_DIR)
        return {split: self._generate_examples(files[split]) for split in ("train", "test")}

    def _generate_examples(self, paths):
        images, labels = read_split(*paths)
        for index in range(40):
            yield index, {"image": images[index], "label": int(labels[index])}


def test_prepared_tfds_dataset_is_loaded_through_tfds(tmp_path):
    TinyDigits(data_dir=str(tmp_path)).download_and_prepare()
    splits = load_dataset(
        DataConfig(name="tiny_digits", tfds_data_dir=str(tmp_path), test_limit=30)
    )
    info = splits.info
    assert info.source.startswith("tfds tiny_digits 1.0.0") and info.note == ""
    assert (info.num_train, info.num_test, info.num_classes) == (40, 30, 10)
    image, label = next(iter(splits.train))
    assert image.dtype == tf.uint8 and image.shape == (28, 28, 1) and label.dtype == tf.int64
    written = read_split(*find_split_files(BUNDLED_DIR)["train"])[0][:40]
    assert any(np.array_equal(image.numpy(), candidate) for candidate in written)


class TinyOneClass(TinyDigits):
    """A prepared tfds dataset of a single class: nothing a classifier can learn."""

    def _info(self):
        features = tfds.features.FeaturesDict(
            {
                "image": tfds.features.Image(shape=(28, 28, 1)),
                "label": tfds.features.ClassLabel(names=["zero"]),
            }
        )
        return tfds.core.DatasetInfo(builder=self, features=features)

    def _generate_examples(self, paths):
        images, _ = read_split(*paths)
        for index in range(4):
            yield index, {"image": images[index], "label": 0}


def test_a_tfds_dataset_of_one_class_is_refused(tmp_path):
    TinyOneClass(data_dir=str(tmp_path)).download_and_prepare()
    with pytest.raises(DataError, match=r"tfds tiny_one_class .* has 1 class \('zero'\)"):
        load_dataset(DataConfig(name="tiny_one_class", tfds_data_dir=str(tmp_path)))


def test_unknown_dataset_lists_close_names():
    with pytest.raises(
        UnknownNameError, match="unknown dataset 'fashion_mnis'; did you mean 'fashion_mnist'"
    ):
        load_dataset(DataConfig(name="fashion_mnis"))


def test_network_probe_answers_quickly(monkeypatch):
    import socket

    monkeypatch.delenv("KERASCNN_OFFLINE")
    with socket.create_server(("127.0.0.1", 0)) as server:  # a host that answers
        listening = server.getsockname()
        assert network_reachable(listening, timeout=2.0) is True
    assert network_reachable(listening, timeout=2.0) is False  # the port is closed now

    def hang(*args, **kwargs):  # a lookup or connection that never answers
        time.sleep(30)

    monkeypatch.setattr(socket, "create_connection", hang)
    started = time.perf_counter()
    assert network_reachable(timeout=0.5) is False
    assert time.perf_counter() - started < 2
    monkeypatch.undo()
    monkeypatch.setenv("KERASCNN_OFFLINE", "1")
    with socket.create_server(("127.0.0.1", 0)) as server:
        assert network_reachable(server.getsockname()) is False  # offline wins


def test_pipeline_batches_floats_in_pixel_range():
    splits = load_dataset(DataConfig(name="mnist_sample", train_limit=100))
    stream = TrainingStream(splits.train, batch_size=32, seed=0)
    x, y = next(iter(stream.dataset()))
    assert x.shape == (32, 28, 28, 1) and x.dtype == tf.float32 and y.shape == (32,)
    assert float(tf.reduce_max(x)) == 255.0
    assert stream.steps_per_epoch == 4 and int(stream.dataset().cardinality()) == 4
    sizes = [int(x.shape[0]) for x, _ in batches(splits.train, batch_size=32)]
    assert sizes == [32, 32, 32, 4]


def _epoch(stream, epoch, skip=0):
    stream.start_epoch(epoch, skip)
    return [(x.numpy(), y.numpy()) for x, y in stream.dataset(skip)]


@pytest.mark.parametrize("preset", ["none", "digits"])
def test_training_stream_is_a_function_of_seed_epoch_and_step(preset):
    """What a resumed run relies on: epoch e from step s is the same batches whatever came before."""
    splits = load_dataset(DataConfig(name="mnist_sample", train_limit=96))

    def stream(seed=0):
        augmentation = create_augmentation(preset, image_shape=(28, 28, 1), seed=seed)
        return TrainingStream(
            splits.train,
            batch_size=32,
            seed=seed,
            augmentation=augmentation,
            sequential_augmentation=True,
        )

    first = stream()
    epoch0, epoch1, epoch0_again = _epoch(first, 0), _epoch(first, 1), _epoch(first, 0)
    fresh = stream()
    later = _epoch(fresh, 1, skip=1)  # a new process resuming at epoch 1, step 1
    for (x, y), (x_again, y_again) in zip(epoch0, epoch0_again, strict=True):
        np.testing.assert_array_equal(x, x_again)
        np.testing.assert_array_equal(y, y_again)
    for (x, y), (x_later, y_later) in zip(epoch1[1:], later, strict=True):
        np.testing.assert_array_equal(x, x_later)
        np.testing.assert_array_equal(y, y_later)
    labels = [np.concatenate([y for _, y in epoch]) for epoch in (epoch0, epoch1)]
    assert sorted(labels[0]) == sorted(labels[1]) and list(labels[0]) != list(labels[1])
    other_seed = _epoch(stream(seed=1), 0)
    assert not np.array_equal(other_seed[0][1], epoch0[0][1])


def test_no_augmentation_is_no_layer():
    assert create_augmentation("none", image_shape=(28, 28, 1)) is None


@pytest.mark.parametrize("preset", ["cifar", "imagenet"])
def test_data_whose_mirror_images_are_other_classes_is_never_flipped(preset):
    def flips(layer):
        return any(isinstance(part, keras.layers.RandomFlip) for part in layer.layers)

    shape = (32, 32, 3)
    assert flips(create_augmentation(preset, image_shape=shape))
    assert not flips(create_augmentation(preset, image_shape=shape, mirror=False))
    assert "without its horizontal flips" in flips_left_out(preset, image_shape=shape, mirror=False)
    assert flips_left_out(preset, image_shape=shape, mirror=True) == ""
    assert flips_left_out("digits", image_shape=(28, 28, 1), mirror=False) == ""


def test_digits_are_not_mirror_invariant_and_class_folders_are(tmp_path):
    sample = load_dataset(DataConfig(name="mnist_sample", train_limit=8, test_limit=8))
    assert sample.info.mirror_invariant is False
    for split in ("train", "test"):
        for name in ("cat", "dog"):
            folder = tmp_path / split / name
            folder.mkdir(parents=True)
            keras.utils.save_img(folder / "a.png", np.zeros((8, 8, 3), "uint8"))
    folders = load_dataset(DataConfig(name="pets", data_dir=str(tmp_path), image_shape=(8, 8, 3)))
    assert folders.info.mirror_invariant is True


def test_grey_digits_are_adapted_to_a_colour_model():
    plain = load_dataset(DataConfig(name="mnist_sample", test_limit=8)).test
    splits = load_dataset(DataConfig(name="mnist_sample", test_limit=8, image_shape=(32, 32, 3)))
    assert splits.info.image_shape == (32, 32, 3) and splits.info.source_shape == (28, 28, 1)
    assert splits.info.adaptation == "padded 28x28 to 32x32, 1 -> 3 channels"
    assert "Images adapted to the model" in splits.info.notice
    (original, _), (adapted, _) = next(iter(plain)), next(iter(splits.test))
    assert adapted.dtype == tf.uint8 and adapted.shape == (32, 32, 3)
    for channel in range(3):
        np.testing.assert_array_equal(adapted[2:30, 2:30, channel], original[..., 0])
    assert not adapted.numpy()[:2].any() and not adapted.numpy()[:, 30:].any()


@pytest.mark.parametrize(
    "target,description",
    [((64, 64, 1), "resized 28x28 to 64x64"), ((16, 16, 1), "resized 28x28 to 16x16")],
)
def test_sizes_beyond_padding_are_resized(target, description):
    splits = load_dataset(DataConfig(name="mnist_sample", test_limit=4, image_shape=target))
    image, _ = next(iter(splits.test))
    assert image.shape == target and image.dtype == tf.uint8 and int(tf.reduce_max(image)) > 200
    assert splits.info.adaptation == description


def test_colour_to_grey_uses_luminance():
    from kerascnn.data.adapt import adapt_images

    pixel = tf.constant([[[200, 100, 50]]], tf.uint8)
    ((grey, _),) = adapt_images(tf.data.Dataset.from_tensors((pixel, 0)), (1, 1, 3), (1, 1, 1))
    assert int(grey[0, 0, 0]) == round(0.2989 * 200 + 0.587 * 100 + 0.114 * 50)


@pytest.mark.parametrize("preset", [p for p in augmentations.names() if p != "none"])
def test_every_preset_changes_training_images_only(preset):
    shape = (32, 32, 3)
    splits = load_dataset(DataConfig(name="mnist_sample", train_limit=64, image_shape=shape))
    augmentation = create_augmentation(preset, image_shape=shape, seed=3)
    plain, _ = next(iter(TrainingStream(splits.train, batch_size=64, seed=0).dataset()))
    plain = plain.numpy()
    stream = TrainingStream(splits.train, batch_size=64, seed=0, augmentation=augmentation)
    trained, _ = next(iter(stream.dataset()))  # the same order, augmented
    evaluation = np.concatenate([x for x, _ in batches(splits.train, batch_size=64)])
    stored = np.concatenate([x for x, _ in splits.train.batch(64)]).astype(np.float32)
    np.testing.assert_array_equal(evaluation, stored)  # evaluation sees the images as stored
    assert trained.shape == plain.shape
    assert np.abs(trained.numpy() - plain).mean() > 5  # pixels moved
    if preset != "imagenet":  # a random resized crop changes how much of a digit is seen
        assert np.abs(trained.numpy().sum() / plain.sum() - 1) < 0.25  # still the same digits
    assert trained.numpy().min() >= 0 and trained.numpy().max() <= 255.5  # still pixel values
