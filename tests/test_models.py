import inspect

import keras
import numpy as np
import pytest
from marks import first_of_each_family

import kerascnn
from kerascnn.errors import KerasCNNError, UnknownNameError
from kerascnn.layers import ClassicDropout
from kerascnn.registry import models

# Each model's published parameter count at its reference configuration (the builder's defaults:
# ImageNet 224 px, 299 for InceptionV3, 1000 classes; or the paper's MNIST input): the count
# checked ("total" = count_params(), "trainable" = torchvision's count, which leaves out
# BatchNorm's moving statistics), the figure, and the arguments that suit 28-32 px images.
REFERENCE = {
    "deep_mnist_cnn": ("total", 123_552, {}),
    "deotte_cnn": ("total", 327_242, {}),
    "lenet5": ("total", 61_706, {}),
    "alexnet": ("total", 61_100_840, {"stem": "small"}),
    "vgg11": ("total", 132_863_336, {}),
    "vgg13": ("total", 133_047_848, {}),
    "vgg16": ("total", 138_357_544, {}),
    "vgg19": ("total", 143_667_240, {}),
    "inception_v1": ("total", 6_998_552, {"stem": "small"}),
    "inception_v3": ("total", 23_851_784, {"stem": "small"}),
    "resnet18": ("trainable", 11_689_512, {"stem": "small"}),
    "resnet34": ("trainable", 21_797_672, {"stem": "small"}),
    "resnet50": ("trainable", 25_557_032, {"stem": "small"}),
}
# The smallest side each model takes with its default stem; None: pooling never runs out (VGG's
# "same" pools, LeNet-5's padding to 32 px).
MIN_SIDE = {
    "deep_mnist_cnn": 4,
    "deotte_cnn": 25,
    "lenet5": None,
    "alexnet": 63,
    "vgg11": None,
    "vgg13": None,
    "vgg16": None,
    "vgg19": None,
    "inception_v1": 31,
    "inception_v3": 75,
    "resnet18": 32,
    "resnet34": 32,
    "resnet50": 32,
}
SMALL_INPUTS = [(28, 28, 1), (32, 32, 3)]
CLASSIFIERS = models.names(task="classification")


def small(name, **kwargs):
    """`name` built for small images, with whatever stem its family uses for them."""
    return kerascnn.create_model(name, **REFERENCE[name][2], **kwargs)


def test_every_registered_model_has_a_reference():
    assert sorted(REFERENCE) == sorted(CLASSIFIERS) == sorted(MIN_SIDE)


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_builder_signature_is_keras_applications(name):
    parameters = inspect.signature(models.get(name)).parameters
    assert list(parameters)[:8] == [
        "include_top",
        "weights",
        "input_tensor",
        "input_shape",
        "pooling",
        "classes",
        "classifier_activation",
        "name",
    ]
    assert parameters["name"].default == name
    assert all(p.kind is p.KEYWORD_ONLY for p in list(parameters.values())[8:])


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_reference_parameter_count(name):
    count, expected, _ = REFERENCE[name]
    model = kerascnn.create_model(name)
    if count == "trainable":
        assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == expected
    else:
        assert model.count_params() == expected
    assert model.name == name


@pytest.mark.parametrize("name", first_of_each_family(CLASSIFIERS))
@pytest.mark.parametrize("shape", SMALL_INPUTS)
def test_small_inputs_any_class_count(name, shape):
    model = small(name, input_shape=shape, classes=7)
    assert model.output_shape == (None, 7)
    assert model.output.dtype == "float32"
    probabilities = model(np.random.default_rng(0).random((2, *shape), dtype=np.float32))
    np.testing.assert_allclose(keras.ops.sum(probabilities, axis=-1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("name", first_of_each_family(CLASSIFIERS))
@pytest.mark.parametrize("pooling,rank", [(None, 4), ("avg", 2), ("max", 2)])
def test_headless_pooling(name, pooling, rank):
    model = small(name, include_top=False, pooling=pooling, input_shape=(32, 32, 3))
    assert len(model.output_shape) == rank
    assert "predictions" not in [layer.name for layer in model.layers]


@pytest.mark.parametrize("name", [n for n in CLASSIFIERS if MIN_SIDE[n]])
def test_too_small_input_names_the_minimum(name):
    side = MIN_SIDE[name]
    with pytest.raises(KerasCNNError, match=rf"too small.*at least {side}x{side}"):
        kerascnn.create_model(name, input_shape=(side - 1, side + 8, 3))
    assert kerascnn.create_model(name, input_shape=(side, side, 3), classes=2).output_shape == (
        None,
        2,
    )


@pytest.mark.parametrize("name", first_of_each_family(CLASSIFIERS))
def test_weights_round_trip(name, tmp_path):
    model = small(name, input_shape=(28, 28, 1), classes=3)
    path = tmp_path / "w.weights.h5"
    model.save_weights(path)
    again = small(name, input_shape=(28, 28, 1), classes=3, weights=str(path))
    x = np.random.default_rng(1).random((2, 28, 28, 1), dtype=np.float32)
    # Called, not predict(): tracing a predict function per model took longer than the test.
    np.testing.assert_allclose(model(x, training=False), again(x, training=False))
    with pytest.raises(KerasCNNError, match="not a file"):
        kerascnn.create_model(name, weights=str(tmp_path / "missing.weights.h5"))
    with pytest.raises(KerasCNNError, match="cannot load weights"):
        small(name, input_shape=(28, 28, 1), classes=4, weights=str(path))


def test_unknown_model_name():
    with pytest.raises(UnknownNameError, match="did you mean 'deep_mnist_cnn'"):
        kerascnn.create_model("deep_mnist_cn")


def test_deep_mnist_cnn_layout_is_the_books():
    model = kerascnn.create_model("deep_mnist_cnn")
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [c.filters for c in convs] == [16, 16, 32, 32, 64, 64]
    assert all(c.kernel_size == (3, 3) and c.strides == (1, 1) for c in convs)
    # Padding 2 on the fourth convolution: 14 -> 16, so the last pool gives 4x4x64.
    assert model.get_layer("block2_conv2").output.shape[1:] == (16, 16, 32)
    assert model.get_layer("block3_pool").output.shape[1:] == (4, 4, 64)
    assert [model.get_layer(n).units for n in ("fc1", "fc2")] == [50, 10]
    dropouts = [model.get_layer(n) for n in ("fc1_dropout", "fc2_dropout")]
    assert [type(d) for d in dropouts] == [ClassicDropout] * 2, (
        "the book's dropout scales at test time"
    )
    assert [d.rate for d in dropouts] == [0.5, 0.5]
    inverted = kerascnn.create_model("deep_mnist_cnn", inverted_dropout=True)
    assert type(inverted.get_layer("fc2_dropout")) is keras.layers.Dropout
    assert inverted.count_params() == 123_552


def test_deep_mnist_cnn_uses_he_initialisation():
    model = kerascnn.create_model("deep_mnist_cnn")
    kernel = keras.ops.convert_to_numpy(model.get_layer("block3_conv2").kernel)
    assert abs(kernel.std() / np.sqrt(2 / (3 * 3 * 64)) - 1) < 0.05
    assert not keras.ops.convert_to_numpy(model.get_layer("block3_conv2").bias).any()


def test_logits_and_input_tensor():
    tensor = keras.Input((28, 28, 1))
    model = kerascnn.create_model("deep_mnist_cnn", input_tensor=tensor, classifier_activation=None)
    assert model.inputs[0] is tensor
    assert model.get_layer("predictions").activation is keras.activations.linear


def test_create_model_passes_a_builders_own_name():
    """The registry key is positional-only: `name=` is the builder's (timm's `model_name`)."""
    model = kerascnn.create_model("lenet5", name="mine")
    assert model.name == "mine"
    assert kerascnn.create_model("lenet5").name == "lenet5"
