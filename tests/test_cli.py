"""The command line: bad input gives one line and exit 2. Most tests call `main` in this process (each
subprocess imports TensorFlow again, seconds of CPU); a few run the real entry point end to end."""

import gzip
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from kerascnn.cli import main
from kerascnn.data.sources import BUNDLED_DIR

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


@pytest.mark.slow  # a fresh process
def test_output_into_a_closed_pipe_ends_quietly(tmp_path):
    """`kerascnn show vgg16 | head -3`: the reader has gone; no traceback, as git and ls do."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # every write now fails with EPIPE
    try:
        done = subprocess.run(
            [sys.executable, "-m", "kerascnn", "show", "vgg16"],
            cwd=tmp_path,
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=600,
            env={**os.environ, "KERASCNN_OFFLINE": "1"},
        )
    finally:
        os.close(write_end)
    assert done.returncode == 141, done.stderr
    assert "Traceback" not in done.stderr and "Error" not in done.stderr, done.stderr


def test_list(in_tmp, capfd):
    assert main(["list"]) == 0
    done = capfd.readouterr()
    lines = done.out.splitlines()
    assert any(line.split()[:2] == ["recipe", "deep_mnist"] for line in lines)
    assert any(line.split()[:2] == ["model", "deep_mnist_cnn"] for line in lines)
    assert done.err == ""


def test_show_resolves_overrides(in_tmp, capfd):
    argv = ["show", "deep_mnist", "--epochs", "3", "--set", "optimizer.learning_rate=3e-4"]
    assert main(argv) == 0
    shown = json.loads(capfd.readouterr().out)
    assert shown["epochs"] == 3 and shown["optimizer"]["learning_rate"] == 3e-4
    assert shown["batch_size"] == 100


@pytest.mark.slow  # a fresh process; in process: test_run_recipe_file_by_path
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


@pytest.mark.slow  # a fresh process; in process: test_bad_input_is_one_line_exit_2_and_writes_nothing
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
    (["run", "deep_mnist", "--learning-rate", "-1"], "optimizer.learning_rate must be "),
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
    (
        ["run", "deep_mnist", "--dataset", "mnist_sample", "--set", "data.image_shape=(2,2,1)"],
        "input 2x2 is too small, the network needs at least 4x4 pixels",
    ),
    (
        ["run", "deep_mnist", "--dataset", "mnist_sample", "--set", "data.image_shape=(28,28,2)"],
        "cannot adapt 1-channel images to 2 channels",
    ),
    (["run", "deep_mnist", "--set", "model.args.classes=5"], "is set by the run from the data"),
    (
        ["run", "deep_mnist", "--dataset", "mnist_sample", "--set", "data.classes=(8,9,10)"],
        "names a label the dataset does not have (its labels are 0-9)",
    ),
    (["run", "deep_mnist", "--set", "data.classes=(1,)"], "at least two distinct labels"),
    (["run", "deep_mnist", "--data-dir", "TRUNC"], "the file is truncated or corrupt, replace it"),
    (["run", "deep_mnist", "--data-dir", "BADMAGIC"], "is not an IDX file (bad magic number"),
    (
        ["run", "deep_mnist", "--dataset", "mnist_sample", "--runs-dir", "DATA/empty.txt/runs"],
        "is a file, not a folder; choose another --runs-dir",
    ),
    (
        ["run", "deep_mnist", "--dataset", "mnist_sample", "--export-dir", "DATA/empty.txt/x"],
        "is a file, not a folder; choose another --export-dir",
    ),
    (["run", "deep_mnist", "--init-from", "nowhere"], "holds no model (looked for"),
    (["run", "dcgan", "--set", "optimizer.schedule=plateau"], "'dcgan' is not one"),
    (["run", "captioning", "--set", "label_smoothing=0.1"], "is neither"),
    (["run", "deep_mnist", "--set", "optimizer.warmup_epochs=1"], "needs optimizer.schedule="),
    (["run", "mnist_ensemble", "--set", "members=({'seed':1},)"], "needs a 'recipe' key"),
    (["run", "deep_mnist", "--set", "callbacks.checkpoint_every=0"], "must be at least 1, got 0"),
    (["sample", "nowhere"], "nowhere holds no trained model"),
    (["report", "nowhere"], "nowhere is not a run directory"),
    # Issue 22: a flag or setting the resolved recipe would not read is refused, not ignored.
    (["run", "mnist_ensemble", "--epochs", "2"], "epochs is not used by the ensemble"),
    (["run", "mnist_ensemble", "--learning-rate", "0.1"], "passes on only data, runs_dir"),
    (["run", "mnist_ensemble", "--init-from", "nowhere"], "transfer.init_from is not used by"),
    (["run", "dcgan", "--init-from", "nowhere"], "transfer.init_from is for classifiers"),
    (["run", "captioning", "--augmentation", "cifar"], "would make captions wrong"),
    (["run", "captioning", "--data-dir", "DATA"], "holds no Flickr8k.token.txt or captions.txt"),
    (["run", "captioning", "--dataset", "scenes", "--data-dir", "DATA"], "'scenes' reads no fo"),
    (["run", "captioning", "--dataset", "mnist"], "captioning needs captioned images"),
    (["run", "deep_mnist", "--dataset", "coco_captions"], "is captioned images, for captioning"),
    (["run", "deep_mnist", "--set", "callbacks.sample_grid=16"], "is for GANs and captioners"),
    (["run", "dcgan", "--set", "callbacks.inspect_examples=10"], "is for classifiers"),
    (
        ["run", "deep_mnist", "--dataset", "mnist_sample", "--data-dir", "DATA"],
        "data.data_dir is not read: data.name 'mnist_sample' is the bundled sample",
    ),
    (
        ["run", "deep_mnist", "--data-dir", "DATA", "--set", "data.tfds_data_dir=DATA"],
        "data.tfds_data_dir is not read: the folder DATA is read instead of tfds",
    ),
    (["run", "deep_mnist", "--set", "data.holdout_fraction=0.2"], "data.validation='holdout'"),
    (["run", "deep_mnist", "--no-export", "--export-dir", "x"], "export.directory is not used"),
    (["run", "deep_mnist", "--set", "optimizer.momentum=0.9"], "is for sgd and rmsprop"),
    # Issue 22: bad requests that used to end in a traceback or train without a word.
    (["run", "DATA/syntax.py"], "recipe file DATA/syntax.py has a syntax error at line 1"),
    (["run", "DATA/raises.py"], "recipe() in DATA/raises.py failed at line 2: KeyError"),
    (["run", "deep_mnist", "--set", "seed=-1"], "seed must be from 0 to 4294967295"),
    (["run", "deep_mnist", "--seed", "4294967296"], "seed must be from 0 to 4294967295"),
    (["run", "deep_mnist", "--set", "optimizer.learning_rate=1e999"], "must be a finite number"),
    (["run", "deep_mnist", "--set", "epochs=10**400"], "epochs expects int"),
    (["run", "deep_mnist", "--runs-dir", ""], "runs_dir must be a non-empty path"),
    (
        ["run", "deep_mnist", "--dataset", "mnist_sample", "--batch-size", "100000000"],
        "batch_size 100000000 is larger than the training set, 6000 images",
    ),
]


@pytest.fixture(scope="module")
def damaged_idx_folders(tmp_path_factory):
    """Made once for the module (recompressing the sample takes seconds): TRUNC and BADMAGIC."""
    root = tmp_path_factory.mktemp("damaged")
    write_damaged_idx_folders(root)
    return root


@pytest.mark.parametrize("argv,message", BAD_INPUTS, ids=[" ".join(a) for a, _ in BAD_INPUTS])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(
    in_tmp, capsys, damaged_idx_folders, argv, message
):
    data = in_tmp / "DATA"
    data.mkdir()
    for name in (
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        "empty.txt",
    ):
        (data / name).write_bytes(b"")
    (data / "syntax.py").write_text("def recipe(:\n")
    (data / "raises.py").write_text("def recipe():\n    return {}['missing']\n")
    for folder in ("TRUNC", "BADMAGIC"):
        (in_tmp / folder).symlink_to(damaged_idx_folders / folder, target_is_directory=True)
    assert exit_code(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("kerascnn: error: ") and message in err[0], err
    assert sorted(p.name for p in in_tmp.iterdir()) == ["BADMAGIC", "DATA", "TRUNC"], (
        "bad input must write nothing"
    )


def write_damaged_idx_folders(root):
    """TRUNC: the bundled sample cut in half; BADMAGIC: its training images with a wrong magic."""
    for folder in ("TRUNC", "BADMAGIC"):
        (root / folder).mkdir()
    for path in BUNDLED_DIR.glob("*.gz"):
        raw = gzip.decompress(path.read_bytes())
        (root / "TRUNC" / path.name).write_bytes(gzip.compress(raw[: len(raw) // 2]))
        bad = b"\x12\x34" + raw[2:] if "train-images" in path.name else raw
        (root / "BADMAGIC" / path.name).write_bytes(gzip.compress(bad))


def test_a_full_disk_is_refused_before_training(in_tmp, capsys, monkeypatch):
    import shutil

    usage = shutil.disk_usage(in_tmp)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage._replace(free=10 * 2**20))
    assert exit_code(["run", "deep_mnist", "--dataset", "mnist_sample"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "has 10 MB free, but this run needs about" in err[0], err
    assert "choose another --runs-dir" in err[0]
    assert not list(in_tmp.iterdir())


def exit_code(argv):
    """main's return value, or the code argparse exits with."""
    try:
        return main(argv)
    except SystemExit as stop:
        return stop.code
