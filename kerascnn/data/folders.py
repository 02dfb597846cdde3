"""Datasets kept as ordinary files: images in class folders, and captions in the Flickr8k layout.

Class folders (what `--data-dir` takes besides IDX files):

    DIR/train/<class>/*.png|jpg|...   DIR/test/<class>/*.png|jpg|...

Every image is decoded when the data is loaded, behind a progress bar, so an image that cannot be
decoded is a one-line error before training starts, not an exception hours into it.

Flickr8k layout: an images folder (`Flicker8k_Dataset/`, `Images/` or `images/`) and a captions file,
either the original `Flickr8k.token.txt` (`IMAGE#N<TAB>CAPTION`) or the common `captions.txt` CSV
(`image,caption` header), with the split files `Flickr_8k.{train,dev,test}Images.txt` when present.
A malformed line is an error naming the file and the line.
"""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from kerascnn.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
TOKEN_FILE = "Flickr8k.token.txt"
CSV_FILE = "captions.txt"
IMAGE_FOLDERS = ("Flicker8k_Dataset", "Images", "images")
SPLIT_FILES = {
    "train": "Flickr_8k.trainImages.txt",
    "dev": "Flickr_8k.devImages.txt",
    "test": "Flickr_8k.testImages.txt",
}


def read_image(path, *, channels: int = 0, size: tuple[int, int] | None = None) -> np.ndarray:
    """One image file as uint8 (height, width, channels); `size` resizes it (bilinear)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"image file {path} does not exist")
    try:
        data = path.read_bytes()
        image = tf.io.decode_image(data, channels=channels, expand_animations=False)
    except (OSError, tf.errors.InvalidArgumentError) as error:
        reason = getattr(error, "message", None) or getattr(error, "strerror", None) or error
        raise DataError(
            f"cannot decode image {path}: {str(reason).splitlines()[0][:120]}; "
            "replace the file with an intact PNG/JPEG/BMP/GIF or remove it"
        ) from None
    if size is not None and tuple(image.shape[:2]) != tuple(size):
        image = tf.cast(tf.clip_by_value(tf.round(tf.image.resize(image, size)), 0, 255), tf.uint8)
    return image.numpy()


def has_class_folders(directory) -> bool:
    train = Path(directory) / "train"
    return train.is_dir() and any(child.is_dir() for child in train.iterdir())


def read_class_folders(directory, image_shape=None):
    """{"train": (images, labels), "test": (images, labels)} and the class names (folder names).

    Images of different sizes need `image_shape` (height, width, channels), to which all are
    resized; otherwise they keep the size and channels of the first image.
    """
    directory = Path(directory)
    if not (directory / "test").is_dir():
        raise DataError(
            f"{directory} has train/ but no test/ folder; class folders go in "
            f"{directory}/train/<class>/ and {directory}/test/<class>/"
        )
    class_names = sorted(child.name for child in (directory / "train").iterdir() if child.is_dir())
    files = {split: _image_files(directory / split, class_names) for split in ("train", "test")}
    channels = image_shape[-1] if image_shape else 0
    size = tuple(image_shape[:2]) if image_shape else None
    if not files["train"]:
        raise DataError(
            f"{directory}/train/ holds no images ({', '.join(IMAGE_SUFFIXES)}) in its class folders"
        )
    if size is None:
        first = read_image(files["train"][0][0], channels=channels)
        channels, reference = first.shape[-1], (files["train"][0][0], first.shape)
    arrays = {}
    total = sum(len(f) for f in files.values())
    bar = keras.utils.Progbar(total, unit_name="image", verbose=1 if sys.stdout.isatty() else 2)
    print(f"decoding {total} images in {directory}", flush=True)
    done = 0
    for split, pairs in files.items():
        images = []
        for path, _ in pairs:
            image = read_image(path, channels=channels, size=size)
            if size is None and image.shape != reference[1]:
                raise DataError(
                    f"images differ in size: {reference[0]} is {_shape(reference[1])}, {path} is "
                    f"{_shape(image.shape)}; set data.image_shape=(height, width, channels) to "
                    "resize them all"
                )
            images.append(image)
            done += 1
            if done % 256 == 0 or done == total:
                bar.update(done)
        labels = np.array([label for _, label in pairs], np.int64)
        arrays[split] = (np.stack(images) if images else np.zeros((0, 1, 1, 1), np.uint8), labels)
    return arrays, tuple(class_names)


def _shape(shape) -> str:
    return "x".join(str(d) for d in shape)


def _image_files(folder: Path, class_names) -> list[tuple[Path, int]]:
    pairs = []
    for label, name in enumerate(class_names):
        for path in sorted((folder / name).glob("*")) if (folder / name).is_dir() else []:
            if path.suffix.lower() in IMAGE_SUFFIXES:
                pairs.append((path, label))
    return pairs


def find_captions_file(directory) -> Path | None:
    directory = Path(directory)
    for name in (TOKEN_FILE, CSV_FILE):
        if (directory / name).is_file():
            return directory / name
    return None


def read_captions(path) -> dict[str, list[str]]:
    """Image file name -> its reference captions, from either Flickr8k captions form."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(f"cannot read captions file {path}: {error}") from None
    captions: dict[str, list[str]] = {}
    if path.suffix == ".csv" or path.name == CSV_FILE:
        rows = csv.reader(io.StringIO(text))
        header = next(rows, None)
        if [cell.strip().lower() for cell in header or []] != ["image", "caption"]:
            raise DataError(
                f"{path} line 1: expected the header 'image,caption', got {_show(header)}; "
                "this is the captions.txt CSV form of Flickr8k"
            )
        for number, row in enumerate(rows, start=2):
            if not row:
                continue
            if len(row) != 2 or not row[0].strip() or not row[1].strip():
                raise DataError(
                    f"{path} line {number}: expected 'IMAGE,CAPTION' (quote captions that hold "
                    f"commas), got {_show(row)}; fix or remove the line"
                )
            captions.setdefault(row[0].strip(), []).append(row[1].strip())
    else:
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            key, tab, caption = line.partition("\t")
            image, hash_, index = key.rpartition("#")[0], "#" in key, key.rpartition("#")[2]
            if not tab or not hash_ or not image or not index.isdigit() or not caption.strip():
                raise DataError(
                    f"{path} line {number}: expected 'IMAGE.jpg#N<TAB>CAPTION' (Flickr8k.token.txt), "
                    f"got {_show(line)}; fix or remove the line"
                )
            captions.setdefault(image, []).append(caption.strip())
    if not captions:
        raise DataError(f"{path} holds no captions")
    return captions


def _show(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def read_flickr8k(directory) -> dict:
    """The Flickr8k layout in `directory`: {"images": folder, "captions": {image: [captions]},
    "splits": {"train"|"dev"|"test": [image names]} (empty when there are no split files)}.
    Every captioned image must exist."""
    directory = Path(directory)
    captions_file = find_captions_file(directory)
    if captions_file is None:
        raise DataError(
            f"{directory} holds no {TOKEN_FILE} or {CSV_FILE}; a Flickr8k folder needs one of them"
        )
    folder = next((directory / f for f in IMAGE_FOLDERS if (directory / f).is_dir()), None)
    if folder is None:
        raise DataError(
            f"{directory} has no images folder ({', '.join(IMAGE_FOLDERS)}) beside {captions_file.name}"
        )
    captions = read_captions(captions_file)
    missing = [name for name in captions if not (folder / name).is_file()]
    if missing:
        raise DataError(
            f"{captions_file} captions {len(missing)} image(s) missing from {folder}, e.g. "
            f"{missing[0]!r}; restore the images or remove their lines"
        )
    splits = {}
    for split, name in SPLIT_FILES.items():
        if (directory / name).is_file():
            names = [n.strip() for n in (directory / name).read_text().splitlines() if n.strip()]
            unknown = [n for n in names if n not in captions]
            if unknown:
                raise DataError(
                    f"{directory / name} lists {unknown[0]!r}, which has no caption in "
                    f"{captions_file.name}"
                )
            splits[split] = names
    return {"images": folder, "captions": captions, "splits": splits}
