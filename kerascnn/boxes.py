"""Boxes for object detection: anchors, Faster R-CNN's box coding, IoU, non-maximum suppression
and COCO-style mean average precision.

Shared by every detector (Faster R-CNN in `kerascnn.models.faster_rcnn`, and any region-based
pipeline built later) and by the detection data and evaluation, so it sits at the foundation of
the import layers: it imports nothing of kerascnn but its errors.

Conventions:
- A box is (y_min, x_min, y_max, x_max), TensorFlow's order (`tf.image.crop_and_resize`,
  `tf.image.non_max_suppression`, `tf.image.draw_bounding_boxes`), in pixels unless a function
  says normalised (divided by the image's height and width). The max side is exclusive: a box
  covering pixel rows 3..9 is (3, ., 10, .), so its height is y_max - y_min, as in COCO's
  (x, y, width, height) and torchvision's boxes.
- Deltas (the regression targets of Ren et al. 2015, eq. 2) are (t_y, t_x, t_h, t_w) in that
  order, divided by `weights` (torchvision's `BoxCoder(weights)`: (1, 1, 1, 1) for the RPN,
  (10, 10, 5, 5) for the box head, which scales the targets to about unit variance).

The geometry (`anchors`, `encode`, `decode`, `iou`, `clip`) is TensorFlow ops, so it runs inside a
model's graph and in an exported SavedModel; `nms` and `per_class_nms` are TensorFlow's own ops.
`coco_map` scores detections with pycocotools (the `detection` extra), the reference
implementation of the COCO metrics.

Reference:
- Shaoqing Ren, Kaiming He, Ross Girshick, Jian Sun, "Faster R-CNN: Towards Real-Time Object
  Detection with Region Proposal Networks" (NeurIPS 2015, arXiv:1506.01497), sec. 3.1.1-3.1.2.
- torchvision's `models/detection/anchor_utils.py` (`AnchorGenerator`) and
  `models/detection/_utils.py` (`BoxCoder`, `bbox_xform_clip = log(1000 / 16)`).
- Tsung-Yi Lin et al., "Microsoft COCO: Common Objects in Context" (2014), and
  cocodataset/cocoapi `PythonAPI/pycocotools/cocoeval.py` (`COCOeval`).
"""

from __future__ import annotations

import contextlib
import io
import math
from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from kerascnn.errors import KerasCNNError

# The paper's anchors: 3 scales (box sides 128, 256, 512 px on ~600 px images) x 3 aspect ratios.
SCALES = (128.0, 256.0, 512.0)
RATIOS = (0.5, 1.0, 2.0)
# Box-head deltas are divided by these (torchvision's RoIHeads BoxCoder); the RPN's by 1.
RPN_WEIGHTS = (1.0, 1.0, 1.0, 1.0)
HEAD_WEIGHTS = (10.0, 10.0, 5.0, 5.0)
# Largest log-size change decoded (torchvision's bbox_xform_clip): exp() must not overflow.
MAX_LOG_SCALE = math.log(1000.0 / 16)
# The class of a padding row in a detection label (`pad_targets`).
PADDING = -1


def base_anchors(scales: Sequence[float] = SCALES, ratios: Sequence[float] = RATIOS) -> tf.Tensor:
    """The anchors at one position, centred on (0, 0): float32 (len(scales) * len(ratios), 4),
    scale-major (all ratios of the first scale first).

    An anchor of scale s and ratio r (height / width) has the area s^2: height s * sqrt(r),
    width s / sqrt(r), as torchvision's `AnchorGenerator.generate_anchors` (which keeps the
    area of s^2 too; it rounds the corners to integers, these are exact)."""
    scales = tf.constant(scales, tf.float32)[:, None]
    root = tf.sqrt(tf.constant(ratios, tf.float32))[None, :]
    heights = tf.reshape(scales * root, [-1])
    widths = tf.reshape(scales / root, [-1])
    return tf.stack([-heights / 2, -widths / 2, heights / 2, widths / 2], axis=-1)


def anchors(
    feature_size: tuple[int, int],
    stride: float | tuple[float, float],
    scales: Sequence[float] = SCALES,
    ratios: Sequence[float] = RATIOS,
) -> tf.Tensor:
    """Every anchor of a feature map of `feature_size` = (height, width) whose cells are
    `stride` pixels apart: float32 (height * width * A, 4) in pixels, A = len(scales) *
    len(ratios), position-major (row by row, then the A anchors of each position), the order of
    an RPN's outputs reshaped from (height, width, A).

    Anchors are centred on the cells' centres, ((i + 1/2) stride_y, (j + 1/2) stride_x).
    torchvision shifts them to (i stride_y, j stride_x), the cells' corners; the centres put a
    map of an image 8 x stride wide symmetric about the image's centre."""
    height, width = (int(v) for v in feature_size)
    stride_y, stride_x = (stride, stride) if np.isscalar(stride) else stride
    ys = (tf.range(height, dtype=tf.float32) + 0.5) * float(stride_y)
    xs = (tf.range(width, dtype=tf.float32) + 0.5) * float(stride_x)
    ys, xs = tf.meshgrid(ys, xs, indexing="ij")
    centres = tf.reshape(tf.stack([ys, xs, ys, xs], axis=-1), [-1, 1, 4])
    return tf.reshape(centres + base_anchors(scales, ratios)[None], [-1, 4])


def _centres(boxes):
    """(centre y, centre x, height, width) of (..., 4) boxes."""
    height = boxes[..., 2] - boxes[..., 0]
    width = boxes[..., 3] - boxes[..., 1]
    return boxes[..., 0] + 0.5 * height, boxes[..., 1] + 0.5 * width, height, width


def encode(boxes, anchors, weights: Sequence[float] = RPN_WEIGHTS) -> tf.Tensor:
    """The deltas that turn `anchors` into `boxes` (both (..., 4), broadcast): Ren et al.'s
    t_y = (y - y_a) / h_a, t_x = (x - x_a) / w_a, t_h = log(h / h_a), t_w = log(w / w_a) of the
    centres and sides, each times its weight. Boxes and anchors need positive sides."""
    boxes = tf.convert_to_tensor(boxes, tf.float32)
    anchors = tf.convert_to_tensor(anchors, tf.float32)
    y, x, h, w = _centres(boxes)
    ya, xa, ha, wa = _centres(anchors)
    wy, wx, wh, ww = weights
    return tf.stack(
        [
            wy * (y - ya) / ha,
            wx * (x - xa) / wa,
            wh * tf.math.log(h / ha),
            ww * tf.math.log(w / wa),
        ],
        axis=-1,
    )


def decode(deltas, anchors, weights: Sequence[float] = RPN_WEIGHTS) -> tf.Tensor:
    """The boxes that `deltas` make of `anchors` (both (..., 4), broadcast): `encode` inverted.
    Size changes are clipped at `MAX_LOG_SCALE` (x 62.5), as torchvision's `BoxCoder.decode`,
    so an untrained network's wild deltas stay finite."""
    deltas = tf.convert_to_tensor(deltas, tf.float32)
    anchors = tf.convert_to_tensor(anchors, tf.float32)
    ya, xa, ha, wa = _centres(anchors)
    wy, wx, wh, ww = weights
    y = deltas[..., 0] / wy * ha + ya
    x = deltas[..., 1] / wx * wa + xa
    h = tf.exp(tf.minimum(deltas[..., 2] / wh, MAX_LOG_SCALE)) * ha
    w = tf.exp(tf.minimum(deltas[..., 3] / ww, MAX_LOG_SCALE)) * wa
    return tf.stack([y - 0.5 * h, x - 0.5 * w, y + 0.5 * h, x + 0.5 * w], axis=-1)


def area(boxes) -> tf.Tensor:
    """The areas of (..., 4) boxes (0 for an empty or inverted one)."""
    boxes = tf.convert_to_tensor(boxes, tf.float32)
    return tf.maximum(boxes[..., 2] - boxes[..., 0], 0.0) * tf.maximum(
        boxes[..., 3] - boxes[..., 1], 0.0
    )


def iou(a, b) -> tf.Tensor:
    """Intersection over union of every box of `a` (..., N, 4) with every box of `b` (..., M, 4):
    (..., N, M). A pair whose union is empty (two empty boxes, e.g. padding) has IoU 0."""
    a = tf.convert_to_tensor(a, tf.float32)[..., :, None, :]
    b = tf.convert_to_tensor(b, tf.float32)[..., None, :, :]
    top = tf.maximum(a[..., 0], b[..., 0])
    left = tf.maximum(a[..., 1], b[..., 1])
    bottom = tf.minimum(a[..., 2], b[..., 2])
    right = tf.minimum(a[..., 3], b[..., 3])
    inter = tf.maximum(bottom - top, 0.0) * tf.maximum(right - left, 0.0)
    union = area(a) + area(b) - inter
    return tf.math.divide_no_nan(inter, union)


def clip(boxes, height, width) -> tf.Tensor:
    """`boxes` (..., 4) clipped to an image of `height` x `width` pixels."""
    boxes = tf.convert_to_tensor(boxes, tf.float32)
    height, width = tf.cast(height, tf.float32), tf.cast(width, tf.float32)
    y = tf.clip_by_value(boxes[..., 0::2], 0.0, height)
    x = tf.clip_by_value(boxes[..., 1::2], 0.0, width)
    return tf.stack([y[..., 0], x[..., 0], y[..., 1], x[..., 1]], axis=-1)


def nms(
    boxes,
    scores,
    *,
    max_output_size: int,
    iou_threshold: float = 0.5,
    score_threshold: float = float("-inf"),
) -> tf.Tensor:
    """The indices (int32, best first) of the boxes greedy non-maximum suppression keeps: the
    best-scoring box, then the best of those whose IoU with every kept box is at most
    `iou_threshold`, up to `max_output_size`, none scoring below `score_threshold`.
    `tf.image.non_max_suppression` (one image, one class)."""
    return tf.image.non_max_suppression(
        tf.convert_to_tensor(boxes, tf.float32),
        tf.convert_to_tensor(scores, tf.float32),
        max_output_size,
        iou_threshold=iou_threshold,
        score_threshold=score_threshold,
    )


def per_class_nms(
    boxes,
    scores,
    *,
    max_per_class: int,
    max_total: int,
    iou_threshold: float = 0.5,
    score_threshold: float = float("-inf"),
):
    """Per-class greedy NMS of a batch, then the best `max_total` detections of each image:
    `tf.image.combined_non_max_suppression`, one op that lives in an exported graph.

    Args:
        boxes: (batch, n, classes, 4) class-specific boxes, or (batch, n, 1, 4) shared by all.
        scores: (batch, n, classes).

    Returns:
        (boxes (batch, max_total, 4), scores (batch, max_total), classes (batch, max_total)
        int32, valid (batch,) int32): the first `valid` rows of each image are its detections,
        best first; the rest are zeros.
    """
    result = tf.image.combined_non_max_suppression(
        tf.convert_to_tensor(boxes, tf.float32),
        tf.convert_to_tensor(scores, tf.float32),
        max_output_size_per_class=max_per_class,
        max_total_size=max_total,
        iou_threshold=iou_threshold,
        score_threshold=score_threshold,
        pad_per_class=False,
        clip_boxes=False,
    )
    return (
        result.nmsed_boxes,
        result.nmsed_scores,
        tf.cast(result.nmsed_classes, tf.int32),
        result.valid_detections,
    )


# The class `label_regions` gives a region it leaves out of training (between the two thresholds).
IGNORED = -1


def label_regions(
    regions, truth, labels, *, positive_iou: float = 0.5, negative_iou: float = 0.3
) -> np.ndarray:
    """The training classes of candidate regions, R-CNN style: int64 (n,), 1 + the class of the
    true box a region overlaps most when that IoU is at least `positive_iou`, 0 (background)
    when its best IoU with every true box is below `negative_iou`, `IGNORED` (-1) in between.

    Girshick et al. (2014, sec. 2.3 and appendix B) fine-tuned the CNN with positives at
    IoU >= 0.5 and everything else background, and trained the SVMs with the true boxes as
    positives and regions below IoU 0.3 as negatives, leaving out the regions in between;
    `negative_iou=positive_iou` gives the fine-tuning's labelling.

    Args:
        regions: (n, 4) boxes, in the same units as `truth`.
        truth: (k, 4) true boxes (k may be 0: every region is background).
        labels: (k,) their classes, 0 .. classes - 1.
    """
    if not 0 <= negative_iou <= positive_iou <= 1:
        raise KerasCNNError(
            "label_regions needs 0 <= negative_iou <= positive_iou <= 1, got "
            f"negative_iou={negative_iou}, positive_iou={positive_iou}"
        )
    regions = np.asarray(regions, np.float32).reshape(-1, 4)
    truth = np.asarray(truth, np.float32).reshape(-1, 4)
    labels = np.asarray(labels, np.int64).reshape(-1)
    if not len(truth):
        return np.zeros(len(regions), np.int64)
    overlaps = iou(regions, truth).numpy()
    best = overlaps.max(axis=1)
    classes = np.where(best >= positive_iou, 1 + labels[overlaps.argmax(axis=1)], IGNORED)
    return np.where(best < negative_iou, 0, classes).astype(np.int64)


def pad_targets(boxes, labels, max_boxes: int) -> np.ndarray:
    """One image's detection label as datasets carry it: float32 (max_boxes, 5), each row a
    normalised box and its class (y_min, x_min, y_max, x_max, class), padded with rows of class
    `PADDING` (-1), so that images of different box counts batch together."""
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    labels = np.asarray(labels).reshape(-1)
    if len(boxes) > max_boxes:
        raise KerasCNNError(f"{len(boxes)} boxes do not fit a label of {max_boxes} rows")
    target = np.zeros((max_boxes, 5), np.float32)
    target[:, 4] = PADDING
    target[: len(boxes), :4] = boxes
    target[: len(boxes), 4] = labels
    return target


def unpad_targets(target) -> tuple[np.ndarray, np.ndarray]:
    """(normalised boxes (k, 4), labels int64 (k,)) of a `pad_targets` label."""
    target = np.asarray(target)
    kept = target[:, 4] != PADDING
    return target[kept, :4], target[kept, 4].astype(np.int64)


def truth_in_pixels(targets, image_size) -> list[tuple[np.ndarray, np.ndarray, tuple]]:
    """`coco_map`'s ground truth of a batch of `pad_targets` labels (batch, max_boxes, 5) of
    images of `image_size` = (height, width): per image (pixel boxes, labels, image_size)."""
    height, width = (int(v) for v in image_size)
    scale = np.array([height, width, height, width], np.float32)
    return [
        (found * scale, labels, (height, width))
        for found, labels in (unpad_targets(target) for target in np.asarray(targets))
    ]


def unpad_detections(pixel_boxes, classes, scores, valid) -> list[tuple]:
    """`coco_map`'s detections of a detector's padded outputs (batch, n, ...) and counts (batch,):
    per image (pixel boxes, classes, scores) of its first `valid` rows."""
    return [
        (
            np.asarray(pixel_boxes[i][:count]),
            np.asarray(classes[i][:count]),
            np.asarray(scores[i][:count]),
        )
        for i, count in enumerate(np.asarray(valid).astype(int))
    ]


def coco_map(ground_truth, detections, *, classes: int, curves: bool = False) -> dict:
    """COCO's box mAP of `detections` against `ground_truth`, by pycocotools' `COCOeval`.

    Args:
        ground_truth: per image, (boxes (k, 4) in pixels, labels (k,) in 0..classes-1, (height,
            width) of the image).
        detections: per image (same order), (boxes (d, 4) in pixels, labels (d,), scores (d,)).
        classes: the number of object classes.
        curves: also return COCOeval's interpolated precision-recall curves at IoU 0.5.

    Returns:
        {"map": mAP averaged over IoU 0.50:0.05:0.95, "map50": at IoU 0.5 (Pascal VOC's
        threshold), "map75": at IoU 0.75}: the first three numbers of `COCOeval.summarize`
        (all areas, up to 100 detections per image). A class with no ground truth box in these
        images is left out of the mean, as COCOeval does; no detections at all score 0. With
        `curves`, also "recall" (the 101 recall points 0, 0.01 ... 1) and "precision" (101,
        classes): each class's interpolated precision at IoU 0.5 (NaN for a class without
        ground truth, 0 past its highest recall).
    """
    coco_tools = _pycocotools()
    images, annotations = [], []
    for index, (boxes, labels, (height, width)) in enumerate(ground_truth):
        images.append({"id": index + 1, "height": int(height), "width": int(width)})
        for box, label in zip(_xywh(boxes), np.asarray(labels).reshape(-1), strict=True):
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": index + 1,
                    "category_id": int(label) + 1,
                    "bbox": box,
                    "area": box[2] * box[3],
                    "iscrowd": 0,
                }
            )
    if not annotations:
        raise KerasCNNError("mAP needs ground truth boxes, and these images have none")
    results = [
        {"image_id": index + 1, "category_id": int(label) + 1, "bbox": box, "score": float(score)}
        for index, (boxes, labels, scores) in enumerate(detections)
        for box, label, score in zip(
            _xywh(boxes),
            np.asarray(labels).reshape(-1),
            np.asarray(scores).reshape(-1),
            strict=True,
        )
    ]
    if not results:
        scores = {"map": 0.0, "map50": 0.0, "map75": 0.0}
        if curves:
            present = {a["category_id"] - 1 for a in annotations}
            flat = [[0.0 if c in present else math.nan for c in range(classes)]] * 101
            scores.update(recall=list(np.linspace(0, 1, 101)), precision=np.array(flat))
        return scores
    # pycocotools prints its progress; the scores are returned instead.
    with contextlib.redirect_stdout(io.StringIO()):
        truth = coco_tools.coco.COCO()
        truth.dataset = {
            "images": images,
            "annotations": annotations,
            "categories": [{"id": c + 1, "name": str(c)} for c in range(classes)],
        }
        truth.createIndex()
        found = truth.loadRes(results)
        evaluation = coco_tools.cocoeval.COCOeval(truth, found, iouType="bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    # -1: no ground truth of any class at these settings (cannot happen: there is some).
    stats = [max(0.0, float(value)) for value in evaluation.stats[:3]]
    scores = dict(zip(("map", "map50", "map75"), stats, strict=True))
    if curves:
        # eval["precision"]: (IoU thresholds, recall points, classes, area ranges, max detections);
        # IoU 0.5 first, area "all" first, 100 detections last; -1 where a class has no truth.
        precision = np.asarray(evaluation.eval["precision"][0, :, :, 0, -1], np.float64)
        scores.update(
            recall=list(evaluation.params.recThrs),
            precision=np.where(precision < 0, np.nan, precision),
        )
    return scores


def _xywh(boxes) -> list[list[float]]:
    """(y_min, x_min, y_max, x_max) pixel boxes as COCO's [x, y, width, height] lists."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    return [
        [float(left), float(top), float(right - left), float(bottom - top)]
        for top, left, bottom, right in boxes
    ]


def _pycocotools():
    """pycocotools' `coco` and `cocoeval` modules, or a one-line error saying how to get them."""
    try:
        import pycocotools.coco
        import pycocotools.cocoeval
    except ImportError:
        raise KerasCNNError(
            "detection mAP is computed by pycocotools, which is not installed: "
            "pip install 'kerascnn[detection]'"
        ) from None
    return pycocotools
