"""Exports, each verified in its runtime before it is published as a new numbered version.

Layout: `<directory>/<name>/<version>/`. A SavedModel export holds `saved_model.pb`, `variables/`
(TF Serving's layout; the serving signature `serve` maps the model's input to its output: images to
class probabilities for a classifier, noise to uint8 images for a GAN's generator, (noise, labels)
to uint8 images for a conditional one, images to caption strings for a captioner), `model.keras` and any records passed in. An export for another
runtime (`export_for_runtime`) holds one model file, ONNX (`.onnx`, run by onnxruntime) or LiteRT
(`.tflite`, run by the LiteRT interpreter; float32, or quantized to float16 weights or to full
integer int8), beside its records; its file names are the run directory owner's
(`kerascnn.runs.exported_file`).

A version is built under a temporary name, reloaded in its runtime (`tf.saved_model.load`,
onnxruntime, LiteRT) and compared with the Keras model on real inputs (float exports: outputs within
a tolerance; quantized ones: the same top-1 labels), and only then renamed into place; one that
disagrees is refused and leaves nothing behind, and an existing version is never touched.

ONNX and LiteRT need the `export` extra (`pip install 'kerascnn[export]'`: tf2onnx, onnx,
onnxruntime, ai-edge-litert).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from kerascnn import files
from kerascnn.errors import ExportError

FORMATS = ("saved_model", "onnx", "litert")
# Quantized exports are LiteRT files: float16 weights, or full-integer int8 weights and activations.
QUANTIZATIONS = ("float16", "int8")
# What each format needs beyond TensorFlow and Keras (the `export` extra).
PACKAGES = {"onnx": ("tf2onnx", "onnx", "onnxruntime"), "litert": ("ai_edge_litert",)}
RUNTIMES = {"saved_model": "TensorFlow", "onnx": "onnxruntime", "litert": "the LiteRT interpreter"}
# Training images an int8 export's activation ranges are calibrated on, unless told otherwise.
CALIBRATION_IMAGES = 500
# A float export's largest allowed difference from the Keras model (class probabilities).
FLOAT_TOLERANCE = 1e-4
# A quantized export's smallest allowed share of test images given the Keras model's top-1 label.
MIN_AGREEMENT = 0.99


def export_model(
    model: keras.Model,
    directory: str | os.PathLike,
    name: str,
    *,
    sample: np.ndarray,
    records: dict | None = None,
    atol: float = 1e-5,
) -> Path:
    """Exports `model` as the next version under `directory/name` and returns its path.

    Args:
        model: the trained Keras model.
        directory: the export root, e.g. "saved_models".
        name: the sub-folder, usually the recipe's name.
        sample: a batch of inputs on which the reloaded SavedModel must match the Keras model; for
            a model of several inputs a list of arrays, which `serve` takes as positional
            arguments in that order (each with the dtype of its array, floats as float32).
        records: file name -> JSON-ready data written beside the model (recipe, metrics).
        atol: largest allowed absolute difference between the two predictions.
    """
    with _staging(directory, name) as (base, staging):
        _export_saved_model(model, staging, sample)
        model.save(staging / "model.keras")
        for file_name, data in (records or {}).items():
            files.write_json(staging / file_name, data)
        verify_saved_model(model, staging, sample, atol=atol)
        return _publish(staging, base)


@contextmanager
def _staging(directory, name: str):
    """(`directory/name`, a new staging folder in it), the staging folder removed at the end
    (after a publish, it is gone already)."""
    base = Path(directory) / name
    try:
        base.mkdir(parents=True, exist_ok=True)
        remove_abandoned(base)
        staging = Path(tempfile.mkdtemp(prefix=f".partial-{os.getpid()}-", dir=base))
    except OSError as error:
        raise ExportError(
            f"cannot write exports under {base}: {error.strerror}; choose a writable --export-dir"
        ) from None
    try:
        yield base, staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _specs(sample) -> list[tf.TensorSpec]:
    """Each input's shape with a free batch size; floats as float32 whatever the policy."""
    arrays = [np.asarray(a) for a in (sample if isinstance(sample, list) else [sample])]
    return [
        tf.TensorSpec(
            (None, *a.shape[1:]), tf.float32 if a.dtype.kind == "f" else tf.as_dtype(a.dtype)
        )
        for a in arrays
    ]


def _export_saved_model(model: keras.Model, path: Path, sample) -> None:
    """The SavedModel of `model` with the endpoint `serve` taking the sample's inputs."""
    specs = _specs(sample)
    if len(specs) == 1:
        model.export(str(path), format="tf_saved_model", verbose=False, input_signature=specs)
        return
    # Keras' model.export would take the inputs as one list; a signature of named positional
    # inputs, `serve(noise, labels)`, is what a user of several inputs calls.
    names = [tensor.name for tensor in model.inputs]
    specs = [tf.TensorSpec(s.shape, s.dtype, name=n) for s, n in zip(specs, names, strict=True)]
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serve", lambda *inputs: model(list(inputs)), input_signature=specs)
    archive.write_out(str(path), verbose=False)


def verify_saved_model(model: keras.Model, path: Path, sample, *, atol: float) -> None:
    """Reloads the SavedModel at `path` and checks that it predicts what `model` predicts
    (numbers within `atol`, strings and integers such as class maps exactly); a model of named
    outputs (a segmenter's class map and probabilities) output by output."""
    # predict, not a direct call: the graph it runs computes what the SavedModel's graph does
    # (eager 16-bit kernels differ in the last bits).
    expected = model.predict(sample, verbose=0)
    reloaded = tf.saved_model.load(str(path))
    inputs = [
        tf.constant(array, dtype=spec.dtype)
        for array, spec in zip(
            sample if isinstance(sample, list) else [sample], _specs(sample), strict=True
        )
    ]
    served = reloaded.serve(*inputs)
    if isinstance(expected, dict):
        for key, value in expected.items():
            _compare(np.asarray(served[key]), np.asarray(value), atol=atol, what=f" ({key})")
        return
    _compare(np.asarray(served), np.asarray(expected), atol=atol)


def _compare(served: np.ndarray, expected: np.ndarray, *, atol: float, what: str = "") -> None:
    if expected.dtype == object:
        if not np.array_equal(served, expected):
            raise ExportError(
                f"the reloaded SavedModel writes other text than the Keras model{what} "
                f"({served[0]!r} against {expected[0]!r}); nothing was published"
            )
        return
    difference = float(np.max(np.abs(served.astype(np.float64) - expected)))
    allowed = atol if expected.dtype.kind == "f" else 0
    if not difference <= allowed:
        raise ExportError(
            f"the reloaded SavedModel differs from the Keras model{what} by {difference:.3g} "
            f"(allowed {allowed:g}); nothing was published"
        )


def check_request(format: str, quantize: str | None = None, calibration_images=None) -> None:
    """Refuses, in one line and before anything is loaded, an export that cannot be made: an
    unknown format or quantization, a quantized format other than LiteRT, calibration images for
    anything but int8, a missing package of the `export` extra."""
    if format not in FORMATS:
        raise ExportError(f"unknown export format {format!r}; expected one of {', '.join(FORMATS)}")
    if quantize is not None and quantize not in QUANTIZATIONS:
        raise ExportError(
            f"unknown quantization {quantize!r}; expected {' or '.join(QUANTIZATIONS)} "
            "(or none for float32)"
        )
    if quantize is not None and format != "litert":
        raise ExportError(
            f"--quantize {quantize} makes a LiteRT file, but the format is {format}; "
            f"use --format litert --quantize {quantize}, or leave out --quantize"
        )
    if calibration_images is not None and quantize != "int8":
        raise ExportError(
            "--calibration-images is for --quantize int8 (the training images its activation "
            f"ranges are calibrated on); this export is {quantize or 'float32'}: leave it out"
        )
    if calibration_images is not None and calibration_images < 1:
        raise ExportError(
            f"int8 quantization calibrates on training images; --calibration-images "
            f"{calibration_images} leaves none: give at least 1 (default {CALIBRATION_IMAGES})"
        )
    missing = [name for name in PACKAGES.get(format, ()) if importlib.util.find_spec(name) is None]
    if missing:
        raise ExportError(
            f"{format} exports need {', '.join(missing)}, which are not installed: "
            "pip install 'kerascnn[export]'"
        )


def export_for_runtime(
    model: keras.Model,
    directory: str | os.PathLike,
    name: str,
    *,
    format: str,
    file_name: str,
    images: np.ndarray,
    quantize: str | None = None,
    calibration: np.ndarray | None = None,
    records: dict | None = None,
    record: tuple[str, dict] | None = None,
    atol: float = FLOAT_TOLERANCE,
    min_agreement: float = MIN_AGREEMENT,
) -> Path:
    """Exports `model` as an ONNX or LiteRT file in the next version under `directory/name` and
    returns the version's folder; the export is published only once its runtime agrees with
    `model` on `images`.

    Args:
        model: a trained classifier (images to class probabilities).
        directory: the export root, e.g. "saved_models".
        name: the sub-folder, usually the recipe's name.
        format: "onnx" (run by onnxruntime) or "litert" (run by the LiteRT interpreter).
        file_name: the model file's name in the version (`kerascnn.runs.exported_file`).
        images: real inputs (pixel values, float32) on which the export is compared with `model`.
        quantize: None (float32), "float16" (LiteRT: float16 weights) or "int8" (LiteRT: full
            integer post-training quantization of weights and activations; inputs and outputs
            stay float32).
        calibration: for int8, the training images the activation ranges are calibrated on.
        records: file name -> JSON-ready data written beside the model (recipe, metrics).
        record: (file name, data): the export's own record, to which this adds the format, the
            quantization, the number of calibration images, what the verification found and
            the versions of the converter and runtime.
        atol: a float export's largest allowed difference from `model`'s outputs.
        min_agreement: a quantized export's smallest allowed share of `images` on which its
            top-1 label is `model`'s.
    """
    check_request(format, quantize)
    if format not in PACKAGES:
        raise ExportError(f"export_for_runtime makes ONNX and LiteRT files; {format} is neither")
    if quantize == "int8" and (calibration is None or len(calibration) == 0):
        raise ExportError(
            "int8 quantization needs training images to calibrate on, and none were given; "
            "nothing was exported"
        )
    if len(images) == 0:
        raise ExportError("an export is verified on test images, and none were given")
    model = float32_model(model)
    with _staging(directory, name) as (base, staging):
        write_for_runtime(
            model,
            staging / file_name,
            format=format,
            input_shape=np.shape(images)[1:],
            quantize=quantize,
            calibration=calibration,
        )
        verification = verify_runtime(
            model,
            staging / file_name,
            images,
            quantized=quantize is not None,
            atol=atol,
            min_agreement=min_agreement,
        )
        for record_name, data in (records or {}).items():
            files.write_json(staging / record_name, data)
        if record is not None:
            record_name, data = record
            files.write_json(
                staging / record_name,
                {
                    **data,
                    "format": format,
                    "quantization": quantize or "float32",
                    "file": file_name,
                    "bytes": (staging / file_name).stat().st_size,
                    "calibration_images": 0 if calibration is None else len(calibration),
                    "verification": {"runtime": RUNTIMES[format], **verification},
                    "versions": _versions(format),
                },
            )
        return _publish(staging, base)


def write_for_runtime(
    model: keras.Model,
    path: Path,
    *,
    format: str,
    input_shape,
    quantize: str | None = None,
    calibration: np.ndarray | None = None,
) -> None:
    """Writes `model` as an ONNX or LiteRT file at `path` with Keras' own exporters
    (`model.export(format=...)`); a converter's failure is a one-line `ExportError`."""
    # Any batch size; float32 pixel values, whatever the training policy.
    signature = [tf.TensorSpec((None, *input_shape), tf.float32)]
    options = {} if format == "onnx" else _litert_options(quantize, calibration)
    try:
        with warnings.catch_warnings():
            # Keras' tf2onnx patch for numpy 2 probes np.object, which warns on every export.
            warnings.filterwarnings("ignore", "In the future `np.object`", FutureWarning)
            model.export(
                str(path), format=format, verbose=False, input_signature=signature, **options
            )
    except Exception as error:  # tf2onnx and the TF Lite converter raise many kinds
        raise ExportError(
            f"the {format} converter could not convert {model.name}"
            f"{f' to {quantize}' if quantize else ''} ({type(error).__name__}: "
            f"{_first_line(error)}); nothing was published"
        ) from None


def _litert_options(quantize: str | None, calibration: np.ndarray | None) -> dict:
    """The TF Lite converter settings of a LiteRT export. Keras' exporter sets each keyword as an
    attribute of its `tf.lite.TFLiteConverter` (`target_spec` as a dict of its fields), so full
    integer quantization with a representative dataset needs no converter of our own."""
    # Built-in ops only: Keras' exporter would also admit TensorFlow (Flex) ops, which the LiteRT
    # interpreter of ai-edge-litert cannot run; a model that needs one fails here, not on a phone.
    options = {"target_spec": {"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS]}}
    if quantize == "float16":
        options["optimizations"] = [tf.lite.Optimize.DEFAULT]
        options["target_spec"]["supported_types"] = [tf.float16]
    elif quantize == "int8":
        images = np.asarray(calibration, np.float32)

        def representative_dataset():
            for image in images:
                yield [image[np.newaxis]]

        options["optimizations"] = [tf.lite.Optimize.DEFAULT]
        options["representative_dataset"] = representative_dataset
        # Every op in int8 (the conversion fails on one without an int8 kernel); the input and
        # output stay float32, so every export takes the same pixels and gives probabilities.
        options["target_spec"]["supported_ops"] = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    return options


def float32_model(model: keras.Model) -> keras.Model:
    """`model` computing in float32. The exporters for other runtimes take float32 models (Keras'
    ONNX exporter says so), so a mixed-precision model is rebuilt from its configuration with
    float32 layers, and its weights (float32 variables already) are copied over."""
    config = keras.saving.serialize_keras_object(model)
    if not _to_float32(config):
        return model
    copy = keras.saving.deserialize_keras_object(config)
    copy.set_weights(model.get_weights())
    return copy


def _to_float32(node) -> bool:
    """Sets every dtype policy and tensor type in a serialized model to float32, in place;
    whether any was something else."""
    changed = False
    if isinstance(node, dict):
        if node.get("class_name") == "DTypePolicy" and node["config"]["name"] != "float32":
            node["config"]["name"] = "float32"
            changed = True
        if node.get("dtype") in ("float16", "bfloat16"):
            node["dtype"] = "float32"
            changed = True
        values = node.values()
    elif isinstance(node, list):
        values = node
    else:
        return False
    for value in values:
        changed = _to_float32(value) or changed
    return changed


def open_runtime(path, *, threads: int | None = None) -> Callable[[np.ndarray], np.ndarray]:
    """The model file at `path` loaded in its runtime: a function from a batch of images (float32
    pixel values) to the model's outputs. `.onnx`: onnxruntime (CPU); `.tflite`: the LiteRT
    interpreter. `threads`: the runtime's threads (default: its own choice)."""
    path = Path(path)
    if path.suffix == ".onnx":
        return OnnxModel(path, threads=threads)
    if path.suffix == ".tflite":
        return LiteRTModel(path, threads=threads)
    raise ExportError(f"{path} is neither an ONNX (.onnx) nor a LiteRT (.tflite) file")


class OnnxModel:
    """An ONNX file in onnxruntime on the CPU."""

    def __init__(self, path, *, threads: int | None = None):
        import onnxruntime  # the export extra

        options = onnxruntime.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.session = onnxruntime.InferenceSession(
            str(path), options, providers=["CPUExecutionProvider"]
        )
        self.input = self.session.get_inputs()[0].name

    def __call__(self, images: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input: np.asarray(images, np.float32)})[0]


class LiteRTModel:
    """A LiteRT (.tflite) file in the LiteRT interpreter (ai-edge-litert, XNNPACK on the CPU)."""

    def __init__(self, path, *, threads: int | None = None):
        from ai_edge_litert.interpreter import Interpreter  # the export extra

        self.interpreter = Interpreter(model_path=str(path), num_threads=threads)
        self.input = self.interpreter.get_input_details()[0]["index"]
        self.output = self.interpreter.get_output_details()[0]["index"]
        self.shape = None

    def __call__(self, images: np.ndarray) -> np.ndarray:
        images = np.asarray(images, np.float32)
        if images.shape != self.shape:  # the batch size is free: the tensors are sized per batch
            self.interpreter.resize_tensor_input(self.input, images.shape)
            self.interpreter.allocate_tensors()
            self.shape = images.shape
        self.interpreter.set_tensor(self.input, images)
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self.output).copy()


def predict(runtime: Callable, images: np.ndarray, *, batch_size: int = 64) -> np.ndarray:
    """`runtime`'s outputs for `images`, computed `batch_size` images at a time."""
    return np.concatenate(
        [runtime(images[start : start + batch_size]) for start in range(0, len(images), batch_size)]
    )


def verify_runtime(
    model: keras.Model,
    path: Path,
    images: np.ndarray,
    *,
    quantized: bool,
    atol: float = FLOAT_TOLERANCE,
    min_agreement: float = MIN_AGREEMENT,
) -> dict:
    """Runs the model file at `path` in its runtime on `images` and compares it with `model`:
    a float export's outputs must be within `atol`, a quantized one's top-1 labels must be
    `model`'s on at least `min_agreement` of the images. Returns what it found (images, largest
    difference, top-1 agreement, seconds); raises `ExportError` otherwise."""
    expected = np.asarray(model.predict(images, verbose=0))
    started = time.perf_counter()
    try:
        served = np.asarray(predict(open_runtime(path), images))
    except Exception as error:  # the runtime refuses the file: many kinds
        raise ExportError(
            f"{path.name} does not run in its runtime ({type(error).__name__}: "
            f"{_first_line(error)}); nothing was published"
        ) from None
    seconds = time.perf_counter() - started
    what = f"the {path.name} export"
    if served.shape != expected.shape:
        raise ExportError(
            f"{what} gives outputs of shape {served.shape}, the Keras model {expected.shape}; "
            "nothing was published"
        )
    difference = float(np.max(np.abs(served.astype(np.float64) - expected)))
    agreement = float(np.mean(np.argmax(served, -1) == np.argmax(expected, -1)))
    found = {
        "images": len(images),
        "max_difference": difference,
        "top1_agreement": agreement,
        "seconds": round(seconds, 3),
    }
    if quantized and not agreement >= min_agreement:
        raise ExportError(
            f"{what} gives the Keras model's top-1 label on {agreement:.1%} of {len(images)} "
            f"test images (required: {min_agreement:.1%}); nothing was published"
        )
    if not quantized and not difference <= atol:
        raise ExportError(
            f"{what} differs from the Keras model by {difference:.3g} on {len(images)} test "
            f"images (allowed {atol:g}); nothing was published"
        )
    return found


def _versions(format: str) -> dict:
    """The versions of the packages that converted and ran a `format` export."""
    from importlib.metadata import PackageNotFoundError, version

    distributions = {"onnx": ("tf2onnx", "onnx", "onnxruntime"), "litert": ("ai-edge-litert",)}
    found = {}
    for name in ("tensorflow", "keras", *distributions.get(format, ())):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found


def _first_line(error: Exception) -> str:
    """The line of an error's message that says what went wrong: Keras wraps a layer's error in
    "Exception encountered when calling ...", with terminal colour codes."""
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", line).strip() for line in str(error).splitlines()]
    told = [line for line in lines if line and not line.startswith("Exception encountered")]
    return (told or ["no message"])[0][:200]


def remove_abandoned(base: Path) -> None:
    """Deletes the staging folders of exports whose process died (killed mid-export); they were
    never versions, but they take space."""
    for staging in base.glob(".partial-*-*"):
        pid = staging.name.split("-")[1]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(staging, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def next_version(base: Path) -> int:
    """One more than the highest numbered version under `base` (1 for the first)."""
    numbers = [int(p.name) for p in base.iterdir() if p.is_dir() and p.name.isdigit()]
    return max(numbers, default=0) + 1


def _publish(staging: Path, base: Path) -> Path:
    # A rename onto an existing directory fails, so two runs finishing at once get distinct versions.
    for _ in range(100):
        target = base / str(next_version(base))
        try:
            os.rename(staging, target)
            return target
        except OSError:
            if not target.exists():
                raise
    raise ExportError(f"could not find a free version number under {base}")
