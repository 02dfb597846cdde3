"""R-CNN (Girshick et al. 2014): region proposals, each warped and classified by a CNN.

The slow original of region-based detection, kept small and honest so it can stand beside Faster
R-CNN (`kerascnn.models.faster_rcnn`), which does everything in one network:

1. Region proposals by selective search (Uijlings et al. 2013), OpenCV's implementation
   (`cv2.ximgproc.segmentation`, package `opencv-contrib-python-headless`, the `detection`
   extra), on each image on its own, outside the network: a few hundred boxes per image.
2. Each region, dilated by `context` pixels of surrounding image (the paper's p = 16 at 227 px),
   is warped (stretched, aspect ratio not kept) to the classifier's input size.
3. A registered classifier (LeNet-5 by default) with `classes + 1` outputs, index 0 background,
   scores every warped region.
4. Per class, greedy non-maximum suppression (`kerascnn.boxes.per_class_nms`) keeps the best
   regions; the detections are the same dict as Faster R-CNN's.

Training fine-tunes the classifier on warped regions of the training images: regions whose IoU
with a true box is at least `positive_iou` (0.5) and the true boxes themselves are that box's
class; regions below `negative_iou` (0.3, the paper's threshold for its SVMs' negatives) are
background; those in between are left out. Background regions are sampled at
`negatives_per_positive` per positive (3: the paper's mini-batches of 32 positives and 96
background regions). `RCNN.training_regions` makes them once per run, `train_step` warps and
classifies them.

Where this differs from the paper (and why):
- The classifier's softmax scores the regions directly (the paper's "fine-tuned softmax"
  variant, sec. 3.2 / appendix B, 54.2 vs 58.5 mAP on VOC 2007 with the SVMs); no per-class
  SVMs on pool5 or fc7 features and no hard-negative mining: one CNN trained by the run.
- No bounding-box regression (the paper's sec. C, +3 to 4 mAP): the boxes are the proposals'.
- The warp pads outside the image with zeros, not the image mean.

Selective search is Python and C++ code outside TensorFlow's graph: the model calls it through
`tf.numpy_function`, so it runs in `predict` and in `kerascnn detect`, but a SavedModel cannot
carry it and there is no export of the whole detector (the run's `final.keras` holds it).

Reference:
- Ross Girshick, Jeff Donahue, Trevor Darrell, Jitendra Malik, "Rich feature hierarchies for
  accurate object detection and semantic segmentation" (CVPR 2014, arXiv:1311.2524), sec. 2,
  appendices A and B.
- J.R.R. Uijlings, K.E.A. van de Sande, T. Gevers, A.W.M. Smeulders, "Selective Search for
  Object Recognition" (IJCV 2013).
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from kerascnn import boxes
from kerascnn.errors import KerasCNNError
from kerascnn.models.faster_rcnn import detection_outputs
from kerascnn.models.pixels import taking_pixels
from kerascnn.registry import models

SEARCH_MODES = ("fast", "quality")


def _opencv_segmentation():
    """OpenCV's `ximgproc.segmentation` module, or a one-line error saying how to get it."""
    try:
        import cv2
    except ImportError:
        cv2 = None
    if cv2 is None or not hasattr(cv2, "ximgproc"):
        raise KerasCNNError(
            "R-CNN's selective search is OpenCV's (cv2.ximgproc, in opencv-contrib-python-"
            "headless), which is not installed: pip install 'kerascnn[detection]'"
        )
    return cv2.ximgproc.segmentation


def selective_search(
    image,
    *,
    mode: str = "fast",
    base_k: int = 50,
    inc_k: int = 50,
    sigma: float = 0.8,
    max_proposals: int | None = None,
    min_size: float = 4.0,
) -> np.ndarray:
    """Selective search's region proposals of one RGB image: float32 (n, 4) pixel boxes
    (y_min, x_min, y_max, x_max), max exclusive, smallest first, duplicates and boxes narrower
    or lower than `min_size` pixels left out, at most `max_proposals` (the smallest).

    `mode` "fast" is the paper's fast setting (HSV and Lab colour spaces, two similarity
    strategies) and "quality" its quality setting (more colour spaces and strategies, about three
    times slower); `base_k`, `inc_k` and `sigma` are the graph segmentation's first threshold,
    its step between the segmentations (OpenCV's defaults: 150, 150, 0.8), and its Gaussian blur.
    On 128-px digit canvases, 50 instead of 150 gives about 120 instead of 40 proposals and
    finds more of the digits (see the detection guide).

    Args:
        image: (height, width, 3) RGB, uint8 or pixel values 0-255.
    """
    if mode not in SEARCH_MODES:
        raise KerasCNNError(f"selective search mode must be one of {SEARCH_MODES}, got {mode!r}")
    segmentation = _opencv_segmentation()
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise KerasCNNError(f"selective search needs an RGB image (h, w, 3), got {image.shape}")
    search = segmentation.createSelectiveSearchSegmentation()
    # OpenCV's images are BGR: its colour-space conversions read the channels in that order.
    pixels = np.clip(np.round(image), 0, 255).astype(np.uint8)[..., ::-1]
    search.setBaseImage(np.ascontiguousarray(pixels))
    if mode == "fast":
        search.switchToSelectiveSearchFast(int(base_k), int(inc_k), float(sigma))
    else:
        search.switchToSelectiveSearchQuality(int(base_k), int(inc_k), float(sigma))
    rects = np.asarray(search.process(), np.float32).reshape(-1, 4)  # (x, y, width, height)
    found = np.stack(
        [rects[:, 1], rects[:, 0], rects[:, 1] + rects[:, 3], rects[:, 0] + rects[:, 2]], axis=-1
    )
    found = np.unique(found[(rects[:, 2] >= min_size) & (rects[:, 3] >= min_size)], axis=0)
    # OpenCV ranks the regions by their level in the grouping hierarchy times a number from C's
    # rand(), so its order changes from call to call (the set does not). Smallest first instead:
    # near its order without the random factor (small regions are low in the hierarchy), and
    # always the same for the same image, so a run and its resumption see the same regions.
    areas = (found[:, 2] - found[:, 0]) * (found[:, 3] - found[:, 1])
    found = found[np.argsort(areas, kind="stable")]
    return found[:max_proposals] if max_proposals else found


def warp(images, regions, image_of, size: int, context: float = 0.0) -> tf.Tensor:
    """R-CNN's warp: each region of `regions` (n, 4 pixels) of image `image_of` (n,) in `images`
    (batch, height, width, channels), dilated so that `context` pixels of the warped crop are
    the image around the box (the paper's p = 16 at 227 px), stretched to `size` x `size` by
    bilinear sampling at the output pixels' centres; outside the image is 0. float32
    (n, size, size, channels)."""
    images = tf.convert_to_tensor(images, tf.float32)
    regions = tf.convert_to_tensor(regions, tf.float32)
    height = tf.cast(tf.shape(images)[1], tf.float32)
    width = tf.cast(tf.shape(images)[2], tf.float32)
    # The box fills the middle size - 2 context pixels of the crop.
    grow = context / max(size - 2 * context, 1e-6)
    sides = tf.concat([regions[:, 2:] - regions[:, :2]] * 2, axis=-1)
    dilated = regions + grow * sides * tf.constant([-1.0, -1.0, 1.0, 1.0])
    # Output pixel i samples the region at (i + 1/2) / size of its side, in pixel-centre
    # coordinates (centre of pixel j at j); crop_and_resize maps 0..1 to pixel 0..side - 1 and
    # spreads its samples from the first coordinate to the second.
    step = tf.concat([dilated[:, 2:] - dilated[:, :2]] * 2, axis=-1) / size
    first_last = dilated + step * tf.constant([0.5, 0.5, -0.5, -0.5]) - 0.5
    scale = tf.stack([height - 1, width - 1, height - 1, width - 1])
    return tf.image.crop_and_resize(
        images, first_last / tf.maximum(scale, 1.0), tf.cast(image_of, tf.int32), (size, size)
    )


def _replicas() -> int:
    return tf.distribute.get_strategy().num_replicas_in_sync


@keras.saving.register_keras_serializable(package="kerascnn")
class RCNN(keras.Model):
    """An R-CNN detector around one `classifier` (warped regions, pixel values 0-255 ->
    `classes + 1` probabilities, index 0 background); see `kerascnn.models.rcnn`.

    `call(images)` (pixel values 0-255, batch, height, width, 3) runs selective search on each
    image, classifies its warped proposals and returns Faster R-CNN's detections dict: `boxes`
    (batch, detections, 4) normalised, `pixel_boxes`, `classes` int32 (0 .. classes - 1),
    `scores`, `valid_detections` int32 (batch,).

    `train_step` takes (images, regions): regions (batch, 5), one per image, rows of normalised
    (y_min, x_min, y_max, x_max, class) with class 0 background and 1 + c object class c, as
    `training_regions` makes them; it logs `loss` (softmax cross-entropy, per-replica mean divided
    by the replicas) and `region_accuracy`.

    Args:
        classifier: the region classifier (pixels -> probabilities), input (size, size, 3).
        image_shape: (height, width, 3) of the images.
        classes: object classes (background not counted).
        context: pixels of surrounding image in a warped region (`warp`).
        search_mode, search_k, search_sigma: selective search's setting, its segmentation's
            `base_k` and `inc_k` (both `search_k`), and `sigma` (`selective_search`).
        max_proposals: proposals classified per image, at most (the paper: about 2,000).
        min_size: proposals narrower or lower than this (pixels) are left out.
        positive_iou, negative_iou, negatives_per_positive: the training regions
            (`kerascnn.boxes.label_regions`, `training_regions`).
        detections: detections kept per image; `score_threshold` the smallest class score kept;
            `detection_iou` the per-class NMS threshold (the paper: 0.3, learned on VOC).
        seed: seed of the background regions' sampling.
    """

    def __init__(
        self,
        classifier,
        *,
        image_shape,
        classes,
        context=2.0,
        search_mode="fast",
        search_k=50,
        search_sigma=0.8,
        max_proposals=300,
        min_size=4.0,
        positive_iou=0.5,
        negative_iou=0.3,
        negatives_per_positive=3,
        detections=50,
        score_threshold=0.05,
        detection_iou=0.3,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.classifier = classifier
        self.image_shape = tuple(int(d) for d in image_shape)
        self.region_size = int(classifier.inputs[0].shape[1])
        self.classes = int(classes)
        self.settings = dict(
            context=float(context),
            search_mode=str(search_mode),
            search_k=int(search_k),
            search_sigma=float(search_sigma),
            max_proposals=int(max_proposals),
            min_size=float(min_size),
            positive_iou=float(positive_iou),
            negative_iou=float(negative_iou),
            negatives_per_positive=int(negatives_per_positive),
            detections=int(detections),
            score_threshold=float(score_threshold),
            detection_iou=float(detection_iou),
        )
        self.seed = seed
        self.trackers = {
            "loss": keras.metrics.Mean(name="loss"),
            "region_accuracy": keras.metrics.SparseCategoricalAccuracy(name="region_accuracy"),
        }
        self.built = True  # the classifier is a built Functional model

    # -- proposals ---------------------------------------------------------------------------
    def search(self, image) -> np.ndarray:
        """Selective search's proposals of one image with this model's settings (pixels)."""
        settings = self.settings
        return selective_search(
            image,
            mode=settings["search_mode"],
            base_k=settings["search_k"],
            inc_k=settings["search_k"],
            sigma=settings["search_sigma"],
            max_proposals=settings["max_proposals"],
            min_size=settings["min_size"],
        )

    def propose(self, images) -> tuple[np.ndarray, np.ndarray]:
        """(proposals float32 (batch, max_proposals, 4) in pixels, zero rows past each image's
        count; counts int32 (batch,)) of a batch of images (numpy)."""
        images = np.asarray(images)
        size = self.settings["max_proposals"]
        proposals = np.zeros((len(images), size, 4), np.float32)
        counts = np.zeros(len(images), np.int32)
        for index, image in enumerate(images):
            found = self.search(image)
            proposals[index, : len(found)] = found
            counts[index] = len(found)
        return proposals, counts

    def training_regions(self, images, targets, *, seed=None) -> tuple[np.ndarray, np.ndarray]:
        """The regions the classifier learns from, of training `images` (n, h, w, 3) with their
        `targets` (n, max_boxes, 5) (`kerascnn.boxes.pad_targets`): (image index int64 (m,),
        regions float32 (m, 5): normalised box and class, 0 background, 1 + c class c).

        Per image: the true boxes and the proposals of IoU >= `positive_iou` with one are
        positives; of the proposals below `negative_iou` with every true box (background),
        `negatives_per_positive` per positive (at least that many per image) are drawn at random;
        the proposals in between are left out."""
        settings = self.settings
        rng = np.random.default_rng(self.seed if seed is None else seed)
        height, width = self.image_shape[:2]
        scale = np.array([height, width, height, width], np.float32)
        image_of, regions = [], []
        for index, (image, target) in enumerate(zip(images, targets, strict=True)):
            truth, labels = boxes.unpad_targets(target)
            truth = truth * scale
            proposals = self.search(image)
            classes = boxes.label_regions(
                proposals,
                truth,
                labels,
                positive_iou=settings["positive_iou"],
                negative_iou=settings["negative_iou"],
            )
            positives = np.concatenate([truth, proposals[classes > 0]])
            positive_classes = np.concatenate([1 + labels, classes[classes > 0]])
            background = proposals[classes == 0]
            wanted = settings["negatives_per_positive"] * max(len(positives), 1)
            background = background[
                np.sort(rng.permutation(len(background))[: min(wanted, len(background))])
            ]
            found = np.concatenate([positives, background]) / scale
            found_classes = np.concatenate([positive_classes, np.zeros(len(background))])
            regions.append(np.concatenate([found, found_classes[:, None]], axis=1))
            image_of.append(np.full(len(found), index, np.int64))
        if not regions:
            return np.zeros(0, np.int64), np.zeros((0, 5), np.float32)
        return np.concatenate(image_of), np.concatenate(regions).astype(np.float32)

    # -- inference ---------------------------------------------------------------------------
    def call(self, images, training=False):
        images = tf.cast(images, tf.float32)
        # Selective search is OpenCV code: it runs outside the graph, image by image.
        proposals, counts = tf.numpy_function(
            self.propose, [images], [tf.float32, tf.int32], stateful=False
        )
        size = self.settings["max_proposals"]
        proposals = tf.ensure_shape(proposals, [None, size, 4])
        counts = tf.ensure_shape(counts, [None])
        batch = tf.shape(images)[0]
        crops = warp(
            images,
            tf.reshape(proposals, [-1, 4]),
            tf.repeat(tf.range(batch), size),
            self.region_size,
            self.settings["context"],
        )
        probabilities = self.classifier(crops, training=training)
        probabilities = tf.reshape(tf.cast(probabilities, tf.float32), [batch, size, -1])
        # Padding rows (past an image's count) score nothing.
        real = tf.sequence_mask(counts, size, dtype=tf.float32)[:, :, None]
        return detection_outputs(
            proposals[:, :, None, :],
            probabilities[:, :, 1:] * real,
            self.image_shape,
            self.settings,
        )

    # -- training ----------------------------------------------------------------------------
    @property
    def metrics(self):
        return list(self.trackers.values())

    def region_batch(self, images, regions):
        """(warped regions, their classes) of a training batch (`train_step`'s data)."""
        regions = tf.cast(regions, tf.float32)
        height, width = self.image_shape[:2]
        scale = tf.constant([height, width, height, width], tf.float32)
        crops = warp(
            images,
            regions[:, :4] * scale,
            tf.range(tf.shape(regions)[0]),
            self.region_size,
            self.settings["context"],
        )
        return crops, tf.cast(regions[:, 4], tf.int32)

    def train_step(self, data):
        crops, classes = self.region_batch(data[0], data[1])
        weights = self.classifier.trainable_weights
        with tf.GradientTape() as tape:
            probabilities = tf.cast(self.classifier(crops, training=True), tf.float32)
            loss = tf.reduce_mean(
                keras.losses.sparse_categorical_crossentropy(classes, probabilities)
            )
            # Per-replica mean divided by the replicas: the summed gradients are the global
            # batch's (what Keras' own losses do under tf.distribute).
            scaled = self.optimizer.scale_loss(loss / _replicas())
        self.optimizer.apply(tape.gradient(scaled, weights), weights)
        self.trackers["loss"].update_state(loss)
        self.trackers["region_accuracy"].update_state(classes, probabilities)
        return {name: tracker.result() for name, tracker in self.trackers.items()}

    # -- saving ------------------------------------------------------------------------------
    def get_config(self):
        return {
            **super().get_config(),
            "classifier": keras.saving.serialize_keras_object(self.classifier),
            "image_shape": list(self.image_shape),
            "classes": self.classes,
            **self.settings,
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        classifier = keras.saving.deserialize_keras_object(config.pop("classifier"))
        return cls(classifier, **config)


def _check_positive(name, **values):
    for argument, value in values.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise KerasCNNError(f"{name}: {argument} must be a positive number, got {value!r}")


@models.register(task="rcnn")
def rcnn(
    weights=None,
    input_shape=(128, 128, 3),
    classes=10,
    name="rcnn",
    *,
    classifier="lenet5",
    classifier_args=None,
    region_size=32,
    context=2.0,
    search_mode="fast",
    search_k=50,
    search_sigma=0.8,
    max_proposals=300,
    min_size=4.0,
    positive_iou=0.5,
    negative_iou=0.3,
    negatives_per_positive=3,
    detections=50,
    score_threshold=0.05,
    detection_iou=0.3,
    seed=None,
) -> RCNN:
    """R-CNN (Girshick et al. 2014): selective search's regions, warped and classified by a CNN.

    The defaults are small, for the synthetic digit canvases on a CPU: LeNet-5 on 32-px warped
    regions with 2 pixels of context (the paper's 16 of 227, scaled), 11 outputs (background and
    10 digits), fast selective search with segmentation thresholds of 50, at most 300 proposals
    per image. The paper's network is AlexNet on 227-px regions (`classifier="alexnet",
    region_size=227, context=16`), fine-tuned from ImageNet weights, with about 2,000 proposals.

    Reference:
    - [Rich feature hierarchies for accurate object detection and semantic
      segmentation](https://arxiv.org/abs/1311.2524) (CVPR 2014), sec. 2 and appendices A-B.

    Args:
        weights: `None` or the path of a `.weights.h5` file saved from the same architecture.
        input_shape: (height, width, 3) of the images, fixed.
        classes: object classes, background not counted.
        name: the model's name.
        classifier: the registered classifier that scores the warped regions.
        classifier_args: keyword arguments of the classifier's builder.
        region_size: side of the warped regions, the classifier's input (pixels).
        the rest: see `RCNN`.

    Returns:
        An `RCNN` model: images (pixel values 0-255) -> detections (a dict of `boxes`,
        `pixel_boxes`, `classes`, `scores`, `valid_detections`).

    Example:
        >>> model = rcnn(input_shape=(64, 64, 3), classes=10)
        >>> model(np.zeros((1, 64, 64, 3), "float32"))["boxes"].shape
        TensorShape([1, 50, 4])
    """
    _check_positive(
        name,
        classes=classes,
        region_size=region_size,
        search_k=search_k,
        search_sigma=search_sigma,
        max_proposals=max_proposals,
        negatives_per_positive=negatives_per_positive,
        detections=detections,
    )
    if search_mode not in SEARCH_MODES:
        raise KerasCNNError(
            f"{name}: search_mode must be one of {SEARCH_MODES}, got {search_mode!r}"
        )
    if not 0 <= context < region_size / 2:
        raise KerasCNNError(
            f"{name}: context must be in [0, region_size / 2 = {region_size / 2}), got {context!r}"
        )
    if not 0 <= negative_iou <= positive_iou <= 1:
        raise KerasCNNError(
            f"{name}: needs 0 <= negative_iou <= positive_iou <= 1, got negative_iou="
            f"{negative_iou}, positive_iou={positive_iou}"
        )
    if input_shape is None or len(input_shape) != 3 or None in input_shape or input_shape[2] != 3:
        raise KerasCNNError(
            f"{name}: input_shape must be a fixed (height, width, 3), got {input_shape}"
        )
    if models.metadata(classifier)["task"] != "classification":
        raise KerasCNNError(
            f"{name}: classifier must be a registered classifier "
            f"({', '.join(models.names(task='classification'))}), got {classifier!r}"
        )
    network = models.get(classifier)(
        input_shape=(int(region_size), int(region_size), 3),
        classes=int(classes) + 1,
        **dict(classifier_args or {}),
    )
    model = RCNN(
        taking_pixels(network, name="classifier"),
        image_shape=input_shape,
        classes=classes,
        context=context,
        search_mode=search_mode,
        search_k=search_k,
        search_sigma=search_sigma,
        max_proposals=max_proposals,
        min_size=min_size,
        positive_iou=positive_iou,
        negative_iou=negative_iou,
        negatives_per_positive=negatives_per_positive,
        detections=detections,
        score_threshold=score_threshold,
        detection_iou=detection_iou,
        seed=seed,
        name=name,
    )
    if weights is not None:
        try:
            model.load_weights(weights)
        except (ValueError, OSError) as error:
            raise KerasCNNError(
                f"{name}: cannot load weights from {weights}: {str(error).splitlines()[0][:200]}"
            ) from None
    return model


__all__ = ["RCNN", "rcnn", "selective_search", "warp"]
