"""R-CNN beside Faster R-CNN on the same synthetic test canvases (issue 23, point 4): the book's
point that one CNN doing everything is faster.

    python scripts/detection_table.py [--data-dir MNIST_IDX_DIR] [--set KEY=VALUE ...]
        [--set-rcnn KEY=VALUE ...] [--set-faster KEY=VALUE ...] [--smoke] [--only RECIPE]

Trains `rcnn_digits` and `faster_rcnn_digits` through the one run function (fresh runs under
runs/, no exports), each scored by the detection task's COCO evaluation (pycocotools) on the
same test canvases, and records per recipe its mAP@0.5, COCO mAP@[.5:.95], mAP@0.75, detection
speed (images/s over the whole test split in batches of the recipe's size; R-CNN's includes
selective search on every image), training time (R-CNN's includes selective search on its
training images, `train_proposal_seconds`), epochs, training images and parameters, with the
commit and machine, in docs/measurements/detection_table.json, and prints a Markdown table.
`--set` applies to both recipes, `--set-rcnn` / `--set-faster` to one; `--smoke` trains each
recipe's smoke version (seconds; what the test runs); `--only` trains and records one of them.

Time on 2 cores: rcnn_digits 7.5 minutes on cores shared with other runs (measured with --only
rcnn_digits), faster_rcnn_digits an estimated 30 minutes on idle ones (scripts/detection_map.py):
about 40 minutes for both, an hour or more on loaded cores; not run to the end yet.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import measurements  # noqa: E402  (scripts/measurements.py)

from kerascnn import recipes  # noqa: E402
from kerascnn.errors import KerasCNNError  # noqa: E402
from kerascnn.overrides import parse_assignments  # noqa: E402

RECIPES = ("rcnn_digits", "faster_rcnn_digits")
PATH = measurements.MEASUREMENTS / "detection_table.json"
COLUMNS = (
    ("recipe", "recipe", "{}"),
    ("test_map50", "mAP@0.5", "{:.3f}"),
    ("test_map", "COCO mAP", "{:.3f}"),
    ("test_images_per_second", "images/s (test)", "{:.1f}"),
    ("train_seconds_total", "training s", "{:.0f}"),
    ("epochs", "epochs", "{}"),
    ("train_images", "training images", "{}"),
)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help="MNIST IDX files whose digits fill the canvases")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--set-rcnn", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--set-faster", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--smoke", action="store_true", help="each recipe's smoke version")
    parser.add_argument(
        "--only", choices=RECIPES, help="train and record one of the two (no comparison)"
    )
    args = parser.parse_args(argv)
    own = {"rcnn_digits": args.set_rcnn, "faster_rcnn_digits": args.set_faster}
    code = measurements.provenance()  # before training: the package may change during a run
    rows = {}
    for name in [args.only] if args.only else RECIPES:
        settings = {"export.enabled": "false", **parse_assignments(args.set + own[name])}
        if args.data_dir:
            settings["data.data_dir"] = args.data_dir
        recipe = recipes.resolve(name, settings, from_text=True, smoke=args.smoke)
        result = recipes.run(recipe, fresh=True, verbose=2)
        rows[name] = {**row_of(result), "smoke": args.smoke, **code}
    check_same_test_images(rows)
    for name, row in rows.items():
        measurements.merge(PATH, [name], row)
    print(table(rows))
    return rows


def row_of(result) -> dict:
    """One recipe's figures from its finished run."""
    metrics = result.metrics
    proposals = metrics.get("train_proposal_seconds", 0.0)
    return {
        "test_map": round(metrics["test_map"], 4),
        "test_map50": round(metrics["test_map50"], 4),
        "test_map75": round(metrics["test_map75"], 4),
        "test_images_per_second": metrics["test_images_per_second"],
        "train_seconds": metrics["train_seconds"],
        "train_proposal_seconds": proposals,
        "train_seconds_total": round(metrics["train_seconds"] + proposals, 1),
        "epochs": metrics["epochs"],
        "train_images": metrics["data"]["num_train"],
        "test_images": metrics["data"]["num_test"],
        "parameters": metrics["parameters"],
        "data": metrics["data"]["source"],
        "run_dir": str(result.run_dir),
    }


def check_same_test_images(rows: dict) -> None:
    """Both recipes were scored on the same canvases: same source (size, digits) and count."""
    seen = {(row["data"], row["test_images"]) for row in rows.values()}
    if len(seen) != 1:
        raise KerasCNNError(
            "the two recipes were scored on different test images ("
            + "; ".join(
                f"{name}: {row['test_images']} of {row['data']}" for name, row in rows.items()
            )
            + "); give both the same data.image_shape and data.test_limit with --set"
        )


def table(rows: dict) -> str:
    """The rows as a Markdown table."""
    lines = [
        "| " + " | ".join(title for _, title, _ in COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
    ]
    for name, row in rows.items():
        values = {**row, "recipe": f"`{name}`"}
        lines.append("| " + " | ".join(f.format(values[key]) for key, _, f in COLUMNS) + " |")
    first = next(iter(rows.values()))
    lines.append(f"\n{first['test_images']} test images of {first['data']}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
