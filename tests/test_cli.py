"""The command line: list, show and run through real subprocesses; bad input gives one line and exit 2."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from kerascnn.cli import main

REPO = Path(__file__).resolve().parents[1]


def kerascnn(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "kerascnn", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "KERASCNN_OFFLINE": "1"},
    )


def test_list(tmp_path):
    done = kerascnn("list", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert any(line.split()[:2] == ["recipe", "deep_mnist"] for line in lines)
    assert any(line.split()[:2] == ["model", "deep_mnist_cnn"] for line in lines)
    assert done.stderr == ""


def test_show_resolves_overrides(tmp_path):
    done = kerascnn(
        "show", "deep_mnist", "--epochs", "3", "--set", "optimizer.learning_rate=3e-4", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    assert shown["epochs"] == 3 and shown["optimizer"]["learning_rate"] == 3e-4
    assert shown["batch_size"] == 100


def test_run_smoke_end_to_end(tmp_path):
    done = kerascnn("run", "deep_mnist", "--smoke", "--epochs", "1", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "test accuracy" in done.stdout and "saved_models/deep_mnist/1" in done.stdout
    assert "Using the bundled MNIST sample" in done.stderr
    # Progress in a log (not a terminal): one line per data preparation, epoch and evaluation.
    lines = done.stdout.splitlines()
    prepared = lines.index("preparing 256 training images")
    assert re.match(r"256/256 - \d+s - .*/image", lines[prepared + 1])
    assert "preparing 64 test images" in lines
    assert any(re.match(r"8/8 - \d+s - .*val_accuracy", line) for line in lines)  # the epoch
    assert any(re.match(r"2/2 - \d+s - .*accuracy", line) for line in lines)  # evaluation
    (run_dir,) = (tmp_path / "runs" / "deep_mnist").iterdir()
    assert (run_dir / "recipe.json").exists() and (
        tmp_path / "saved_models/deep_mnist/1/saved_model.pb"
    ).exists()


def test_bad_input_through_a_subprocess_is_one_line(tmp_path):
    done = kerascnn("run", "deep_mnst", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "kerascnn: error: unknown recipe 'deep_mnst'; did you mean 'deep_mnist'? "
        "(run 'kerascnn list' to see them all)"
    ]
    assert list(tmp_path.iterdir()) == []


def test_run_recipe_file_by_path(in_tmp, capsys):
    path = in_tmp / "mine.py"
    path.write_text(
        "import dataclasses\nfrom kerascnn import recipes\n\n"
        "def recipe():\n    return dataclasses.replace(recipes.get('deep_mnist'), name='mine')\n"
    )
    assert main(["run", str(path), "--smoke", "--no-export", "--verbose", "0"]) == 0
    (run_dir,) = (in_tmp / "runs" / "mine").iterdir()
    assert not (in_tmp / "saved_models").exists()
    capsys.readouterr()
    assert main(["show", str(run_dir / "recipe.json")]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["name"] == "mine" and shown["epochs"] == 1 and shown["export"]["enabled"] is False


BAD_INPUTS = [
    (["run", "deep_mnst"], "unknown recipe 'deep_mnst'; did you mean 'deep_mnist'"),
    (["run", "deep_mnist", "--set", "model.name=deep_cnn"], "unknown model 'deep_cnn'"),
    (
        ["run", "deep_mnist", "--dataset", "mnistt"],
        "unknown dataset 'mnistt'; did you mean 'mnist'",
    ),
    (["run", "deep_mnist", "--augmentation", "digit"], "did you mean 'digits'"),
    (
        ["run", "deep_mnist", "--set", "epoch=3"],
        "unknown recipe key 'epoch'; did you mean 'epochs'",
    ),
    (
        ["run", "deep_mnist", "--set", "optimizer.learning_rate=fast"],
        "optimizer.learning_rate expects float",
    ),
    (["run", "deep_mnist", "--epochs", "0"], "epochs must be at least 1, got 0"),
    (["run", "deep_mnist", "--batch-size", "0"], "batch_size must be at least 1"),
    (["run", "deep_mnist", "--learning-rate", "-1"], "optimizer.learning_rate must be positive"),
    (["run", "deep_mnist", "--epochs", "two"], "argument --epochs: invalid int value"),
    (["run", "deep_mnist", "--set", "epochs"], "--set expects KEY=VALUE"),
    (
        ["run", "deep_mnist", "--set", "model.args.dropout=1.5"],
        "dropout must be a number in [0, 1)",
    ),
    (["run", "nothere.py"], "recipe file nothere.py does not exist"),
    (["run", "deep_mnist", "--data-dir", "DATA"], "is missing t10k-labels-idx1-ubyte.gz;"),
    (["run", "deep_mnist", "--data-dir", "nowhere"], "data directory nowhere does not exist"),
    (["run", "deep_mnist", "--precision", "float16"], "precision expects one of"),
    (
        ["run", "deep_mnist", "--set", "model.name=dcgan_discriminator"],
        "not a model a recipe trains",
    ),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
]


@pytest.mark.parametrize("argv,message", BAD_INPUTS, ids=[" ".join(a) for a, _ in BAD_INPUTS])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(in_tmp, capsys, argv, message):
    data = in_tmp / "DATA"
    data.mkdir()
    for name in (
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
    ):
        (data / name).write_bytes(b"")
    assert exit_code(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("kerascnn: error: ") and message in err[0], err
    assert sorted(p.name for p in in_tmp.iterdir()) == ["DATA"], "bad input must write nothing"


def exit_code(argv):
    """main's return value, or the code argparse exits with."""
    try:
        return main(argv)
    except SystemExit as stop:
        return stop.code
