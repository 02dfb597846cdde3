"""CIFAR-10 and CIFAR-100 from a copy a user already has: both versions (binary records and Python
pickles), the folder they unpack into and the tarball itself. Every damaged file is a one-line error
naming the file (and the record) before anything is written, and a hostile pickle runs nothing."""

import io
import os
import pickle
import struct
import tarfile

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from kerascnn import recipes
from kerascnn.cli import main
from kerascnn.data import cifar, load_dataset
from kerascnn.errors import DataError, RecipeError
from kerascnn.recipes import DataConfig

NAMES10 = (
    "airplane automobile bird cat deer dog frog horse ship truck".split()  # batches.meta.txt order
)
FINE = tuple(f"fine{n}" for n in range(100))
COARSE = tuple(f"coarse{n}" for n in range(20))
BATCHES = [f"data_batch_{n}" for n in range(1, 6)]


def py2_pickle(value) -> bytes:
    """`value` pickled as Python 2's cPickle wrote the original CIFAR files: protocol 2, strings
    as Python 2 `str` (bytes here), numpy arrays through `numpy.core.multiarray._reconstruct`."""
    out = [b"\x80\x02"]

    def text(data: bytes):
        head = b"U" + bytes([len(data)]) if len(data) < 256 else b"T" + struct.pack("<I", len(data))
        out.append(head + data)

    def put(value):
        if isinstance(value, dict):
            out.append(b"}(")
            for key, item in value.items():
                put(key)
                put(item)
            out.append(b"u")
        elif isinstance(value, list):
            out.append(b"](")
            for item in value:
                put(item)
            out.append(b"e")
        elif isinstance(value, int):
            out.append(b"J" + struct.pack("<i", value))
        elif isinstance(value, bytes):
            text(value)
        elif isinstance(value, np.ndarray):  # array.__reduce__ of numpy 1.x
            out.append(b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85")
            text(b"b")
            out.append(b"\x87R(K\x01(")
            for size in value.shape:
                out.append(b"J" + struct.pack("<i", size))
            out.append(b"tcnumpy\ndtype\n")
            text(b"u1")
            out.append(b"K\x00K\x01\x87R(K\x03")
            text(b"|")
            out.append(b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb\x89")
            text(np.ascontiguousarray(value, np.uint8).tobytes())
            out.append(b"tb")
        else:
            raise TypeError(type(value))

    put(value)
    return b"".join(out) + b"."


def pickled(value, form: str) -> bytes:
    return py2_pickle(value) if form == "python2" else pickle.dumps(value, protocol=4)


def planes(count, seed):
    """`count` rows of 3,072 known pixel bytes: the R, G and B planes of a 32x32 image."""
    return np.random.default_rng(seed).integers(0, 256, (count, 3072), dtype=np.uint8)


def write_cifar10(root, form="binary", *, per_batch=3, test=4):
    """A tiny CIFAR-10 in `form` ('binary', or 'python2'/'python3' pickles) under `root`; returns
    its folder and the expected {"train"|"test": (rows, labels)}."""
    folder = root / ("cifar-10-batches-bin" if form == "binary" else "cifar-10-batches-py")
    folder.mkdir(parents=True)
    expected = {"train": ([], []), "test": ([], [])}
    for index, name in enumerate([*BATCHES, "test_batch"]):
        count = test if name == "test_batch" else per_batch
        rows, labels = planes(count, index), (np.arange(count) + 3 * index) % 10
        split = "test" if name == "test_batch" else "train"
        expected[split][0].append(rows)
        expected[split][1].append(labels)
        if form == "binary":
            records = np.column_stack([labels.astype(np.uint8), rows])
            (folder / f"{name}.bin").write_bytes(records.tobytes())
        else:
            batch = {
                b"batch_label": f"batch {index}".encode(),
                b"labels": [int(label) for label in labels],
                b"data": rows,
                b"filenames": [f"{n}.png".encode() for n in range(count)],
            }
            (folder / name).write_bytes(pickled(batch, form))
    if form == "binary":
        (folder / "batches.meta.txt").write_text("\n".join(NAMES10) + "\n\n")
    else:
        meta = {b"label_names": [n.encode() for n in NAMES10], b"num_vis": 3072}
        (folder / "batches.meta").write_bytes(pickled(meta, form))
    return folder, {s: (np.concatenate(r), np.concatenate(y)) for s, (r, y) in expected.items()}


def write_cifar100(root, form="binary", *, train=6, test=3):
    folder = root / ("cifar-100-binary" if form == "binary" else "cifar-100-python")
    folder.mkdir(parents=True)
    expected = {}
    for index, (name, count) in enumerate((("train", train), ("test", test))):
        rows = planes(count, 10 + index)
        fine, coarse = (np.arange(count) * 17 + index) % 100, (np.arange(count) + index) % 20
        expected[name] = (rows, fine, coarse)
        if form == "binary":
            records = np.column_stack([coarse.astype(np.uint8), fine.astype(np.uint8), rows])
            (folder / f"{name}.bin").write_bytes(records.tobytes())
        else:
            batch = {
                b"data": rows,
                b"fine_labels": fine.tolist(),
                b"coarse_labels": coarse.tolist(),
            }
            (folder / name).write_bytes(pickled(batch, form))
    if form == "binary":
        (folder / "fine_label_names.txt").write_text("\n".join(FINE) + "\n")
        (folder / "coarse_label_names.txt").write_text("\n".join(COARSE) + "\n")
    else:
        meta = {
            b"fine_label_names": [n.encode() for n in FINE],
            b"coarse_label_names": [n.encode() for n in COARSE],
        }
        (folder / "meta").write_bytes(pickled(meta, form))
    return folder, expected


def as_images(rows):
    """What a CIFAR row means, built pixel by pixel: [r, c, k] is plane k's byte r * 32 + c."""
    images = np.zeros((len(rows), 32, 32, 3), np.uint8)
    for r in range(32):
        for c in range(32):
            for k in range(3):
                images[:, r, c, k] = rows[:, k * 1024 + r * 32 + c]
    return images


def collected(dataset):
    images, labels = zip(*((x.numpy(), int(y)) for x, y in dataset), strict=True)
    return np.stack(images), np.array(labels)


def test_the_py2_style_writer_matches_what_pickle_reads():
    """The test's stand-in for the original files is a real pickle of the same values."""
    rows = planes(2, 0)
    value = {b"data": rows, b"labels": [1, 2]}
    loaded = pickle.loads(py2_pickle(value), encoding="bytes")
    assert loaded[b"labels"] == [1, 2] and loaded[b"data"].dtype == np.uint8
    np.testing.assert_array_equal(loaded[b"data"], rows)


@pytest.mark.parametrize("form", ["binary", "python2", "python3"])
def test_cifar10_labels_names_and_pixel_planes(tmp_path, form):
    folder, expected = write_cifar10(tmp_path, form)
    splits = load_dataset(DataConfig(name="mnist", data_dir=str(folder)))
    info = splits.info
    version = "binary" if form == "binary" else "Python"
    assert info.source == f"CIFAR-10 {version} files in {folder.resolve()}"
    assert info.name == "cifar10" and info.class_names == tuple(NAMES10)
    assert (info.num_train, info.num_test, info.num_classes) == (15, 4, 10)
    assert info.image_shape == (32, 32, 3) and info.adaptation == ""
    for split, dataset in (("train", splits.train), ("test", splits.test)):
        images, labels = collected(dataset)
        rows, wanted = expected[split]
        assert images.dtype == np.uint8 and labels.tolist() == wanted.tolist()
        np.testing.assert_array_equal(images, as_images(rows))
    image, label = next(iter(splits.train))
    assert image.dtype == tf.uint8 and label.dtype == tf.int64
    rows = expected["train"][0]
    assert int(image[0, 1, 0]) == rows[0, 1] and int(image[1, 0, 1]) == rows[0, 1024 + 32]
    assert int(image[31, 31, 2]) == rows[0, 3071]


def test_the_unpacked_folder_and_the_tarball_are_accepted(in_tmp):
    folder, expected = write_cifar10(in_tmp / "unpacked")
    info = load_dataset(DataConfig(data_dir=str(in_tmp / "unpacked"))).info
    assert info.source == f"CIFAR-10 binary files in {folder.resolve()}"
    with tarfile.open(in_tmp / "cifar-10-binary.tar.gz", "w:gz") as tarball:
        tarball.add(folder, arcname="cifar-10-batches-bin")
    splits = load_dataset(DataConfig(data_dir=str(in_tmp / "cifar-10-binary.tar.gz")))
    extracted = in_tmp / "cifar-10-binary" / "cifar-10-batches-bin"
    assert splits.info.source == f"CIFAR-10 binary files in {extracted.resolve()}"
    assert collected(splits.test)[1].tolist() == expected["test"][1].tolist()


@pytest.mark.parametrize("form", ["binary", "python2"])
def test_cifar100_fine_labels_by_default_and_coarse_on_request(tmp_path, form):
    folder, expected = write_cifar100(tmp_path, form)
    fine = load_dataset(DataConfig(data_dir=str(tmp_path)))
    assert fine.info.name == "cifar100" and fine.info.class_names == FINE
    assert (fine.info.num_train, fine.info.num_test, fine.info.num_classes) == (6, 3, 100)
    images, labels = collected(fine.train)
    assert labels.tolist() == expected["train"][1].tolist()
    np.testing.assert_array_equal(images, as_images(expected["train"][0]))
    coarse = load_dataset(DataConfig(data_dir=str(folder), label_mode="coarse"))
    assert coarse.info.class_names == COARSE and coarse.info.num_classes == 20
    assert coarse.info.source.endswith(", coarse labels")
    assert collected(coarse.test)[1].tolist() == expected["test"][2].tolist()
    kept = load_dataset(DataConfig(data_dir=str(folder), label_mode="coarse", classes=(1, 2)))
    assert kept.info.class_names == ("coarse1", "coarse2")
    assert (kept.info.num_train, kept.info.num_test) == (2, 2)


def test_coarse_labels_need_cifar100(tmp_path):
    folder, _ = write_cifar10(tmp_path)
    for config in (
        DataConfig(data_dir=str(folder), label_mode="coarse"),
        DataConfig(name="mnist_sample", label_mode="coarse"),
    ):
        with pytest.raises(DataError, match=r"label_mode='coarse' needs .* \(CIFAR-100\), but"):
            load_dataset(config)
    with pytest.raises(DataError, match="cannot load 'cifar100': .* fall back to has no"):
        load_dataset(DataConfig(name="cifar100", label_mode="coarse"))  # offline in tests
    with pytest.raises(RecipeError, match=r"data\.label_mode .*'fine'.*'coarse'"):
        DataConfig(label_mode="medium")


class TinyHundred(tfds.core.GeneratorBasedBuilder):
    """A prepared tfds dataset with cifar100's features: label and coarse_label."""

    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        features = tfds.features.FeaturesDict(
            {
                "image": tfds.features.Image(shape=(32, 32, 3)),
                "label": tfds.features.ClassLabel(names=FINE),
                "coarse_label": tfds.features.ClassLabel(names=COARSE),
            }
        )
        return tfds.core.DatasetInfo(builder=self, features=features)

    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples(6), "test": self._generate_examples(3)}

    def _generate_examples(self, count):
        for index in range(count):
            image = np.full((32, 32, 3), index, np.uint8)
            yield index, {"image": image, "label": 50 + index, "coarse_label": index}


def test_tfds_cifar100_gives_its_coarse_labels_too(tmp_path):
    TinyHundred(data_dir=str(tmp_path)).download_and_prepare()
    config = DataConfig(name="tiny_hundred", tfds_data_dir=str(tmp_path))
    fine = load_dataset(config)
    assert fine.info.num_classes == 100 and sorted(collected(fine.test)[1]) == [50, 51, 52]
    coarse = load_dataset(
        DataConfig(name="tiny_hundred", tfds_data_dir=str(tmp_path), label_mode="coarse")
    )
    assert coarse.info.class_names == COARSE and sorted(collected(coarse.test)[1]) == [0, 1, 2]


class Hostile:
    """A pickle that runs a shell command when loaded by `pickle.load`."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.mark.parametrize("victim", ["data_batch_2", "batches.meta"])
def test_a_hostile_pickle_is_refused_and_runs_nothing(tmp_path, victim):
    folder, _ = write_cifar10(tmp_path, "python3")
    marker = tmp_path / "pwned"
    (folder / victim).write_bytes(pickle.dumps({b"data": Hostile(marker)}, protocol=4))
    with pytest.raises(DataError) as refused:
        load_dataset(DataConfig(data_dir=str(folder)))
    message = str(refused.value)
    assert "\n" not in message and message.startswith(f"refused {folder / victim}: ")
    assert "asks for posix.system" in message and "nothing in it was run" in message
    assert not marker.exists()
    # The payload is live: the plain pickle.load this module never does would have run it.
    pickle.loads((folder / victim).read_bytes())
    assert marker.exists()


def test_only_numpy_array_reconstruction_is_let_through():
    unpickler = cifar._ArraysOnly(io.BytesIO(b""))
    assert unpickler.find_class("numpy", "ndarray") is np.ndarray
    for module, name in [
        ("builtins", "eval"),
        ("numpy", "load"),
        ("os", "system"),
        ("numpy.core.multiarray", "scalar"),
    ]:
        with pytest.raises(pickle.UnpicklingError):
            unpickler.find_class(module, name)


def damaged_copies(root):
    """One damaged copy per case below, each in its own folder."""

    def copy(name, form="binary", hundred=False):
        return (write_cifar100 if hundred else write_cifar10)(root / name, form)[0]

    (copy("MISSING") / "data_batch_3.bin").unlink()
    short = copy("TRUNCATED") / "data_batch_2.bin"
    short.write_bytes(short.read_bytes()[:-100])
    (copy("EMPTY") / "test_batch.bin").write_bytes(b"")
    bad = copy("LABEL") / "test_batch.bin"
    records = bytearray(bad.read_bytes())
    records[3073] = 10  # the label byte of record 2
    bad.write_bytes(bytes(records))
    bad = copy("COARSE", hundred=True) / "train.bin"
    records = bytearray(bad.read_bytes())
    records[0] = 20
    bad.write_bytes(bytes(records))
    (copy("NAMES") / "batches.meta.txt").write_text("\n".join(NAMES10[:9]))
    folder = copy("NOKEY", "python3")
    (folder / "data_batch_1").write_bytes(pickle.dumps({b"data": planes(3, 0)}))
    folder = copy("SHAPE", "python3")
    batch = {b"data": planes(3, 0)[:, :3000].copy(), b"labels": [0, 1, 2]}
    (folder / "data_batch_1").write_bytes(pickle.dumps(batch))
    folder = copy("RANGE", "python3")
    (folder / "test_batch").write_bytes(pickle.dumps({b"data": planes(2, 0), b"labels": [3, 11]}))
    (copy("GARBAGE", "python3") / "test_batch").write_bytes(b"\x80\x04not a pickle at all")
    folder = copy("HOSTILE", "python3")
    (folder / "test_batch").write_bytes(pickle.dumps(Hostile(root / "pwned")))


DAMAGED = [
    ("MISSING", "is missing data_batch_3.bin of the CIFAR-10 binary version"),
    (
        "TRUNCATED",
        "data_batch_2.bin is truncated: record 3 breaks off after 2973 of its 3073 bytes",
    ),
    ("EMPTY", "test_batch.bin is empty; a CIFAR-10 batch file holds records of 3073 bytes"),
    ("LABEL", "test_batch.bin record 2: label byte 10 is outside 0-9"),
    ("COARSE", "train.bin record 1: coarse label byte 20 is outside 0-19"),
    ("NAMES", "batches.meta.txt lists 9 class names, expected 10"),
    (
        "NOKEY",
        "data_batch_1: 'labels' must list 3 integer labels, one per row of 'data', found nothing",
    ),
    ("SHAPE", "data_batch_1: 'data' has shape (3, 3000), expected (images, 3072)"),
    ("RANGE", "test_batch record 2: label 11 is outside 0-9"),
    ("GARBAGE", "test_batch is not a readable CIFAR pickle"),
    ("HOSTILE", "test_batch: its pickle asks for posix.system, which a CIFAR file never holds"),
]


@pytest.mark.parametrize("folder,message", DAMAGED, ids=[c[0] for c in DAMAGED])
def test_damaged_copies_are_one_line_exit_2_and_write_nothing(in_tmp, capsys, folder, message):
    damaged_copies(in_tmp)
    before = sorted(p.relative_to(in_tmp) for p in in_tmp.rglob("*"))
    assert main(["run", "lenet5", "--data-dir", folder, "--verbose", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("kerascnn: error: ") and message in err[0], err
    assert f"{folder}/" in err[0]  # names the file
    assert sorted(p.relative_to(in_tmp) for p in in_tmp.rglob("*")) == before
    assert not (in_tmp / "pwned").exists()


def test_a_smoke_recipe_trains_on_a_cifar_folder(in_tmp):
    folder, _ = write_cifar10(in_tmp, "python2", per_batch=8, test=8)
    result = recipes.run(
        "lenet5",
        smoke=True,
        verbose=0,
        batch_size=8,
        **{"data.data_dir": str(folder), "export.enabled": False},
    )
    data = result.metrics["data"]
    assert data["source"].startswith("CIFAR-10 Python files in") and data["name"] == "cifar10"
    assert (data["num_train"], data["num_test"], tuple(data["image_shape"])) == (40, 8, (32, 32, 3))
    assert 0 <= result.metrics["test_accuracy"] <= 1
