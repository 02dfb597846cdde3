"""Faster R-CNN (issue 23, detection): parameter counts from the layer shapes, output shapes,
sampling, a save/load round trip and a few training steps on fixed boxes."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerascnn import boxes
from kerascnn.errors import KerasCNNError
from kerascnn.models import create_model
from kerascnn.models.faster_rcnn import LOSSES, FasterRCNN

SMALL = dict(
    input_shape=(64, 64, 3),
    classes=4,
    rpn_channels=32,
    head_units=(32,),
    pool_size=4,
    rpn_batch=64,
    head_batch=32,
    pre_nms=200,
    train_proposals=32,
    test_proposals=16,
    detections=10,
    seed=1,
)


@pytest.fixture(scope="module")
def small():
    return create_model("faster_rcnn", **SMALL)


def conv(k, inputs, filters):
    return k * k * inputs * filters + filters


def dense(inputs, units):
    return inputs * units + units


# Slow: 5 s on 2 cores, most of it drawing fc6's 103 million initial weights; the small
# network's count below checks the same formula in the fast suite.
@pytest.mark.slow
def test_parameters_of_the_papers_vgg16_network():
    """VGG-16's 13 convolutions to conv5_3 (pool5 dropped), the RPN (512 channels, 9 anchors:
    one objectness logit each, as torchvision; the paper's Caffe model has two, a softmax pair)
    and the VGG-16 head (fc6 on 7x7x512, fc7, 21 scores, 84 box deltas): layer shapes of
    py-faster-rcnn's models/pascal_voc/VGG16/faster_rcnn_end2end/train.prototxt."""
    model = create_model(
        "faster_rcnn",
        # The count does not depend on the input size: 64 px builds fastest.
        input_shape=(64, 64, 3),
        classes=20,
        backbone="vgg16",
        backbone_layer="block5_conv3",
        anchor_scales=(128, 256, 512),
        rpn_channels=512,
        head_units=(4096, 4096),
    )
    widths = [3, 64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512]
    vgg = sum(conv(3, a, b) for a, b in zip(widths, widths[1:], strict=False))
    rpn = conv(3, 512, 512) + conv(1, 512, 9) + conv(1, 512, 36)
    head = dense(7 * 7 * 512, 4096) + dense(4096, 4096) + dense(4096, 21) + dense(4096, 84)
    assert vgg == 14_714_688
    assert model.count_params() == vgg + rpn + head == 137_073_622
    assert model.backbone.output.shape[1:] == (4, 4, 512)


def test_parameters_and_shapes_of_a_small_network(small):
    features = 64  # deep_mnist_cnn's last map: 8x8x64 at 64 px
    rpn = conv(3, features, 32) + conv(1, 32, 9) + conv(1, 32, 36)
    head = dense(4 * 4 * features, 32) + dense(32, 5) + dense(32, 20)
    assert small.backbone.output.shape[1:] == (8, 8, features)
    assert small.count_params() == small.backbone.count_params() + rpn + head
    assert small.anchors.shape == (8 * 8 * 9, 4)
    out = small(np.zeros((3, 64, 64, 3), np.float32))
    assert out["boxes"].shape == (3, 10, 4) and out["pixel_boxes"].shape == (3, 10, 4)
    assert out["classes"].dtype == tf.int32 and out["scores"].shape == (3, 10)
    assert out["valid_detections"].shape == (3,)
    np.testing.assert_allclose(out["boxes"] * 64, out["pixel_boxes"], atol=1e-4)
    assert (out["boxes"].numpy() >= 0).all() and (out["boxes"].numpy() <= 1).all()


def test_sampling_keeps_its_quotas(small):
    rng = np.random.default_rng(0)
    positive = tf.constant(rng.uniform(size=(4, 500)) < np.array([[0.01], [0.2], [0.5], [0.0]]))
    negative = ~positive
    picked_positive, picked_negative = small.sample(positive, negative, 64, 0.25)
    picked_positive, picked_negative = picked_positive.numpy(), picked_negative.numpy()
    counts = positive.numpy().sum(1)
    assert list(picked_positive.sum(1)) == [min(c, 16) for c in counts]
    assert list(picked_negative.sum(1) + picked_positive.sum(1)) == [64] * 4
    assert not (picked_positive & ~positive.numpy()).any()
    assert not (picked_negative & positive.numpy()).any()


def test_every_true_box_gets_a_positive_anchor(small):
    """The paper's condition (i): the anchor a box overlaps most is positive even below 0.7."""
    truth = tf.constant([[[10.0, 10.0, 14.0, 30.0], [0, 0, 0, 0]]])  # thin: IoU < 0.7 anywhere
    present = tf.constant([[True, False]])
    overlaps = boxes.iou(small.anchors, truth[0, :1]).numpy()
    assert overlaps.max() < 0.7
    logits = tf.zeros((1, len(small.anchors)))
    deltas = tf.zeros((1, len(small.anchors), 4))
    objectness, box = small.rpn_losses(logits, deltas, truth, present)
    assert float(box) > 0  # a positive anchor regresses towards the box
    assert np.isfinite(float(objectness))


def test_save_and_load_gives_the_same_detections(small, tmp_path):
    images = np.random.default_rng(1).uniform(0, 255, (2, 64, 64, 3)).astype(np.float32)
    path = tmp_path / "detector.keras"
    small.save(path)
    again = keras.saving.load_model(path, safe_mode=True)
    assert isinstance(again, FasterRCNN) and again.settings == small.settings
    expected, found = small(images), again(images)
    for key in expected:
        np.testing.assert_allclose(found[key], expected[key], atol=1e-5)


# Slow: 7 s on 2 cores (tracing the training step); the task's smoke run trains a step in the
# fast suite.
@pytest.mark.slow
def test_training_steps_lower_the_loss():
    keras.utils.set_random_seed(0)
    model = create_model("faster_rcnn", **SMALL)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 60, (4, 64, 64, 3)).astype(np.float32)
    images[:, 8:40, 10:30] = 230  # a bright object, where the boxes say
    images[2:, 30:60, 34:54] = 120
    targets = np.stack(
        [boxes.pad_targets([[8 / 64, 10 / 64, 40 / 64, 30 / 64]], [1], 3)] * 2
        + [
            boxes.pad_targets(
                [[8 / 64, 10 / 64, 40 / 64, 30 / 64], [30 / 64, 34 / 64, 1, 54 / 64]], [1, 2], 3
            )
        ]
        * 2
    )
    history = model.fit(images, targets, batch_size=4, epochs=8, verbose=0).history
    assert set(history) == {"loss", *LOSSES}
    assert min(history["loss"][-3:]) < 0.6 * history["loss"][0]
    assert all(np.isfinite(history["loss"]))


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"backbone": "dcgan"}, "registered classifier"),
        ({"backbone_layer": "nothing"}, "no layer 'nothing'"),
        ({"anchor_scales": ()}, "at least one"),
        ({"classes": 0}, "classes must be a positive"),
        ({"head_positive_fraction": 1.5}, r"in \(0, 1\]"),
        ({"input_shape": (None, None, 3)}, "fixed"),
    ],
)
def test_refusals(arguments, message):
    with pytest.raises(KerasCNNError, match=message):
        create_model("faster_rcnn", **{**SMALL, **arguments})


# Slow: a fit step traced and a checkpoint written and read (about 8 s on 2 cores).
@pytest.mark.slow
def test_a_checkpoint_restores_weights_optimizer_and_sampling_state(tmp_path):
    from kerascnn.training import resume

    keras.utils.set_random_seed(0)
    images = np.random.default_rng(0).uniform(0, 255, (4, 64, 64, 3)).astype(np.float32)
    targets = np.stack([boxes.pad_targets([[0.1, 0.2, 0.6, 0.5]], [1], 2)] * 4)
    model = create_model("faster_rcnn", **SMALL)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.fit(images, targets, batch_size=2, epochs=1, verbose=0)
    resume.save(model, tmp_path, resume.Progress(epoch=1))
    again = create_model("faster_rcnn", **{**SMALL, "seed": 7})
    again.compile(optimizer=keras.optimizers.Adam(1e-3))
    progress, _ = resume.restore(again, tmp_path)
    assert progress.epoch == 1
    assert int(again.optimizer.iterations) == int(model.optimizer.iterations) == 2
    np.testing.assert_array_equal(again.seed_generator.state, model.seed_generator.state)
    for mine, theirs in zip(again.weights, model.weights, strict=True):
        np.testing.assert_array_equal(mine, theirs)
    # The next steps sample and train alike.
    first = model.fit(images, targets, batch_size=2, epochs=1, verbose=0).history["loss"]
    second = again.fit(images, targets, batch_size=2, epochs=1, verbose=0).history["loss"]
    np.testing.assert_allclose(first, second, rtol=1e-5)
