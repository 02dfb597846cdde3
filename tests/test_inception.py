"""Inception V1 and V3: published counts, module channels, aux outputs, stems, minimum sizes."""

import keras
import numpy as np
import pytest

import kerascnn.models.inception  # noqa: F401  (registers the builders before the package does)
from kerascnn.errors import KerasCNNError
from kerascnn.registry import models

V1_CHANNELS = {
    "3a": 256,
    "3b": 480,
    "4a": 512,
    "4b": 512,
    "4c": 512,
    "4d": 528,
    "4e": 832,
    "5a": 832,
    "5b": 1024,
}
SMALL_SHAPES = [(28, 28, 1), (32, 32, 3)]


def trainable(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def test_v3_matches_keras_applications():
    model = models.get("inception_v3")()
    assert model.count_params() == 23_851_784
    assert trainable(model) == 23_817_352
    assert model.name == "inception_v3" and model.output_shape == (None, 1000)
    reference = keras.applications.InceptionV3(weights=None)
    shapes = sorted(tuple(w.shape) for w in model.weights)
    assert shapes == sorted(tuple(w.shape) for w in reference.weights)
    for index in range(11):
        name = f"mixed{index}"
        assert model.get_layer(name).output.shape == reference.get_layer(name).output.shape


# Szegedy et al. 2014, Table 1: each module's #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5 and
# pool proj filters.
V1_TABLE = {
    "3a": (64, 96, 128, 16, 32, 32),
    "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64),
    "4b": (160, 112, 224, 24, 64, 64),
    "4c": (128, 128, 256, 24, 64, 64),
    "4d": (112, 144, 288, 32, 64, 64),
    "4e": (256, 160, 320, 32, 128, 128),
    "5a": (256, 160, 320, 32, 128, 128),
    "5b": (384, 192, 384, 48, 128, 128),
}


def v1_count_from_table(
    batch_norm=False, branch3x3_quirk=False, aux_logits=False, stem_kernel=7, classes=1000
):
    """GoogLeNet's trainable parameters counted from Table 1: a convolution has k*k*in*out
    weights and a bias per filter, or without bias BatchNorm's scale and offset per filter."""

    def conv(inputs, filters, k):
        return k * k * inputs * filters + filters * (2 if batch_norm else 1)

    def dense(inputs, units):
        return inputs * units + units

    total = conv(3, 64, stem_kernel) + conv(64, 64, 1) + conv(64, 192, 3)  # conv1, conv2
    channels = 192
    for ones, reduce3, threes, reduce5, fives, pool_proj in V1_TABLE.values():
        total += conv(channels, ones, 1) + conv(channels, reduce3, 1) + conv(reduce3, threes, 3)
        total += conv(channels, reduce5, 1) + conv(reduce5, fives, 3 if branch3x3_quirk else 5)
        total += conv(channels, pool_proj, 1)
        channels = ones + threes + fives + pool_proj
    assert channels == 1024
    total += dense(channels, classes)
    if aux_logits:  # on 4a (512 channels) and 4d (528): conv 128@1x1 on a 4x4 map, FC 1024, FC
        total += sum(
            conv(c, 128, 1) + dense(4 * 4 * 128, 1024) + dense(1024, classes) for c in (512, 528)
        )
    return total


@pytest.mark.parametrize(
    "options,published",
    [
        ({}, None),  # the paper's form: Table 1 lists per-layer counts in thousands only
        ({"aux_logits": True}, None),
        ({"batch_norm": True}, None),
        ({"batch_norm": True, "branch3x3_quirk": True}, 6_624_904),  # torchvision's published
        ({"batch_norm": True, "branch3x3_quirk": True, "aux_logits": True}, 13_004_888),
    ],
)
def test_v1_parameter_counts(options, published):
    model = models.get("inception_v1")(**options)
    assert trainable(model) == v1_count_from_table(**options)
    if published is not None:
        assert trainable(model) == published
    assert model.name == "inception_v1"


def test_v1_module_channels_and_sides():
    model = models.get("inception_v1")()
    for module, channels in V1_CHANNELS.items():
        side = {"3": 28, "4": 14, "5": 7}[module[0]]
        assert model.get_layer(f"inception_{module}").output.shape == (None, side, side, channels)


@pytest.mark.parametrize("quirk,kernel", [(False, (5, 5)), (True, (3, 3))])
def test_v1_quirk_and_batch_norm(quirk, kernel):
    model = models.get("inception_v1")(batch_norm=True, branch3x3_quirk=quirk)
    assert model.get_layer("inception_4c_5x5_conv").kernel_size == kernel
    convolutions = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert convolutions and not any(layer.use_bias for layer in convolutions)
    assert model.get_layer("inception_5b").output.shape[-1] == 1024


def test_v1_aux_outputs():
    model = models.get("inception_v1")(aux_logits=True, classes=7)
    assert model.output_names == ["predictions", "aux1", "aux2"]
    assert [tuple(t.shape) for t in model.outputs] == [(None, 7)] * 3
    assert all(t.dtype == "float32" for t in model.outputs)
    assert model.get_layer("aux1_flatten").output.shape == (None, 4 * 4 * 128)


def test_v1_aux_runs_on_small_images():
    model = models.get("inception_v1")(
        input_shape=(28, 28, 1), classes=7, stem="small", aux_logits=True
    )
    outputs = model(np.random.default_rng(0).random((2, 28, 28, 1), dtype=np.float32))
    assert len(outputs) == 3
    for probabilities in outputs:
        np.testing.assert_allclose(keras.ops.sum(probabilities, axis=-1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("shape", SMALL_SHAPES)
def test_small_stem_shapes(shape):
    v1 = models.get("inception_v1")(input_shape=shape, classes=7, stem="small")
    assert v1.output_shape == (None, 7) and v1.output.dtype == "float32"
    assert v1.get_layer("inception_3a").output.shape[1:3] == shape[:2]
    assert v1.get_layer("inception_5b").output.shape[1:3] == (shape[0] // 4,) * 2
    assert not {"pool1", "pool2"} & {layer.name for layer in v1.layers}
    v3 = models.get("inception_v3")(input_shape=shape, classes=7, stem="small")
    assert v3.output_shape == (None, 7) and v3.output.dtype == "float32"
    side = (shape[0] - 3) // 2 + 1
    side = (side - 3) // 2 + 1
    assert v3.get_layer("mixed10").output.shape == (None, side, side, 2048)


def test_small_stem_counts():
    # V1: conv1 3x3 instead of 7x7 (pools have no parameters), Table 1 otherwise.
    v1 = models.get("inception_v1")(input_shape=(32, 32, 3), classes=10, stem="small")
    assert v1.count_params() == v1_count_from_table(stem_kernel=3, classes=10) == 5_976_122
    # V3: the stem's convolutions keep their kernels (stride 1, "same"), so the count is
    # keras.applications' 23,851,784 (test_v3_matches_keras_applications) with 10 classes.
    v3 = models.get("inception_v3")(input_shape=(32, 32, 3), classes=10, stem="small")
    assert v3.count_params() == 23_851_784 - (2048 + 1) * 1000 + (2048 + 1) * 10 == 21_823_274


@pytest.mark.parametrize("name", ["inception_v1", "inception_v3"])
@pytest.mark.parametrize("pooling,map_shape", [(None, (8, 8)), ("avg", ()), ("max", ())])
def test_headless_pooling(name, pooling, map_shape):
    shape = (32, 32, 3) if name == "inception_v1" else (40, 40, 3)
    model = models.get(name)(include_top=False, pooling=pooling, input_shape=shape, stem="small")
    channels = 1024 if name == "inception_v1" else 2048
    if name == "inception_v3" and pooling is None:
        map_shape = (9, 9)  # 40 -> 19 -> 9 through the two reductions
    assert model.output_shape == (None, *map_shape, channels)
    assert not {"fc", "predictions"} & {layer.name for layer in model.layers}


@pytest.mark.parametrize(
    "name,options,minimum",
    [
        ("inception_v1", {}, 31),
        ("inception_v1", {"aux_logits": True}, 79),
        ("inception_v3", {}, 75),
    ],
)
def test_imagenet_stem_minimum_size(name, options, minimum):
    builder = models.get(name)
    with pytest.raises(
        KerasCNNError, match=rf"too small.*at least {minimum}x{minimum}.*stem='small'"
    ):
        builder(input_shape=(minimum - 1, minimum - 1, 3), **options)
    model = builder(input_shape=(minimum, minimum, 3), **options)
    assert len(model.outputs) == (3 if options else 1)


def test_small_stem_minimum_size():
    with pytest.raises(KerasCNNError, match=r"at least 7x7"):
        models.get("inception_v3")(input_shape=(6, 6, 3), stem="small")
    with pytest.raises(KerasCNNError, match=r"at least 4x4"):
        models.get("inception_v1")(input_shape=(3, 3, 3), stem="small")


def test_bad_arguments():
    with pytest.raises(KerasCNNError, match=r"stem must be one of 'imagenet', 'small', got 'tiny'"):
        models.get("inception_v3")(stem="tiny")
    with pytest.raises(KerasCNNError, match=r"aux_logits must be True or False"):
        models.get("inception_v1")(aux_logits=1)
    with pytest.raises(KerasCNNError, match=r"aux_logits=True.*include_top=False"):
        models.get("inception_v1")(aux_logits=True, include_top=False)
