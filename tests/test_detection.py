"""Detection (issue 23): the detection task through the one run function (a short run whose loss
falls, mAP in the history and metrics, pictures), its export (boxes normalised and in pixels,
classes, scores, count; NMS in the graph; reloaded), `kerascnn detect` on files, the report."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image
from script_loader import load_script

from kerascnn import recipes, runs
from kerascnn.cli import main
from kerascnn.errors import RecipeError
from kerascnn.models import create_model
from kerascnn.training.checks import check_recipe

OUTPUTS = {"boxes", "pixel_boxes", "classes", "scores", "valid_detections"}


def test_the_task_refuses_what_would_falsify_boxes():
    recipe = recipes.get("faster_rcnn_digits")
    with pytest.raises(RecipeError, match="but not their boxes"):
        check_recipe(recipes.apply_overrides(recipe, {"augmentation": "digits"}))
    with pytest.raises(RecipeError, match="label_smoothing is for classifiers"):
        check_recipe(recipes.apply_overrides(recipe, {"label_smoothing": 0.1}))


# Slow: 7 s on 2 cores (loading the model and tracing its detection graph).
@pytest.mark.slow
def test_detect_draws_the_boxes_of_a_keras_file(tmp_path, capsys):
    """An untrained detector saved on its own: every box it finds at score >= 0 is drawn."""
    keras.utils.set_random_seed(0)
    model = create_model(
        "faster_rcnn",
        input_shape=(32, 32, 3),
        classes=3,
        rpn_channels=8,
        head_units=(8,),
        pool_size=2,
        test_proposals=8,
        detections=4,
        score_threshold=0.0,
    )
    model.save(tmp_path / "detector.keras")
    picture = tmp_path / "photo.png"
    Image.fromarray(np.full((50, 40, 3), 200, np.uint8)).save(picture)
    code = main(
        ["detect", str(tmp_path / "detector.keras"), str(picture), "--score", "0"]
        + ["--out-dir", str(tmp_path / "out")]
    )
    assert code == 0
    drawn = np.asarray(Image.open(tmp_path / "out" / "photo_detected.png"))
    assert drawn.shape == (50, 40, 3) and (drawn != 200).any()
    assert "photo.png ->" in capsys.readouterr().out
    assert main(["detect", str(tmp_path / "detector.keras"), str(picture), "--score", "2"]) == 2
    assert "--score must be in [0, 1]" in capsys.readouterr().err


# The rest waits for --runslow: a run of the detection task takes about a minute on 2 cores
# (tracing the training step, then the export and its verification).
@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A few epochs of faster_rcnn_digits on tiny canvases with a tiny network."""
    folder = tmp_path_factory.mktemp("detection")
    keras.utils.set_random_seed(0)
    return recipes.run(
        "faster_rcnn_digits",
        smoke=True,
        epochs=4,
        verbose=0,
        runs_dir=str(folder / "runs"),
        **{
            "export.directory": str(folder / "saved_models"),
            "data.train_limit": 48,
            "optimizer.learning_rate": 3e-3,
            "optimizer.schedule": "constant",
            "callbacks.quality_every": 2,
        },
    )


@pytest.mark.slow
def test_a_short_run_learns_and_records(trained):
    history = trained.history
    assert min(history["loss"][1:]) < 0.8 * history["loss"][0]
    for key in ("rpn_objectness", "rpn_box", "head_class", "head_box"):
        assert len(history[key]) == 4
    # Scored after the first epoch, every second and the last; NaN in between.
    assert np.isnan(history["val_map50"][2]) and not np.isnan(history["val_map50"][3])
    metrics = json.loads((trained.run_dir / runs.METRICS).read_text())
    assert metrics["task"] == "detection"
    assert {"test_map", "test_map50", "test_map75", "test_images_per_second"} <= set(metrics)
    assert 0 <= metrics["test_map"] <= metrics["test_map50"] <= 1
    assert metrics["data"]["class_names"][:2] == ["0", "1"]
    assert (trained.run_dir / "boxes" / "epoch_004.png").is_file()


@pytest.mark.slow
def test_the_export_serves_boxes_classes_scores_and_counts(trained):
    served = tf.saved_model.load(str(trained.export_dir))
    images = np.random.default_rng(0).uniform(0, 255, (2, 64, 64, 3)).astype(np.float32)
    outputs = {key: value.numpy() for key, value in served.serve(tf.constant(images)).items()}
    assert set(outputs) == OUTPUTS
    assert outputs["boxes"].shape == (2, 10, 4) and outputs["valid_detections"].shape == (2,)
    np.testing.assert_allclose(outputs["boxes"] * 64, outputs["pixel_boxes"], atol=1e-3)
    assert outputs["classes"].dtype == np.int32 and outputs["valid_detections"].dtype == np.int32
    expected = runs.load_trained(trained.export_dir).model.predict(images, verbose=0)
    for key in OUTPUTS:  # the task's export tolerance: pixel boxes round by ~1e-5
        np.testing.assert_allclose(outputs[key], expected[key], atol=1e-3)


@pytest.mark.slow
def test_detect_writes_pictures_and_refuses_what_it_cannot_use(trained, tmp_path, capsys):
    picture = tmp_path / "canvas.png"
    Image.fromarray(np.full((50, 40, 3), 200, np.uint8)).save(picture)
    for source in (trained.export_dir, trained.run_dir):
        out = tmp_path / source.name
        assert main(["detect", str(source), str(picture), "--out-dir", str(out)]) == 0
        assert np.asarray(Image.open(out / "canvas_detected.png")).shape == (50, 40, 3)
        assert "canvas.png ->" in capsys.readouterr().out
    assert main(["detect", str(trained.run_dir), str(tmp_path / "missing.png")]) == 2
    error = capsys.readouterr().err
    assert "missing.png does not exist" in error and len(error.strip().splitlines()) == 1
    classifier = tmp_path / "runs" / "lenet"
    classifier.mkdir(parents=True)
    (classifier / runs.RECIPE).write_text(json.dumps(runs.to_dict(recipes.get("lenet5"))))
    (classifier / runs.FINAL_MODEL).write_bytes(b"")
    assert main(["detect", str(classifier), str(picture)]) == 2
    assert "not a detector" in capsys.readouterr().err


@pytest.mark.slow
def test_the_report_of_a_detection_run_shows_boxes_and_precision_recall(trained):
    from kerascnn.tools.report import write_report

    page = write_report(trained.run_dir)
    assert {"curves.png", "boxes.png", "precision_recall.png"} <= {
        p.name for p in page.parent.iterdir()
    }


# Slow: the script trains an epoch of the recipe, shrunk (about a minute on 2 cores).
@pytest.mark.slow
def test_the_map_script_records_its_figures(tmp_path, monkeypatch, capsys):
    script = load_script("detection_map")
    monkeypatch.setattr(script, "PATH", tmp_path / "detection_map.json")
    settings = {
        "runs_dir": tmp_path / "runs",
        "export.directory": tmp_path / "saved_models",
        "data.train_limit": 16,
        "data.test_limit": 4,
        "data.image_shape": "[64,64,3]",
        "batch_size": 8,
        "callbacks.quality_examples": 4,
        "model.args.rpn_channels": 16,
        "model.args.head_units": "[16]",
    }
    arguments = ["--epochs", "1"]
    for key, value in settings.items():
        arguments += ["--set", f"{key}={value}"]
    row = script.main(arguments)
    recorded = json.loads((tmp_path / "detection_map.json").read_text())
    assert recorded["faster_rcnn_digits"]["test_map50"] == row["test_map50"]
    assert {"test_map", "test_map75", "test_images_per_second", "commit"} <= set(row)
    assert row["target_map50"] == 0.9 and row["target_map"] == 0.6 and row["epochs"] == 1
    assert "faster_rcnn_digits: mAP@0.5" in capsys.readouterr().out


# Slow: two runs of the task (about 40 s on 2 cores).
@pytest.mark.slow
def test_deterministic_runs_end_with_identical_weights(tmp_path):
    weights = []
    for _ in range(2):
        result = recipes.run(
            "faster_rcnn_digits",
            smoke=True,
            fresh=True,
            verbose=0,
            deterministic=True,
            runs_dir=str(tmp_path / "runs"),
            **{"export.enabled": False, "data.train_limit": 16},
        )
        weights.append(result.model.get_weights())
    assert all(np.array_equal(a, b) for a, b in zip(*weights, strict=True))
