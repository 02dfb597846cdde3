"""VGG-11/13/16/19, LeNet-5 and AlexNet: reference parameter counts, small inputs, heads, errors."""

import keras
import numpy as np
import pytest

import kerascnn.models.classic  # noqa: F401  (registers the builders before the package imports it)
import kerascnn.models.vgg  # noqa: F401
from kerascnn.errors import KerasCNNError
from kerascnn.registry import models

VGG = ["vgg11", "vgg13", "vgg16", "vgg19"]
NAMES = [*VGG, "lenet5", "alexnet"]
# Builder arguments that make each model fit 28-32 px images.
SMALL_ARGS = {"alexnet": {"stem": "small"}}


@pytest.fixture(autouse=True)
def _free_models():
    yield
    # The 224 px VGGs hold over half a gigabyte of weights each.
    keras.backend.clear_session()


def build(name, **kwargs):
    return models.get(name)(**{**SMALL_ARGS.get(name, {}), **kwargs})


# torchvision's published alexnet count with the small stem's 3x3 first convolution instead of
# 11x11 (3 -> 64 filters) and a 10-class last layer (4096 -> 10) instead of 1000.
ALEXNET_SMALL_10 = 61_100_840 - (11 * 11 - 3 * 3) * 3 * 64 - 4096 * 1000 - 1000 + 4096 * 10 + 10


# The reference counts are in test_models; these are the other configurations worth checking.
@pytest.mark.parametrize(
    "name,kwargs,expected",
    [
        ("alexnet", {"input_shape": (32, 32, 3), "classes": 10, "stem": "small"}, ALEXNET_SMALL_10),
        ("lenet5", {"input_shape": (28, 28, 1)}, 61_706),  # padded to 32x32 inside the model
    ],
)
def test_variant_parameter_counts(name, kwargs, expected):
    assert models.get(name)(**kwargs).count_params() == expected


def test_lenet5_defaults_to_ten_classes():
    assert models.get("lenet5")().output_shape == (None, 10)


@pytest.mark.parametrize(
    "name,feature_map",
    [
        ("vgg11", (1, 1, 512)),
        ("vgg19", (1, 1, 512)),
        ("lenet5", (5, 5, 16)),
        ("alexnet", (7, 7, 256)),
    ],
)
@pytest.mark.parametrize("pooling", [None, "avg", "max"])
def test_headless_pooling(name, feature_map, pooling):
    model = build(name, include_top=False, pooling=pooling, input_shape=(32, 32, 3))
    expected = feature_map if pooling is None else feature_map[-1:]
    assert model.output_shape == (None, *expected)
    names = [layer.name for layer in model.layers]
    assert not {"flatten", "fc1", "predictions", "adaptive_pool"} & set(names)


@pytest.mark.parametrize("name,kernel", [("vgg16", 3), ("lenet5", 5), ("alexnet", 3)])
@pytest.mark.parametrize("channels", [1, 3])
def test_channels(name, kernel, channels):
    model = build(name, input_shape=(32, 32, channels), classes=10)
    assert model.get_layer("block1_conv1").kernel.shape[:3] == (kernel, kernel, channels)


def test_alexnet_imagenet_stem_rejects_small_inputs_with_the_minimum():
    message = (
        r"alexnet: input 32x32 is too small, the network needs at least 63x63 pixels; "
        r"resize or pad the images, or pass stem='small'"
    )
    with pytest.raises(KerasCNNError, match=message):
        models.get("alexnet")(input_shape=(32, 32, 3), classes=10)
    with pytest.raises(KerasCNNError, match=r"input 62x62 is too small.*at least 63x63"):
        models.get("alexnet")(input_shape=(62, 62, 3))
    with pytest.raises(KerasCNNError, match=r"input 6x6 is too small.*at least 7x7"):
        models.get("alexnet")(input_shape=(6, 6, 3), stem="small")


@pytest.mark.parametrize("shape,stem", [((63, 63, 3), "imagenet"), ((7, 7, 1), "small")])
def test_alexnet_minimum_inputs_leave_a_1x1_map(shape, stem):
    model = models.get("alexnet")(input_shape=shape, stem=stem, include_top=False)
    assert model.output_shape == (None, 1, 1, 256)


def test_alexnet_layout_is_torchvisions():
    model = models.get("alexnet")()
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [(c.filters, c.kernel_size[0], c.strides[0]) for c in convs] == [
        (64, 11, 4),
        (192, 5, 1),
        (384, 3, 1),
        (256, 3, 1),
        (256, 3, 1),
    ]
    assert model.get_layer("block1_conv1_pad").padding == ((2, 2), (2, 2))
    assert model.get_layer("block1_pool").output.shape[1:] == (27, 27, 64)
    assert model.get_layer("block3_pool").output.shape[1:] == (6, 6, 256)
    names = [layer.name for layer in model.layers]
    assert "adaptive_pool" not in names, "AdaptiveAvgPool2d((6, 6)) is the identity at 224 px"
    assert names[-7:] == [
        "flatten",
        "flatten_dropout",
        "fc1",
        "fc1_dropout",
        "fc2",
        "fc3",
        "predictions",
    ]
    assert model.get_layer("fc1").kernel.shape == (9216, 4096)


def test_alexnet_small_stem_pools_to_6x6_whatever_the_size():
    at_32 = build("alexnet", input_shape=(32, 32, 3), classes=10)
    at_28 = build("alexnet", input_shape=(28, 28, 3), classes=10)
    assert "block1_pool" not in [layer.name for layer in at_32.layers]
    assert at_32.get_layer("block1_conv1").strides == (1, 1)
    assert at_32.get_layer("adaptive_pool").output.shape[1:] == (6, 6, 256)
    assert at_28.get_layer("block3_pool").output.shape[1:] == (6, 6, 256)
    assert "adaptive_pool" not in [layer.name for layer in at_28.layers]
    assert at_32.count_params() == at_28.count_params() == ALEXNET_SMALL_10 == 57_023_306


def test_vgg_variants_come_from_one_table():
    counts = {}
    for name in VGG:
        model = models.get(name)(input_shape=(32, 32, 3), classes=10)
        convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
        counts[name] = len(convs)
        assert all(c.kernel_size == (3, 3) and c.use_bias for c in convs)
        assert {c.filters for c in convs} == {64, 128, 256, 512}
        assert [model.get_layer(f"block{b}_conv1").filters for b in range(1, 6)] == [
            64,
            128,
            256,
            512,
            512,
        ]
    assert counts == {"vgg11": 8, "vgg13": 10, "vgg16": 13, "vgg19": 16}
    assert kerascnn.models.vgg.CONFIGS["vgg19"] == (2, 2, 4, 4, 4)


def test_vgg16_matches_keras_applications_layer_for_layer():
    ours = models.get("vgg16")(dropout=0)
    reference = keras.applications.VGG16(weights=None)
    for theirs in reference.layers[1:-1]:
        mine = ours.get_layer(theirs.name)
        assert mine.output.shape == theirs.output.shape, theirs.name
        assert mine.count_params() == theirs.count_params(), theirs.name
    assert ours.get_layer("fc3").count_params() == reference.get_layer("predictions").count_params()


def test_vgg_same_pooling_rounds_odd_sizes_up():
    model = models.get("vgg11")(input_shape=(28, 28, 1), include_top=False)
    sides = [model.get_layer(f"block{b}_pool").output.shape[1] for b in range(1, 6)]
    assert sides == [14, 7, 4, 2, 1]
    assert models.get("vgg11")(input_shape=(1, 1, 3), classes=3).output_shape == (None, 3)


@pytest.mark.parametrize(
    "name,dropouts", [("vgg13", ["fc1", "fc2"]), ("alexnet", ["flatten", "fc1"])]
)
def test_dropout_has_no_parameters_and_zero_leaves_it_out(name, dropouts):
    with_dropout = build(name, input_shape=(32, 32, 3), classes=10)
    without = build(name, input_shape=(32, 32, 3), classes=10, dropout=0)
    for source in dropouts:
        assert with_dropout.get_layer(f"{source}_dropout").rate == 0.5
    assert not [layer for layer in without.layers if isinstance(layer, keras.layers.Dropout)]
    assert with_dropout.count_params() == without.count_params()
    with pytest.raises(KerasCNNError, match=r"dropout must be a number in \[0, 1\), got 1"):
        build(name, dropout=1)


def test_lenet5_pads_small_inputs_to_32():
    model = models.get("lenet5")(input_shape=(28, 28, 1))
    assert model.get_layer("pad").padding == ((2, 2), (2, 2))
    assert model.get_layer("block1_conv1").output.shape[1:] == (28, 28, 6)
    assert model.get_layer("block2_pool").output.shape[1:] == (5, 5, 16)
    assert [model.get_layer(n).units for n in ("fc1", "fc2", "fc3")] == [120, 84, 10]
    assert isinstance(model.get_layer("block1_pool"), keras.layers.MaxPooling2D)
    assert model.get_layer("fc1").activation.__name__ == "tanh"
    assert "pad" not in [layer.name for layer in models.get("lenet5")().layers]
    odd = models.get("lenet5")(input_shape=(1, 31, 3), include_top=False)
    assert odd.get_layer("pad").padding == ((15, 16), (0, 1))
    assert odd.output_shape == (None, 5, 5, 16)
    bigger = models.get("lenet5")(input_shape=(64, 64, 1))
    assert bigger.get_layer("flatten").output.shape[-1] == 13 * 13 * 16


def test_lenet5_activation():
    relu = models.get("lenet5")(activation="relu")
    assert relu.get_layer("block2_conv1").activation.__name__ == "relu"
    assert relu.count_params() == 61_706
    with pytest.raises(KerasCNNError, match=r"activation must be .* got 'tanhh'"):
        models.get("lenet5")(activation="tanhh")


def test_bad_stem_names_the_choices():
    with pytest.raises(KerasCNNError, match=r"stem must be one of 'imagenet', 'small', got 'tiny'"):
        models.get("alexnet")(stem="tiny")


def test_alexnet_paper_initialisation_gives_the_relus_positive_inputs():
    # Krizhevsky et al. (2012), section 5: weights N(0, 0.01); biases 1 in conv2, conv4, conv5,
    # fc1 and fc2 (blocks 2 and 3 here), 0 elsewhere. The layout and the count stay.
    keras.utils.set_random_seed(0)
    model = build("alexnet", input_shape=(32, 32, 3), classes=10, initialization="paper")
    assert model.count_params() == ALEXNET_SMALL_10
    biases = {}
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D | keras.layers.Dense):
            kernel, bias = layer.get_weights()
            assert kernel.std() == pytest.approx(0.01, rel=0.05), layer.name
            biases[layer.name] = set(np.unique(bias).tolist())
    ones = {"block2_conv1", "block3_conv2", "block3_conv3", "fc1", "fc2"}
    assert {name for name, values in biases.items() if values == {1.0}} == ones
    assert all(values == {0.0} for name, values in biases.items() if name not in ones)
    with pytest.raises(KerasCNNError, match=r"initialization must be one of 'glorot', 'paper'"):
        build("alexnet", input_shape=(32, 32, 3), initialization="caffe")


# torchvision's vgg11_bn ... vgg19_bn (its documented counts, which leave out BatchNorm's running
# statistics: Keras' non-trainable weights).
@pytest.mark.parametrize(
    "name,expected",
    [
        ("vgg11", 132_868_840),
        ("vgg13", 133_053_736),
        ("vgg16", 138_365_992),
        ("vgg19", 143_678_248),
    ],
)
def test_vgg_batch_norm_matches_torchvision_bn_counts(name, expected):
    model = build(name, batch_norm=True)
    trainable = sum(int(keras.ops.size(w)) for w in model.trainable_weights)
    assert trainable == expected
    # conv -> BatchNorm -> ReLU, torchvision's order, the convolution keeping its bias.
    names = [layer.name for layer in model.layers]
    start = names.index("block1_conv1")
    assert names[start : start + 3] == ["block1_conv1", "block1_conv1_bn", "block1_conv1_relu"]
    assert model.get_layer("block1_conv1").use_bias


def test_vgg_starts_with_a_signal_that_reaches_the_logits():
    """Glorot weights shrank the signal about 400 times through VGG-16's 13 convolutions at 32 px
    and its loss sat at ln 10; He initialisation keeps it (scripts/signal_propagation.py)."""
    model = build("vgg16", input_shape=(32, 32, 3), classes=10, classifier_activation=None)
    images = keras.random.uniform((16, 32, 32, 3), seed=0)
    layers = [model.get_layer(n) for n in ("block1_conv1", "block5_conv3", "fc3")]
    probe = keras.Model(model.inputs, [layer.output for layer in layers])
    first, last_conv, logits = (float(keras.ops.std(y)) for y in probe(images))
    assert last_conv > 0.1 * first
    assert logits > 0.2 * first


def test_vgg_batch_norm_must_be_a_flag():
    with pytest.raises(KerasCNNError, match="batch_norm must be True or False"):
        build("vgg11", batch_norm="yes")
