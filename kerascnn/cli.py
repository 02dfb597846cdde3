"""The `kerascnn` command: list, show and run recipes, and report on runs.

    kerascnn list
    kerascnn show deep_mnist [--format json|python] [overrides]
    kerascnn run deep_mnist --epochs 2 [--set optimizer.learning_rate=3e-4] [--data-dir DIR]
    kerascnn run recipes/deep_mnist.py
    kerascnn run deep_mnist            # again: resumes the unfinished run; --fresh starts over
    kerascnn report runs/deep_mnist/20261122-081500
    kerascnn sample saved_models/dcgan/1 --n 64 --out grid.png
    kerascnn sample saved_models/cdcgan/1 --label 7 --n 64 --out sevens.png
    kerascnn caption saved_models/captioning/1 scene.png [more.png ...] [--beam 3 with a run dir]
    kerascnn profile alexnet
    kerascnn predict runs/deep_mnist/20261122-081500 seven.png photo.jpg [--top 3] [--json]
    kerascnn export runs/deep_mnist/20261122-081500 --format litert --quantize int8
    kerascnn segment saved_models/fcn8s_digits/1 canvas.png [more.png ...] [--out-dir DIR]
    kerascnn detect saved_models/faster_rcnn_digits/1 canvas.png [more.png ...] [--score 0.5]

Bad input ends in one line on stderr and exit code 2, before anything is written.
"""

from __future__ import annotations

# Each command imports what it needs inside its handler, so that `kerascnn --help` and a usage error
# answer at once, without importing TensorFlow.
import argparse
import json
import os
import sys
import tempfile
from contextlib import contextmanager

USAGE_ERROR = 2
# What a shell reports for a process ended by SIGPIPE (128 + 13), as `git log | head` ends.
CLOSED_PIPE = 141


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: what was wrong and where to read more."""

    def error(self, message):
        self.exit(USAGE_ERROR, f"kerascnn: error: {message} (see '{self.prog} --help')\n")


@contextmanager
def _quiet_native_logs():
    """Hides the INFO lines TensorFlow's C++ core prints at import, before any log setting applies.

    They would bury the one-line errors; set KERASCNN_TF_LOGS=1 to see them.
    """
    if os.environ.get("KERASCNN_TF_LOGS"):
        yield
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            sink.seek(0)
            sys.stderr.write(sink.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _add_overrides(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("overrides (any recipe field; see 'kerascnn show NAME')")
    group.add_argument("--epochs", type=int, help="number of epochs")
    group.add_argument("--batch-size", type=int, help="global batch size")
    group.add_argument("--learning-rate", type=float, help="optimizer.learning_rate")
    group.add_argument("--dataset", help="tfds name (mnist, fashion_mnist ...) or mnist_sample")
    group.add_argument(
        "--data-dir",
        help="local data instead of tfds: IDX files, class folders, a CIFAR copy or Flickr8k captions",
    )
    group.add_argument("--augmentation", help="augmentation preset")
    group.add_argument(
        "--precision",
        help="float32, mixed_float16, mixed_bfloat16 or auto (chosen for the machine)",
    )
    group.add_argument(
        "--strategy", help="default, mirrored or multi_worker (the cluster in TF_CONFIG)"
    )
    group.add_argument("--seed", type=int, help="random seed")
    group.add_argument(
        "--init-from",
        help="start from this run, export or .keras file, or 'imagenet' for the model's published "
        "ImageNet weights (transfer.init_from; the top starts fresh)",
    )
    group.add_argument("--runs-dir", help="where run directories go (default runs/)")
    group.add_argument("--export-dir", help="where exports go (default saved_models/)")
    group.add_argument("--no-export", action="store_true", help="skip the SavedModel export")
    group.add_argument("--smoke", action="store_true", help="the seconds-long smoke version")
    group.add_argument(
        "--deterministic",
        action="store_true",
        help="bit-identical reruns and resumes (op determinism; slower)",
    )
    group.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="set any field, e.g. --set optimizer.schedule=cosine (repeatable)",
    )


_FLAG_KEYS = {
    "epochs": "epochs",
    "batch_size": "batch_size",
    "learning_rate": "optimizer.learning_rate",
    "dataset": "data.name",
    "data_dir": "data.data_dir",
    "augmentation": "augmentation",
    "precision": "precision",
    "strategy": "strategy",
    "seed": "seed",
    "init_from": "transfer.init_from",
    "runs_dir": "runs_dir",
    "export_dir": "export.directory",
}


def _resolve(args):
    """The recipe with the flags, then the --set assignments; a flag or assignment the resolved
    recipe would not read is refused (`kerascnn.training.checks.check_overrides`)."""
    from kerascnn.recipes import parse_assignments, resolve
    from kerascnn.training.checks import check_overrides

    overrides = {
        key: getattr(args, flag)
        for flag, key in _FLAG_KEYS.items()
        if getattr(args, flag) is not None
    }
    if args.no_export:
        overrides["export.enabled"] = False
    if args.deterministic:
        overrides["deterministic"] = True
    assignments = parse_assignments(args.set)
    recipe = resolve(args.recipe, overrides, smoke=args.smoke)
    recipe = resolve(recipe, assignments, from_text=True)
    check_overrides(recipe, {**overrides, **assignments})
    return recipe


def _list(args) -> None:
    from kerascnn.registry import augmentations, models, recipes

    kinds = (("recipe", recipes), ("model", models), ("augmentation", augmentations))
    width = max(len(name) for _, registry in kinds for name in registry) + 1
    for kind, registry in kinds:
        for name in registry:
            print(f"{kind:<13} {name:<{width}} {registry.summary(name)}")


def _show(args) -> None:
    from kerascnn.recipes import check, python_source, to_dict

    recipe = _resolve(args)
    check(recipe)
    if args.format == "python":
        print(python_source(recipe), end="")
    else:
        print(json.dumps(to_dict(recipe), indent=2))


def _run(args) -> None:
    from kerascnn.recipes import train

    train(_resolve(args), verbose=args.verbose, fresh=args.fresh)


def _report(args) -> None:
    from kerascnn.tools.report import write_report

    page = write_report(args.run_dir, examples=args.examples)
    print(f"report: {page}  (figures as PNG beside it)")


def _profile(args) -> None:
    from kerascnn.tools.profile import profile_recipe

    path = profile_recipe(
        args.recipe, batch_size=args.batch_size, repeats=args.repeats, out=args.out
    )
    print(f"chart: {path}")


def _sample(args) -> None:
    from kerascnn.tools.sample import write_sample_grid

    path = write_sample_grid(args.source, args.out, count=args.n, seed=args.seed, label=args.label)
    print(f"samples: {path}")


def _caption(args) -> None:
    from kerascnn.tools.caption import caption_files

    for path, text in zip(
        args.images, caption_files(args.source, args.images, beam=args.beam), strict=True
    ):
        print(f"{path}: {text}")


def _export(args) -> None:
    from kerascnn.tools.export import describe, export_run

    version = export_run(
        args.source,
        format=args.format,
        quantize=args.quantize,
        calibration_images=args.calibration_images,
        verify_images=args.verify_images,
        data_dir=args.data_dir,
        export_dir=args.export_dir,
    )
    print(describe(version))


def _predict(args) -> None:
    from kerascnn.tools.predict import format_predictions, predict

    predictions = predict(args.source, args.images, top=args.top)
    if args.json:
        print(json.dumps([prediction.to_dict() for prediction in predictions], indent=2))
    else:
        print(format_predictions(predictions))


def _segment(args) -> None:
    from kerascnn.tools.segment import format_segmentations, segment_files

    print(format_segmentations(segment_files(args.source, args.images, out_dir=args.out_dir)))


def _detect(args) -> None:
    from kerascnn.tools.detect import detect_files, format_detections

    found = detect_files(args.source, args.images, out_dir=args.out_dir, score=args.score)
    print(format_detections(found))


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="kerascnn", description="Train the classic CNN families with recipes.")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    commands = parser.add_subparsers(dest="command", parser_class=_Parser)
    commands.add_parser("list", help="list recipes, models and augmentation presets").set_defaults(
        handler=_list
    )
    show = commands.add_parser("show", help="print a resolved recipe")
    show.add_argument("recipe", help="registered name or path of a .py / .json recipe file")
    show.add_argument("--format", choices=("json", "python"), default="json")
    _add_overrides(show)
    show.set_defaults(handler=_show)
    run = commands.add_parser("run", help="train a recipe, log it and export the model")
    run.add_argument("recipe", help="registered name or path of a .py / .json recipe file")
    run.add_argument(
        "--verbose",
        type=int,
        choices=(0, 1, 2),
        default=None,
        help="Keras verbosity (default: progress bar on a terminal, a line per epoch otherwise)",
    )
    run.add_argument(
        "--fresh",
        action="store_true",
        help="start a new run even if this recipe has an unfinished or finished one under runs/",
    )
    _add_overrides(run)
    run.set_defaults(handler=_run)
    report = commands.add_parser(
        "report", help="write a run's figures as PNG and one HTML page under RUN_DIR/report/"
    )
    report.add_argument("run_dir", help="a run directory, e.g. runs/deep_mnist/20261122-081500")
    report.add_argument(
        "--examples", type=int, default=2000, help="test images to evaluate (default 2000)"
    )
    report.set_defaults(handler=_report)
    profile = commands.add_parser(
        "profile", help="each layer's share of a training step's time for a recipe's model"
    )
    profile.add_argument("recipe", help="registered name or path of a recipe file")
    profile.add_argument("--batch-size", type=int, default=32, help="images per pass (default 32)")
    profile.add_argument("--repeats", type=int, default=3, help="timed passes (default 3)")
    profile.add_argument("--out", help="PNG to write (default profile_NAME.png)")
    profile.set_defaults(handler=_profile)
    sample = commands.add_parser("sample", help="write a grid of images made by a trained GAN")
    sample.add_argument("source", help="a GAN export (saved_models/dcgan/1) or run directory")
    sample.add_argument(
        "--n", type=int, help="number of images (default 64; with --label all, per class: 8)"
    )
    sample.add_argument("--out", default="samples.png", help="PNG file to write")
    sample.add_argument("--seed", type=int, default=0, help="seed of the noise")
    sample.add_argument(
        "--label",
        help="a conditional GAN's (cdcgan) class to draw, e.g. 7, or 'all' for one row per class "
        "(default: every class in turn)",
    )
    sample.set_defaults(handler=_sample)
    caption = commands.add_parser("caption", help="print a trained captioning model's captions")
    caption.add_argument(
        "source", help="a captioning export (saved_models/captioning/1) or run directory"
    )
    caption.add_argument("images", nargs="+", help="image files (PNG, JPEG, BMP, GIF)")
    caption.add_argument(
        "--beam", type=int, default=0, help="beam width (default 0: greedy; run directories only)"
    )
    caption.set_defaults(handler=_caption)
    predict = commands.add_parser(
        "predict", help="classify image files with a trained classifier: top classes per image"
    )
    predict.add_argument(
        "source", help="a classifier's run directory, export (saved_models/NAME/N) or .keras file"
    )
    predict.add_argument("images", nargs="+", help="image files (PNG, JPEG, BMP, GIF), any size")
    predict.add_argument(
        "--top", type=int, default=5, help="classes to show per image, best first (default 5)"
    )
    predict.add_argument(
        "--json", action="store_true", help="print JSON: per image its top classes"
    )
    predict.set_defaults(handler=_predict)
    segment = commands.add_parser(
        "segment", help="classify every pixel of image files: writes each with its mask overlaid"
    )
    segment.add_argument(
        "source", help="a segmentation run directory, export (saved_models/NAME/N) or .keras file"
    )
    segment.add_argument("images", nargs="+", help="image files (PNG, JPEG, BMP, GIF), any size")
    segment.add_argument(
        "--out-dir", default=".", help="where <image>_segmented.png go (default: here)"
    )
    segment.set_defaults(handler=_segment)
    detect = commands.add_parser(
        "detect", help="find objects in image files: writes each with its boxes and labels drawn"
    )
    detect.add_argument(
        "source", help="a detection run directory, export (saved_models/NAME/N) or .keras file"
    )
    detect.add_argument("images", nargs="+", help="image files (PNG, JPEG, BMP, GIF), any size")
    detect.add_argument(
        "--score", type=float, default=0.5, help="smallest score of a box drawn (default 0.5)"
    )
    detect.add_argument(
        "--out-dir", default=".", help="where <image>_detected.png go (default: here)"
    )
    detect.set_defaults(handler=_detect)
    export = commands.add_parser(
        "export",
        help="export a run's model for TensorFlow, onnxruntime or LiteRT, verified in that runtime",
    )
    export.add_argument(
        "source", help="a run directory (runs/deep_mnist/<time>) or an export (saved_models/NAME/N)"
    )
    # Formats and quantizations are checked by kerascnn.export.check_request (one source).
    export.add_argument(
        "--format", default="saved_model", help="saved_model (default), onnx or litert"
    )
    export.add_argument(
        "--quantize", help="LiteRT only: float16 (weights) or int8 (full integer, calibrated)"
    )
    export.add_argument(
        "--calibration-images",
        type=int,
        metavar="N",
        help="int8 only: training images the activation ranges are calibrated on (default 500)",
    )
    export.add_argument(
        "--verify-images",
        type=int,
        default=1000,
        metavar="N",
        help="test images the export is compared with the Keras model on (default 1000)",
    )
    export.add_argument(
        "--data-dir", help="the run's dataset from this folder, where the run read it elsewhere"
    )
    export.add_argument(
        "--export-dir", help="where exports go (default: the recipe's, saved_models/)"
    )
    export.set_defaults(handler=_export)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:
        return _closed_pipe()


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version or not args.command:
        if not args.version:
            parser.print_help()
            return USAGE_ERROR
        from kerascnn import __version__

        print(__version__)
        return 0
    if getattr(args, "verbose", 0) is None:
        args.verbose = 1 if sys.stdout.isatty() else 2
    with _quiet_native_logs():
        import tensorflow as tf
        import tensorflow_datasets  # noqa: F401

        import kerascnn.training.run  # noqa: F401  (TensorFlow, Keras and every registry)

        tf.config.list_physical_devices()  # the failed CUDA probe logs an error on CPU machines
    from kerascnn.errors import KerasCNNError
    from kerascnn.training.runtime import split_cpu

    try:
        split_cpu()
    except KerasCNNError as error:
        print(f"kerascnn: error: {error}", file=sys.stderr)
        return USAGE_ERROR

    try:
        args.handler(args)
        sys.stdout.flush()
    except KerasCNNError as error:
        print(f"kerascnn: error: {error}", file=sys.stderr)
        return USAGE_ERROR
    except KeyboardInterrupt:
        print("kerascnn: interrupted", file=sys.stderr)
        return 130
    return 0


def _closed_pipe() -> int:
    """Ends quietly when the reader of stdout has gone (`kerascnn show vgg16 | head -3`): what is
    left in the buffer goes nowhere instead of failing again at exit."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return CLOSED_PIPE


if __name__ == "__main__":
    sys.exit(main())
