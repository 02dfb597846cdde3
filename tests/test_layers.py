import keras
import numpy as np
import pytest

from kerascnn.layers import ClassicDropout


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
