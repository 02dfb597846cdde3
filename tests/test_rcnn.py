"""R-CNN (issue 23, point 4): selective search on a canvas, the training regions' labels at the
IoU thresholds, the warp, detections in Faster R-CNN's format, a save/load round trip, a short
training in which the loss falls; then (slow) the run, `kerascnn detect` on it, the refused
export and the comparison script shrunk."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image
from script_loader import load_script

from kerascnn import boxes, recipes, runs
from kerascnn.cli import main
from kerascnn.data import idx
from kerascnn.data.canvases import make_canvases
from kerascnn.data.sources import BUNDLED_DIR
from kerascnn.errors import KerasCNNError, RecipeError
from kerascnn.models import create_model
from kerascnn.models.rcnn import RCNN, selective_search, warp
from kerascnn.training.checks import check_recipe

SIZE = 64
SMALL = dict(input_shape=(SIZE, SIZE, 3), classes=10, max_proposals=60, detections=10, seed=0)


@pytest.fixture(scope="module")
def canvases():
    digits = idx.read_split(*idx.find_split_files(BUNDLED_DIR)["train"])
    return make_canvases(24, digits, seed=3, size=SIZE)


@pytest.fixture(scope="module")
def targets(canvases):
    return np.stack(
        [
            boxes.pad_targets(b / SIZE, c, 6)
            for b, c in zip(canvases.boxes, canvases.labels, strict=True)
        ]
    )


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(0)
    return create_model("rcnn", **SMALL)


def test_selective_search_gives_boxes_inside_the_image(canvases):
    found = selective_search(canvases.images[0], max_proposals=50, min_size=4)
    assert found.dtype == np.float32 and found.shape[1] == 4 and 10 <= len(found) <= 50
    assert (found[:, :2] >= 0).all() and (found[:, 2:] <= SIZE).all()
    assert (found[:, 2:] - found[:, :2] >= 4).all()
    assert len(np.unique(found, axis=0)) == len(found)
    # The same image gives the same proposals, and they find the digits.
    np.testing.assert_array_equal(found, selective_search(canvases.images[0], max_proposals=50))
    best = boxes.iou(canvases.boxes[0], selective_search(canvases.images[0])).numpy().max(axis=1)
    assert best.max() >= 0.5


def test_selective_search_refuses_what_is_no_rgb_image():
    with pytest.raises(KerasCNNError, match=r"needs an RGB image \(h, w, 3\), got \(8, 8\)"):
        selective_search(np.zeros((8, 8)))
    with pytest.raises(KerasCNNError, match="mode must be one of"):
        selective_search(np.zeros((8, 8, 3)), mode="slow")


def test_regions_are_labelled_at_the_iou_thresholds():
    truth = np.array([[0, 0, 10, 10], [20, 20, 30, 30]], np.float32)
    labels = np.array([7, 2])
    regions = np.array(
        [
            [0, 0, 10, 10],  # IoU 1 with the 7
            [0, 0, 10, 5],  # 0.5: positive at the threshold
            [0, 0, 10, 4],  # 0.4: between, left out
            [0, 0, 10, 3],  # 0.3: not below 0.3, left out
            [0, 0, 10, 2],  # 0.2: background
            [21, 21, 30, 30],  # 0.81 with the 2
            [40, 40, 50, 50],  # nothing: background
        ],
        np.float32,
    )
    np.testing.assert_array_equal(
        boxes.label_regions(regions, truth, labels), [8, 8, -1, -1, 0, 3, 0]
    )
    # The fine-tuning's labelling: one threshold, nothing left out.
    np.testing.assert_array_equal(
        boxes.label_regions(regions, truth, labels, negative_iou=0.5), [8, 8, 0, 0, 0, 3, 0]
    )
    np.testing.assert_array_equal(boxes.label_regions(regions, np.zeros((0, 4)), []), [0] * 7)
    with pytest.raises(KerasCNNError, match="negative_iou <= positive_iou"):
        boxes.label_regions(regions, truth, labels, negative_iou=0.6)


def test_the_warp_stretches_a_region_to_the_crop():
    ramp = np.broadcast_to(np.arange(16, dtype=np.float32)[None, :, None], (1, 16, 16, 1))
    # The whole image at its own size is the image; its right half at 8 px is the right half.
    whole = warp(ramp, [[0, 0, 16, 16]], [0], 16).numpy()
    np.testing.assert_allclose(whole, ramp, atol=1e-4)
    half = warp(ramp, [[0, 8, 16, 16]], [0], 8).numpy()
    np.testing.assert_allclose(half[0, 0, :, 0], np.arange(8, 16), atol=1e-4)
    # A 4-px box at 8 px: each pixel sampled twice, a quarter of a pixel either side of its centre.
    stretched = warp(ramp, [[0, 4, 16, 8]], [0], 8).numpy()
    np.testing.assert_allclose(stretched[0, 0, :, 0], np.arange(3.75, 7.5, 0.5), atol=1e-4)
    # Context: the box fills the middle 4 of 8 pixels, the 2 either side are its surroundings.
    framed = warp(ramp, [[4, 4, 12, 12]], [0], 8, context=2).numpy()
    np.testing.assert_allclose(framed, warp(ramp, [[0, 0, 16, 16]], [0], 8).numpy(), atol=1e-4)


def test_training_regions_are_the_true_boxes_proposals_and_sampled_background(
    model, canvases, targets
):
    image_of, regions = model.training_regions(canvases.images[:4], targets[:4])
    assert image_of.dtype == np.int64 and regions.dtype == np.float32 and regions.shape[1] == 5
    assert set(image_of) == {0, 1, 2, 3}
    classes = regions[:, 4].astype(int)
    assert set(classes) <= set(range(11)) and (classes == 0).any() and (classes > 0).any()
    for index in range(4):
        mine = regions[image_of == index]
        truth, labels = boxes.unpad_targets(targets[index])
        # Every true box is a positive of its own class, first.
        np.testing.assert_allclose(mine[: len(truth), :4], truth, atol=1e-6)
        np.testing.assert_array_equal(mine[: len(truth), 4], labels + 1)
        overlaps = boxes.iou(mine[:, :4], truth).numpy().max(axis=1)
        assert (overlaps[mine[:, 4] > 0] >= 0.5).all() and (overlaps[mine[:, 4] == 0] < 0.3).all()
        positives = int((mine[:, 4] > 0).sum())
        assert (mine[:, 4] == 0).sum() <= 3 * positives
    # The background draws come from the model's seed: the same regions every time.
    again = model.training_regions(canvases.images[:4], targets[:4])
    np.testing.assert_array_equal(again[1], regions)


def test_detections_have_faster_rcnns_format(model, canvases):
    faster = create_model(
        "faster_rcnn",
        input_shape=(SIZE, SIZE, 3),
        classes=10,
        rpn_channels=8,
        head_units=(8,),
        pool_size=2,
        test_proposals=8,
        detections=10,
    )
    images = canvases.images[:2].astype(np.float32)
    ours = {key: np.asarray(value) for key, value in model(images).items()}
    theirs = {key: np.asarray(value) for key, value in faster(images).items()}
    assert ours.keys() == theirs.keys()
    for key in ours:
        assert ours[key].dtype == theirs[key].dtype and ours[key].shape == theirs[key].shape, key
    np.testing.assert_allclose(ours["boxes"] * SIZE, ours["pixel_boxes"], atol=1e-4)
    for image in range(2):
        count = ours["valid_detections"][image]
        assert 0 < count <= 10 and not ours["scores"][image, count:].any()
        assert (ours["classes"][image, :count] < 10).all()
        assert (np.diff(ours["scores"][image, :count]) <= 0).all()


def test_a_saved_rcnn_detects_alike(model, canvases, tmp_path):
    model.save(tmp_path / "rcnn.keras")
    loaded = keras.saving.load_model(tmp_path / "rcnn.keras")
    assert isinstance(loaded, RCNN) and loaded.settings == model.settings
    images = canvases.images[:2].astype(np.float32)
    expected, found = model(images), loaded(images)
    for key in expected:
        np.testing.assert_allclose(np.asarray(found[key]), np.asarray(expected[key]), atol=1e-6)


def test_a_few_steps_on_warped_regions_lower_the_loss(canvases, targets):
    keras.utils.set_random_seed(1)
    model = create_model("rcnn", **SMALL, classifier_args={"activation": "relu"})
    model.compile(optimizer=keras.optimizers.Adam(3e-3), jit_compile=False)
    image_of, regions = model.training_regions(canvases.images[:12], targets[:12])
    data = tf.data.Dataset.from_tensor_slices(
        (canvases.images[image_of].astype("float32"), regions)
    )
    # About 3 s on 2 cores, most of it tracing the training step.
    batches = data.shuffle(4096, seed=0).batch(64)
    history = model.fit(batches, epochs=3, shuffle=False, verbose=0).history
    assert history["loss"][-1] < 0.8 * history["loss"][0]
    assert history["region_accuracy"][-1] > history["region_accuracy"][0]


def test_the_builder_refuses_bad_settings():
    with pytest.raises(KerasCNNError, match="classifier must be a registered classifier"):
        create_model("rcnn", classifier="faster_rcnn")
    with pytest.raises(KerasCNNError, match="negative_iou <= positive_iou"):
        create_model("rcnn", negative_iou=0.7)
    with pytest.raises(KerasCNNError, match=r"context must be in \[0, region_size / 2"):
        create_model("rcnn", region_size=8, context=4)


def test_the_recipe_refuses_an_export_and_moving_boxes():
    recipe = recipes.get("rcnn_digits")
    check_recipe(recipe)
    with pytest.raises(RecipeError, match="selective search, code outside the TensorFlow graph"):
        check_recipe(recipes.apply_overrides(recipe, {"export.enabled": True}))
    with pytest.raises(RecipeError, match="but not their boxes"):
        check_recipe(recipes.apply_overrides(recipe, {"augmentation": "digits"}))


# The rest waits for --runslow: the recipe's smoke run through the one run function takes
# about 15 s on 2 cores (selective search on the canvases, tracing, the test split's COCO
# evaluation), and the comparison script trains Faster R-CNN too (about a minute).
@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("rcnn")
    keras.utils.set_random_seed(0)
    return recipes.run(
        "rcnn_digits",
        smoke=True,
        epochs=3,
        verbose=0,
        runs_dir=str(folder / "runs"),
        **{"data.train_limit": 48, "callbacks.quality_every": 2},
    )


@pytest.mark.slow
def test_a_run_learns_and_records(trained):
    history = trained.history
    assert history["loss"][-1] < 0.8 * history["loss"][0]
    assert trained.export_dir is None
    metrics = json.loads((trained.run_dir / runs.METRICS).read_text())
    assert metrics["task"] == "rcnn" and metrics["train_proposal_seconds"] > 0
    assert {"test_map", "test_map50", "test_map75", "test_images_per_second"} <= set(metrics)
    assert 0 <= metrics["test_map"] <= metrics["test_map50"] <= 1
    assert (trained.run_dir / "boxes" / "epoch_003.png").is_file()


@pytest.mark.slow
def test_detect_draws_an_rcnn_runs_boxes_and_export_says_why_not(trained, tmp_path, capsys):
    picture = tmp_path / "canvas.png"
    Image.fromarray(np.full((50, 40, 3), 200, np.uint8)).save(picture)
    code = main(["detect", str(trained.run_dir), str(picture), "--out-dir", str(tmp_path)])
    assert code == 0
    assert np.asarray(Image.open(tmp_path / "canvas_detected.png")).shape == (50, 40, 3)
    assert "canvas.png ->" in capsys.readouterr().out
    assert main(["export", str(trained.run_dir)]) == 2
    error = capsys.readouterr().err
    assert "selective search" in error and len(error.strip().splitlines()) == 1


@pytest.mark.slow
def test_the_comparison_script_puts_both_detectors_in_one_table(tmp_path, monkeypatch, capsys):
    script = load_script("detection_table")
    monkeypatch.setattr(script, "PATH", tmp_path / "detection_table.json")
    both = [f"runs_dir={tmp_path / 'runs'}", "data.test_limit=4", "data.train_limit=16"]
    arguments = ["--smoke", "--set-faster", "batch_size=8", "--set-rcnn", "batch_size=16"]
    for setting in both:
        arguments += ["--set", setting]
    rows = script.main(arguments)
    recorded = json.loads((tmp_path / "detection_table.json").read_text())
    assert set(recorded) == {"rcnn_digits", "faster_rcnn_digits"}
    for name, row in rows.items():
        assert recorded[name]["test_map50"] == row["test_map50"] and row["smoke"]
        assert row["test_images"] == 4 and row["test_images_per_second"] > 0
    rcnn = rows["rcnn_digits"]
    assert (
        rcnn["train_seconds_total"] >= rcnn["train_seconds"] + rcnn["train_proposal_seconds"] - 0.1
    )
    out = capsys.readouterr().out
    assert "| `rcnn_digits` |" in out and "| `faster_rcnn_digits` |" in out
