"""COCO-style detection: an annotation JSON file and a folder of images, the one reader of them.

The JSON file has COCO's "instances" layout (`instances_train2017.json` and the like, or any file
written the same way): `images` (each an `id`, a `file_name` in the image folder, `width` and
`height`), `categories` (each an `id` and a `name`) and `annotations` (each an `image_id`, a
`category_id` and a `bbox` [x, y, width, height] in pixels). Category ids need not be contiguous
(COCO's go to 90 for 80 classes): labels are the categories' positions in id order. Crowd
annotations (`iscrowd: 1`) are left out, as torchvision's detection reference does for training.

Boxes come back as (y_min, x_min, y_max, x_max) normalised by the image's size, so they stay
right when the image is resized. Anything wrong (a file that is no JSON, a missing key, an
annotation of an unknown image or category, a box outside its image or without area, a missing
image file) is a one-line `DataError` naming the file and the entry.

Reference: cocodataset.org, "Data format" (object detection); Lin et al., "Microsoft COCO: Common
Objects in Context" (2014).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from kerascnn.data.folders import read_image
from kerascnn.errors import DataError

# Where a COCO folder keeps its files: annotations/instances_<split>.json and <split>/ images.
SPLITS = {"train": "train2017", "test": "val2017"}
# A box may reach this far past the image's edge (COCO's own boxes do, by rounding).
EDGE_TOLERANCE = 1.0


def find_split(folder, split: str) -> tuple[Path, Path] | None:
    """(annotation file, image folder) of `split` ("train" or "test") in a COCO folder:
    `annotations/instances_train2017.json` and `train2017/` (test: val2017), or
    `annotations/instances_<train|test|val>.json` and `<train|test|val>/`; None if absent."""
    folder = Path(folder)
    names = (SPLITS[split], split, *(("val",) if split == "test" else ()))
    for name in names:
        annotations = folder / "annotations" / f"instances_{name}.json"
        images = folder / name
        if annotations.is_file() and images.is_dir():
            return annotations, images
    return None


def read_json(path: Path) -> dict:
    """The annotation file, checked for the three lists detection needs."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(f"cannot read {path}: {error}") from None
    except json.JSONDecodeError as error:
        raise DataError(f"{path} is not valid JSON: {error}") from None
    if not isinstance(data, dict) or not all(
        isinstance(data.get(key), list) for key in ("images", "annotations", "categories")
    ):
        raise DataError(
            f"{path} is not a COCO detection file: it needs the lists 'images', 'annotations' "
            "and 'categories'"
        )
    return data


def class_names(data: dict, path: Path) -> tuple[list[int], tuple[str, ...]]:
    """(category ids in label order, their names)."""
    try:
        categories = sorted((int(c["id"]), str(c["name"])) for c in data["categories"])
    except (KeyError, TypeError, ValueError):
        raise DataError(f"{path}: every category needs an integer 'id' and a 'name'") from None
    if not categories:
        raise DataError(f"{path} lists no categories")
    return [c for c, _ in categories], tuple(name for _, name in categories)


def read_detection(path, image_folder, *, size, limit: int | None = None, categories=None):
    """(images uint8 (n, h, w, 3) at `size` = (h, w), boxes per image float32 (k, 4)
    normalised, labels per image int64 (k,), class names) of the images of the annotation file
    `path` (in its order; the first `limit`). `categories`: the category ids of another split,
    so both splits label alike; None: this file's."""
    path, image_folder = Path(path), Path(image_folder)
    data = read_json(path)
    ids, names = class_names(data, path)
    if categories is not None and list(categories) != ids:
        raise DataError(f"{path} has other categories than the training split's")
    label_of = {category: label for label, category in enumerate(ids)}
    entries = {}
    for number, image in enumerate(data["images"]):
        try:
            entries[int(image["id"])] = (
                str(image["file_name"]),
                int(image["height"]),
                int(image["width"]),
            )
        except (KeyError, TypeError, ValueError):
            raise DataError(
                f"{path}, images[{number}]: needs 'id', 'file_name', 'height' and 'width'"
            ) from None
    found = {image_id: ([], []) for image_id in entries}
    for number, annotation in enumerate(data["annotations"]):
        where = f"{path}, annotations[{number}]"
        try:
            image_id, category = int(annotation["image_id"]), int(annotation["category_id"])
            x, y, width, height = (float(v) for v in annotation["bbox"])
        except (KeyError, TypeError, ValueError):
            raise DataError(
                f"{where}: needs 'image_id', 'category_id' and 'bbox' [x, y, width, height]"
            ) from None
        if image_id not in entries:
            raise DataError(f"{where}: image_id {image_id} is not in the file's images")
        if category not in label_of:
            raise DataError(f"{where}: category_id {category} is not in the file's categories")
        _, image_height, image_width = entries[image_id]
        inside = (
            x >= -EDGE_TOLERANCE
            and y >= -EDGE_TOLERANCE
            and x + width <= image_width + EDGE_TOLERANCE
            and y + height <= image_height + EDGE_TOLERANCE
        )
        if width <= 0 or height <= 0 or not inside:
            raise DataError(
                f"{where}: bbox [{x:g}, {y:g}, {width:g}, {height:g}] is not a box inside its "
                f"{image_width}x{image_height} image {entries[image_id][0]}"
            )
        if annotation.get("iscrowd", 0):
            continue
        box = np.clip(
            [
                y / image_height,
                x / image_width,
                (y + height) / image_height,
                (x + width) / image_width,
            ],
            0,
            1,
        )
        found[image_id][0].append(box)
        found[image_id][1].append(label_of[category])
    chosen = list(entries)[: limit or None]
    images = np.empty((len(chosen), *size, 3), np.uint8)
    for index, image_id in enumerate(chosen):
        file = image_folder / entries[image_id][0]
        if not file.is_file():
            raise DataError(f"{path}: image {image_id} has no file {file}")
        images[index] = read_image(file, channels=3, size=tuple(size))
    boxes = [np.asarray(found[i][0], np.float32).reshape(-1, 4) for i in chosen]
    labels = [np.asarray(found[i][1], np.int64) for i in chosen]
    return images, boxes, labels, names, ids
