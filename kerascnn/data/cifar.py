"""Reading CIFAR-10 and CIFAR-100 as distributed, in either of their two versions.

The binary version (`cifar-10-batches-bin/`, `cifar-100-binary/`) is fixed-size records: the label
byte(s) (CIFAR-100: coarse, then fine), then 3,072 pixel bytes, the 32x32 red plane, then green, then
blue, each row by row. The class names are text files, one name a line.

The Python version (`cifar-10-batches-py/`, `cifar-100-python/`) is pickled dicts: `b"data"` (uint8,
one image a row in the same plane order) and the labels (`b"labels"`; CIFAR-100 `b"fine_labels"` and
`b"coarse_labels"`), with the class names in `batches.meta` / `meta`. A pickle can run any code it
names, and these are a user's files: they are read by an unpickler that builds dicts, lists, strings,
numbers and numpy arrays and refuses everything else before any of it runs.

Reference: Krizhevsky, Learning Multiple Layers of Features from Tiny Images (2009);
https://www.cs.toronto.edu/~kriz/cifar.html describes both versions.
"""

from __future__ import annotations

import dataclasses
import pickle
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from kerascnn.errors import DataError

SIDE = 32
PIXELS = SIDE * SIDE * 3
HOME = "https://www.cs.toronto.edu/~kriz/cifar.html"


@dataclasses.dataclass(frozen=True)
class LabelSet:
    """One kind of label of a CIFAR image and where each version keeps it."""

    classes: int
    byte: int  # its position in a binary record
    key: str  # its key in a pickled batch
    names_file: str  # binary version: the class names, one a line
    names_key: str  # Python version: the key of the class names in the meta pickle


@dataclasses.dataclass(frozen=True)
class Layout:
    """One version of one CIFAR dataset: its folder, files and labels."""

    dataset: str
    name: str
    form: str
    folder: str
    splits: Mapping[str, tuple[str, ...]]
    label_sets: Mapping[str, LabelSet]
    meta: str = ""  # Python version: the pickle of the class names

    @property
    def record_size(self) -> int:
        return len(self.label_sets) + PIXELS

    @property
    def files(self) -> tuple[str, ...]:
        names = [name for split in self.splits.values() for name in split]
        if self.form == "binary":
            return (*names, *(s.names_file for s in self.label_sets.values()))
        return (*names, self.meta)


_TEN = {"fine": LabelSet(10, 0, "labels", "batches.meta.txt", "label_names")}
_HUNDRED = {
    "coarse": LabelSet(20, 0, "coarse_labels", "coarse_label_names.txt", "coarse_label_names"),
    "fine": LabelSet(100, 1, "fine_labels", "fine_label_names.txt", "fine_label_names"),
}
_BATCHES = tuple(f"data_batch_{n}" for n in range(1, 6))
# Binary before Python where a folder holds both: nothing to unpickle.
LAYOUTS = (
    Layout(
        "CIFAR-10",
        "cifar10",
        "binary",
        "cifar-10-batches-bin",
        {"train": tuple(f"{b}.bin" for b in _BATCHES), "test": ("test_batch.bin",)},
        _TEN,
    ),
    Layout(
        "CIFAR-10",
        "cifar10",
        "Python",
        "cifar-10-batches-py",
        {"train": _BATCHES, "test": ("test_batch",)},
        _TEN,
        "batches.meta",
    ),
    Layout(
        "CIFAR-100",
        "cifar100",
        "binary",
        "cifar-100-binary",
        {"train": ("train.bin",), "test": ("test.bin",)},
        _HUNDRED,
    ),
    Layout(
        "CIFAR-100",
        "cifar100",
        "Python",
        "cifar-100-python",
        {"train": ("train",), "test": ("test",)},
        _HUNDRED,
        "meta",
    ),
)


def find(directory) -> tuple[Layout, Path] | None:
    """The CIFAR version in `directory` and the folder holding its files, or None.

    `directory` may be the folder of the files (recognised by its standard name or any of its
    files) or the folder a tarball was unpacked into, which holds that folder.
    """
    directory = Path(directory)
    if not directory.is_dir():
        return None
    inside = [(layout, directory / layout.folder) for layout in LAYOUTS]
    inside = [(layout, folder) for layout, folder in inside if folder.is_dir()]
    if len({layout.dataset for layout, _ in inside}) > 1:
        found = ", ".join(f"{folder.name}/" for _, folder in inside)
        raise DataError(
            f"{directory} holds more than one CIFAR dataset ({found}); pass --data-dir with "
            "the one to train on"
        )
    if inside:
        return inside[0]
    for layout in LAYOUTS:
        files = layout.files
        if directory.name == layout.folder or any((directory / f).is_file() for f in files):
            return layout, directory
    return None


def read(directory, layout: Layout, label_mode: str = "fine"):
    """{"train": (images, labels), "test": (images, labels)} and the class names.

    Images are uint8 (n, 32, 32, 3), labels int64 (n,) of the `label_mode` label set ("fine", or
    for CIFAR-100 "coarse"). Every label set is checked, whichever is used: a label out of range
    means a damaged file.
    """
    directory = Path(directory)
    missing = [name for name in layout.files if not (directory / name).is_file()]
    if missing:
        raise DataError(
            f"{directory} is missing {', '.join(missing)} of the {layout.dataset} {layout.form} "
            f"version (which has {', '.join(layout.files)}); restore them from {HOME}"
        )
    labels = layout.label_sets[label_mode]
    if layout.form == "binary":
        class_names = _read_names_file(directory / labels.names_file, labels.classes)
        read_batch = _read_binary
    else:
        meta = _load_pickle(directory / layout.meta)
        class_names = _names_from_meta(directory / layout.meta, meta, labels)
        read_batch = _read_pickled
    arrays = {}
    for split, names in layout.splits.items():
        batches = [read_batch(directory / name, layout) for name in names]
        images = np.concatenate([images for images, _ in batches])
        chosen = np.concatenate([by_set[label_mode] for _, by_set in batches])
        arrays[split] = (images, chosen)
    return arrays, class_names


def _read_binary(path: Path, layout: Layout):
    try:
        data = path.read_bytes()
    except OSError as error:
        raise DataError(f"cannot read {path}: {error.strerror}") from None
    size = layout.record_size
    if not data:
        raise DataError(
            f"{path} is empty; a {layout.dataset} batch file holds records of {size} bytes, "
            "replace it with an intact copy"
        )
    if len(data) % size:
        whole = len(data) // size
        raise DataError(
            f"{path} is truncated: record {whole + 1} breaks off after {len(data) % size} of its "
            f"{size} bytes (a {layout.dataset} record is {_label_bytes(layout)} and {PIXELS} "
            "pixel bytes); replace the file with an intact copy"
        )
    records = np.frombuffer(data, np.uint8).reshape(-1, size)
    labels = {
        mode: _checked(path, records[:, s.byte].astype(np.int64), layout, mode, "label byte")
        for mode, s in layout.label_sets.items()
    }
    return _to_images(records[:, len(layout.label_sets) :]), labels


def _label_bytes(layout: Layout) -> str:
    count = len(layout.label_sets)
    return "a label byte" if count == 1 else f"{count} label bytes"


def _to_images(rows: np.ndarray) -> np.ndarray:
    """(n, 3072) rows of R, G and B planes as (n, 32, 32, 3) images."""
    return np.ascontiguousarray(rows.reshape(-1, 3, SIDE, SIDE).transpose(0, 2, 3, 1))


def _checked(path, labels: np.ndarray, layout: Layout, mode: str, what: str):
    """`labels`, if every one is a class of `mode`; records count from 1 in the message."""
    classes = layout.label_sets[mode].classes
    outside = np.flatnonzero((labels < 0) | (labels >= classes))
    if outside.size:
        record = int(outside[0])
        kind = f"{mode} " if len(layout.label_sets) > 1 else ""
        raise DataError(
            f"{path} record {record + 1}: {kind}{what} {labels[record]} is outside 0-"
            f"{classes - 1} ({layout.dataset} has {classes} {kind}classes); the file is damaged, "
            "replace it with an intact copy"
        )
    return labels


def _read_names_file(path: Path, count: int) -> tuple[str, ...]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(f"cannot read the class names in {path}: {error}") from None
    names = tuple(line.strip() for line in text.splitlines() if line.strip())
    return _counted(path, names, count)


def _counted(path: Path, names: tuple[str, ...], count: int) -> tuple[str, ...]:
    if len(names) != count:
        raise DataError(
            f"{path} lists {len(names)} class names, expected {count}; "
            "replace it with an intact copy"
        )
    return names


def _names_from_meta(path: Path, meta: dict, label_set: LabelSet) -> tuple[str, ...]:
    names = meta.get(label_set.names_key)
    if not isinstance(names, list | tuple) or not all(isinstance(n, bytes | str) for n in names):
        raise DataError(
            f"{path} has no list of class names under {label_set.names_key!r} (found keys "
            f"{_keys(meta)}); replace it with an intact copy"
        )
    try:
        decoded = tuple(n.decode("utf-8") if isinstance(n, bytes) else n for n in names)
    except UnicodeDecodeError:
        raise DataError(f"{path}: the class names are not UTF-8 text") from None
    return _counted(path, decoded, label_set.classes)


def _read_pickled(path: Path, layout: Layout):
    batch = _load_pickle(path)
    data = batch.get("data")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2:
        found = (
            f"a {data.dtype} array of shape {data.shape}"
            if isinstance(data, np.ndarray)
            else type(data).__name__
        )
        raise DataError(
            f"{path}: 'data' must be a uint8 array of shape (images, {PIXELS}), found {found} "
            f"(keys {_keys(batch)}); replace the file with an intact copy"
        )
    if data.shape[1] != PIXELS or not len(data):
        raise DataError(
            f"{path}: 'data' has shape {data.shape}, expected (images, {PIXELS}) with at least "
            "one image; replace the file with an intact copy"
        )
    labels = {}
    for mode, label_set in layout.label_sets.items():
        values = batch.get(label_set.key)
        array = np.asarray(values) if isinstance(values, list | np.ndarray) else None
        if array is None or array.shape != (len(data),) or array.dtype.kind not in "iu":
            found = "nothing" if values is None else f"{type(values).__name__} {_shape_of(values)}"
            raise DataError(
                f"{path}: {label_set.key!r} must list {len(data)} integer labels, one per row "
                f"of 'data', found {found}; replace the file with an intact copy"
            )
        labels[mode] = _checked(path, array.astype(np.int64), layout, mode, "label")
    return _to_images(data), labels


def _keys(mapping) -> str:
    return ", ".join(sorted(repr(k) for k in mapping))[:200] or "none"


def _shape_of(values) -> str:
    return f"of length {len(values)}" if hasattr(values, "__len__") else ""


class _Refused(pickle.UnpicklingError):
    """A pickle named something a CIFAR file never holds."""


class _ArraysOnly(pickle.Unpickler):
    """Builds dicts, lists, strings, numbers and numpy arrays; refuses any other global.

    A pickle runs code only through the globals it names (functions and classes it then calls);
    `find_class` is asked for each before it is used, so a refusal stops the load before anything
    from the file has been called.
    """

    def find_class(self, module, name):
        allowed = _numpy_globals()
        if (module, name) not in allowed:
            raise _Refused(f"{module}.{name}")
        return allowed[(module, name)]


def _numpy_globals() -> dict:
    try:  # where numpy keeps it depends on its version: asked when a pickle is read
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct
    return {
        # Files pickled under numpy < 2 (the originals) name numpy.core; later ones numpy._core.
        ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
    }


def _load_pickle(path: Path) -> dict:
    """A pickled dict read with `_ArraysOnly`, its bytes keys decoded."""
    try:
        with open(path, "rb") as handle:
            # The originals were pickled by Python 2: their strings come back as bytes.
            loaded = _ArraysOnly(handle, encoding="bytes").load()
    except _Refused as refused:
        raise DataError(
            f"refused {path}: its pickle asks for {refused}, which a CIFAR file never holds "
            "(only numpy arrays, lists and dicts); nothing in it was run. It is not a CIFAR "
            f"file, and may be hostile: use the files from {HOME}"
        ) from None
    except OSError as error:
        raise DataError(f"cannot read {path}: {error.strerror}") from None
    except Exception as error:  # any way a damaged pickle fails is the same to a user
        reason = str(error).splitlines()[0][:120] if str(error) else type(error).__name__
        raise DataError(
            f"{path} is not a readable CIFAR pickle ({reason}); replace it with an intact copy"
        ) from None
    if not isinstance(loaded, dict):
        raise DataError(
            f"{path} holds a pickled {type(loaded).__name__}, not the dict of a CIFAR file; "
            "replace it with an intact copy"
        )
    return {k.decode("latin-1") if isinstance(k, bytes) else k: v for k, v in loaded.items()}
