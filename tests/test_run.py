"""End to end: a smoke run trains, logs, checkpoints and exports; the export reloads in a fresh process."""

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from kerascnn import recipes
from kerascnn.data import batches, load_dataset
from kerascnn.recipes import DataConfig
from kerascnn.registry import models


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    root = tmp_path_factory.mktemp("smoke")
    result = recipes.run(
        "deep_mnist",
        smoke=True,
        verbose=0,
        runs_dir=str(root / "runs"),
        export={"directory": str(root / "saved_models")},
    )
    return root, result


def test_run_writes_every_output(smoke):
    root, result = smoke
    run_dir = result.run_dir
    assert run_dir.parent == root / "runs" / "deep_mnist"
    record = json.loads(json.dumps(recipes.to_dict(result.recipe)))  # JSON has no tuples
    assert json.loads((run_dir / "recipe.json").read_text()) == record
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["test_accuracy"] == pytest.approx(result.metrics["test_accuracy"])
    assert metrics["data"]["name"] == "mnist_sample" and "NOT comparable" in metrics["data"]["note"]
    assert metrics["parameters"] == 123_552
    with open(run_dir / "history.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 1 and {
        "loss",
        "accuracy",
        "val_loss",
        "val_accuracy",
        "learning_rate",
    } <= set(rows[0])
    assert float(rows[0]["learning_rate"]) == pytest.approx(1e-3)
    reloaded = keras.saving.load_model(run_dir / "checkpoints" / "last" / "model.keras")
    assert reloaded.count_params() == 123_552
    assert (run_dir / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_tensorboard_has_train_and_validation_scalars(smoke):
    _, result = smoke
    tags = {}
    for split in ("train", "validation"):
        events = EventAccumulator(str(result.run_dir / "tensorboard" / split)).Reload()
        tags[split] = set(events.Tags()["tensors"]) | set(events.Tags()["scalars"])
    assert {"epoch_loss", "epoch_accuracy", "epoch_learning_rate"} <= tags["train"]
    assert {"epoch_loss", "epoch_accuracy"} <= tags["validation"]


@pytest.mark.slow  # a fresh process; each export is verified in process before it is published
def test_export_reloads_in_a_fresh_process_with_the_same_predictions(smoke, tmp_path):
    _, result = smoke
    export_dir = result.export_dir
    assert export_dir.name == "1"
    assert {"saved_model.pb", "variables", "model.keras", "recipe.json", "metrics.json"} <= {
        p.name for p in export_dir.iterdir()
    }
    test = load_dataset(DataConfig(name="mnist_sample", test_limit=16)).test
    images = next(iter(batches(test, batch_size=16)))[0].numpy()
    np.save(tmp_path / "images.npy", images)
    script = (
        "import sys, numpy as np, tensorflow as tf\n"
        "model = tf.saved_model.load(sys.argv[1])\n"
        "x = np.load(sys.argv[2])\n"
        "np.save(sys.argv[3], model.serve(tf.constant(x)).numpy())\n"
    )
    subprocess.run(
        [
            sys.executable,
            "-c",
            script,
            str(export_dir),
            str(tmp_path / "images.npy"),
            str(tmp_path / "served.npy"),
        ],
        check=True,
        capture_output=True,
    )
    served = np.load(tmp_path / "served.npy")
    expected = result.model.predict(images, verbose=0)
    assert served.shape == (16, 10)
    np.testing.assert_allclose(served.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(served, expected, atol=1e-5)


def test_a_new_export_never_overwrites_an_old_one(smoke):
    root, first = smoke
    before = {p.name: p.stat().st_mtime_ns for p in first.export_dir.rglob("*")}
    second = recipes.run(
        "deep_mnist",
        smoke=True,
        verbose=0,
        seed=1,
        runs_dir=str(root / "runs"),
        export={"directory": str(root / "saved_models")},
    )
    assert second.export_dir.name == "2" and second.run_dir != first.run_dir
    assert {p.name: p.stat().st_mtime_ns for p in first.export_dir.rglob("*")} == before
    assert not [p for p in second.export_dir.parent.iterdir() if p.name.startswith(".partial")]


@pytest.mark.slow  # two epochs of 3,000 digits; fast: test_learning.py's run that learns
def test_training_learns_digits(in_tmp):
    result = recipes.run(
        "deep_mnist",
        verbose=0,
        epochs=2,
        batch_size=50,
        data={"name": "mnist_sample", "train_limit": 3000, "test_limit": 500},
        export={"enabled": False},
        callbacks={"checkpoint": False},
    )
    assert result.metrics["test_accuracy"] > 0.85
    assert result.history["val_accuracy"][-1] > result.history["val_accuracy"][0] - 0.02
    assert result.export_dir is None and not (in_tmp / "saved_models").exists()


# mixed_bfloat16 builds float32 and bfloat16 graphs: slow (emulated, on CPUs without bfloat16).
@pytest.mark.parametrize(
    "precision", [pytest.param("mixed_bfloat16", marks=pytest.mark.slow), "auto"]
)
def test_precision_is_a_run_setting(in_tmp, precision):
    from kerascnn.training.runtime import resolve_precision

    result = recipes.run("deep_mnist", smoke=True, verbose=0, precision=precision)
    policy = resolve_precision(precision)[0]
    # The export takes and returns float32 whatever the policy (and matched the Keras model).
    served = tf.saved_model.load(str(result.export_dir))
    (spec,) = served.serve.concrete_functions[0].structured_input_signature[0]
    output = served.serve(tf.zeros((2, 28, 28, 1)))
    assert spec.dtype == tf.float32 and output.dtype == tf.float32
    assert result.metrics["precision"] == policy
    classifier = result.model.get_layer("deep_mnist_cnn")
    assert classifier.get_layer("block1_conv1").dtype_policy.name == policy
    assert classifier.get_layer("predictions").dtype_policy.name == "float32"
    assert np.isfinite(result.metrics["test_loss"])
    assert keras.mixed_precision.global_policy().name == "float32", "the policy must be restored"


def test_auto_precision_follows_the_hardware(monkeypatch):
    from kerascnn.training import runtime

    monkeypatch.setattr(runtime, "cpu_flags", lambda: {"sse4_2", "avx512_bf16"})
    policy, why = runtime.choose_precision()
    assert policy == "mixed_bfloat16" and "avx512_bf16" in why
    monkeypatch.setattr(runtime, "cpu_flags", lambda: {"sse4_2", "avx2"})
    policy, why = runtime.choose_precision()
    assert policy == "float32" and "no native bfloat16" in why


@pytest.mark.slow  # another strategy's graphs; two replicas: test_distribute.py
def test_mirrored_strategy_is_a_run_setting(in_tmp):
    result = recipes.run(
        "deep_mnist", smoke=True, verbose=0, strategy="mirrored", export={"enabled": False}
    )
    # Without GPUs, one replica per logical CPU device (one here: the CPU is not split; two-device
    # runs are in tests/test_distribute.py).
    devices = tf.config.list_logical_devices("CPU")
    assert result.metrics["strategy"] == "mirrored" and result.metrics["replicas"] == len(devices)
    assert isinstance(result.model.distribute_strategy, tf.distribute.MirroredStrategy)
    assert result.model.distribute_strategy.num_replicas_in_sync == len(devices)
    assert np.isfinite(result.metrics["test_loss"])


CLASSIFIER_RECIPES = [
    name
    for name in recipes.list_recipes()
    if models.metadata(recipes.get(name).model.name)["task"] == "classification"
    and not recipes.get(name).members  # ensembles: tests/test_ensemble.py
]


# The 5-minute suite trains lenet5 here, deep_mnist in the fixture above and alexnet offline below;
# every other recipe's smoke epoch (the ImageNet-era networks take up to a minute each of graph
# building for their two steps) waits for `--runslow`, which CI runs.
IN_THE_FAST_SUITE = {"lenet5"}


@pytest.mark.parametrize(
    "name",
    [
        n if n in IN_THE_FAST_SUITE else pytest.param(n, marks=pytest.mark.slow)
        for n in CLASSIFIER_RECIPES
        if n != "deep_mnist"
    ],
)
def test_every_recipe_trains_a_smoke_epoch(in_tmp, name):
    result = recipes.run(
        name, smoke=True, verbose=0, export={"enabled": False}, callbacks={"checkpoint": False}
    )
    recipe = recipes.get(name)
    assert result.metrics["epochs"] == 1 and np.isfinite(result.metrics["test_loss"])
    expected_shape = recipe.data.image_shape or (28, 28, 1)
    assert tuple(result.model.input_shape[1:]) == tuple(expected_shape)
    assert result.model.get_layer(recipe.model.name).count_params() == result.metrics["parameters"]
    assert len(result.model.outputs) == 1  # auxiliary classifiers train but are not evaluated
    if recipe.model.args.get("aux_logits"):
        assert {"aux1_loss", "aux2_loss", "predictions_accuracy"} <= set(result.history)


def test_a_cifar_recipe_offline_exports_for_its_own_input_shape(in_tmp):
    # The data and the export follow the recipe, not its network: LeNet-5 stands in for AlexNet,
    # whose 230 MB export took 20 s (its smoke epoch is in the slow set, which CI runs).
    result = recipes.run(
        "alexnet",
        smoke=True,
        verbose=0,
        model={"name": "lenet5", "args": {}},
        callbacks={"checkpoint": False},
    )
    assert "padded 28x28 to 32x32, 1 -> 3 channels" in result.notice
    assert result.metrics["data"]["adaptation"] == "padded 28x28 to 32x32, 1 -> 3 channels"
    # The CIFAR augmentation's flips would mirror the sample's digits into other shapes.
    assert "without its horizontal flips" in result.metrics["data"]["note"]
    assert result.metrics["data"]["mirror_invariant"] is False
    signature = tf.saved_model.load(str(result.export_dir)).signatures["serving_default"]
    (spec,) = signature.structured_input_signature[1].values()
    assert spec.shape.as_list() == [None, 32, 32, 3]


def test_a_diverging_run_stops_at_the_broken_step_and_keeps_the_good_checkpoint(tmp_path):
    from kerascnn.training.callbacks import Checkpoint, NonFiniteLossGuard

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, name="dense")])
    model.compile("sgd", "mse")

    class Poison(keras.callbacks.Callback):  # a weight that "explodes" as epoch 2 starts
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:
                model.get_layer("dense").kernel.assign(np.full((4, 1), np.nan))

    guard = NonFiniteLossGuard()
    checkpoint = Checkpoint(tmp_path, guard, every_steps=1)
    x = np.ones((32, 4), np.float32)
    history = model.fit(
        x, x[:, :1], batch_size=8, epochs=3, verbose=0, callbacks=[Poison(), guard, checkpoint]
    )
    assert guard.failure[:3] == (2, 1, "loss") and np.isnan(guard.failure[3])
    assert len(history.history["loss"]) == 2  # stopped in epoch 2
    # The broken step was not saved over the good state of the end of epoch 1.
    saved = json.loads((tmp_path / "checkpoints/last/progress.json").read_text())
    assert (saved["epoch"], saved["step"]) == (1, 0)
    saved = keras.saving.load_model(tmp_path / "checkpoints/last/model.keras")
    assert np.isfinite(saved.get_layer("dense").kernel.numpy()).all()
    assert [p.name for p in (tmp_path / "checkpoints").iterdir()] == ["last"]  # no temporary left


def test_a_diverging_recipe_is_one_line_exit_2_and_exports_nothing(in_tmp, capfd):
    from kerascnn.cli import main

    tmp_path = in_tmp
    # --learning-rate 1e38: the first update overflows float32.
    code = main(["run", "deep_mnist", "--smoke", "--learning-rate", "1e38"])
    stderr = capfd.readouterr().err
    assert code == 2, stderr[-2000:]
    errors = [line for line in stderr.splitlines() if line.startswith("kerascnn: error")]
    assert len(errors) == 1
    assert re.search("training diverged: loss became (nan|inf) at epoch 1, step", errors[0])
    assert "lower the learning rate (now 1e+38" in errors[0]
    assert "Traceback" not in stderr
    assert not (tmp_path / "saved_models").exists()
    (run_dir,) = (tmp_path / "runs" / "deep_mnist").iterdir()
    assert not (run_dir / "metrics.json").exists()  # a failed run records no results


@pytest.mark.slow  # two epochs with their own callbacks
def test_label_smoothing_and_a_plateau_schedule(in_tmp):
    from kerascnn.training.tasks import ClassificationTask

    result = recipes.run(
        "deep_mnist",
        smoke=True,
        verbose=0,
        epochs=2,
        label_smoothing=0.1,
        export={"enabled": False},
        optimizer={"schedule": "plateau", "plateau_patience": 1, "decay_rate": 0.5},
    )
    loss = result.model.loss
    assert isinstance(loss, keras.losses.CategoricalCrossentropy)
    assert loss.get_config()["label_smoothing"] == pytest.approx(0.1)
    assert np.isfinite(result.metrics["test_loss"]) and 0 <= result.metrics["test_accuracy"] <= 1
    (plateau,) = ClassificationTask().callbacks(result.recipe, result.run_dir, None)
    assert isinstance(plateau, keras.callbacks.ReduceLROnPlateau)
    assert (plateau.monitor, plateau.factor, plateau.patience) == ("val_loss", 0.5, 1)


def test_classifier_only_options_are_refused_for_a_gan():
    from kerascnn.errors import RecipeError

    with pytest.raises(RecipeError, match="plateau' is for classifiers"):
        recipes.check(recipes.resolve("dcgan", {"optimizer.schedule": "plateau"}))
    recipes.check(recipes.resolve("dcgan", {"label_smoothing": 0.1}))  # one-sided, for GANs too
    with pytest.raises(RecipeError, match="label_smoothing is for classifiers and GANs"):
        recipes.check(recipes.resolve("captioning", {"label_smoothing": 0.1}))


def run_script(name, *args):
    """A script under scripts/, run from the repository root, offline; its completed process."""
    done = subprocess.run(
        [sys.executable, f"scripts/{name}", *args],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=Path(__file__).resolve().parent.parent,
        env={**os.environ, "KERASCNN_OFFLINE": "1"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done


@pytest.mark.slow  # a script in a fresh process
def test_sixteen_bit_inference_script_reports_every_policy(smoke):
    root, result = smoke
    done = run_script("precision_inference.py", str(result.run_dir))
    lines = {line.split()[0]: line for line in done.stdout.splitlines() if "accuracy" in line}
    assert set(lines) == {"float32", "mixed_float16", "mixed_bfloat16"}
    float32 = float(lines["float32"].split()[2])
    assert float32 == pytest.approx(100 * result.metrics["test_accuracy"], abs=0.01)
    assert "(+0.00 points)" in lines["float32"]


@pytest.mark.slow  # a subprocess timing models and input pipelines: a minute
def test_benchmark_script_prints_every_row():
    done = run_script("benchmark.py", "lenet5", "--steps", "2", "--repeats", "1", "--rounds", "1")
    (row,) = [line for line in done.stdout.splitlines() if line.startswith("lenet5 ")]
    assert float(row.split()[-2]) > 0 and float(row.split()[-1]) > 0
    assert "input pipeline alone" in done.stdout
    kept = [line for line in done.stdout.splitlines() if "kept with augmentation on" in line]
    assert len(kept) == 2 and all("digits " in k and "digits_chained " in k for k in kept)
    try:
        import torch  # noqa: F401
    except ImportError:
        assert "PyTorch comparison skipped" in done.stdout
    else:
        assert "PyTorch eager loop, float32:" in done.stdout and "kerascnn fit, auto" in done.stdout


def test_a_gan_discriminator_may_learn_at_its_own_rate_and_smooth_its_real_labels():
    from kerascnn.data import load_dataset
    from kerascnn.errors import RecipeError
    from kerascnn.training.tasks import task_of

    two_rates = {"optimizer.learning_rate": 1e-4, "optimizer.discriminator_learning_rate": 4e-4}
    recipe = recipes.resolve("dcgan", {**two_rates, "label_smoothing": 0.1})
    recipes.check(recipe)
    data = load_dataset(
        recipes.resolve(recipe, {"data.name": "mnist_sample", "data.train_limit": 8}).data
    )
    gan = task_of(recipe).build(recipe, data)
    assert float(gan.d_optimizer.learning_rate) == pytest.approx(4e-4)
    assert float(gan.g_optimizer.learning_rate) == pytest.approx(1e-4)
    assert gan.label_smoothing == pytest.approx(0.1)  # one-sided, in the GAN's own train_step
    with pytest.raises(RecipeError, match="discriminator_learning_rate is for GANs"):
        recipes.check(recipes.resolve("deep_mnist", two_rates))
