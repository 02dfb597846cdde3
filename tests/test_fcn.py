"""fully_convolutional (issue 23, point 1) and the FCN builders (point 2)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import kerascnn
from kerascnn.errors import KerasCNNError
from kerascnn.models.fcn import BilinearUpsampling
from kerascnn.models.pixels import taking_pixels


@pytest.mark.parametrize(
    "name, arguments, shape",
    [
        ("deep_mnist_cnn", {}, (28, 28, 1)),
        ("lenet5", {}, (32, 32, 1)),
        ("alexnet", {"stem": "small"}, (28, 28, 3)),
        ("vgg16", {}, (32, 32, 3)),
    ],
)
def test_fully_convolutional_gives_the_classifiers_outputs(name, arguments, shape):
    keras.utils.set_random_seed(0)
    classifier = kerascnn.create_model(name, input_shape=shape, classes=10, **arguments)
    converted = kerascnn.fully_convolutional(classifier)
    assert not any(isinstance(layer, keras.layers.Dense) for layer in converted.layers)
    images = np.random.default_rng(0).uniform(0, 1, (3, *shape)).astype("float32")
    expected = np.asarray(classifier(images))
    scores = np.asarray(converted(images))
    assert scores.shape == (3, 1, 1, 10)
    assert np.max(np.abs(scores[:, 0, 0] - expected)) <= 1e-5
    # On a larger image: a map of class probabilities.
    bigger = np.zeros((1, 2 * shape[0], 2 * shape[1], shape[2]), "float32")
    grid = np.asarray(converted(bigger))
    assert grid.shape[1] > 1 and grid.shape[2] > 1
    np.testing.assert_allclose(grid.sum(-1), 1, atol=1e-5)


def test_fully_convolutional_converts_a_runs_model_inside():
    """A run's model holds the network behind the pixel scaling; the scaling stays in front."""
    keras.utils.set_random_seed(1)
    model = taking_pixels(kerascnn.create_model("deep_mnist_cnn"))
    converted = kerascnn.fully_convolutional(model, name="digits_everywhere")
    pixels = np.random.default_rng(1).uniform(0, 255, (2, 28, 28, 1)).astype("float32")
    assert converted.name == "digits_everywhere"
    np.testing.assert_allclose(
        np.asarray(converted(pixels))[:, 0, 0], np.asarray(model(pixels)), atol=1e-5
    )


def test_fully_convolutional_refuses_a_head_without_flatten():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3)(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(2)(x), name="pooled")
    with pytest.raises(KerasCNNError, match="pooled has 0 Flatten layers"):
        kerascnn.fully_convolutional(model)


def test_fcn8s_has_the_parameters_of_the_papers_reference_model():
    """shelhamer/fcn.berkeleyvision.org, voc-fcn8s/net.py: the layer shapes, summed."""
    vgg16_convolutions = 14_714_688
    layers = {
        "fc6": 7 * 7 * 512 * 4096 + 4096,
        "fc7": 4096 * 4096 + 4096,
        "score_fr": 4096 * 21 + 21,
        "upscore2": 4 * 4 * 21 * 21,  # Deconvolution, bias_term=False
        "score_pool4": 512 * 21 + 21,
        "upscore_pool4": 4 * 4 * 21 * 21,
        "score_pool3": 256 * 21 + 21,
        "upscore8": 16 * 16 * 21 * 21,
    }
    reference = vgg16_convolutions + sum(layers.values())
    assert reference == 134_489_759
    # The count does not depend on the input size: 64 px builds fastest.
    model = kerascnn.create_model("fcn8s", input_shape=(64, 64, 3), classes=21)
    assert model.count_params() == reference
    for name, count in layers.items():
        assert model.get_layer(name).count_params() == count, name
    assert model.output_shape == (None, 64, 64, 21)
    assert not model.get_layer("upscore8").trainable
    assert model.get_layer("upscore2").trainable and model.get_layer("upscore_pool4").trainable


@pytest.mark.parametrize("variant, skips", [("fcn32s", 0), ("fcn16s", 1), ("fcn8s", 2)])
def test_fcn_variants_on_a_small_backbone(variant, skips):
    model = kerascnn.create_model(
        variant,
        input_shape=(32, 32, 3),
        classes=11,
        backbone="deep_mnist_cnn",
        fc_units=16,
    )
    assert model.output_shape == (None, 32, 32, 11)
    names = [layer.name for layer in model.layers]
    assert sum(name.startswith("fuse_pool") for name in names) == skips
    probabilities = np.asarray(model(np.zeros((1, 32, 32, 3), "float32")))
    np.testing.assert_allclose(probabilities.sum(-1), 1, atol=1e-5)


def test_fcn_refusals():
    with pytest.raises(KerasCNNError, match="backbone must be a registered classifier"):
        kerascnn.create_model("fcn8s", input_shape=(32, 32, 3), backbone="fcn32s")
    with pytest.raises(KerasCNNError, match="fixed input height and width"):
        kerascnn.create_model("fcn8s", input_shape=(None, None, 3), fc_units=8)
    with pytest.raises(KerasCNNError, match="smaller than the image"):
        kerascnn.create_model("fcn8s", input_shape=(64, 64, 3), backbone="lenet5", fc_units=8)


@pytest.mark.parametrize("factor", [2, 8])
def test_bilinear_initialisation_reproduces_constants_and_ramps(factor):
    """Away from the border of f/2 pixels (zero padding), the transposed convolution is bilinear
    interpolation: a constant stays constant, a linear ramp stays a ramp, and both agree with
    tf.image.resize."""
    layer = keras.layers.Conv2DTranspose(
        2,
        2 * factor,
        strides=factor,
        padding="same",
        use_bias=False,
        kernel_initializer=BilinearUpsampling(),
    )
    side = 6
    ramp = np.tile(np.arange(side, dtype="float32"), (side, 1))
    images = np.stack([np.full((side, side), 3.0, "float32"), ramp + ramp.T], axis=-1)[None]
    upsampled = np.asarray(layer(images))[0]
    border = factor // 2
    inside = np.s_[border:-border, border:-border]
    np.testing.assert_allclose(upsampled[..., 0][inside], 3.0, atol=1e-5)
    centres = (np.arange(side * factor) + 0.5) / factor - 0.5
    expected_ramp = centres[:, None] + centres[None, :]
    np.testing.assert_allclose(upsampled[..., 1][inside], expected_ramp[inside], atol=1e-5)
    resized = tf.image.resize(images, (side * factor, side * factor), method="bilinear")[0]
    np.testing.assert_allclose(upsampled[inside], np.asarray(resized)[inside], atol=1e-5)
