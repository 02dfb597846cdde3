"""Segmentation (issue 23): the digit canvases, the VOC reader, a short run, its export and
`kerascnn segment`."""

import json

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from kerascnn import recipes, runs
from kerascnn.cli import main
from kerascnn.data import voc
from kerascnn.data.canvases import make_canvases
from kerascnn.data.sources import BUNDLED_DIR, _read_idx_dir
from kerascnn.errors import DataError


@pytest.fixture(scope="module")
def digits():
    return _read_idx_dir(BUNDLED_DIR)["test"]


def test_canvases_masks_lie_in_their_boxes_and_are_deterministic(digits):
    canvases = make_canvases(40, digits, seed=3, size=64)
    again = make_canvases(40, digits, seed=3, size=64)
    other = make_canvases(40, digits, seed=4, size=64)
    assert np.array_equal(canvases.images, again.images)
    assert np.array_equal(canvases.masks, again.masks)
    assert all(np.array_equal(a, b) for a, b in zip(canvases.boxes, again.boxes, strict=True))
    assert not np.array_equal(canvases.images, other.images)
    assert canvases.images.shape == (40, 64, 64, 3) and canvases.masks.dtype == np.uint8
    counts = [len(labels) for labels in canvases.labels]
    assert min(counts) >= 1 and max(counts) <= 6 and len(set(counts)) > 2
    for mask, boxes, labels in zip(canvases.masks, canvases.boxes, canvases.labels, strict=True):
        assert boxes.shape == (len(labels), 4)
        assert (boxes[:, :2] >= 0).all() and (boxes[:, 2:] <= 64).all()
        rows, columns = np.nonzero(mask)
        inside = np.zeros(len(rows), bool)
        for (top, left, bottom, right), label in zip(boxes, labels, strict=True):
            same = mask[rows, columns] == label + 1
            inside |= same & (rows >= top) & (rows < bottom) & (columns >= left) & (columns < right)
        assert inside.all(), "a mask pixel outside every box of its digit"
        # Each digit's box is tight around ink of its class (at least one pixel survives).
        for (top, left, bottom, right), label in zip(boxes.astype(int), labels, strict=True):
            assert (mask[top:bottom, left:right] == label + 1).any()


def _voc_folder(root, *, ids=("a", "b"), val=("b",)):
    for folder in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    for image_id in ids:
        Image.fromarray(np.full((20, 30, 3), 90, np.uint8)).save(
            root / "JPEGImages" / f"{image_id}.jpg"
        )
        mask = np.zeros((20, 30), np.uint8)
        mask[5:15, 5:15] = 15
        mask[4, 4:16] = voc.IGNORE_LABEL
        _palette_png(mask, root / "SegmentationClass" / f"{image_id}.png")
    (root / "ImageSets/Segmentation/train.txt").write_text("\n".join(ids) + "\n")
    (root / "ImageSets/Segmentation/val.txt").write_text("\n".join(val) + "\n")
    return root


def _palette_png(mask, path):
    image = Image.fromarray(mask, mode="P")
    image.putpalette(np.tile(np.arange(256, dtype=np.uint8)[:, None], (1, 3)).ravel().tolist())
    image.save(path)


def test_voc_reader_reads_class_indices(tmp_path):
    root = _voc_folder(tmp_path / "VOCdevkit" / "VOC2012")
    assert voc.find_root(tmp_path) == root
    images, masks = voc.read_segmentation(root, "train", size=(10, 15))
    assert images.shape == (2, 10, 15, 3) and masks.shape == (2, 10, 15)
    assert set(np.unique(masks)) <= {0, 15, voc.IGNORE_LABEL} and 15 in masks


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda r: (r / "JPEGImages/b.jpg").unlink(), r"train.txt: image 'b' has no photo"),
        (
            lambda r: Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(
                r / "SegmentationClass/a.png"
            ),
            r"a.png is a 'RGB' image, not a palette",
        ),
        (
            lambda r: _palette_png(np.full((20, 30), 37, np.uint8), r / "SegmentationClass/a.png"),
            r"a.png has class 37 at row 0, column 0",
        ),
        (
            lambda r: _palette_png(np.zeros((10, 30), np.uint8), r / "SegmentationClass/b.png"),
            r"b.png is 30x10, its photo b.jpg 30x20",
        ),
        (
            lambda r: (r / "ImageSets/Segmentation/train.txt").write_text("a\nb c\n"),
            r"train.txt line 2: 'b c' is not an image id",
        ),
        (lambda r: (r / "SegmentationClass/b.png").unlink(), r"mask .*b.png does not exist"),
    ],
)
def test_voc_reader_names_the_bad_file_and_entry(tmp_path, damage, message):
    root = _voc_folder(tmp_path)
    damage(root)
    with pytest.raises(DataError, match=message):
        voc.read_segmentation(root, "train", size=(10, 10))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A few steps of fcn8s_digits on tiny canvases with a tiny head."""
    folder = tmp_path_factory.mktemp("segmentation")
    return recipes.run(
        "fcn8s_digits",
        smoke=True,
        epochs=2,
        verbose=0,
        runs_dir=str(folder / "runs"),
        **{
            "export.directory": str(folder / "saved_models"),
            "data.image_shape": (32, 32, 3),
            "data.train_limit": 32,
            "data.test_limit": 8,
            "model.args": {"backbone": "deep_mnist_cnn", "fc_units": 16, "dropout": 0.0},
            "optimizer.learning_rate": 3e-3,
            "optimizer.schedule": "constant",
        },
    )


def test_a_short_run_learns_and_records(trained):
    losses = trained.history["loss"]
    assert losses[-1] < losses[0]
    assert {"val_mean_iou", "val_pixel_accuracy"} <= set(trained.history)
    metrics = trained.metrics
    assert metrics["task"] == "segmentation" and 0 <= metrics["test_mean_iou"] <= 1
    assert list(metrics["data"]["class_names"][:2]) == ["background", "0"]
    assert (trained.run_dir / "masks" / "epoch_002.png").is_file()


def test_the_export_serves_a_class_map_and_probabilities(trained):
    served = tf.saved_model.load(str(trained.export_dir))
    images = np.zeros((2, 32, 32, 3), np.float32)
    outputs = served.serve(tf.constant(images))
    assert outputs["class_map"].dtype == tf.uint8 and outputs["class_map"].shape == (2, 32, 32)
    probabilities = outputs["probabilities"].numpy()
    assert probabilities.shape == (2, 32, 32, 11)
    np.testing.assert_array_equal(outputs["class_map"].numpy(), probabilities.argmax(-1))
    keras_model = runs.load_trained(trained.export_dir).model
    np.testing.assert_allclose(
        keras_model.predict(images, verbose=0)["probabilities"], probabilities, atol=1e-5
    )


def test_segment_writes_overlays(trained, tmp_path, capsys):
    picture = tmp_path / "canvas.png"
    Image.fromarray(np.full((50, 40, 3), 200, np.uint8)).save(picture)
    for source in (trained.export_dir, trained.run_dir):
        out = tmp_path / source.name
        assert main(["segment", str(source), str(picture), "--out-dir", str(out)]) == 0
        overlay = np.asarray(Image.open(out / "canvas_segmented.png"))
        assert overlay.shape == (50, 40, 3)
        assert "canvas.png ->" in capsys.readouterr().out


def test_segment_refuses_a_classifier_and_missing_images(trained, tmp_path, capsys):
    assert main(["segment", str(trained.run_dir), str(tmp_path / "missing.png")]) == 2
    error = capsys.readouterr().err
    assert "missing.png does not exist" in error and len(error.strip().splitlines()) == 1
    classifier = tmp_path / "runs" / "lenet"
    classifier.mkdir(parents=True)
    (classifier / runs.RECIPE).write_text(json.dumps(runs.to_dict(recipes.get("lenet5"))))
    (classifier / runs.FINAL_MODEL).write_bytes(b"")
    assert main(["segment", str(classifier), str(tmp_path / "missing.png")]) == 2
    assert "not a segmentation model" in capsys.readouterr().err
