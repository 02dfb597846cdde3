"""Runs that say whether they learned, and runs sized to the data they really have."""

import json

import pytest

from kerascnn import recipes


def run_lenet5(root, **overrides):
    return recipes.run(
        "lenet5",
        smoke=True,
        verbose=0,
        runs_dir=str(root / "runs"),
        export={"enabled": False},
        callbacks={"tensorboard": False},
        **overrides,
    )


def test_a_run_with_learning_rate_zero_says_it_did_not_learn(tmp_path, capsys):
    result = run_lenet5(tmp_path, optimizer={"learning_rate": 0.0})
    recorded = json.loads((result.run_dir / "metrics.json").read_text())
    assert recorded["learned"] is False
    assert "within 1.5x of chance" in recorded["learning_failure"]
    summary = result.summary()
    assert summary.startswith("lenet5: DID NOT LEARN: test accuracy")
    assert "WARNING: this run did not learn" in summary
    assert "this run did not learn" in capsys.readouterr().err


def test_a_run_that_learns_is_recorded_as_such(tmp_path):
    result = run_lenet5(tmp_path, **{"data.train_limit": 1024, "batch_size": 64})
    assert result.metrics["test_accuracy"] > 0.5
    assert result.metrics["learned"] is True and "learning_failure" not in result.metrics
    assert "DID NOT LEARN" not in result.summary()


@pytest.mark.parametrize(
    ("overrides", "epochs"),
    [
        ({}, 2),  # the recipe's fallback_epochs
        ({"epochs": 1}, 1),  # epochs asked for are what runs
        ({"epochs": 4, "fallback_epochs": 1}, 1),  # unless fallback_epochs is given too
    ],
)
def test_a_run_on_the_offline_fallback_trains_fallback_epochs(tmp_path, capsys, overrides, epochs):
    base = recipes.resolve(
        "lenet5",
        {
            "epochs": 5,
            "fallback_epochs": 2,
            "batch_size": 32,
            "data.train_limit": 64,
            "data.test_limit": 32,
        },
    )
    result = recipes.run(
        base,
        verbose=0,
        runs_dir=str(tmp_path / "runs"),
        export={"enabled": False},
        callbacks={"tensorboard": False},
        **overrides,
    )
    assert result.metrics["epochs"] == epochs
    assert result.metrics["data"]["fallback"] is True
    planned = overrides.get("epochs", 5)
    if epochs != planned:
        note = result.metrics["data"]["note"]
        assert f"trains {epochs} epoch" in note and f"instead of the {planned} planned" in note
        assert f"the {planned} planned epochs would take about" in capsys.readouterr().err
    # The record is the recipe asked for: rerunning it finds this run finished.
    recorded = json.loads((result.run_dir / "recipe.json").read_text())
    assert recorded["epochs"] == planned


def test_full_data_ignores_fallback_epochs(tmp_path):
    result = recipes.run(
        "lenet5",
        verbose=0,
        epochs=1,
        fallback_epochs=3,
        runs_dir=str(tmp_path / "runs"),
        export={"enabled": False},
        callbacks={"tensorboard": False},
        batch_size=32,
        data={"name": "mnist_sample", "train_limit": 64, "test_limit": 32},
    )
    assert result.metrics["epochs"] == 1 and result.metrics["data"]["fallback"] is False
