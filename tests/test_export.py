"""Export: a version is published only after its reloaded SavedModel agrees with the Keras model;
one that disagrees is refused and leaves nothing behind (no version, no staging folder)."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerascnn.errors import ExportError
from kerascnn.export import export_model, verify_saved_model

SAMPLE = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)


def tiny_model():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((3,))
    return keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(inputs))


def reloading_with_an_offset(monkeypatch, offset):
    """Makes every reloaded SavedModel serve its outputs plus `offset`."""
    load = tf.saved_model.load

    class Shifted:
        def __init__(self, loaded):
            self.loaded = loaded

        def serve(self, x):
            return self.loaded.serve(x) + offset

    monkeypatch.setattr(tf.saved_model, "load", lambda path: Shifted(load(path)))


def test_an_export_that_reloads_differently_is_refused_and_publishes_nothing(tmp_path, monkeypatch):
    model = tiny_model()
    first = export_model(model, tmp_path, "tiny", sample=SAMPLE, records={"a.json": {"v": 1}})
    assert first == tmp_path / "tiny" / "1" and (first / "saved_model.pb").is_file()
    kept = sorted(p.relative_to(first) for p in first.rglob("*"))

    reloading_with_an_offset(monkeypatch, 1e-3)
    with pytest.raises(
        ExportError, match=r"differs from the Keras model by 0\.001 .*nothing was published"
    ):
        export_model(model, tmp_path, "tiny", sample=SAMPLE, records={"a.json": {"v": 2}})
    # No version 2, no staging folder left, version 1 as it was.
    assert [p.name for p in (tmp_path / "tiny").iterdir()] == ["1"]
    assert sorted(p.relative_to(first) for p in first.rglob("*")) == kept
    assert json.loads((first / "a.json").read_text()) == {"v": 1}


def test_a_difference_within_the_tolerance_is_published(tmp_path, monkeypatch):
    reloading_with_an_offset(monkeypatch, 1e-7)
    path = export_model(tiny_model(), tmp_path, "tiny", sample=SAMPLE, atol=1e-5)
    assert path.name == "1"
    with pytest.raises(ExportError, match="allowed 1e-08"):
        export_model(tiny_model(), tmp_path, "tiny", sample=SAMPLE, atol=1e-8)
    assert [p.name for p in (tmp_path / "tiny").iterdir()] == ["1"]


class Captioner(tf.Module):
    """A SavedModel that writes one caption for every image, as a captioner's export does."""

    def __init__(self, caption):
        super().__init__()
        self.caption = caption

    @tf.function(input_signature=[tf.TensorSpec((None, 3), tf.float32)])
    def serve(self, images):
        return tf.fill([tf.shape(images)[0]], self.caption)


class Captions:
    """A model whose `predict` writes `caption` for every input."""

    def __init__(self, caption):
        self.caption = caption

    def predict(self, x, verbose=0):
        return np.array([self.caption.encode()] * len(x), dtype=object)


def test_a_saved_model_that_writes_other_text_is_refused(tmp_path):
    tf.saved_model.save(Captioner("a dog runs"), str(tmp_path))
    verify_saved_model(Captions("a dog runs"), tmp_path, SAMPLE, atol=0.0)
    with pytest.raises(ExportError, match="writes other text .*a dog runs.*a cat sits"):
        verify_saved_model(Captions("a cat sits"), tmp_path, SAMPLE, atol=1.0)
