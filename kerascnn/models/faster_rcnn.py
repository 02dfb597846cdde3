"""Faster R-CNN (Ren et al. 2015): one network proposes regions and classifies them.

A backbone (any registered classifier's convolutional part) computes one feature map of the
image. The region proposal network (RPN) slides a 3x3 convolution over it and, at every
position, scores `len(anchor_scales) x len(anchor_ratios)` anchors as object or not and regresses
each towards a box. The best proposals (decoded, clipped, NMS at IoU 0.7) are cut out of the same
feature map and resized to a fixed `pool_size` grid (RoIAlign-style: `tf.image.crop_and_resize`
to twice the size, then 2x2 max pooling, as the TensorFlow Faster R-CNN of Chen & Gupta 2017
does), and a head of two fully connected layers gives every region class scores (background
included) and a box per class. Inference keeps the regions' class-specific boxes after per-class
NMS (`tf.image.combined_non_max_suppression`), inside the graph, so an exported SavedModel
serves detections.

Training is the paper's approximate joint training (sec. 3.2): one loss, the sum of the RPN's
objectness (binary cross-entropy) and box (smooth L1) losses over 256 anchors sampled per image
(up to half positive: IoU >= 0.7 with a ground-truth box, or an anchor a box overlaps most;
negative: IoU < 0.3), and the head's classification (softmax cross-entropy) and box (smooth L1)
losses over 512 regions sampled per image (up to 25 % with IoU >= 0.5; the ground-truth boxes
join the proposals, as torchvision does), with the proposals treated as constants. Everything is
one `train_step`; the backbone learns from both losses.

Where this differs from the paper (and why):
- Anchors sit at the feature cells' centres and cross-boundary anchors are kept (torchvision's
  choice; the paper ignores anchors that cross the image border in training, which on the small
  images this runs on would leave few anchors for objects near an edge).
- Losses are normalised by the sampled anchors and regions (torchvision's `fastrcnn_loss`,
  `RegionProposalNetwork.compute_loss`, smooth L1 with beta 1/9) instead of the paper's N_reg
  (number of anchor locations) with lambda = 10; both weigh the two terms about equally.
- Background regions are those with IoU in [0, 0.5) (torchvision) instead of [0.1, 0.5).
- RoIAlign is approximated by `crop_and_resize` at 2x `pool_size` and max pooling (bilinear
  samples at evenly spaced points, not the average of 4 samples per bin of He et al. 2017); the
  paper's RoI pooling snaps regions to the feature grid.

Reference:
- Shaoqing Ren, Kaiming He, Ross Girshick, Jian Sun, "Faster R-CNN: Towards Real-Time Object
  Detection with Region Proposal Networks" (NeurIPS 2015, arXiv:1506.01497), sec. 3.
- torchvision `models/detection/rpn.py`, `roi_heads.py`, `faster_rcnn.py` (`TwoMLPHead`,
  `FastRCNNPredictor`), `_utils.py` (`Matcher`, `BalancedPositiveNegativeSampler`): the
  sampling numbers and defaults used here.
- Xinlei Chen, Abhinav Gupta, "An Implementation of Faster RCNN with Study for Region Sampling"
  (arXiv:1702.02138): crop_and_resize then max pooling.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import layers

from kerascnn import boxes
from kerascnn.errors import KerasCNNError
from kerascnn.models.pixels import taking_pixels
from kerascnn.registry import models

# The outputs of a detector (and of its export): normalised and pixel boxes, classes, scores,
# and how many rows of each image are detections.
BOXES, PIXEL_BOXES, CLASSES, SCORES, VALID = (
    "boxes",
    "pixel_boxes",
    "classes",
    "scores",
    "valid_detections",
)


def detection_outputs(candidates, class_scores, image_shape, settings) -> dict:
    """A detector's outputs from its scored candidate boxes: per-class NMS (`settings`'
    `detections`, `detection_iou`, `score_threshold`), boxes in pixels and normalised.

    Args:
        candidates: (batch, n, classes or 1, 4) pixel boxes.
        class_scores: (batch, n, classes) without the background's column; 0 for padding rows.
    """
    kept = settings["detections"]
    pixel_boxes, scores, classes, number = boxes.per_class_nms(
        candidates,
        class_scores,
        max_per_class=kept,
        max_total=kept,
        iou_threshold=settings["detection_iou"],
        score_threshold=settings["score_threshold"],
    )
    height, width = image_shape[:2]
    size = tf.constant([height, width, height, width], tf.float32)
    return {
        BOXES: pixel_boxes / size,
        PIXEL_BOXES: pixel_boxes,
        CLASSES: classes,
        SCORES: scores,
        VALID: number,
    }


# torchvision's smooth L1 beta for both stages.
SMOOTH_L1_BETA = 1 / 9
LOSSES = ("rpn_objectness", "rpn_box", "head_class", "head_box")


def _new_layer_init(stddev):
    """The paper's initialisation of new layers: zero-mean Gaussian (std 0.01; 0.001 for the
    head's box regression, as torchvision)."""
    return keras.initializers.RandomNormal(stddev=stddev)


def backbone_network(
    image_shape, backbone, *, backbone_args=None, backbone_weights=None, layer=None
) -> keras.Model:
    """The registered classifier `backbone` without its top, cut at `layer` (default: its last
    map), behind `rescale`: pixel values 0-255 -> one feature map."""
    if models.metadata(backbone)["task"] != "classification":
        raise KerasCNNError(
            f"faster_rcnn: backbone must be a registered classifier "
            f"({', '.join(models.names(task='classification'))}), got {backbone!r}"
        )
    network = models.get(backbone)(
        include_top=False,
        weights=backbone_weights,
        input_shape=tuple(image_shape),
        **dict(backbone_args or {}),
    )
    if layer is not None:
        try:
            output = network.get_layer(layer).output
        except ValueError:
            raise KerasCNNError(
                f"faster_rcnn: backbone {backbone!r} has no layer {layer!r}; its maps: "
                + ", ".join(m.name for m in network.layers if len(m.output.shape) == 4)
            ) from None
        network = keras.Model(network.inputs, output, name=backbone)
    if len(network.output.shape) != 4 or None in network.output.shape[1:3]:
        raise KerasCNNError(
            f"faster_rcnn: the backbone's output {tuple(network.output.shape)} is no feature map "
            "of fixed size; give backbone_layer a convolution's or pooling's name"
        )
    return taking_pixels(network, name="backbone")


def rpn_network(feature_shape, anchors_per_position, channels, *, name="rpn") -> keras.Model:
    """The region proposal network: a 3x3 convolution with ReLU (`rpn_conv`), then per anchor an
    objectness logit (`rpn_cls_logits`, 1x1) and four box deltas (`rpn_bbox_pred`, 1x1).
    Outputs (batch, positions x anchors) logits and (batch, positions x anchors, 4) deltas, in
    the order of `kerascnn.boxes.anchors`; float32."""
    features = keras.Input(shape=tuple(feature_shape), name="features")
    x = layers.Conv2D(
        channels,
        3,
        padding="same",
        activation="relu",
        kernel_initializer=_new_layer_init(0.01),
        name="rpn_conv",
    )(features)
    logits = layers.Conv2D(
        anchors_per_position, 1, kernel_initializer=_new_layer_init(0.01), name="rpn_cls_logits"
    )(x)
    deltas = layers.Conv2D(
        4 * anchors_per_position,
        1,
        kernel_initializer=_new_layer_init(0.01),
        name="rpn_bbox_pred",
    )(x)
    logits = layers.Reshape((-1,), dtype="float32", name="objectness")(logits)
    deltas = layers.Reshape((-1, 4), dtype="float32", name="deltas")(deltas)
    return keras.Model(features, [logits, deltas], name=name)


def head_network(pooled_shape, classes, units, *, name="box_head") -> keras.Model:
    """The box head on pooled regions: Flatten, fully connected layers of `units` with ReLU
    (`fc6`, `fc7`: torchvision's `TwoMLPHead`; the paper's VGG-16 fc6/fc7), then `classes + 1`
    class logits (`cls_score`, index 0 background) and a box per class (`bbox_pred`:
    (classes + 1) x 4 deltas, torchvision's `FastRCNNPredictor`); float32 outputs."""
    pooled = keras.Input(shape=tuple(pooled_shape), name="regions")
    x = layers.Flatten(name="flatten")(pooled)
    for index, width in enumerate(units, start=6):
        x = layers.Dense(
            width, activation="relu", kernel_initializer="he_normal", name=f"fc{index}"
        )(x)
    logits = layers.Dense(classes + 1, kernel_initializer=_new_layer_init(0.01), name="cls_score")(
        x
    )
    deltas = layers.Dense(
        4 * (classes + 1), kernel_initializer=_new_layer_init(0.001), name="bbox_pred"
    )(x)
    logits = layers.Activation("linear", dtype="float32", name="class_logits")(logits)
    deltas = layers.Reshape((classes + 1, 4), dtype="float32", name="box_deltas")(deltas)
    return keras.Model(pooled, [logits, deltas], name=name)


def smooth_l1(difference, beta=SMOOTH_L1_BETA):
    """Smooth L1 (Girshick 2015) with torchvision's `beta`, summed over the last axis."""
    absolute = tf.abs(difference)
    loss = tf.where(absolute < beta, 0.5 * absolute**2 / beta, absolute - 0.5 * beta)
    return tf.reduce_sum(loss, axis=-1)


@keras.saving.register_keras_serializable(package="kerascnn")
class FasterRCNN(keras.Model):
    """A Faster R-CNN detector of three Functional parts: `backbone` (pixels -> feature map),
    `rpn` (feature map -> objectness logits and deltas per anchor) and `head` (pooled regions ->
    class logits and per-class deltas); see `kerascnn.models.faster_rcnn`.

    `call(images)` (pixel values 0-255, batch, height, width, 3) returns the detections as a dict:
    `boxes` (batch, detections, 4) normalised (y_min, x_min, y_max, x_max), `pixel_boxes` the same
    in pixels of the input, `classes` int32 (0 .. classes - 1), `scores` and
    `valid_detections` int32 (batch,); rows past an image's count are zeros.

    `train_step` takes (images, targets): targets (batch, max_boxes, 5) as
    `kerascnn.boxes.pad_targets` makes them (normalised boxes and classes, rows of class -1 are
    padding), and logs `loss` and its four terms (`LOSSES`). Losses are per-replica means divided
    by the number of replicas (as Keras' losses under `tf.distribute`); random sampling draws
    for the whole global batch and each replica takes its slice, as `DCGAN.noise` does, so two
    replicas sample what one device would.

    Args:
        backbone, rpn, head: the parts (`backbone_network`, `rpn_network`, `head_network`).
        classes: object classes (background not counted).
        anchor_scales, anchor_ratios: the anchors at each position (sides in pixels; height /
            width).
        pool_size: the regions' grid side after pooling.
        rpn_batch, rpn_positive_fraction, rpn_positive_iou, rpn_negative_iou: anchors sampled
            per image, the largest share of positives, and the IoU limits (paper: 256, 0.5,
            0.7, 0.3).
        rpn_nms_iou: the proposals' NMS threshold (0.7).
        train_proposals, test_proposals: proposals kept after NMS (paper and torchvision: 2000
            and 1000 ... 300); `pre_nms`: the best anchors NMS considers (torchvision: 2000 in
            training, 1000 in testing; one number here).
        head_batch, head_positive_fraction, head_positive_iou: regions sampled per image for
            the head, the largest share of positives and their IoU (512, 0.25, 0.5).
        detections: detections kept per image (torchvision: 100); `score_threshold` the
            smallest class score kept (0.05); `detection_iou` the per-class NMS threshold (0.5).
        seed: seed of the sampling.
    """

    def __init__(
        self,
        backbone,
        rpn,
        head,
        *,
        classes,
        anchor_scales,
        anchor_ratios,
        pool_size=7,
        rpn_batch=256,
        rpn_positive_fraction=0.5,
        rpn_positive_iou=0.7,
        rpn_negative_iou=0.3,
        rpn_nms_iou=0.7,
        pre_nms=2000,
        train_proposals=2000,
        test_proposals=1000,
        head_batch=512,
        head_positive_fraction=0.25,
        head_positive_iou=0.5,
        detections=100,
        score_threshold=0.05,
        detection_iou=0.5,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.backbone, self.rpn, self.head = backbone, rpn, head
        self.classes = int(classes)
        self.anchor_scales = tuple(float(s) for s in anchor_scales)
        self.anchor_ratios = tuple(float(r) for r in anchor_ratios)
        self.pool_size = int(pool_size)
        self.settings = dict(
            rpn_batch=int(rpn_batch),
            rpn_positive_fraction=float(rpn_positive_fraction),
            rpn_positive_iou=float(rpn_positive_iou),
            rpn_negative_iou=float(rpn_negative_iou),
            rpn_nms_iou=float(rpn_nms_iou),
            pre_nms=int(pre_nms),
            train_proposals=int(train_proposals),
            test_proposals=int(test_proposals),
            head_batch=int(head_batch),
            head_positive_fraction=float(head_positive_fraction),
            head_positive_iou=float(head_positive_iou),
            detections=int(detections),
            score_threshold=float(score_threshold),
            detection_iou=float(detection_iou),
        )
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.image_shape = tuple(int(d) for d in backbone.inputs[0].shape[1:])
        self.feature_shape = tuple(int(d) for d in backbone.outputs[0].shape[1:])
        self.stride = (
            self.image_shape[0] / self.feature_shape[0],
            self.image_shape[1] / self.feature_shape[1],
        )
        self.anchors = boxes.anchors(
            self.feature_shape[:2], self.stride, self.anchor_scales, self.anchor_ratios
        ).numpy()
        self.trackers = {name: keras.metrics.Mean(name=name) for name in ("loss", *LOSSES)}
        self.built = True  # the parts are built Functional models

    # -- inference ---------------------------------------------------------------------------
    def call(self, images, training=False):
        features = self.backbone(images, training=training)
        logits, deltas = self.rpn(features, training=training)
        proposals, valid = self.propose(logits, deltas, self.settings["test_proposals"])
        class_logits, box_deltas = self.head(self.pool(features, proposals), training=training)
        return self.detect(proposals, valid, class_logits, box_deltas)

    def propose(self, logits, deltas, count):
        """(proposals (batch, count, 4) in pixels, valid (batch,)): the anchors moved by their
        deltas, clipped to the image, the best `pre_nms` by objectness, NMS at `rpn_nms_iou`."""
        logits = tf.stop_gradient(tf.cast(logits, tf.float32))
        deltas = tf.stop_gradient(tf.cast(deltas, tf.float32))
        best = min(self.settings["pre_nms"], len(self.anchors))
        scores, order = tf.math.top_k(logits, k=best)
        decoded = boxes.decode(
            tf.gather(deltas, order, batch_dims=1), tf.gather(self.anchors, order)
        )
        decoded = boxes.clip(decoded, *self.image_shape[:2])
        found, _, _, valid = boxes.per_class_nms(
            decoded[:, :, None, :],
            tf.sigmoid(scores)[:, :, None],
            max_per_class=count,
            max_total=count,
            iou_threshold=self.settings["rpn_nms_iou"],
        )
        return found, valid

    def pool(self, features, regions):
        """The feature map under each region (batch, n, 4 pixels), resized to 2 x `pool_size`
        by bilinear sampling and max-pooled 2x2: (batch x n, pool_size, pool_size, channels)."""
        features = tf.cast(features, tf.float32)
        batch, count = tf.shape(regions)[0], tf.shape(regions)[1]
        stride_y, stride_x = self.stride
        height, width = self.feature_shape[:2]
        # Pixel p lies at feature coordinate p / stride - 1/2 (cell centres at integers);
        # crop_and_resize maps 0..1 to the first..last cell centre.
        scale = tf.constant(
            [
                1 / (stride_y * max(height - 1, 1)),
                1 / (stride_x * max(width - 1, 1)),
            ]
            * 2,
            tf.float32,
        )
        offset = tf.constant([0.5 / max(height - 1, 1), 0.5 / max(width - 1, 1)] * 2, tf.float32)
        normalised = tf.reshape(regions, [-1, 4]) * scale - offset
        image_of = tf.repeat(tf.range(batch), count)
        crops = tf.image.crop_and_resize(
            features, normalised, image_of, (2 * self.pool_size, 2 * self.pool_size)
        )
        return tf.nn.max_pool2d(crops, 2, 2, "VALID")

    def detect(self, proposals, valid, class_logits, box_deltas):
        """The detections of the head's outputs for `proposals`: per-class boxes decoded and
        clipped, background dropped, per-class NMS, the best `detections` per image."""
        batch, count = tf.shape(proposals)[0], tf.shape(proposals)[1]
        logits = tf.reshape(class_logits, [batch, count, self.classes + 1])
        deltas = tf.reshape(box_deltas, [batch, count, self.classes + 1, 4])[:, :, 1:]
        found = boxes.decode(deltas, proposals[:, :, None, :], boxes.HEAD_WEIGHTS)
        found = boxes.clip(found, *self.image_shape[:2])
        scores = tf.nn.softmax(logits, axis=-1)[:, :, 1:]
        # Padding proposals (past `valid`) score nothing.
        real = tf.sequence_mask(valid, count, dtype=tf.float32)[:, :, None]
        return detection_outputs(found, scores * real, self.image_shape, self.settings)

    # -- training ----------------------------------------------------------------------------
    @property
    def metrics(self):
        return list(self.trackers.values())

    def train_step(self, data):
        images, targets = data[0], data[1]
        with tf.GradientTape() as tape:
            losses = self.losses_of(images, targets, training=True)
            total = tf.add_n(list(losses.values()))
            # Per-replica means: divided by the replicas, the summed gradients are the global
            # batch's (what Keras' own losses do under tf.distribute).
            scaled = self.optimizer.scale_loss(total / _replicas())
        weights = self.trainable_weights
        self.optimizer.apply(tape.gradient(scaled, weights), weights)
        return self._track(total, losses)

    def test_step(self, data):
        images, targets = data[0], data[1]
        losses = self.losses_of(images, targets, training=False)
        return self._track(tf.add_n(list(losses.values())), losses)

    def _track(self, total, losses):
        self.trackers["loss"].update_state(total)
        for name, value in losses.items():
            self.trackers[name].update_state(value)
        return {name: tracker.result() for name, tracker in self.trackers.items()}

    def losses_of(self, images, targets, *, training):
        """The four losses of a batch (`LOSSES`), each a mean over the batch's samples."""
        targets = tf.cast(targets, tf.float32)
        height, width = self.image_shape[:2]
        size = tf.constant([height, width, height, width], tf.float32)
        truth = targets[..., :4] * size
        labels = tf.cast(targets[..., 4], tf.int32)
        present = labels >= 0
        features = self.backbone(images, training=training)
        logits, deltas = self.rpn(features, training=training)
        rpn_objectness, rpn_box = self.rpn_losses(logits, deltas, truth, present)
        proposals, valid = self.propose(logits, deltas, self.settings["train_proposals"])
        regions, region_labels, region_truth, sampled = self.sample_regions(
            proposals, valid, truth, labels, present
        )
        class_logits, box_deltas = self.head(self.pool(features, regions), training=training)
        head_class, head_box = self.head_losses(
            regions, region_labels, region_truth, sampled, class_logits, box_deltas
        )
        return dict(zip(LOSSES, (rpn_objectness, rpn_box, head_class, head_box), strict=True))

    def rpn_losses(self, logits, deltas, truth, present):
        """Objectness BCE and smooth-L1 box loss over `rpn_batch` anchors sampled per image."""
        settings = self.settings
        anchors = tf.constant(self.anchors)
        overlaps = boxes.iou(anchors[None], truth)  # (batch, anchors, boxes)
        overlaps = tf.where(present[:, None, :], overlaps, -1.0)
        best = tf.reduce_max(overlaps, axis=-1)
        matched = tf.gather(truth, tf.argmax(overlaps, axis=-1, output_type=tf.int32), batch_dims=1)
        # An anchor that a box overlaps most is positive too (the paper's condition (i)).
        best_of_box = tf.reduce_max(overlaps, axis=1, keepdims=True)
        nearest = tf.reduce_any(
            (overlaps == best_of_box) & (best_of_box > 0) & present[:, None, :], axis=-1
        )
        positive = (best >= settings["rpn_positive_iou"]) | nearest
        negative = (best < settings["rpn_negative_iou"]) & ~positive
        sampled_positive, sampled_negative = self.sample(
            positive, negative, settings["rpn_batch"], settings["rpn_positive_fraction"]
        )
        sampled = tf.cast(sampled_positive | sampled_negative, tf.float32)
        divisor = tf.cast(tf.shape(logits)[0] * settings["rpn_batch"], tf.float32)
        cross_entropy = tf.nn.sigmoid_cross_entropy_with_logits(
            labels=tf.cast(positive, tf.float32), logits=logits
        )
        objectness = tf.reduce_sum(cross_entropy * sampled) / divisor
        wanted = tf.where(sampled_positive[..., None], boxes.encode(matched, anchors[None]), 0.0)
        box = smooth_l1(deltas - wanted) * tf.cast(sampled_positive, tf.float32)
        return objectness, tf.reduce_sum(box) / divisor

    def sample_regions(self, proposals, valid, truth, labels, present):
        """`head_batch` regions per image from the proposals and the true boxes: (regions
        (batch, n, 4), their classes (0 background, 1 + class), their matched true boxes, a
        0/1 weight per region (0: a slot left empty))."""
        settings = self.settings
        count = tf.shape(proposals)[1]
        candidates = tf.concat([proposals, truth], axis=1)
        usable = tf.concat([tf.sequence_mask(valid, count), present], axis=1)
        overlaps = boxes.iou(candidates, truth)
        overlaps = tf.where(present[:, None, :], overlaps, -1.0)
        best = tf.reduce_max(overlaps, axis=-1)
        which = tf.argmax(overlaps, axis=-1, output_type=tf.int32)
        positive = usable & (best >= settings["head_positive_iou"])
        negative = usable & ~positive
        sampled_positive, sampled_negative = self.sample(
            positive, negative, settings["head_batch"], settings["head_positive_fraction"]
        )
        chosen = sampled_positive | sampled_negative
        # The sampled candidates first (in random order), then empty slots.
        slots = min(settings["head_batch"], int(candidates.shape[1]))
        key = tf.cast(chosen, tf.float32) * 2.0 + self._uniform(tf.shape(best))
        _, order = tf.math.top_k(key, k=slots)
        regions = tf.gather(candidates, order, batch_dims=1)
        region_classes = tf.where(sampled_positive, 1 + tf.gather(labels, which, batch_dims=1), 0)
        return (
            regions,
            tf.gather(region_classes, order, batch_dims=1),
            tf.gather(tf.gather(truth, which, batch_dims=1), order, batch_dims=1),
            tf.cast(tf.gather(chosen, order, batch_dims=1), tf.float32),
        )

    def head_losses(self, regions, classes, truth, weights, class_logits, box_deltas):
        """Softmax cross-entropy over the sampled regions, smooth-L1 on the positives' boxes of
        their own class, both divided by the regions sampled (torchvision's `fastrcnn_loss`)."""
        divisor = tf.cast(tf.size(weights), tf.float32)
        flat_classes = tf.reshape(classes, [-1])
        flat_weights = tf.reshape(weights, [-1])
        cross_entropy = tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=flat_classes, logits=class_logits
        )
        classification = tf.reduce_sum(cross_entropy * flat_weights) / divisor
        own = tf.gather(box_deltas, flat_classes, batch_dims=1)  # (regions, 4)
        positive = (flat_classes > 0) & (flat_weights > 0)
        wanted = tf.where(
            positive[:, None],
            boxes.encode(
                tf.reshape(truth, [-1, 4]), tf.reshape(regions, [-1, 4]), boxes.HEAD_WEIGHTS
            ),
            0.0,
        )
        box = smooth_l1(own - wanted) * tf.cast(positive, tf.float32)
        return classification, tf.reduce_sum(box) / divisor

    def sample(self, positive, negative, size, fraction):
        """Up to `size` of each image's candidates at random, at most `fraction` of them positive
        and the rest negative (torchvision's `BalancedPositiveNegativeSampler`): (sampled
        positives, sampled negatives), boolean like the inputs (batch, n)."""
        room = min(size, int(positive.shape[1]))
        wanted_positive = tf.minimum(
            tf.reduce_sum(tf.cast(positive, tf.int32), axis=1), int(size * fraction)
        )
        picked_positive = self._pick(positive, wanted_positive, room)
        wanted_negative = tf.minimum(
            size - tf.reduce_sum(tf.cast(picked_positive, tf.int32), axis=1),
            tf.reduce_sum(tf.cast(negative, tf.int32), axis=1),
        )
        return picked_positive, self._pick(negative, wanted_negative, room)

    def _pick(self, candidates, wanted, room):
        """`wanted` (per image) of the `candidates` (batch, n) at random, at most `room`."""
        key = tf.where(candidates, self._uniform(tf.shape(candidates)), -1.0)
        top, _ = tf.math.top_k(key, k=room)
        # The wanted-th largest key per image is the threshold; none wanted: above every key.
        index = tf.maximum(tf.minimum(wanted, room) - 1, 0)
        threshold = tf.where(wanted > 0, tf.gather(top, index, batch_dims=1), 2.0)
        return candidates & (key >= threshold[:, None])

    def _uniform(self, shape):
        """Uniform [0, 1) draws of `shape` (batch first). Under a `tf.distribute` strategy each
        replica takes its slice of the draws for the whole global batch (`DCGAN.noise`)."""
        seed = self.seed_generator.next()
        context = tf.distribute.get_replica_context()
        if context is None or context.num_replicas_in_sync == 1:
            return tf.random.stateless_uniform(shape, seed=seed)
        replicas = context.num_replicas_in_sync
        every = tf.random.stateless_uniform(
            tf.concat([[shape[0] * replicas], shape[1:]], axis=0), seed=seed
        )
        first = tf.cast(context.replica_id_in_sync_group, tf.int32) * shape[0]
        return every[first : first + shape[0]]

    # -- saving ------------------------------------------------------------------------------
    # The sampler's position is part of a checkpoint, so a resumed run samples what an
    # uninterrupted one would (as DCGAN's noise).
    def save_own_variables(self, store):
        super().save_own_variables(store)
        store["sampling_seed_state"] = keras.ops.convert_to_numpy(self.seed_generator.state)

    def load_own_variables(self, store):
        if "sampling_seed_state" in store:
            self.seed_generator.state.assign(store["sampling_seed_state"][...])
        own = {key: store[key] for key in store.keys() if key != "sampling_seed_state"}
        super().load_own_variables(own)

    def get_config(self):
        serialize = keras.saving.serialize_keras_object
        return {
            **super().get_config(),
            "backbone": serialize(self.backbone),
            "rpn": serialize(self.rpn),
            "head": serialize(self.head),
            "classes": self.classes,
            "anchor_scales": list(self.anchor_scales),
            "anchor_ratios": list(self.anchor_ratios),
            "pool_size": self.pool_size,
            **self.settings,
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        parts = [
            keras.saving.deserialize_keras_object(config.pop(key))
            for key in ("backbone", "rpn", "head")
        ]
        return cls(*parts, **config)


def _replicas() -> int:
    return tf.distribute.get_strategy().num_replicas_in_sync


def _check(name, **values):
    for argument, value in values.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise KerasCNNError(f"{name}: {argument} must be a positive number, got {value!r}")


@models.register(task="detection")
def faster_rcnn(
    weights=None,
    input_shape=(128, 128, 3),
    classes=10,
    name="faster_rcnn",
    *,
    backbone="deep_mnist_cnn",
    backbone_args=None,
    backbone_weights=None,
    backbone_layer=None,
    anchor_scales=(24.0, 40.0, 64.0),
    anchor_ratios=boxes.RATIOS,
    rpn_channels=256,
    pool_size=7,
    head_units=(256, 256),
    rpn_batch=256,
    rpn_positive_fraction=0.5,
    rpn_positive_iou=0.7,
    rpn_negative_iou=0.3,
    rpn_nms_iou=0.7,
    pre_nms=2000,
    train_proposals=2000,
    test_proposals=1000,
    head_batch=512,
    head_positive_fraction=0.25,
    head_positive_iou=0.5,
    detections=100,
    score_threshold=0.05,
    detection_iou=0.5,
    seed=None,
) -> FasterRCNN:
    """Faster R-CNN (Ren et al. 2015): a region proposal network and a box head on one backbone.

    The defaults are small, for the synthetic digit canvases on a CPU: the book's deep CNN as
    backbone (its last map, 1/8 of a 128-px input, 64 channels), anchors of 24, 40 and 64 px at
    ratios 1:2, 1:1 and 2:1, an RPN of 256 channels and a head of two 256-unit layers. The
    paper's VGG-16 network is `backbone="vgg16", backbone_layer="block5_conv3",
    anchor_scales=(128, 256, 512), rpn_channels=512, head_units=(4096, 4096)` (recipe
    `faster_rcnn_voc`). The sampling, NMS and detection settings default to the paper's and
    torchvision's (see `FasterRCNN`).

    Reference:
    - [Faster R-CNN: Towards Real-Time Object Detection with Region Proposal
      Networks](https://arxiv.org/abs/1506.01497) (NeurIPS 2015), sec. 3.

    Args:
        weights: `None` or the path of a `.weights.h5` file saved from the same architecture.
        input_shape: (height, width, 3) of the images, fixed.
        classes: object classes, background not counted (Pascal VOC: 20).
        name: the model's name.
        backbone: the registered classifier whose convolutional part gives the feature map.
        backbone_args: keyword arguments of the backbone's builder.
        backbone_weights: the backbone's `weights` (e.g. "imagenet", as the paper starts from).
        backbone_layer: the backbone layer whose output is the feature map; None: its last.
        anchor_scales: anchor sides in pixels (sqrt of the area).
        anchor_ratios: anchor heights / widths.
        rpn_channels: filters of the RPN's 3x3 convolution (paper: 512 on VGG-16).
        pool_size: side of the pooled regions (paper: 7).
        head_units: widths of the head's fully connected layers (paper: 4096, 4096).
        the rest: see `FasterRCNN`.

    Returns:
        A `FasterRCNN` model: images (pixel values 0-255) -> detections (a dict of `boxes`,
        `pixel_boxes`, `classes`, `scores`, `valid_detections`).

    Example:
        >>> model = faster_rcnn(input_shape=(64, 64, 3), classes=10)
        >>> model(np.zeros((1, 64, 64, 3), "float32"))["boxes"].shape
        TensorShape([1, 100, 4])
    """
    _check(
        name,
        classes=classes,
        rpn_channels=rpn_channels,
        pool_size=pool_size,
        rpn_batch=rpn_batch,
        pre_nms=pre_nms,
        train_proposals=train_proposals,
        test_proposals=test_proposals,
        head_batch=head_batch,
        detections=detections,
    )
    if not anchor_scales or not anchor_ratios:
        raise KerasCNNError(f"{name}: anchor_scales and anchor_ratios need at least one value each")
    _check(name, **{f"anchor size {s}": s for s in (*anchor_scales, *anchor_ratios)})
    if not head_units:
        raise KerasCNNError(f"{name}: head_units needs at least one layer width")
    fractions = {
        "rpn_positive_fraction": rpn_positive_fraction,
        "head_positive_fraction": head_positive_fraction,
    }
    for argument, value in fractions.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
            raise KerasCNNError(f"{name}: {argument} must be in (0, 1], got {value!r}")
    if input_shape is None or len(input_shape) != 3 or None in input_shape:
        raise KerasCNNError(
            f"{name}: input_shape must be a fixed (height, width, 3), got {input_shape}"
        )
    features = backbone_network(
        input_shape,
        backbone,
        backbone_args=backbone_args,
        backbone_weights=backbone_weights,
        layer=backbone_layer,
    )
    feature_shape = tuple(features.output.shape[1:])
    anchors_per_position = len(anchor_scales) * len(anchor_ratios)
    model = FasterRCNN(
        features,
        rpn_network(feature_shape, anchors_per_position, rpn_channels),
        head_network((pool_size, pool_size, feature_shape[-1]), classes, tuple(head_units)),
        classes=classes,
        anchor_scales=anchor_scales,
        anchor_ratios=anchor_ratios,
        pool_size=pool_size,
        rpn_batch=rpn_batch,
        rpn_positive_fraction=rpn_positive_fraction,
        rpn_positive_iou=rpn_positive_iou,
        rpn_negative_iou=rpn_negative_iou,
        rpn_nms_iou=rpn_nms_iou,
        pre_nms=pre_nms,
        train_proposals=train_proposals,
        test_proposals=test_proposals,
        head_batch=head_batch,
        head_positive_fraction=head_positive_fraction,
        head_positive_iou=head_positive_iou,
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


__all__ = [
    "BOXES",
    "CLASSES",
    "LOSSES",
    "PIXEL_BOXES",
    "SCORES",
    "VALID",
    "FasterRCNN",
    "backbone_network",
    "faster_rcnn",
    "head_network",
    "rpn_network",
]
