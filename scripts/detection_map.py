"""Faster R-CNN's mAP on the synthetic digit canvases (issue 23: targets mAP@0.5 >= 0.90 and COCO
mAP@[.5:.95] >= 0.60 over the ten digits).

    python scripts/detection_map.py [--epochs 10] [--data-dir MNIST_IDX_DIR] [--set KEY=VALUE ...]

Trains the `faster_rcnn_digits` recipe through the one run function (a fresh run under runs/,
exported and verified), then records its test COCO mAP, mAP@0.5, mAP@0.75, detection speed
(images/s of the whole test split, batches of the recipe's size), epochs and time, with the
commit and machine, in docs/measurements/detection_map.json. The canvases use the bundled MNIST
sample's digits unless --data-dir gives MNIST IDX files. Time: 40 ms per training image at
128 px with the recipe's settings on the 2 CPU cores when nobody else uses them (80 ms under a
load average of 4), so about 2.7 minutes per epoch of the 4,000 canvases and 30 minutes for the
recipe's 10 epochs (an hour on loaded cores); detection runs at about 80 images/s. Not run to
the end yet; the shorter trials are in docs/experiments/2026-12-03-faster-rcnn.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import measurements  # noqa: E402  (scripts/measurements.py)

RECIPE = "faster_rcnn_digits"
PATH = measurements.MEASUREMENTS / "detection_map.json"


def main(argv=None) -> dict:
    result, code = measurements.run_canvas_recipe(RECIPE, __doc__.splitlines()[0], argv)
    metrics = result.metrics
    row = {
        "test_map": round(metrics["test_map"], 4),
        "test_map50": round(metrics["test_map50"], 4),
        "test_map75": round(metrics["test_map75"], 4),
        "test_images_per_second": metrics["test_images_per_second"],
        "target_map50": result.recipe.target_map50,
        "target_map": TARGET_MAP,
        "epochs": metrics["epochs"],
        "train_seconds": metrics["train_seconds"],
        "test_images": metrics["data"]["num_test"],
        "data": metrics["data"]["source"],
        "run_dir": str(result.run_dir),
        **code,
    }
    measurements.merge(PATH, [RECIPE], row)
    print(
        f"{RECIPE}: mAP@0.5 {row['test_map50']:.4f} (target {row['target_map50']}), COCO mAP "
        f"{row['test_map']:.4f} (target {TARGET_MAP}), mAP@0.75 {row['test_map75']:.4f}, "
        f"{row['test_images_per_second']:.1f} images/s"
    )
    return row


# Issue 23's second target; the recipe records the first (target_map50).
TARGET_MAP = 0.60

if __name__ == "__main__":
    main()
