"""Safety: user input never reaches eval or pickle, and damaged files of every kind kerascnn reads
end in its own one-line errors, never in another exception (property-based, with hypothesis)."""

import dataclasses
import gzip
import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kerascnn import recipes, runs
from kerascnn.data.idx import read_idx, write_idx
from kerascnn.data.sources import BUNDLED_DIR
from kerascnn.errors import DataError, KerasCNNError, RecipeError
from kerascnn.recipes import Recipe, apply_overrides, parse_assignments

FAST = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _keys(cls=Recipe, prefix=""):
    for field in dataclasses.fields(cls):
        if dataclasses.is_dataclass(field.default):
            yield from _keys(type(field.default), f"{prefix}{field.name}.")
        else:
            yield prefix + field.name


KEYS = sorted(_keys()) + ["epoch", "optimizer.lr", "model.args.dropout", "data.name.x"]


@FAST
@given(key=st.sampled_from(KEYS), text=st.text(max_size=40))
def test_any_text_override_is_a_recipe_or_a_recipe_error(key, text):
    recipe = recipes.get("deep_mnist")
    try:
        changed = apply_overrides(recipe, {key: text}, from_text=True)
    except RecipeError as error:
        assert "\n" not in str(error)
    else:
        assert isinstance(changed, Recipe)


@FAST
@given(items=st.lists(st.text(max_size=30), max_size=4))
def test_any_assignment_list_parses_or_is_refused(items):
    try:
        parsed = parse_assignments(items)
    except RecipeError:
        return
    assert all("=" in item for item in items) and len(parsed) <= len(items)


def test_overrides_are_literals_never_evaluated(tmp_path):
    marker = tmp_path / "evaluated"
    code = f"__import__('pathlib').Path({str(marker)!r}).write_text('x')"
    recipe = recipes.get("deep_mnist")
    with pytest.raises(RecipeError):
        apply_overrides(recipe, {"epochs": code}, from_text=True)
    changed = apply_overrides(recipe, {"model.args.note": code}, from_text=True)
    assert changed.model.args["note"] == code and not marker.exists()


@FAST
@given(data=st.binary(max_size=300), compress=st.booleans())
def test_random_bytes_as_an_idx_file_are_a_data_error(tmp_path_factory, data, compress):
    path = tmp_path_factory.mktemp("idx") / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(data) if compress else data)
    try:
        array = read_idx(path)
    except DataError as error:
        assert "\n" not in str(error)
    else:
        assert isinstance(array, np.ndarray)


VALID_IDX = (BUNDLED_DIR / "t10k-labels-idx1-ubyte.gz").read_bytes()


@FAST
@given(cut=st.integers(min_value=0, max_value=len(gzip.decompress(VALID_IDX)) - 1))
def test_every_truncation_of_a_real_idx_file_is_a_data_error(tmp_path_factory, cut):
    path = tmp_path_factory.mktemp("idx") / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(gzip.decompress(VALID_IDX)[:cut]))
    with pytest.raises(DataError, match="truncated|not an IDX file"):
        read_idx(path)


def test_write_idx_round_trips(tmp_path):
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / "a-idx3-ubyte", array)
    np.testing.assert_array_equal(read_idx(tmp_path / "a-idx3-ubyte"), array)


@FAST
@given(data=st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_random_bytes_as_a_recipe_record_are_a_recipe_error(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("recipe") / "recipe.json"
    path.write_bytes(data)
    try:
        recipe = recipes.load_file(path)
    except RecipeError as error:
        assert "\n" not in str(error)
    else:
        assert isinstance(recipe, Recipe)


@given(
    record=st.dictionaries(
        st.sampled_from(KEYS), st.none() | st.integers() | st.floats() | st.text(max_size=8)
    )
)
@settings(max_examples=200, deadline=None)
def test_json_records_with_random_fields_are_a_recipe_or_a_recipe_error(record):
    try:
        recipe = recipes.from_dict({"name": "x", **record})
    except RecipeError as error:
        assert "\n" not in str(error)
    else:
        # Every field the record sets is the recipe's value (read back through `to_dict`).
        assert isinstance(recipe, Recipe) and recipe.name == "x"
        saved = recipes.to_dict(recipe)
        for key, value in record.items():
            read = saved
            for part in key.split("."):
                read = read[part]
            assert read == value or (read != read and value != value), (key, value, read)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(max_size=2000))
def test_random_bytes_as_a_keras_file_are_a_recipe_error(tmp_path_factory, data):
    from kerascnn.training.transfer import load_source

    path = tmp_path_factory.mktemp("model") / "model.keras"
    path.write_bytes(data)
    with pytest.raises(RecipeError, match="cannot be loaded as a Keras model"):
        load_source(str(path))


def test_a_damaged_checkpoint_is_one_clear_error(tmp_path):
    import keras

    from kerascnn.training import resume

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.compile("adam", "mse")
    resume.save(model, tmp_path, resume.Progress(epoch=1))
    checkpoint = tmp_path / runs.CHECKPOINT / "model.keras"
    checkpoint.write_bytes(checkpoint.read_bytes()[:300])
    with pytest.raises(KerasCNNError, match="cannot be loaded .*--fresh"):
        resume.restore(model, tmp_path)
    (tmp_path / runs.CHECKPOINT / "progress.json").write_text(json.dumps({"epoch": "x", "odd": 1}))
    with pytest.raises(KerasCNNError, match="damaged .*--fresh"):
        resume.restore(model, tmp_path)


def test_a_run_on_local_data_opens_no_network_connection(in_tmp, monkeypatch):
    import socket

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access: {args}")

    monkeypatch.delenv("KERASCNN_OFFLINE", raising=False)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    result = recipes.run(
        "deep_mnist",
        smoke=True,
        verbose=0,
        export={"enabled": False},
        **{"data.data_dir": str(BUNDLED_DIR)},
    )
    assert result.metrics["epochs"] == 1
