"""Reading and writing the IDX format of MNIST and its relatives (fashion_mnist, kmnist).

Reference: http://yann.lecun.com/exdb/mnist/ ("FILE FORMATS FOR THE MNIST DATABASE").
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from kerascnn.errors import DataError

_DTYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {
    dtype.newbyteorder(">") if dtype.itemsize > 1 else dtype: code
    for code, dtype in _DTYPES.items()
}

# The standard MNIST file names, shared by fashion_mnist and kmnist; `.gz` is optional.
SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Reads one IDX file (optionally gzipped) into a numpy array, checking its header."""
    path = Path(path)
    try:
        with open(path, "rb") as raw:
            data = raw.read()
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as error:
        raise DataError(
            f"cannot read IDX file {path}: {error}; replace it with an intact copy"
        ) from None
    if len(data) < 4 or data[:2] != b"\x00\x00" or data[2] not in _DTYPES:
        raise DataError(
            f"{path} is not an IDX file (bad magic number {data[:4].hex() or 'empty'}); "
            "expected an MNIST-format file such as train-images-idx3-ubyte.gz"
        )
    dtype, ndim = _DTYPES[data[2]], data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{path} is truncated inside its header; replace it with an intact copy")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        raise DataError(
            f"{path} holds {len(data)} bytes but its header {shape} promises {expected}; "
            "the file is truncated or corrupt, replace it with an intact copy"
        )
    return (
        np.frombuffer(data, dtype=dtype, offset=header)
        .reshape(shape)
        .astype(dtype.newbyteorder("="))
    )


def write_idx(path: str | os.PathLike, array: np.ndarray) -> None:
    """Writes `array` as a gzipped IDX file (reproducible bytes: no timestamp in the gzip header)."""
    big_endian = array.dtype.newbyteorder(">") if array.dtype.itemsize > 1 else array.dtype
    if big_endian not in _CODES:
        raise ValueError(f"IDX cannot store dtype {array.dtype}")
    header = bytes([0, 0, _CODES[big_endian], array.ndim]) + struct.pack(
        f">{array.ndim}I", *array.shape
    )
    payload = header + np.ascontiguousarray(array, dtype=big_endian).tobytes()
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
        gz.write(payload)


def find_split_files(directory: str | os.PathLike) -> dict[str, tuple[Path, Path]]:
    """Locates the four standard IDX files in `directory`, naming every missing one."""
    directory = Path(directory)
    if not directory.is_dir():
        raise DataError(
            f"data directory {directory} does not exist; pass --data-dir with a folder holding "
            "the four MNIST-format IDX files"
        )
    found, missing = {}, []
    for split, stems in SPLIT_FILES.items():
        paths = []
        for stem in stems:
            candidates = [directory / f"{stem}.gz", directory / stem]
            path = next((c for c in candidates if c.is_file()), None)
            if path is None:
                missing.append(f"{stem}.gz")
            paths.append(path)
        found[split] = tuple(paths)
    if missing:
        raise DataError(
            f"data directory {directory} is missing {', '.join(missing)}; it needs the four "
            "MNIST-format IDX files (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
            "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz), class folders of images "
            "(train/<class>/ and test/<class>/), or a CIFAR-10/100 copy (cifar-10-batches-bin/, "
            "cifar-10-batches-py/, cifar-100-binary/ or cifar-100-python/)"
        )
    return found


def read_split(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Reads one split as (images of shape (n, h, w, 1) uint8, labels of shape (n,) int64)."""
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or labels.ndim != 1:
        raise DataError(
            f"{images_path} must hold a 3-d image array and {labels_path} a 1-d label array, "
            f"got shapes {images.shape} and {labels.shape}"
        )
    if len(images) != len(labels):
        raise DataError(
            f"{images_path} holds {len(images)} images but {labels_path} holds {len(labels)} "
            "labels; the two files must come from the same split"
        )
    return images[..., None].astype(np.uint8), labels.astype(np.int64)
