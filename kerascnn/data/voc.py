"""Pascal VOC as distributed (VOCdevkit/VOC2012, or any folder in its layout): the one reader of
that folder.

Segmentation: the image ids of `ImageSets/Segmentation/<split>.txt`, each with its photo
`JPEGImages/<id>.jpg` and its mask `SegmentationClass/<id>.png`, a palette PNG whose pixel values
are class indices (0 background, 1-20 the classes of `CLASS_NAMES`, 255 the uncertain border,
which the loss and metrics ignore). Images are resized to the size asked for (bilinear), masks
with nearest neighbours, so they stay class indices.

Detection: the image ids of `ImageSets/Main/<split>.txt`, each with its photo and its annotation
`Annotations/<id>.xml` (an `<object>` per box: its class `<name>`, one of the 20 of
`OBJECT_NAMES`, and `<bndbox>` corners `xmin ymin xmax ymax`, 1-based and inclusive). Boxes come
back as (y_min, x_min, y_max, x_max) normalised by the photo's size (max exclusive, so 1-based
inclusive `xmin=1 xmax=W` is 0 .. 1), labels 0-19. Objects marked `difficult` are kept (VOC's own
evaluation ignores them; COCO's, used here, has no such mark).

Anything wrong (a missing file, a line that is no image id, a mask that is not a palette PNG, of
another size than its photo, or with a value outside the classes; an annotation that is no XML,
names an unknown class or has a box outside its photo) is a one-line `DataError` naming the file
and the entry.

Reference: Mark Everingham et al., "The PASCAL Visual Object Classes Challenge 2012 (VOC2012)
Development Kit", sec. 2 and 4.2.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kerascnn.data.folders import read_image
from kerascnn.errors import DataError

CLASS_NAMES = (
    "background",
    "aeroplane",
    "bicycle",
    "bird",
    "boat",
    "bottle",
    "bus",
    "car",
    "cat",
    "chair",
    "cow",
    "diningtable",
    "dog",
    "horse",
    "motorbike",
    "person",
    "pottedplant",
    "sheep",
    "sofa",
    "train",
    "tvmonitor",
)
IGNORE_LABEL = 255
# Where a VOC root may sit under the folder a user names.
ROOTS = (".", "VOC2012", "VOCdevkit/VOC2012", "VOC2007", "VOCdevkit/VOC2007")
SEGMENTATION_SETS = Path("ImageSets") / "Segmentation"
DETECTION_SETS = Path("ImageSets") / "Main"
# The object classes of a detector (no background): labels 0-19.
OBJECT_NAMES = CLASS_NAMES[1:]


def find_root(folder) -> Path | None:
    """The VOC root at or under `folder` (the folder holding `JPEGImages/`), or None."""
    for relative in ROOTS:
        root = Path(folder) / relative
        if (root / "JPEGImages").is_dir() and (root / "ImageSets").is_dir():
            return root
    return None


def read_ids(root: Path, split: str, sets: Path = SEGMENTATION_SETS) -> list[str]:
    """The image ids listed in `<sets>/<split>.txt` (`ImageSets/Segmentation` by default, or
    `DETECTION_SETS`), in order."""
    path = root / sets / f"{split}.txt"
    if not path.is_file():
        task = "segmentation" if sets == SEGMENTATION_SETS else "detection"
        raise DataError(
            f"{path} does not exist; a VOC {task} folder lists its images in "
            f"{sets}/train.txt and val.txt"
        )
    ids = []
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), start=1):
        text = line.strip()
        if not text:
            continue
        if len(text.split()) != 1 or "/" in text or "\\" in text:
            raise DataError(f"{path} line {number}: {text[:60]!r} is not an image id")
        ids.append(text)
    if not ids:
        raise DataError(f"{path} lists no images")
    return ids


def read_mask(path: Path, classes: int = len(CLASS_NAMES)) -> np.ndarray:
    """A palette PNG's class indices, uint8 (h, w); values 0..classes-1 and `IGNORE_LABEL`."""
    # Pillow, not tf.io.decode_png: TensorFlow turns a palette into its colours, and the
    # indices are what a VOC mask means.
    from PIL import Image, UnidentifiedImageError

    if not path.is_file():
        raise DataError(f"mask {path} does not exist")
    try:
        with Image.open(path) as image:
            mode = image.mode
            mask = np.asarray(image)
    except (OSError, UnidentifiedImageError) as error:
        raise DataError(f"cannot read mask {path}: {str(error).splitlines()[0][:120]}") from None
    if mode != "P":
        raise DataError(
            f"mask {path} is a {mode!r} image, not a palette ('P') PNG: VOC masks store a class "
            "index per pixel"
        )
    wrong = (mask >= classes) & (mask != IGNORE_LABEL)
    if wrong.any():
        row, column = (int(v[0]) for v in np.nonzero(wrong))
        raise DataError(
            f"mask {path} has class {mask[row, column]} at row {row}, column {column}; the "
            f"classes are 0-{classes - 1} and {IGNORE_LABEL} (border)"
        )
    return mask


def read_segmentation(root, split: str, *, size, limit: int | None = None):
    """(images uint8 (n, h, w, 3), masks uint8 (n, h, w)) of `split` ('train' or 'val') at
    `size` = (h, w)."""
    root = Path(root)
    ids = read_ids(root, split)[: limit or None]
    images = np.empty((len(ids), *size, 3), np.uint8)
    masks = np.empty((len(ids), *size), np.uint8)
    listed = root / SEGMENTATION_SETS / f"{split}.txt"
    for index, image_id in enumerate(ids):
        photo = root / "JPEGImages" / f"{image_id}.jpg"
        if not photo.is_file():
            raise DataError(f"{listed}: image {image_id!r} has no photo {photo}")
        picture = read_image(photo, channels=3)
        mask = read_mask(root / "SegmentationClass" / f"{image_id}.png")
        if mask.shape != picture.shape[:2]:
            raise DataError(
                f"mask {root / 'SegmentationClass' / image_id}.png is {mask.shape[1]}x"
                f"{mask.shape[0]}, its photo {photo.name} {picture.shape[1]}x{picture.shape[0]}; "
                "a mask must have its photo's size"
            )
        images[index] = read_image(photo, channels=3, size=tuple(size))
        masks[index] = _nearest(mask, size)
    return images, masks


def _nearest(mask: np.ndarray, size) -> np.ndarray:
    """`mask` resized to `size` by nearest neighbours (pixel centres), so values stay classes."""
    height, width = mask.shape
    rows = np.minimum(((np.arange(size[0]) + 0.5) * height / size[0]).astype(int), height - 1)
    columns = np.minimum(((np.arange(size[1]) + 0.5) * width / size[1]).astype(int), width - 1)
    return mask[rows][:, columns]


def read_annotation(path: Path, classes=OBJECT_NAMES):
    """(boxes float32 (k, 4) in pixels (y_min, x_min, y_max, x_max), labels int64 (k,), (height,
    width) from `<size>`) of one VOC annotation file."""
    # ElementTree: the standard library's parser; expat refuses entity expansion bombs.
    import xml.etree.ElementTree as ElementTree

    if not path.is_file():
        raise DataError(f"annotation {path} does not exist")
    try:
        root = ElementTree.parse(path).getroot()
    except (ElementTree.ParseError, OSError) as error:
        raise DataError(f"annotation {path} is not valid XML: {str(error)[:120]}") from None
    try:
        size = root.find("size")
        height, width = (int(float(size.find(key).text)) for key in ("height", "width"))
    except (AttributeError, TypeError, ValueError):
        raise DataError(f"annotation {path} has no <size> with <height> and <width>") from None
    found, labels = [], []
    for number, entry in enumerate(root.findall("object"), start=1):
        name = (entry.findtext("name") or "").strip()
        if name not in classes:
            raise DataError(
                f"annotation {path}, object {number}: unknown class {name[:40]!r}; the classes "
                f"are {', '.join(classes)}"
            )
        try:
            corners = [
                float(entry.find("bndbox").find(k).text) for k in ("ymin", "xmin", "ymax", "xmax")
            ]
        except (AttributeError, TypeError, ValueError):
            raise DataError(
                f"annotation {path}, object {number} ({name}): no <bndbox> with numeric "
                "xmin, ymin, xmax, ymax"
            ) from None
        top, left, bottom, right = corners
        # 1-based inclusive corners -> 0-based, max exclusive.
        box = [top - 1, left - 1, bottom, right]
        if not (0 <= box[0] < box[2] <= height and 0 <= box[1] < box[3] <= width):
            raise DataError(
                f"annotation {path}, object {number} ({name}): box xmin={left:g} ymin={top:g} "
                f"xmax={right:g} ymax={bottom:g} is not inside the {width}x{height} image"
            )
        found.append(box)
        labels.append(classes.index(name))
    return (
        np.asarray(found, np.float32).reshape(-1, 4),
        np.asarray(labels, np.int64),
        (height, width),
    )


def read_detection(root, split: str, *, size, limit: int | None = None):
    """(images uint8 (n, h, w, 3) at `size` = (h, w), boxes: per image float32 (k, 4)
    normalised, labels: per image int64 (k,)) of `split` ('train', 'val', 'trainval', 'test')."""
    root = Path(root)
    ids = read_ids(root, split, DETECTION_SETS)[: limit or None]
    listed = root / DETECTION_SETS / f"{split}.txt"
    images = np.empty((len(ids), *size, 3), np.uint8)
    all_boxes, all_labels = [], []
    for index, image_id in enumerate(ids):
        photo = root / "JPEGImages" / f"{image_id}.jpg"
        if not photo.is_file():
            raise DataError(f"{listed}: image {image_id!r} has no photo {photo}")
        annotation = root / "Annotations" / f"{image_id}.xml"
        found, labels, (height, width) = read_annotation(annotation)
        picture = read_image(photo, channels=3)
        if picture.shape[:2] != (height, width):
            raise DataError(
                f"annotation {annotation} gives the size {width}x{height}, its photo {photo.name} "
                f"is {picture.shape[1]}x{picture.shape[0]}"
            )
        images[index] = read_image(photo, channels=3, size=tuple(size))
        all_boxes.append(found / np.array([height, width, height, width], np.float32))
        all_labels.append(labels)
    return images, all_boxes, all_labels
