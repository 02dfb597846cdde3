"""ResNet-18/34/50: torchvision's parameter counts, both stems, headless outputs, zero-init residuals."""

import re

import keras
import pytest

import kerascnn.models.resnet  # noqa: F401  (registers the builders before the package imports it)
from kerascnn.errors import KerasCNNError
from kerascnn.registry import models

NAMES = ["resnet18", "resnet34", "resnet50"]
SMALL = {"input_shape": (32, 32, 3), "stem": "small"}


@pytest.mark.parametrize(
    "name,shape",
    [
        ("resnet18", (28, 28, 1)),
        ("resnet18", (32, 32, 3)),
        ("resnet34", (32, 32, 3)),
        ("resnet50", (28, 28, 1)),
    ],
)
def test_small_stem_any_class_count(name, shape):
    model = models.get(name)(input_shape=shape, classes=7, stem="small")
    assert model.output_shape == (None, 7)
    assert model.output.dtype == "float32"
    assert model.get_layer("conv5_block2_out").output.shape[1:3] == (4, 4)
    assert "pool1_pool" not in [layer.name for layer in model.layers]


@pytest.mark.parametrize(
    "name,pooling,shape",
    [
        ("resnet18", None, (4, 4)),
        ("resnet18", "avg", ()),
        ("resnet18", "max", ()),
        # Bottleneck blocks are built in the 5-minute suite by test_small_stem_any_class_count.
        pytest.param("resnet50", None, (4, 4), marks=pytest.mark.slow),
    ],
)
def test_headless_pooling(name, pooling, shape):
    model = models.get(name)(include_top=False, pooling=pooling, **SMALL)
    channels = 2048 if name == "resnet50" else 512
    assert model.output_shape == (None, *shape, channels)
    assert "fc" not in [layer.name for layer in model.layers]


@pytest.mark.parametrize("channels", [1, 3])
def test_channels(channels):
    model = models.get("resnet18")(input_shape=(32, 32, channels), classes=10, stem="small")
    assert model.get_layer("conv1_conv").kernel.shape == (3, 3, channels, 64)
    default = models.get("resnet18")(input_shape=(64, 64, channels), include_top=False)
    assert default.get_layer("conv1_conv").kernel.shape == (7, 7, channels, 64)
    assert default.output_shape == (None, 2, 2, 512)


@pytest.mark.parametrize("name", NAMES)
def test_imagenet_stem_rejects_small_inputs(name):
    with pytest.raises(KerasCNNError, match=r"too small.*at least 32x32.*stem='small'"):
        models.get(name)(input_shape=(28, 28, 1), classes=10)
    with pytest.raises(KerasCNNError, match=r"at least 8x8"):
        models.get(name)(input_shape=(4, 4, 1), stem="small")


def test_imagenet_stem_reaches_1x1_at_32():
    model = models.get("resnet18")(input_shape=(32, 32, 3), include_top=False)
    assert model.output_shape == (None, 1, 1, 512)


def test_bad_stem_names_the_choices():
    with pytest.raises(KerasCNNError, match=r"stem must be one of 'imagenet', 'small', got 'tiny'"):
        models.get("resnet18")(stem="tiny")


@pytest.mark.parametrize("name,last", [("resnet18", "2"), ("resnet50", "3")])
def test_zero_init_residual_zeroes_the_last_gamma_of_each_block(name, last):
    def gammas(zero_init_residual):
        model = models.get(name)(zero_init_residual=zero_init_residual, **SMALL)
        return {
            layer.name: keras.ops.convert_to_numpy(layer.gamma)
            for layer in model.layers
            if isinstance(layer, keras.layers.BatchNormalization)
        }

    zeroed = gammas(True)
    is_last = re.compile(rf"conv\d_block\d+_{last}_bn")
    last_bns = [n for n in zeroed if is_last.fullmatch(n)]
    assert len(last_bns) == (8 if name == "resnet18" else 16)
    for layer_name, gamma in zeroed.items():
        expected = 0.0 if layer_name in last_bns else 1.0
        assert (gamma == expected).all(), layer_name
    assert all((gamma == 1).all() for gamma in gammas(False).values())


def test_layer_names_and_projection_shortcuts():
    model = models.get("resnet50")()
    names = {layer.name for layer in model.layers}
    assert {
        "conv1_conv",
        "conv1_bn",
        "conv2_block1_1_conv",
        "avg_pool",
        "fc",
        "predictions",
    } <= names
    projections = sorted(n for n in names if n.endswith("_0_conv"))
    assert projections == [f"conv{stage}_block1_0_conv" for stage in range(2, 6)]
    # ResNet v1.5: the bottleneck strides on its 3x3 convolution.
    assert model.get_layer("conv3_block1_1_conv").strides == (1, 1)
    assert model.get_layer("conv3_block1_2_conv").strides == (2, 2)
    assert all(
        not layer.use_bias for layer in model.layers if isinstance(layer, keras.layers.Conv2D)
    )
    bn = model.get_layer("conv4_block2_2_bn")
    assert (bn.epsilon, bn.momentum) == (1e-5, 0.9), "PyTorch's BatchNorm2d defaults"
    assert model.get_layer("conv5_block3_out").output.shape[1:] == (7, 7, 2048)
    basic = models.get("resnet18")()
    assert "conv2_block1_0_conv" not in [layer.name for layer in basic.layers]
