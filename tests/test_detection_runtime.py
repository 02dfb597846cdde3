"""Faster R-CNN under the run settings (issue 23, point 7): two replicas of MirroredStrategy on 2
logical CPUs give one device's losses (within 1e-5), its sampling draws included, before and after
an update; under mixed precision it trains with a loss-scaling optimizer and its outputs stay
float32."""

import json
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from kerascnn import boxes
from kerascnn.models import create_model

TINY = dict(
    input_shape=(32, 32, 3),
    classes=3,
    rpn_channels=8,
    head_units=(8,),
    pool_size=2,
    rpn_batch=32,
    head_batch=16,
    pre_nms=100,
    train_proposals=16,
    test_proposals=8,
    detections=4,
    seed=0,
)


def targets(count):
    """One or two boxes per image, of classes 0-2."""
    found = [[0.1, 0.2, 0.6, 0.5], [0.4, 0.4, 0.9, 0.95]]
    return np.stack(
        [
            boxes.pad_targets(found[: 1 + i % 2], [i % 3, (i + 1) % 3][: 1 + i % 2], 2)
            for i in range(count)
        ]
    )


SCRIPT = r"""
import json, numpy as np, tensorflow as tf
tf.config.set_logical_device_configuration(
    tf.config.list_physical_devices("CPU")[0], [tf.config.LogicalDeviceConfiguration()] * 2
)
import keras
from kerascnn.models import create_model
from test_detection_runtime import TINY, targets

KEYS = ("loss", "rpn_objectness", "rpn_box", "head_class", "head_box")

class Losses(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.seen = []
    def on_train_batch_end(self, batch, logs=None):
        self.seen.append([float(logs[k]) for k in KEYS])

def detector(strategy):
    with strategy.scope():
        keras.utils.set_random_seed(0)
        model = create_model("faster_rcnn", **TINY)
        # SGD: see tests/test_distribute.py (Adam turns rounding noise into full steps).
        model.compile(keras.optimizers.SGD(0.01, momentum=0.9))
    images = np.random.default_rng(0).uniform(0, 255, (16, 32, 32, 3)).astype("float32")
    losses = Losses()
    model.fit(images, targets(16), batch_size=8, epochs=1, shuffle=False, verbose=0,
              callbacks=[losses])
    return losses.seen

one = tf.distribute.OneDeviceStrategy("/cpu:0")
two = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
print(json.dumps({"replicas": two.num_replicas_in_sync, "losses": [detector(one), detector(two)]}))
"""


# Slow: a fresh TensorFlow with two logical devices, the detector traced and trained twice
# (about 50 s on 2 loaded cores).
@pytest.mark.slow
def test_two_replicas_give_the_losses_of_one_device():
    for _ in range(2):
        done = subprocess.run(
            [sys.executable, "-c", SCRIPT],
            capture_output=True,
            text=True,
            timeout=900,
            cwd=str(Path(__file__).parent),  # the script imports TINY from here
        )
        # As tests/test_distribute.py: a run killed by a signal under load is tried once more.
        if done.returncode >= 0:
            break
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["replicas"] == 2
    one, two = result["losses"]
    # Two steps: the first checks the losses' normalisation and the replicas' share of the
    # sampling draws, the second that the replicas' summed gradients are one device's. Later
    # steps are not compared: once the weights differ in their last bits (the replicas sum in
    # another order), a region whose IoU is at the 0.5 threshold, or an NMS tie, can fall the
    # other way and change a loss by 1e-5 or more (measured: 4.9e-5 at the third step, once in
    # three runs).
    assert len(one) == len(two) == 2
    for step, (a, b) in enumerate(zip(one, two, strict=True)):
        for x, y in zip(a, b, strict=True):
            assert abs(x - y) <= 1e-5, (step, a, b)


# Slow: tracing the training step under a second policy (about 20 s on 2 loaded cores).
@pytest.mark.slow
def test_mixed_precision_trains_and_gives_float32_outputs():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = create_model("faster_rcnn", **TINY)
        model.compile(keras.optimizers.Adam(1e-3))
        assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
        assert model.head.get_layer("fc6").compute_dtype == "float16"
        images = np.random.default_rng(0).uniform(0, 255, (8, 32, 32, 3)).astype("float32")
        history = model.fit(images, targets(8), batch_size=4, epochs=2, verbose=0).history
        assert np.isfinite(history["loss"]).all()
        outputs = model(images)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert {key: str(value.dtype) for key, value in outputs.items()} == {
        "boxes": "<dtype: 'float32'>",
        "pixel_boxes": "<dtype: 'float32'>",
        "classes": "<dtype: 'int32'>",
        "scores": "<dtype: 'float32'>",
        "valid_detections": "<dtype: 'int32'>",
    }
