"""Box utilities (issue 23, detection): anchors, the box coding round trip, IoU against cases
computed by hand, NMS against a brute-force reference, COCO mAP on cases computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from kerascnn import boxes
from kerascnn.errors import KerasCNNError


def random_boxes(rng, count, size=100.0):
    corners = rng.uniform(0, size, size=(count, 2, 2))
    sides = rng.uniform(1, size / 2, size=(count, 2))
    return np.concatenate([corners[:, 0], corners[:, 0] + sides], axis=1).astype(np.float32)


def test_base_anchors_keep_the_area_and_take_the_ratio():
    base = boxes.base_anchors((32, 64), (0.5, 1.0, 2.0)).numpy()
    heights, widths = base[:, 2] - base[:, 0], base[:, 3] - base[:, 1]
    assert base.shape == (6, 4)
    np.testing.assert_allclose(heights * widths, [32**2] * 3 + [64**2] * 3, rtol=1e-5)
    np.testing.assert_allclose(heights / widths, [0.5, 1, 2, 0.5, 1, 2], rtol=1e-5)
    np.testing.assert_allclose(base[:, :2], -base[:, 2:])  # centred on 0


def test_anchors_sit_at_cell_centres_position_major():
    grid = boxes.anchors((2, 3), 16, scales=(32,), ratios=(1.0, 2.0)).numpy()
    assert grid.shape == (2 * 3 * 2, 4)
    # The first position's two anchors, then the second position (row 0, column 1).
    np.testing.assert_allclose(grid[0], [8 - 16, 8 - 16, 8 + 16, 8 + 16])
    h, w = 32 * math.sqrt(2), 32 / math.sqrt(2)
    np.testing.assert_allclose(grid[1], [8 - h / 2, 8 - w / 2, 8 + h / 2, 8 + w / 2], rtol=1e-6)
    np.testing.assert_allclose(grid[2], [-8, 8, 24, 40])
    # Row 1, column 2: centre (24, 40).
    np.testing.assert_allclose(grid[-2], [24 - 16, 40 - 16, 24 + 16, 40 + 16])


@pytest.mark.parametrize("weights", [boxes.RPN_WEIGHTS, boxes.HEAD_WEIGHTS])
def test_encoding_round_trip(weights):
    rng = np.random.default_rng(0)
    targets, anchors = random_boxes(rng, 200), random_boxes(rng, 200)
    deltas = boxes.encode(targets, anchors, weights)
    np.testing.assert_allclose(boxes.decode(deltas, anchors, weights), targets, atol=1e-3)


def test_encoding_by_hand():
    anchor = [0.0, 0.0, 10.0, 20.0]  # centre (5, 10), height 10, width 20
    # Moved down 5 (half its height), twice as high, as wide.
    box = [0.0, 0.0, 20.0, 20.0]  # centre (10, 10), height 20
    np.testing.assert_allclose(boxes.encode(box, anchor), [0.5, 0.0, math.log(2), 0.0], atol=1e-6)
    np.testing.assert_allclose(
        boxes.encode(box, anchor, (10, 10, 5, 5)), [5, 0, 5 * math.log(2), 0], atol=1e-5
    )
    # Wild deltas decode finite (the size change is clipped).
    huge = boxes.decode([0.0, 0.0, 50.0, 50.0], anchor).numpy()
    assert np.isfinite(huge).all()
    np.testing.assert_allclose(huge[2] - huge[0], 10 * 1000 / 16, rtol=1e-4)


@pytest.mark.parametrize(
    "a, b, expected",
    [
        ([0, 0, 10, 10], [0, 0, 10, 10], 1.0),
        ([0, 0, 10, 10], [20, 20, 30, 30], 0.0),
        ([0, 0, 10, 10], [10, 0, 20, 10], 0.0),  # touching edges
        ([0, 0, 10, 10], [5, 5, 15, 15], 25 / 175),
        ([0, 0, 10, 10], [0, 0, 10, 5], 0.5),
        ([0, 0, 10, 10], [2, 2, 4, 4], 4 / 100),
        ([0, 0, 4, 6], [2, 3, 8, 9], (2 * 3) / (24 + 36 - 6)),
        ([0, 0, 0, 0], [0, 0, 0, 0], 0.0),  # padding
    ],
)
def test_iou_by_hand(a, b, expected):
    assert float(boxes.iou([a], [b])[0, 0]) == pytest.approx(expected, abs=1e-6)


def test_iou_is_pairwise_and_batched():
    rng = np.random.default_rng(1)
    a, b = random_boxes(rng, 5), random_boxes(rng, 7)
    single = boxes.iou(a, b).numpy()
    assert single.shape == (5, 7)
    batched = boxes.iou(np.stack([a, a]), np.stack([b, b])).numpy()
    np.testing.assert_allclose(batched, np.stack([single, single]))
    np.testing.assert_allclose(boxes.iou(b, a).numpy(), single.T, rtol=1e-6)


def numpy_iou(a, b):
    """One pair's IoU, written out in NumPy (independent of `boxes.iou`)."""
    height = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    width = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - height * width
    return height * width / union


def brute_force_nms(boxes_, scores, iou_threshold, limit):
    """Greedy NMS as the paper describes it, one box at a time."""
    kept = []
    for index in np.argsort(-scores):
        overlaps = [numpy_iou(boxes_[index], boxes_[k]) for k in kept]
        if all(value <= iou_threshold for value in overlaps):
            kept.append(int(index))
        if len(kept) == limit:
            break
    return kept


@pytest.mark.parametrize("seed, threshold", [(0, 0.3), (1, 0.5), (2, 0.7)])
def test_nms_matches_a_brute_force_reference(seed, threshold):
    rng = np.random.default_rng(seed)
    found, scores = random_boxes(rng, 60), rng.permutation(60).astype(np.float32) / 60
    kept = boxes.nms(found, scores, max_output_size=40, iou_threshold=threshold).numpy()
    assert list(kept) == brute_force_nms(found, scores, threshold, 40)
    assert 0 < len(kept) < 60


def test_per_class_nms_matches_a_brute_force_reference():
    rng = np.random.default_rng(3)
    count, classes = 30, 3
    found = np.stack([random_boxes(rng, count) for _ in range(classes)], axis=1)  # (n, c, 4)
    scores = rng.permutation(count * classes).reshape(count, classes).astype(np.float32) / 100
    expected = []
    for c in range(classes):
        kept = brute_force_nms(found[:, c], scores[:, c], 0.5, 5)
        expected += [(scores[k, c], c, k) for k in kept]
    expected = sorted(expected, reverse=True)[:12]
    got_boxes, got_scores, got_classes, valid = (
        t.numpy()
        for t in boxes.per_class_nms(found[None], scores[None], max_per_class=5, max_total=12)
    )
    assert int(valid[0]) == len(expected) == 12
    np.testing.assert_allclose(got_scores[0], [s for s, _, _ in expected])
    assert list(got_classes[0]) == [c for _, c, _ in expected]
    np.testing.assert_allclose(got_boxes[0], [found[k, c] for _, c, k in expected])


def test_coco_map_by_hand():
    truth = [(np.array([[0, 0, 100, 100]]), np.array([0]), (200, 200))]
    perfect = [(np.array([[0, 0, 100, 100]]), np.array([0]), np.array([0.9]))]
    assert boxes.coco_map(truth, perfect, classes=1) == pytest.approx(
        {"map": 1.0, "map50": 1.0, "map75": 1.0}
    )
    # IoU 0.62: a match at 0.50, 0.55 and 0.60, none from 0.65 on.
    loose = [(np.array([[0, 0, 100, 62]]), np.array([0]), np.array([0.9]))]
    assert boxes.coco_map(truth, loose, classes=1) == pytest.approx(
        {"map": 0.3, "map50": 1.0, "map75": 0.0}
    )
    # A false positive ranked first: precision 1/2 at recall 1 everywhere.
    ranked = [
        (np.array([[150, 150, 190, 190], [0, 0, 100, 100]]), np.array([0, 0]), np.array([0.9, 0.8]))
    ]
    assert boxes.coco_map(truth, ranked, classes=1)["map50"] == pytest.approx(0.5)
    # The right box with the wrong class finds nothing.
    wrong = [(np.array([[0, 0, 100, 100]]), np.array([1]), np.array([0.9]))]
    assert boxes.coco_map(truth, wrong, classes=2)["map50"] == 0.0
    assert boxes.coco_map(truth, [(np.zeros((0, 4)), [], [])], classes=1)["map"] == 0.0
    with pytest.raises(KerasCNNError, match="no"):
        boxes.coco_map([(np.zeros((0, 4)), [], (10, 10))], perfect, classes=1)


def test_coco_map_gives_precision_recall_curves():
    truth = [(np.array([[0, 0, 100, 100], [0, 100, 50, 150]]), np.array([0, 0]), (200, 200))]
    # One of two boxes found, after a false positive: precision 1/2 up to recall 1/2, then 0.
    found = [
        (np.array([[150, 150, 190, 190], [0, 0, 100, 100]]), np.array([0, 0]), np.array([0.9, 0.8]))
    ]
    scores = boxes.coco_map(truth, found, classes=2, curves=True)
    recall, precision = np.asarray(scores["recall"]), scores["precision"]
    assert recall.shape == (101,) and precision.shape == (101, 2)
    assert np.isnan(precision[:, 1]).all()  # class 1 has no ground truth
    np.testing.assert_allclose(precision[recall <= 0.5, 0], 0.5)
    np.testing.assert_allclose(precision[recall > 0.5, 0], 0.0)
    assert scores["map50"] == pytest.approx(0.5 * 51 / 101)
