"""The run directory's one owner (`kerascnn.runs`): layout, records, history, finding runs, and
`load_trained`, which every consumer of a trained model uses."""

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

from kerascnn import recipes, runs
from kerascnn.errors import KerasCNNError

PACKAGE = Path(__file__).resolve().parent.parent / "kerascnn"


@pytest.fixture(scope="module")
def averaged_run(tmp_path_factory):
    """A classifier trained two epochs with a moving average of its weights (Keras' use_ema),
    checkpointed, evaluated and exported."""
    folder = tmp_path_factory.mktemp("averaged")
    return recipes.run(
        "lenet5",
        smoke=True,
        verbose=0,
        epochs=2,
        runs_dir=str(folder / "runs"),
        export={"directory": str(folder / "saved_models")},
        optimizer={"ema_momentum": 0.9},
    )


def weights(model):
    return [np.asarray(w) for w in model.get_weights()]


def test_weight_averages_reach_evaluation_the_export_and_every_reader(averaged_run, monkeypatch):
    final = runs.load_trained(averaged_run.run_dir)
    assert final.path == averaged_run.run_dir / runs.FINAL_MODEL
    checkpoint = runs.load_trained(averaged_run.run_dir / runs.CHECKPOINT / "model.keras")
    exported = runs.load_trained(averaged_run.export_dir)
    # The checkpoint holds the weights training goes on from, not their average.
    assert any(
        not np.allclose(a, b)
        for a, b in zip(weights(final.model), weights(checkpoint.model), strict=True)
    )
    for model in (exported.model, averaged_run.model):
        for a, b in zip(weights(final.model), weights(model), strict=True):
            np.testing.assert_array_equal(a, b)

    from kerascnn.tools import report

    seen, load_trained = [], runs.load_trained

    def spying(source, **kwargs):
        trained = load_trained(source, **kwargs)
        seen.append(weights(trained.model))
        return trained

    monkeypatch.setattr(report.runs, "load_trained", spying)
    report.write_report(averaged_run.run_dir, examples=32)
    for a, b in zip(seen[0], weights(final.model), strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_run_directory_records_its_recipe_and_metrics(averaged_run):
    run_dir = averaged_run.run_dir
    assert runs.read_recipe(run_dir) == averaged_run.recipe
    assert runs.read_metrics(run_dir)["test_accuracy"] == averaged_run.metrics["test_accuracy"]
    assert runs.is_finished(run_dir)
    assert runs.finished_run(run_dir.parent.parent, averaged_run.recipe) == run_dir
    with pytest.raises(KerasCNNError, match="already finished"):
        runs.unfinished_run(run_dir.parent.parent, averaged_run.recipe, fresh=False)
    assert runs.unfinished_run(run_dir.parent.parent, averaged_run.recipe, fresh=True) is None


def test_a_request_continues_the_newest_unfinished_run_of_the_same_recipe(tmp_path):
    recipe = recipes.get("deep_mnist")
    record = recipes.to_dict(recipe)
    base = tmp_path / "deep_mnist"
    older = {key: value for key, value in record.items() if key != "deterministic"}
    for stamp, saved in [("1", older), ("2", {**record, "epochs": 4})]:
        (base / stamp).mkdir(parents=True)
        (base / stamp / runs.RECIPE).write_text(json.dumps(saved))
    # A record written before a field existed matches when the field has its default.
    assert runs.unfinished_run(tmp_path, recipe, fresh=False) == base / "1"
    longer = recipes.resolve(recipe, {"epochs": 5})
    assert runs.unfinished_run(tmp_path, longer, fresh=False) is None
    (base / "1" / runs.METRICS).write_text("{}")
    with pytest.raises(KerasCNNError, match="already finished in .*--fresh"):
        runs.unfinished_run(tmp_path, recipe, fresh=False)
    assert runs.unfinished_run(tmp_path, recipe, fresh=True) is None


def test_a_finished_run_on_a_data_dir_matches_whatever_its_offline_fallback(tmp_path):
    def recipe(**data):
        return recipes.resolve("deep_mnist", {f"data.{k}": v for k, v in data.items()})

    run_dir = tmp_path / "deep_mnist" / "1"
    run_dir.mkdir(parents=True)
    for name in (runs.METRICS, runs.FINAL_MODEL):
        (run_dir / name).write_text("{}")
    # Trained by scripts/reproduce.py: the IDX files, no fallback to the bundled sample.
    runs.write_recipe(run_dir, recipe(data_dir="/data/mnist", offline_fallback=False))
    assert runs.finished_run(tmp_path, recipe(data_dir="/data/mnist")) == run_dir
    assert runs.finished_run(tmp_path, recipe(data_dir="/other")) is None
    # Without a data folder the fallback decides what data the run gets.
    runs.write_recipe(run_dir, recipe(offline_fallback=False))
    assert runs.finished_run(tmp_path, recipe()) is None


def test_history_has_one_value_per_epoch_and_nan_where_none_was_taken(tmp_path):
    (tmp_path / runs.HISTORY).write_text(
        "epoch,loss,inception_score\n0,2.0,NA\n1,1.5,\n2,1.0,7.5\n"
    )
    history = runs.read_history(tmp_path)
    assert history["loss"] == [2.0, 1.5, 1.0]
    assert [math.isnan(v) for v in history["inception_score"]] == [True, True, False]
    assert history["inception_score"][2] == 7.5
    runs.keep_history(tmp_path, 1)
    assert runs.read_history(tmp_path)["loss"] == [2.0]


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: p, "holds no trained model"),
        (lambda p: p / "x.keras", "holds no trained model"),
    ],
)
def test_no_model_is_one_line(tmp_path, make, message):
    with pytest.raises(KerasCNNError, match=message):
        runs.load_trained(make(tmp_path))


def test_a_folder_without_a_recipe_is_not_a_run(tmp_path):
    with pytest.raises(KerasCNNError, match="is not a run directory"):
        runs.read_recipe(tmp_path)


def test_only_runs_loads_trained_models_and_knows_the_file_names():
    """One owner: no other module loads a trained model or spells a run's file names (a
    builder's `weights=` file is the builder's own business)."""
    for path in PACKAGE.rglob("*.py"):
        if path.name == "runs.py":
            continue
        text = path.read_text()
        assert "load_model(" not in text or path.parent.name == "models", path
        for name in (
            '"recipe.json"',
            '"metrics.json"',
            '"history.csv"',
            '"checkpoints"',
            # An export's own files (kerascnn.export writes them under the names runs gives).
            '"model.onnx"',
            '"model.tflite"',
            '"model_float16.tflite"',
            '"model_int8.tflite"',
            '"export.json"',
        ):
            assert not re.search(re.escape(name), text), f"{path} spells {name}"
