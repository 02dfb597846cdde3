"""What a run shows: TensorBoard content read back through a real TensorBoard server, and the report."""

import json
import re
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import keras
import numpy as np
import pytest
from matplotlib.image import imread

from kerascnn import recipes
from kerascnn.errors import KerasCNNError
from kerascnn.models.anatomy import layer_time_shares
from kerascnn.tools.report import write_report


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("inspect")
    return recipes.run(
        "deep_mnist",
        smoke=True,
        verbose=0,
        runs_dir=str(root / "runs"),
        export={"enabled": False},
        epochs=2,
        callbacks={"update_freq": 3, "histogram_freq": 1},
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _get(port, path, **query):
    url = f"http://127.0.0.1:{port}{path}"
    if query:
        url += "?" + urllib.parse.urlencode(query)
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def tensorboard(run, tmp_path_factory):
    """A real `tensorboard` program serving the run's logs on 127.0.0.1; yields its port."""
    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "tensorboard.main",
        "--logdir",
        str(run.run_dir / "tensorboard"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--load_fast",
        "false",
    ]
    log = tmp_path_factory.mktemp("tensorboard") / "stderr.txt"
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log.open("w"))
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                tags = _get(port, "/data/plugin/scalars/tags")
                if {"train", "validation"} <= set(tags) and tags["train"]:
                    break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"tensorboard did not serve: {log.read_text()[-2000:]!r}")
            time.sleep(0.5)
        yield port
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_tensorboard_serves_the_runs_and_epoch_scalars_as_logged(run, tensorboard):
    assert {"train", "validation", "images"} <= set(_get(tensorboard, "/data/runs"))
    tags = _get(tensorboard, "/data/plugin/scalars/tags")
    assert {
        "epoch_loss",
        "epoch_accuracy",
        "epoch_learning_rate",
        "epoch_images_per_second",
        "epoch_seconds",
    } <= set(tags["train"])
    seconds = _get(tensorboard, "/data/plugin/scalars/scalars", run="train", tag="epoch_seconds")
    np.testing.assert_allclose([value for *_, value in seconds], run.history["seconds"], rtol=1e-6)
    assert {"epoch_loss", "epoch_accuracy"} <= set(tags["validation"])
    for run_name, prefix in (("train", ""), ("validation", "val_")):
        for metric in ("loss", "accuracy"):
            points = _get(
                tensorboard, "/data/plugin/scalars/scalars", run=run_name, tag=f"epoch_{metric}"
            )
            assert [step for _, step, _ in points] == [0, 1]
            np.testing.assert_allclose(
                [value for _, _, value in points], run.history[prefix + metric], rtol=1e-6
            )


def test_tensorboard_serves_step_scalars_every_n_steps(run, tensorboard):
    tags = set(_get(tensorboard, "/data/plugin/scalars/tags")["train"])
    assert {
        "batch_loss",
        "batch_accuracy",
        "batch_learning_rate",
        "batch_images_per_second",
    } <= tags
    points = _get(tensorboard, "/data/plugin/scalars/scalars", run="train", tag="batch_loss")
    steps = [step for _, step, _ in points]
    assert steps == [3, 6, 9, 12, 15]  # 8 steps an epoch, every 3rd step of the run
    for tag in ("batch_learning_rate", "batch_images_per_second"):
        points = _get(tensorboard, "/data/plugin/scalars/scalars", run="train", tag=tag)
        assert [step for _, step, _ in points] == steps
        assert all(value > 0 for *_, value in points)


def test_tensorboard_serves_images_histograms_and_the_graph(run, tensorboard):
    images = _get(tensorboard, "/data/plugin/images/tags")
    assert {"training_inputs", "confusion_matrix", "misclassified"} <= set(images["images"])
    confusion = _get(
        tensorboard, "/data/plugin/images/images", run="images", tag="confusion_matrix"
    )
    assert [entry["step"] for entry in confusion] == [0, 1]  # one per epoch
    histograms = _get(tensorboard, "/data/plugin/histograms/tags")
    assert any("kernel" in tag for tag in histograms["train"])
    graphs = _get(tensorboard, "/data/plugin/graphs/info")
    assert graphs["train"]["tags"]["keras"]["conceptual_graph"]  # Keras' model graph
    url = f"http://127.0.0.1:{tensorboard}/data/plugin/graphs/graph?" + urllib.parse.urlencode(
        {"run": "train", "tag": "keras", "conceptual": "true"}
    )
    with urllib.request.urlopen(url, timeout=10) as response:
        graph = response.read().decode()
    assert "block1_conv1" in graph and "predictions" in graph


def test_profiler_traces_the_chosen_steps_and_is_off_by_default(run, in_tmp):
    assert not list((run.run_dir / "tensorboard").glob("**/plugins/profile"))
    profiled = recipes.run(
        "deep_mnist",
        smoke=True,
        verbose=0,
        export={"enabled": False},
        callbacks={"profile_batches": (2, 3), "inspect_examples": 0, "histogram_freq": 0},
    )
    traces = list((profiled.run_dir / "tensorboard").glob("train/plugins/profile/*/*.xplane.pb"))
    assert traces and traces[0].stat().st_size > 0


@pytest.fixture(scope="module")
def report(run):
    return write_report(run.run_dir, examples=200)


# (width, height) in pixels at 100 dpi, from each figure's size in inches.
FIGURES = {
    "curves.png": (1320, 640),  # 5 panels (loss, accuracy, rate, images/s, seconds), 3 columns
    "confusion_matrix.png": (870, 750),  # 10 classes: (2.5 + 0.5 * 10 + 1.2) x 7.5 in
    "misclassified.png": (1040, 620),  # the first 32 wrong, 8 columns of 1.3 in, 4 rows + title
    "filters.png": (1040, 330),  # 16 filters, 8 columns of 1.3 in, 2 rows + title
    "feature_maps.png": (1040, 600),  # input + 3 convolutions, 8 channels each
    "layer_time.png": (700, 510),  # the 14 slowest layers + "other layers"
}


@pytest.mark.parametrize("name", FIGURES)
def test_report_figures_are_written_with_their_size(report, name):
    path = report.parent / name
    pixels = imread(path)
    height, width = pixels.shape[:2]
    assert (width, height) == FIGURES[name]
    assert pixels[..., :3].std() > 0.05, f"{name} is blank"


def test_report_page_embeds_the_figures_and_links_only_existing_files(report, run):
    page = report.read_text()
    assert report.name == "index.html" and report.parent.name == "report"
    references = re.findall(r'(?:src|href)="([^"]+)"', page)
    embedded = [ref for ref in references if ref.startswith("data:image/png;base64,")]
    linked = [ref for ref in references if not ref.startswith("data:")]
    assert len(embedded) == len(FIGURES)
    assert sorted(linked) == sorted(FIGURES)
    assert all((report.parent / ref).is_file() for ref in linked)
    assert f"{run.metrics['test_accuracy']}" in page
    assert "bundled MNIST sample" in page  # the run's data notice


def test_report_replaces_an_old_report_as_a_whole(report, run):
    (report.parent / "stale.png").write_bytes(b"old")
    again = write_report(run.run_dir, examples=50)
    assert again == report and not (report.parent / "stale.png").exists()
    assert not [p for p in run.run_dir.iterdir() if p.name.startswith(".report")]


def test_report_on_a_folder_that_is_not_a_run(tmp_path):
    with pytest.raises(KerasCNNError, match="not a run directory"):
        write_report(tmp_path)


def test_layer_time_shares_name_every_layer_of_the_nested_model(run):
    x = np.zeros((8, 28, 28, 1), np.float32)
    shares = layer_time_shares(run.model, x, repeats=2, top=100)
    (classifier,) = [layer for layer in run.model.layers if isinstance(layer, keras.Model)]
    layers = {
        layer.name
        for model in (run.model, classifier)
        for layer in model.layers
        if layer is not classifier and not isinstance(layer, keras.layers.InputLayer)
    }
    assert set(shares) == layers and "rescale" in layers and "block3_conv2" in layers
    assert all(share >= 0 for share in shares.values())
    convolutions = sum(v for k, v in shares.items() if re.fullmatch(r"block\d_conv\d", k))
    assert convolutions > 0.3  # the book's observation: convolutions take most of the time


def test_layer_time_shares_find_the_slow_layer():
    # "slow" multiplies 256 x 2048 by 2048 x 2048: ~2 GFLOP, a hundred times any other layer.
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(2, 3, name="tiny_conv")(inputs)
    x = keras.layers.Dense(2048, name="wide")(keras.layers.Flatten(name="flatten")(x))
    x = keras.layers.Dense(2048, name="slow")(x)
    model = keras.Model(inputs, keras.layers.Dense(3, name="out")(x))
    batch = np.zeros((256, 8, 8, 1), np.float32)
    shares = layer_time_shares(model, batch, repeats=3, top=2)
    assert list(shares)[0] == "slow" and shares["slow"] > 0.5
    # The two largest by name, the other three summed.
    assert len(shares) == 3 and list(shares)[2] == "other layers"
    assert list(shares)[1] in {"tiny_conv", "flatten", "wide", "out"}
    assert shares["other layers"] < shares["slow"]


def test_report_command_prints_the_page(run, report, capfd):
    from kerascnn.cli import main

    code = main(["report", str(run.run_dir), "--examples", "50"])
    result = capfd.readouterr()
    assert code == 0, result.err
    assert Path(result.out.split()[1]) == report


def test_profile_command_times_every_layer_forward_and_backward(in_tmp, capsys):
    from kerascnn.cli import main

    assert main(["profile", "deep_mnist", "--batch-size", "8", "--repeats", "2"]) == 0
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines() if line.endswith("%")]
    layers = {row[0] for row in rows}
    assert {f"block{b}_conv{c}" for b in (1, 2, 3) for c in (1, 2)} | {"fc1", "fc2"} <= layers
    # Each share is the layer's forward + backward time over all layers' (recomputed from the
    # printed milliseconds), largest first.
    milliseconds = [float(row[1]) + float(row[2]) for row in rows]
    shares = [float(row[-2]) for row in rows]
    assert shares == pytest.approx([100 * t / sum(milliseconds) for t in milliseconds], abs=0.2)
    assert shares == sorted(shares, reverse=True)
    assert all(float(row[2]) > 0 for row in rows if row[0].startswith("block"))  # backward timed
    assert (in_tmp / "profile_deep_mnist.png").stat().st_size > 5000
    assert main(["profile", "dcgan"]) == 2
    assert "measures classifiers" in capsys.readouterr().err
