"""FCN-8s's mean IoU on the synthetic digit canvases (issue 23: target >= 0.85 over 11 classes).

    python scripts/segmentation_iou.py [--epochs 12] [--data-dir MNIST_IDX_DIR] [--set KEY=VALUE ...]

Trains the `fcn8s_digits` recipe through the one run function (a fresh run under runs/, exported
and verified), then records its test mean IoU, pixel accuracy, epochs and time, with the commit
and machine, in docs/measurements/segmentation_iou.json. The canvases use the bundled MNIST
sample's digits unless --data-dir gives MNIST IDX files. Time: 138 ms per training image at
128 px measured on the 2 shared CPU cores under a load average of 6, so about 9 minutes per
epoch of the 4,000 canvases and 1.5-2 hours for the recipe's 12 epochs (less on idle cores).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import measurements  # noqa: E402  (scripts/measurements.py)

RECIPE = "fcn8s_digits"
PATH = measurements.MEASUREMENTS / "segmentation_iou.json"


def main(argv=None) -> dict:
    result, code = measurements.run_canvas_recipe(RECIPE, __doc__.splitlines()[0], argv)
    metrics = result.metrics
    row = {
        "test_mean_iou": round(metrics["test_mean_iou"], 4),
        "test_pixel_accuracy": round(metrics["test_pixel_accuracy"], 4),
        "target_mean_iou": result.recipe.target_mean_iou,
        "epochs": metrics["epochs"],
        "train_seconds": metrics["train_seconds"],
        "data": metrics["data"]["source"],
        "run_dir": str(result.run_dir),
        **code,
    }
    measurements.merge(PATH, [RECIPE], row)
    print(f"{RECIPE}: mean IoU {row['test_mean_iou']:.4f} (target {row['target_mean_iou']})")
    return row


if __name__ == "__main__":
    main()
