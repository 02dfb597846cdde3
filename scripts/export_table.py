"""Exports trained classifiers in every format and prints what each costs and keeps.

    python scripts/export_table.py deep_mnist mnist_best resnet18 --data-dir ../shared/datasets/mnist
    python scripts/export_table.py runs/deep_mnist/20261203-120000 --data-dir ../shared/datasets/mnist
    python scripts/export_table.py deep_mnist --epochs 1 --train-limit 6000 --data-dir ...  # quick

Each argument is a run directory, or a recipe name: then the newest finished run of that recipe
(with the given `--epochs`, `--train-limit` and data) under `--runs-dir` is used, or one is trained
(on the full `--data-dir` data, no export). Every run is exported with `kerascnn export` as a
float32 SavedModel, ONNX, LiteRT float32, LiteRT float16 and LiteRT int8 (each verified in its
runtime before it is published), then each export is run in its own runtime (TensorFlow,
onnxruntime, the LiteRT interpreter) on the run's test split: file size, test accuracy and
images per second on this CPU (one image at a time, and in batches of 64), against the float32
SavedModel. Prints one Markdown table per run and merges the results, with the commit and the
machine, into `--out` (default docs/measurements/exports.json).

The issue's goal: int8 LiteRT within 0.3 points of the float32 accuracy at <= 30 % of its size;
the last line says whether each run meets it.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path

import measurements
import numpy as np
import tensorflow as tf

from kerascnn import recipes, runs
from kerascnn.data import batches, load_dataset
from kerascnn.data.pipeline import take_examples
from kerascnn.export import open_runtime, predict
from kerascnn.tools.export import export_run

FORMATS = [
    ("saved_model", None),
    ("onnx", None),
    ("litert", None),
    ("litert", "float16"),
    ("litert", "int8"),
]
BATCH = 64
# The goal for int8 LiteRT against the float32 SavedModel.
GOAL_POINTS, GOAL_SIZE = 0.3, 0.30


def find_or_train(name: str, args) -> Path:
    """The run directory `name` is, or the newest finished run of recipe `name` with the
    script's settings (trained now if there is none)."""
    if Path(name).is_dir():
        return Path(name)
    overrides = {
        "data.data_dir": args.data_dir,
        "data.offline_fallback": False,
        "runs_dir": args.runs_dir,
        "export.enabled": False,
    }
    if args.epochs is not None:
        overrides["epochs"] = args.epochs
    if args.train_limit is not None:
        overrides["data.train_limit"] = args.train_limit
    recipe = recipes.resolve(name, overrides)
    found = runs.finished_run(args.runs_dir, recipe)
    if found is not None:
        print(f"{name}: using the finished run {found}")
        return found
    return recipes.run(recipe, verbose=2).run_dir


def saved_model_size(version: Path) -> int:
    """The SavedModel's bytes: the graph and variables, not the .keras copy or the records."""
    records = {runs.EXPORTED_MODEL, runs.RECIPE, runs.METRICS}
    return sum(
        p.stat().st_size for p in version.rglob("*") if p.is_file() and p.name not in records
    )


def runtime_of(version: Path, format: str, quantize: str | None, threads: int):
    """(the export loaded in its runtime as images -> outputs, its size in bytes)."""
    if format == "saved_model":
        # The loaded object, not only its `serve`: the function needs its variables alive.
        loaded = runs.load_trained(version, serving=True).saved_model
        return (lambda images: loaded.serve(tf.constant(images)).numpy()), saved_model_size(version)
    file = version / runs.exported_file(format, quantize)
    return open_runtime(file, threads=threads), file.stat().st_size


def images_per_second(runtime, images: np.ndarray, batch_size: int, count: int) -> float:
    runtime(images[:batch_size])  # warm-up: allocation, first-call tracing
    count = min(count, len(images)) // batch_size * batch_size
    started = time.perf_counter()
    for start in range(0, count, batch_size):
        runtime(images[start : start + batch_size])
    return count / (time.perf_counter() - started)


def measure(run_dir: Path, args) -> dict:
    code = measurements.provenance()
    recipe = runs.read_recipe(run_dir)
    data_config = recipe.data
    if args.data_dir:
        data_config = dataclasses.replace(data_config, data_dir=args.data_dir)
    data = load_dataset(data_config)
    images, labels = take_examples(
        batches(data.test, batch_size=256), args.test_limit or data.info.num_test
    )
    threads = os.cpu_count()
    rows = []
    for format, quantize in FORMATS:
        options = {"calibration_images": args.calibration_images} if quantize == "int8" else {}
        version = export_run(
            run_dir,
            format=format,
            quantize=quantize,
            data_dir=args.data_dir,
            export_dir=args.export_dir,
            **options,
        )
        runtime, size = runtime_of(version, format, quantize, threads)
        started = time.perf_counter()
        outputs = predict(runtime, images, batch_size=BATCH)
        seconds = time.perf_counter() - started
        rows.append(
            {
                "format": format,
                "quantization": quantize or "float32",
                "export": str(version),
                "bytes": size,
                "test_accuracy": float(np.mean(outputs.argmax(-1) == labels)),
                f"images_per_second_batch_{BATCH}": len(images) / seconds,
                "images_per_second_batch_1": images_per_second(runtime, images, 1, args.timed),
                "verification": runs.read_export_record(version).get("verification"),
            }
        )
        print(f"  {format} {quantize or 'float32'}: {rows[-1]['test_accuracy']:.2%}", flush=True)
    reference = rows[0]
    for row in rows:
        row["size_vs_saved_model"] = row["bytes"] / reference["bytes"]
        row["accuracy_points_vs_saved_model"] = 100 * (
            row["test_accuracy"] - reference["test_accuracy"]
        )
    int8, trained = rows[-1], runs.read_metrics(run_dir)
    return {
        "recipe": recipe.name,
        "run": str(run_dir),
        "epochs": trained.get("epochs"),
        "train_images": trained.get("data", {}).get("num_train"),
        "run_test_accuracy": trained.get("test_accuracy"),
        "data": data.info.source,
        "test_images": len(images),
        "calibration_images": args.calibration_images,
        "threads": threads,
        # Other work on the machine slows every runtime: the timings are comparable within a run.
        "load_average": os.getloadavg()[0],
        "exports": rows,
        "int8_goal_met": int8["accuracy_points_vs_saved_model"] >= -GOAL_POINTS
        and int8["size_vs_saved_model"] <= GOAL_SIZE,
        **code,
    }


def table(result: dict) -> str:
    lines = [
        f"`{result['recipe']}` ({result['epochs']} epoch{'' if result['epochs'] == 1 else 's'} "
        f"of {result['train_images']:,} images; {result['test_images']:,} test images; "
        f"{result['threads']} threads; load average "
        f"{result['load_average']:.1f} when timed)",
        "",
        "| format | size | vs SavedModel | test accuracy | vs float32 | images/s (1) | "
        f"images/s ({BATCH}) |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in result["exports"]:
        name = {"saved_model": "SavedModel", "onnx": "ONNX", "litert": "LiteRT"}[row["format"]]
        lines.append(
            f"| {name} {row['quantization']} | {row['bytes'] / 1e6:.2f} MB | "
            f"{row['size_vs_saved_model']:.0%} | {row['test_accuracy']:.2%} | "
            f"{row['accuracy_points_vs_saved_model']:+.2f} pt | "
            f"{row['images_per_second_batch_1']:,.0f} | "
            f"{row[f'images_per_second_batch_{BATCH}']:,.0f} |"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="run directories or recipe names")
    parser.add_argument("--data-dir", help="the runs' dataset (full MNIST: IDX files)")
    parser.add_argument("--epochs", type=int, help="epochs of a run trained here")
    parser.add_argument("--train-limit", type=int, help="training images of a run trained here")
    parser.add_argument("--runs-dir", default="runs/exports")
    parser.add_argument("--export-dir", default="saved_models/exports")
    parser.add_argument("--calibration-images", type=int, default=500)
    parser.add_argument("--test-limit", type=int, help="test images (default: the whole split)")
    parser.add_argument(
        "--timed", type=int, default=500, help="images timed one at a time (default 500)"
    )
    parser.add_argument("--out", type=Path, default=measurements.MEASUREMENTS / "exports.json")
    args = parser.parse_args(argv)
    results = []
    for name in args.runs:
        run_dir = find_or_train(name, args)
        print(f"{name}: exporting {run_dir}", flush=True)
        result = measure(run_dir, args)
        measurements.merge(args.out, [result["recipe"]], result)
        results.append(result)
    for result in results:
        print("\n" + table(result))
    print()
    for result in results:
        verdict = "met" if result["int8_goal_met"] else "NOT met"
        print(
            f"{result['recipe']}: int8 LiteRT within {GOAL_POINTS} points at <= "
            f"{GOAL_SIZE:.0%} of the SavedModel's size: {verdict}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
