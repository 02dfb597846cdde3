import keras
import numpy as np
import pytest

import kerascnn
from kerascnn.errors import KerasCNNError, UnknownNameError
from kerascnn.layers import ClassicDropout
from kerascnn.registry import models

# Parameter counts at each model's reference configuration, from its paper or reference code.
REFERENCE_PARAMS = {"deep_mnist_cnn": ((28, 28, 1), 10, 123_552)}
SMALL_INPUTS = [(28, 28, 1), (32, 32, 3)]


@pytest.mark.parametrize("name", models.names())
def test_reference_parameter_count(name):
    assert name in REFERENCE_PARAMS, f"add {name}'s published parameter count to REFERENCE_PARAMS"
    shape, classes, expected = REFERENCE_PARAMS[name]
    model = kerascnn.create_model(name, input_shape=shape, classes=classes)
    assert model.count_params() == expected
    assert model.name == name


@pytest.mark.parametrize("name", models.names())
@pytest.mark.parametrize("shape", SMALL_INPUTS)
def test_small_inputs_any_class_count(name, shape):
    model = kerascnn.create_model(name, input_shape=shape, classes=7)
    assert model.output_shape == (None, 7)
    assert model.output.dtype == "float32"
    probabilities = model(np.random.default_rng(0).random((2, *shape), dtype=np.float32))
    np.testing.assert_allclose(keras.ops.sum(probabilities, axis=-1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("name", models.names())
@pytest.mark.parametrize("pooling,rank", [(None, 4), ("avg", 2), ("max", 2)])
def test_headless_pooling(name, pooling, rank):
    model = kerascnn.create_model(name, include_top=False, pooling=pooling, input_shape=(32, 32, 3))
    assert len(model.output_shape) == rank


@pytest.mark.parametrize("name", models.names())
def test_too_small_input_names_the_minimum(name):
    with pytest.raises(KerasCNNError, match=r"too small.*at least \d+x\d+"):
        kerascnn.create_model(name, input_shape=(2, 2, 1))


@pytest.mark.parametrize("name", models.names())
def test_weights_round_trip(name, tmp_path):
    model = kerascnn.create_model(name, classes=3)
    path = tmp_path / "w.weights.h5"
    model.save_weights(path)
    again = kerascnn.create_model(name, classes=3, weights=str(path))
    x = np.random.default_rng(1).random((2, *model.input_shape[1:]), dtype=np.float32)
    np.testing.assert_allclose(model.predict(x, verbose=0), again.predict(x, verbose=0))
    with pytest.raises(KerasCNNError, match="not a file"):
        kerascnn.create_model(name, weights=str(tmp_path / "missing.weights.h5"))


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
    assert [type(d) for d in dropouts] == [ClassicDropout] * 2, "the book's dropout scales at test time"
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
