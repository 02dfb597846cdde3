"""Ensembles: members trained as runs of their own (reused once finished), their probabilities
averaged in one model that is evaluated and exported as one SavedModel."""

import json
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from kerascnn import recipes
from kerascnn.errors import RecipeError
from kerascnn.recipes.library.mnist_ensemble import MEMBER_SMOKE

# An ensemble passes no callbacks settings on (they would be refused): its members get them.
SETTINGS = {
    "members": [
        {"recipe": "mnist_best", "seed": seed, **MEMBER_SMOKE, "callbacks.tensorboard": False}
        for seed in range(2)
    ]
}


@pytest.mark.slow  # two members trained, an ensemble exported, then reused
def test_an_ensemble_averages_its_members_and_exports_one_model(in_tmp, capsys):
    result = recipes.run("mnist_ensemble", smoke=True, verbose=0, **SETTINGS)
    members = result.metrics["members"]
    assert len(members) == 2 and all(m["recipe"] == "mnist_best" for m in members)
    assert members[0]["run_dir"] != members[1]["run_dir"]
    # The export serves the mean of the members' probabilities.
    sample = np.random.default_rng(0).uniform(0, 255, (4, 28, 28, 1)).astype(np.float32)
    exported = tf.saved_model.load(str(result.export_dir))
    served = exported.serve(tf.constant(sample)).numpy()
    by_member = [
        layer.predict(sample, verbose=0)
        for layer in result.model.layers
        if layer.name.startswith("member_")
    ]
    assert len(by_member) == 2
    np.testing.assert_allclose(served, np.mean(by_member, axis=0), atol=1e-5)
    np.testing.assert_allclose(served.sum(axis=1), 1.0, atol=1e-5)
    record = json.loads((result.export_dir / "metrics.json").read_text())
    assert record["test_accuracy"] == pytest.approx(result.metrics["test_accuracy"])

    # Another ensemble of the same members (here: another evaluation batch size) reuses them.
    capsys.readouterr()
    again = recipes.run("mnist_ensemble", smoke=True, verbose=0, batch_size=100, **SETTINGS)
    assert capsys.readouterr().out.count("reusing") == 2
    assert again.metrics["test_accuracy"] == pytest.approx(result.metrics["test_accuracy"])
    # Its training time is its members' (reused or not), not the seconds it took to load them.
    member_seconds = [
        json.loads((Path(m["run_dir"]) / "metrics.json").read_text())["train_seconds"]
        for m in members
    ]
    assert again.metrics["train_seconds"] == pytest.approx(sum(member_seconds))


def test_a_member_without_a_recipe_name_is_one_clear_line(in_tmp):
    with pytest.raises(RecipeError, match="needs a 'recipe' key"):
        recipes.run("mnist_ensemble", smoke=True, verbose=0, members=({"seed": 1},))
    with pytest.raises(RecipeError, match="is not a classifier"):
        recipes.run("mnist_ensemble", smoke=True, verbose=0, members=({"recipe": "dcgan"},))


def test_an_unwritable_export_folder_is_refused_before_any_member_trains(in_tmp):
    from kerascnn.errors import KerasCNNError

    (in_tmp / "file").write_text("")
    with pytest.raises(KerasCNNError, match="is a file, not a folder; choose another --export-dir"):
        recipes.run("mnist_ensemble", smoke=True, verbose=0, export={"directory": "file/x"})
    assert sorted(p.name for p in in_tmp.iterdir()) == ["file"]  # no member run was started
