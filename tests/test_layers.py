import keras
import numpy as np
import pytest

from kerascnn.layers import ClassicDropout, ComposedAffine


def test_classic_dropout_drops_the_rate_and_keeps_survivors_unscaled():
    layer = ClassicDropout(0.3, seed=7)
    out = keras.ops.convert_to_numpy(layer(np.ones((200, 500), "float32"), training=True))
    assert abs((out == 0).mean() - 0.3) < 0.01
    assert set(np.unique(out)) == {0.0, 1.0}


def test_classic_dropout_inference_is_deterministic_and_scaled():
    layer = ClassicDropout(0.5)
    x = np.arange(6, dtype="float32").reshape(2, 3)
    first, second = (keras.ops.convert_to_numpy(layer(x)) for _ in range(2))
    np.testing.assert_array_equal(first, second)
    np.testing.assert_allclose(first, 0.5 * x)


def test_classic_dropout_serializes_inside_a_model(tmp_path):
    inputs = keras.Input((4,))
    model = keras.Model(inputs, ClassicDropout(0.25, seed=3, name="drop")(inputs))
    model.save(tmp_path / "m.keras")
    again = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    layer = again.get_layer("drop")
    assert isinstance(layer, ClassicDropout) and (layer.rate, layer.seed) == (0.25, 3)
    x = np.ones((2, 4), "float32")
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.mark.parametrize("rate", [-0.1, 1.0])
def test_classic_dropout_rejects_bad_rates(rate):
    with pytest.raises(ValueError, match=r"rate must be in \[0, 1\)"):
        ClassicDropout(rate)


# --- DropConnect --------------------------------------------------------------------------------

from kerascnn.layers import DropConnect  # noqa: E402


def test_drop_connect_drops_the_rate_of_weights_with_a_mask_per_example():
    layer = DropConnect(64, rate=0.3, use_bias=False, kernel_initializer="ones", seed=5)
    out = keras.ops.convert_to_numpy(layer(np.ones((32, 100), "float32"), training=True))
    # With unit weights and inputs, each output counts the kept weights of its column.
    assert abs(out.mean() / 100 - 0.7) < 0.01
    assert set(np.unique(out)) <= set(range(101))  # kept weights are not rescaled
    assert len({tuple(row) for row in out}) == 32  # every example draws its own mask


@pytest.mark.parametrize("inference", ["mean", "gaussian"])
def test_drop_connect_inference_is_deterministic(inference):
    layer = DropConnect(8, rate=0.5, activation="relu", inference=inference, seed=1)
    x = np.random.default_rng(0).normal(size=(4, 20)).astype("float32")
    first, second = (keras.ops.convert_to_numpy(layer(x)) for _ in range(2))
    np.testing.assert_array_equal(first, second)


def test_drop_connect_inference_rules():
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(16, 30)).astype("float32")
    linear = DropConnect(5, rate=0.4, inference="gaussian", inference_samples=4000, seed=2)
    mean_rule = DropConnect(5, rate=0.4, seed=2)
    mean_rule.build(x.shape)
    linear.build(x.shape)
    linear.set_weights(mean_rule.get_weights())
    kernel, bias = mean_rule.get_weights()
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(mean_rule(x)), 0.6 * x @ kernel + bias, atol=1e-5
    )
    # Linear activation: the Gaussian's average is its mean, the mean rule's answer.
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(linear(x)), 0.6 * x @ kernel + bias, atol=0.05
    )
    # ReLU: the paper's rule sees the spread that the mean rule ignores, E[relu(u)] > relu(E[u]).
    relu_gauss = DropConnect(5, rate=0.4, activation="relu", inference="gaussian", seed=2)
    relu_mean = DropConnect(5, rate=0.4, activation="relu", seed=2)
    for layer in (relu_gauss, relu_mean):
        layer.build(x.shape)
        layer.set_weights([kernel, bias])
    gaussian, mean = (keras.ops.convert_to_numpy(layer(x)) for layer in (relu_gauss, relu_mean))
    # (Jensen; up to the Monte Carlo error of 1,000 draws.)
    assert (gaussian >= mean - 0.05).all() and gaussian.mean() > mean.mean()


def test_drop_connect_trains_serializes_and_reloads(tmp_path):
    inputs = keras.Input((12,))
    outputs = DropConnect(
        3, rate=0.5, activation="softmax", inference="gaussian", seed=4, name="dc"
    )(inputs)
    model = keras.Model(inputs, outputs)
    model.compile(keras.optimizers.Adam(0.05), "sparse_categorical_crossentropy")
    x = np.random.default_rng(0).normal(size=(64, 12)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    before = model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=10, batch_size=16, verbose=0)
    assert model.evaluate(x, y, verbose=0) < 0.8 * before
    model.save(tmp_path / "m.keras")
    again = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    layer = again.get_layer("dc")
    assert (layer.units, layer.rate, layer.inference, layer.seed) == (3, 0.5, "gaussian", 4)
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"units": 0}, "units must be a positive integer"),
        ({"units": 4, "rate": 1.0}, r"rate must be in \[0, 1\)"),
        ({"units": 4, "inference": "median"}, "inference must be one of mean, gaussian"),
    ],
)
def test_drop_connect_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DropConnect(**kwargs)


def test_the_books_net_with_drop_connect_keeps_its_parameters_and_trains():
    import kerascnn

    model = kerascnn.create_model("deep_mnist_cnn", drop_connect=True)
    assert model.count_params() == 123_552
    assert [type(model.get_layer(n)).__name__ for n in ("fc1", "fc2")] == ["DropConnect"] * 2
    assert not [layer for layer in model.layers if "dropout" in layer.name]
    model.compile("adam", "sparse_categorical_crossentropy")
    x = np.random.default_rng(0).uniform(0, 1, size=(8, 28, 28, 1)).astype("float32")
    model.fit(x, np.arange(8) % 10, epochs=1, verbose=0)
    np.testing.assert_array_equal(model.predict(x, verbose=0), model.predict(x, verbose=0))


def _jitter(seed, degrees=30, shift=0.2, zoom=0.3, **fill):
    """Larger ranges than the `digits` preset, so a wrongly composed warp shows by pixels."""
    return [
        keras.layers.RandomRotation(degrees / 360, fill_mode="constant", seed=seed, **fill),
        keras.layers.RandomTranslation(shift, shift, fill_mode="constant", seed=seed + 1, **fill),
        keras.layers.RandomZoom(zoom, fill_mode="constant", seed=seed + 2, **fill),
    ]


def _blobs(count=64):
    """Smooth elongated blobs near the centre of 28x28 images, which no jitter here moves out."""
    rng = np.random.default_rng(0)
    rows, cols = np.mgrid[0:28, 0:28]
    centres = rng.uniform(12, 16, (count, 2))
    blobs = [np.exp(-((cols - x) ** 2 + ((rows - y) * 1.7) ** 2) / 8.0) for x, y in centres]
    return (255 * np.array(blobs, "float32"))[..., None]


def _centroids(images):
    rows, cols = np.mgrid[0:28, 0:28]
    mass = images[..., 0].sum((1, 2))
    return np.stack(
        [(images[..., 0] * cols).sum((1, 2)) / mass, (images[..., 0] * rows).sum((1, 2)) / mass], 1
    )


def test_composed_affine_warps_each_image_as_the_chained_layers_do():
    images = _blobs()
    chained = keras.Sequential(_jitter(3))(images, training=True)
    composed = ComposedAffine(_jitter(3))(images, training=True)
    chained, composed = (keras.ops.convert_to_numpy(x) for x in (chained, composed))
    moved = np.abs(_centroids(chained) - _centroids(images)).max(axis=1)
    assert np.median(moved) > 1.5  # the jitter moves the blobs by pixels ...
    # ... and the one warp puts them where the three layers do, with the same random draws.
    np.testing.assert_allclose(_centroids(composed), _centroids(chained), atol=0.1)
    # One resampling blurs less than three: the peaks stay higher.
    assert composed.max(axis=(1, 2, 3)).mean() > chained.max(axis=(1, 2, 3)).mean()


def test_composed_affine_passes_images_outside_training_and_takes_one_image():
    images = _blobs(2)
    warp = ComposedAffine(_jitter(0))
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(warp(images, training=False)), images)
    one = keras.ops.convert_to_numpy(warp(images[0], training=True))
    assert one.shape == images[0].shape and not np.array_equal(one, images[0])


def test_composed_affine_round_trips_its_config_with_the_same_draws():
    images = _blobs(4)
    warp = ComposedAffine(_jitter(5), name="warp")
    again = ComposedAffine.from_config(warp.get_config())
    assert again.name == "warp" and [type(t) for t in again.transforms] == [
        type(t) for t in warp.transforms
    ]
    first, second = (keras.ops.convert_to_numpy(w(images, training=True)) for w in (warp, again))
    np.testing.assert_allclose(first, second, atol=1e-4)


@pytest.mark.parametrize(
    "transforms, message",
    [
        ([], "at least one layer"),
        ([keras.layers.RandomFlip()], "not RandomFlip"),
        (
            [keras.layers.RandomZoom(0.1), keras.layers.RandomZoom(0.1, fill_mode="constant")],
            "share",
        ),
    ],
)
def test_composed_affine_rejects_what_it_cannot_compose(transforms, message):
    with pytest.raises(ValueError, match=message):
        ComposedAffine(transforms)
