"""Exports for other runtimes (issue 25, point 5): each format's round trip in its own runtime
(onnxruntime, the LiteRT interpreter), quantized exports by top-1 agreement, and the refusals:
an export that disagrees with the Keras model, int8 without calibration images, bad requests."""

import json
import shutil

import keras
import numpy as np
import pytest

pytest.importorskip("onnxruntime", reason="the export extra: pip install 'kerascnn[export]'")
pytest.importorskip("ai_edge_litert", reason="the export extra: pip install 'kerascnn[export]'")
pytest.importorskip("tf2onnx", reason="the export extra: pip install 'kerascnn[export]'")

from kerascnn import cli, recipes, runs  # noqa: E402
from kerascnn.data import batches, load_dataset  # noqa: E402
from kerascnn.data.pipeline import take_examples  # noqa: E402
from kerascnn.errors import ExportError  # noqa: E402
from kerascnn.export import export_for_runtime, open_runtime, predict  # noqa: E402
from kerascnn.tools.export import export_run  # noqa: E402

VERIFY = 300


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """LeNet-5 trained two short epochs on the bundled MNIST sample: confident enough that int8
    keeps its top-1 labels, small enough to convert in a second."""
    folder = tmp_path_factory.mktemp("exports")
    result = recipes.run(
        "lenet5",
        verbose=0,
        epochs=2,
        batch_size=64,
        data={"name": "mnist_sample", "train_limit": 2000, "test_limit": VERIFY},
        runs_dir=str(folder / "runs"),
        export={"enabled": False},
        callbacks={"tensorboard": False},
    )
    return result.run_dir


@pytest.fixture(scope="module")
def test_images(run):
    data = load_dataset(runs.read_recipe(run).data)
    return take_examples(batches(data.test, batch_size=100), VERIFY)


@pytest.fixture(scope="module")
def keras_model(run):
    return runs.load_trained(run).model


@pytest.fixture(scope="module")
def exports(run, tmp_path_factory):
    """Every format of the run, exported once for the module: format -> the version's folder."""
    root = tmp_path_factory.mktemp("saved_models")
    made = {}
    for format, quantize in [("onnx", None), ("litert", None), ("litert", "float16")]:
        made[format, quantize] = export_run(
            run, format=format, quantize=quantize, verify_images=VERIFY, export_dir=str(root)
        )
    made["litert", "int8"] = export_run(
        run,
        format="litert",
        quantize="int8",
        calibration_images=200,
        verify_images=VERIFY,
        export_dir=str(root),
    )
    return made


def versions(folder):
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("format", ["onnx", "litert"])
def test_a_float_export_gives_the_keras_outputs_in_its_runtime(
    format, exports, keras_model, test_images
):
    version = exports[format, None]
    file = version / runs.exported_file(format)
    assert (
        file.is_file() and (version / runs.RECIPE).is_file() and (version / runs.METRICS).is_file()
    )
    images, labels = test_images
    served = predict(open_runtime(file), images, batch_size=37)  # a batch size of its own
    expected = keras_model.predict(images, verbose=0)
    assert served.shape == expected.shape == (VERIFY, 10)
    assert np.max(np.abs(served - expected)) <= 1e-4
    # A model that learned: the export's accuracy is the Keras model's.
    assert np.mean(served.argmax(1) == labels) == np.mean(expected.argmax(1) == labels) > 0.6
    record = runs.read_export_record(version)
    assert record["format"] == format and record["quantization"] == "float32"
    assert record["verification"]["images"] == VERIFY
    assert record["verification"]["max_difference"] <= 1e-4
    assert record["bytes"] == file.stat().st_size


@pytest.mark.parametrize("quantize", ["float16", "int8"])
def test_a_quantized_litert_export_keeps_the_top1_labels_and_is_smaller(
    quantize, exports, keras_model, test_images
):
    version = exports["litert", quantize]
    file = version / runs.exported_file("litert", quantize)
    float_file = exports["litert", None] / runs.exported_file("litert")
    images, _ = test_images
    served = predict(open_runtime(file), images)
    expected = keras_model.predict(images, verbose=0)
    agreement = np.mean(served.argmax(1) == expected.argmax(1))
    assert agreement >= 0.99
    record = runs.read_export_record(version)
    assert record["verification"]["top1_agreement"] == pytest.approx(agreement)
    ratio = file.stat().st_size / float_file.stat().st_size
    assert ratio < (0.55 if quantize == "float16" else 0.35)


def test_int8_is_full_integer_and_calibrated_on_training_images(exports):
    from ai_edge_litert.interpreter import Interpreter

    version = exports["litert", "int8"]
    interpreter = Interpreter(model_path=str(version / runs.exported_file("litert", "int8")))
    types = [t["dtype"] for t in interpreter.get_tensor_details()]
    # Only the float32 input and output: weights and activations are int8 (biases int32).
    assert types.count(np.float32) == 2 and types.count(np.int8) > 10
    record = runs.read_export_record(version)
    assert record["calibration_images"] == 200
    assert "mnist_sample" in record["data"]


def test_an_export_that_disagrees_is_refused_and_publishes_nothing(
    keras_model, test_images, tmp_path
):
    images, _ = test_images
    # int8 ranges calibrated on black images: every real digit saturates, the labels change.
    with pytest.raises(
        ExportError, match=r"top-1 label on .*\(required: 99\.0%\); nothing was published"
    ):
        export_for_runtime(
            keras_model,
            tmp_path,
            "lenet5",
            format="litert",
            file_name="model_int8.tflite",
            images=images,
            quantize="int8",
            calibration=np.zeros((20, *images.shape[1:]), np.float32),
        )
    # A float export held to a tolerance its runtime's last bits do not meet.
    with pytest.raises(ExportError, match=r"differs from the Keras model by .*allowed 1e-12"):
        export_for_runtime(
            keras_model,
            tmp_path,
            "lenet5",
            format="onnx",
            file_name="model.onnx",
            images=images,
            atol=1e-12,
        )
    assert list((tmp_path / "lenet5").iterdir()) == []  # no version, no staging folder


def test_a_mixed_precision_model_is_exported_in_float32(tmp_path):
    keras.utils.set_random_seed(0)
    with _policy("mixed_float16"):
        inputs = keras.Input((8, 8, 1))
        x = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
        x = keras.layers.Flatten()(x)
        outputs = keras.layers.Dense(3, activation="softmax", dtype="float32")(x)
        model = keras.Model(inputs, outputs)
    assert model.layers[1].compute_dtype == "float16"
    images = np.random.default_rng(0).uniform(0, 1, (16, 8, 8, 1)).astype(np.float32)
    version = export_for_runtime(
        model, tmp_path, "mixed", format="onnx", file_name="model.onnx", images=images, atol=5e-3
    )
    served = predict(open_runtime(version / "model.onnx"), images)
    assert np.max(np.abs(served - model.predict(images, verbose=0))) < 5e-3


class _policy:
    """The global dtype policy set for a block (Keras without a policy scope)."""

    def __init__(self, name):
        self.name = name

    def __enter__(self):
        self.saved = keras.config.dtype_policy()
        keras.config.set_dtype_policy(self.name)

    def __exit__(self, *exc):
        keras.config.set_dtype_policy(self.saved)


def test_int8_without_calibration_images_is_refused_in_one_line(run, tmp_path, keras_model):
    bare = tmp_path / "model.keras"
    shutil.copy(run / runs.FINAL_MODEL, bare)
    with pytest.raises(ExportError, match="records no recipe.*training images to calibrate int8"):
        export_run(bare, format="litert", quantize="int8", export_dir=str(tmp_path))
    images = np.zeros((4, 32, 32, 1), np.float32)
    for calibration in (None, images[:0]):
        with pytest.raises(ExportError, match="needs training images to calibrate on"):
            export_for_runtime(
                keras_model,
                tmp_path,
                "lenet5",
                format="litert",
                file_name="model_int8.tflite",
                images=images,
                quantize="int8",
                calibration=calibration,
            )
    assert not (tmp_path / "lenet5").exists() or versions(tmp_path / "lenet5") == []


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--format", "tflite"], "unknown export format 'tflite'; expected one of"),
        (["--format", "onnx", "--quantize", "int8"], "makes a LiteRT file, but the format is onnx"),
        (["--quantize", "float16"], "makes a LiteRT file, but the format is saved_model"),
        (["--format", "litert", "--quantize", "int4"], "unknown quantization 'int4'"),
        (["--format", "litert", "--calibration-images", "10"], "is for --quantize int8"),
        (
            ["--format", "litert", "--quantize", "int8", "--calibration-images", "0"],
            "leaves none",
        ),
        (["--format", "onnx", "--verify-images", "0"], "verified on test images"),
    ],
)
def test_bad_requests_are_one_line_errors(run, tmp_path, capsys, flags, message):
    code = cli.main(["export", str(run), "--export-dir", str(tmp_path), *flags])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and message in err, err
    assert list(tmp_path.iterdir()) == []


def test_the_cli_exports_and_says_what_was_verified(run, tmp_path, capsys):
    code = cli.main(["export", str(run), "--format", "onnx", "--export-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0
    version = tmp_path / "lenet5" / "1"
    assert f"export: {version / 'model.onnx'}" in out and "verified in onnxruntime" in out
    assert json.loads((version / runs.RECIPE).read_text())["name"] == "lenet5"


def test_a_saved_model_export_of_a_run(run, tmp_path):
    version = export_run(run, export_dir=str(tmp_path))
    assert (version / runs.SAVED_MODEL).is_file() and (version / runs.EXPORTED_MODEL).is_file()
    assert runs.load_trained(version, serving=True).is_export
