"""Class names: what a classifier's outputs are called, in one place.

A run records its dataset's names with the data it trained on (`DatasetInfo.class_names`: tfds'
label names, class-folder names, "0".."9" for MNIST digits), in its records and its export's
(`kerascnn.runs.Trained.data`). A model that records none is named here: ImageNet's 1,000
classes when the package ships their names (`IMAGENET_NAMES_FILE`, a JSON list in class order,
shipped with the ImageNet weights) and the model has 1,000 outputs (keras.applications'
`decode_predictions` rule), otherwise its class numbers.
"""

from __future__ import annotations

import json
from pathlib import Path

IMAGENET_CLASSES = 1000
IMAGENET_NAMES_FILE = Path(__file__).resolve().parent / "assets" / "imagenet_class_names.json"


def numbered(count: int) -> tuple[str, ...]:
    """ "0", "1", ... : the names of classes known only by number."""
    return tuple(str(index) for index in range(count))


def imagenet() -> tuple[str, ...]:
    """ImageNet's 1,000 class names in the order of its class numbers, or () when the package
    does not ship them."""
    try:
        names = json.loads(IMAGENET_NAMES_FILE.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ()
    if not isinstance(names, list) or len(names) != IMAGENET_CLASSES:
        return ()
    return tuple(str(name) for name in names)


def for_outputs(count: int, recorded=()) -> tuple[str, ...]:
    """The names of a classifier's `count` outputs: the `recorded` ones when there is one per
    output; else ImageNet's for 1,000 outputs (when shipped); else the class numbers."""
    recorded = tuple(str(name) for name in recorded or ())
    if len(recorded) == count:
        return recorded
    if count == IMAGENET_CLASSES:
        return imagenet() or numbered(count)
    return numbered(count)
