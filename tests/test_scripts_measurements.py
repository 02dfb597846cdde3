"""scripts/reproduce.py and scripts/measurements.py: figures over seeds, recorded as they finish."""

import contextlib
import io
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from script_loader import SCRIPTS, load_script

from kerascnn.data.idx import find_split_files, read_split, write_idx
from kerascnn.data.sources import BUNDLED_DIR


def write_digits(folder: Path, per_class: dict) -> Path:
    """An MNIST-format folder of the bundled sample's first `per_class[split]` digits per class."""
    files = find_split_files(BUNDLED_DIR)
    for split, stem in (("train", "train"), ("test", "t10k")):
        images, labels = read_split(*files[split])
        chosen = np.concatenate(
            [np.flatnonzero(labels == digit)[: per_class[split]] for digit in range(10)]
        )
        write_idx(folder / f"{stem}-images-idx3-ubyte.gz", images[chosen, :, :, 0])
        write_idx(folder / f"{stem}-labels-idx1-ubyte.gz", labels[chosen].astype(np.uint8))
    return folder


class Done:
    """What a finished command left: its exit code and output."""

    def __init__(self, returncode: int, stdout: str, stderr: str):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def reproduce(cwd: Path, *args: str) -> Done:
    """scripts/reproduce.py's main() with `args`, in `cwd`, in this process (a subprocess would
    import TensorFlow again for each call)."""
    script = load_script("reproduce")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(cwd)
        patch.setattr(sys, "argv", [str(SCRIPTS / "reproduce.py"), *args])
        patch.syspath_prepend(str(SCRIPTS))
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = script.main()
    return Done(code, out.getvalue(), err.getvalue())


@pytest.mark.slow  # three trainings
def test_reproduce_records_each_seed_and_merges(tmp_path):
    data = tmp_path / "digits"
    data.mkdir()
    write_digits(data, {"train": 20, "test": 10})
    out = tmp_path / "measurements" / "reproduce.json"
    out.parent.mkdir()
    out.write_text(json.dumps({"lenet5": {"0": {"test_accuracy": 0.99}}}))
    # One epoch of 200 digits, without the files a run writes besides its model and metrics.
    quick = ("epochs=1", "export.enabled=false", "callbacks.tensorboard=false")
    quick += ("callbacks.checkpoint=false", "callbacks.inspect_examples=0")
    tiny = [*(f"--set={setting}" for setting in quick), "--out", str(out)]
    args = ["deep_mnist", "--data-dir", str(data), *tiny]

    first = reproduce(tmp_path, *args, "--seeds", "0", "1")
    # A few hundred digits cannot reach the book's 99.38 %: the mean misses the target.
    assert first.returncode == 1, first.stderr[-3000:]
    summary = next(line for line in first.stdout.splitlines() if line.startswith("RESULT"))
    assert "± " in summary and "mean ± sample std of 2 seeds: 0 1" in summary, summary
    assert "target 99.38%" in first.stdout
    assert "above our max (" in first.stdout
    recorded = json.loads(out.read_text())
    assert recorded["lenet5"] == {"0": {"test_accuracy": 0.99}}
    assert sorted(recorded["deep_mnist"]) == ["0", "1"]
    for seed, row in recorded["deep_mnist"].items():
        assert row["seed"] == int(seed) and 0 <= row["test_accuracy"] <= 1
        assert row["epochs"] == 1 and row["num_train"] == 200 and row["num_test"] == 100
        assert row["overrides"] == dict(setting.split("=") for setting in quick)
        assert row["precision"] == "float32" and row["train_seconds"] > 0
        assert row["command_seconds"] >= row["run_seconds"] >= row["train_seconds"]
        assert {"commit", "uncommitted_changes", "onednn", "date", "machine"} <= set(row)

    second = reproduce(tmp_path, *args, "--seeds", "2")
    assert second.returncode == 1, second.stderr[-3000:]
    assert "no spread" in second.stdout
    merged = json.loads(out.read_text())
    assert (
        sorted(merged["deep_mnist"]) == ["0", "1", "2"] and merged["lenet5"] == recorded["lenet5"]
    )
    assert merged["deep_mnist"]["0"] == recorded["deep_mnist"]["0"]


def test_a_seed_given_twice_is_refused(tmp_path):
    done = reproduce(tmp_path, "deep_mnist", "--seeds", "1", "--set", "seed=2")
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "reproduce.py: error: give the seeds with --seeds or with --set seed=S, not both"
    )
    assert not list(tmp_path.iterdir())


def test_merge_keeps_other_entries_and_returns_what_it_replaced(tmp_path):
    measurements = load_script("measurements")
    path = tmp_path / "m.json"
    assert measurements.merge(path, ["a", "0"], {"x": 1}) is None
    assert measurements.merge(path, ["a", "1"], {"x": 2}) is None
    assert measurements.merge(path, ["b"], {"x": 3}) is None
    assert measurements.merge(path, ["a", "0"], {"x": 4}) == {"x": 1}
    assert json.loads(path.read_text()) == {"a": {"0": {"x": 4}, "1": {"x": 2}}, "b": {"x": 3}}
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]


def test_where_a_published_figure_falls_in_our_spread():
    placement = load_script("reproduce").placement
    assert placement(0.9938, [0.991, 0.992, 0.993], "{:.2%}").startswith("above our max")
    assert placement(0.9915, [0.991, 0.992, 0.993], "{:.2%}").startswith("within our range")
    assert placement(0.98, [0.991, 0.992, 0.993], "{:.2%}").startswith("below our min")
    assert "-12.0 sample std" in placement(0.98, [0.991, 0.992, 0.993], "{:.2%}")
