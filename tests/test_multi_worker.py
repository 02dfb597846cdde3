"""Multi-worker training: two worker processes on 127.0.0.1 (TF_CONFIG, their own ports) train what
one process trains with the same global batch, only the chief writes runs and exports, and a
cluster killed mid-run resumes from its checkpoints."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kerascnn.errors import KerasCNNError
from kerascnn.recipes import resolve
from kerascnn.training import cluster

# Dropout off: each replica would draw its own masks. 8 steps per epoch, a checkpoint per epoch;
# two epochs, as summing gradients in another order makes differences of 1e-7 that training grows.
RUN = [
    "deep_mnist",
    "--smoke",
    "--epochs",
    "2",
    "--set",
    "model.args.dropout=0.0",
    "--verbose",
    "0",
]


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def start(cwd: Path, env_extra: dict, args=RUN):
    cwd.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [sys.executable, "-m", "kerascnn", "run", *args],
        cwd=cwd,
        env={**os.environ, "KERASCNN_OFFLINE": "1", "PYTHONHASHSEED": "0", **env_extra},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def start_cluster(tmp_path: Path, ports, args=RUN):
    workers = [f"127.0.0.1:{port}" for port in ports]
    return [
        start(
            tmp_path / f"worker{index}",
            {
                "TF_CONFIG": json.dumps(
                    {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
                ),
                # Each worker's scratch folder (tempfile.gettempdir()), as on its own machine.
                "TMPDIR": str((tmp_path / f"scratch{index}").resolve()),
            },
            [*args, "--strategy", "multi_worker"],
        )
        for index in range(len(ports))
    ]


def finish(processes):
    outputs = [process.communicate(timeout=600) for process in processes]
    for process, (_, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, err[-3000:]
    return outputs


def epochs_saved(folder: Path) -> int:
    try:
        saved = sorted(folder.glob("**/runs/deep_mnist/*/checkpoints/last/progress.json"))
        return json.loads(saved[-1].read_text())["epoch"] if saved else 0
    # Being replaced, or a worker's temporary folder removed while the glob walks it.
    except (ValueError, FileNotFoundError):
        return 0


def history(folder: Path):
    (path,) = folder.glob("runs/deep_mnist/*/history.csv")
    rows = path.read_text().splitlines()
    keys = rows[0].split(",")
    return [dict(zip(keys, map(float, row.split(",")), strict=True)) for row in rows[1:]]


@pytest.mark.slow  # three worker processes, a kill and a resume: minutes
def test_two_workers_train_like_one_process_and_resume_after_a_kill(tmp_path):
    (tmp_path / "scratch0").mkdir()
    (tmp_path / "scratch1").mkdir()
    single = start(tmp_path / "single", {})
    finish([single])

    ports = free_ports(2)
    workers = start_cluster(tmp_path, ports)
    deadline = time.monotonic() + 300
    # Both have the checkpoint of epoch 1 and train epoch 2: kill both before the next one.
    while min(epochs_saved(tmp_path / "worker0"), epochs_saved(tmp_path / "scratch1")) < 1:
        assert all(w.poll() is None for w in workers), workers[0].communicate()[1][-3000:]
        assert time.monotonic() < deadline, "no checkpoint within 300 s"
        time.sleep(0.02)
    for worker in workers:
        os.kill(worker.pid, signal.SIGKILL)
        worker.communicate()
    assert epochs_saved(tmp_path / "worker0") == epochs_saved(tmp_path / "scratch1") == 1

    outputs = finish(start_cluster(tmp_path, free_ports(2)))
    for out, _ in outputs:
        assert "resuming" in out and "at epoch 2/2" in out
    assert "this worker's copies (scratch)" in outputs[1][0]
    assert "this worker's copies" not in outputs[0][0]

    expected, got = history(tmp_path / "single"), history(tmp_path / "worker0")
    assert len(expected) == len(got) == 2
    for want, have in zip(expected, got, strict=True):
        for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
            assert have[key] == pytest.approx(want[key], abs=1e-5), (key, want, have)
    (single_metrics,) = (tmp_path / "single").glob("runs/deep_mnist/*/metrics.json")
    (chief_metrics,) = (tmp_path / "worker0").glob("runs/deep_mnist/*/metrics.json")
    chief = json.loads(chief_metrics.read_text())
    assert chief["replicas"] == 2 and chief["strategy"] == "multi_worker"
    assert chief["test_accuracy"] == pytest.approx(
        json.loads(single_metrics.read_text())["test_accuracy"], abs=1e-6
    )
    # The chief alone writes logs and exports; the other worker only its scratch folder.
    (run_dir,) = (tmp_path / "worker0" / "runs" / "deep_mnist").iterdir()
    assert list((run_dir / "tensorboard").rglob("events.out.tfevents.*"))
    assert (tmp_path / "worker0" / "saved_models" / "deep_mnist" / "1" / "saved_model.pb").is_file()
    assert not any((tmp_path / "worker1").iterdir())
    scratch = tmp_path / "scratch1" / "kerascnn-worker-1"
    assert list(scratch.glob("runs/deep_mnist/*/checkpoints/last/model.keras"))


@pytest.mark.parametrize(
    "tf_config, message",
    [
        (None, "strategy 'multi_worker' needs TF_CONFIG"),
        ("{not json", "TF_CONFIG is not valid JSON"),
    ],
)
@pytest.mark.slow  # a fresh process per case
def test_multi_worker_without_a_cluster_is_a_one_line_error(tf_config, message, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    if tf_config is not None:
        env["TF_CONFIG"] = tf_config
    done = subprocess.run(
        [sys.executable, "-m", "kerascnn", "run", *RUN, "--strategy", "multi_worker"],
        cwd=tmp_path, env={**env, "KERASCNN_OFFLINE": "1"}, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()[-1:]
    assert line.startswith(f"kerascnn: error: {message}") and "Traceback" not in done.stderr
    assert not (tmp_path / "runs").exists() and not (tmp_path / "saved_models").exists()


def test_multi_worker_after_tensorflow_started_says_to_use_a_fresh_process(monkeypatch):
    import tensorflow as tf

    port = free_ports(1)[0]
    config = {"cluster": {"worker": [f"127.0.0.1:{port}"]}, "task": {"type": "worker", "index": 0}}
    monkeypatch.setenv("TF_CONFIG", json.dumps(config))
    tf.constant(1.0) + 1  # TensorFlow has run something in this process
    with pytest.raises(KerasCNNError, match="must start before TensorFlow runs anything"):
        cluster.multi_worker_strategy()


@pytest.mark.parametrize(
    "tf_config, message",
    [
        ("{not json", "not valid JSON"),
        ('{"cluster": {"worker": ["a:1"]}}', "needs a 'cluster' and a 'task'"),
        ('{"cluster": {"ps": ["a:1"]}, "task": {"type": "ps"}}', "must list 'worker'"),
        ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 1}}', "not in"),
    ],
)
def test_a_bad_tf_config_is_named(tf_config, message, monkeypatch):
    monkeypatch.setenv("TF_CONFIG", tf_config)
    with pytest.raises(KerasCNNError, match=message):
        cluster.cluster_config()


@pytest.mark.parametrize(
    "task, chief",
    [
        ({"type": "worker", "index": 0}, True),
        ({"type": "worker", "index": 1}, False),
        ({"type": "chief", "index": 0}, True),
    ],
)
def test_only_the_chief_writes_where_the_recipe_says(task, chief, monkeypatch, tmp_path):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)
    members = {"worker": ["a:1", "b:1"]}
    if task["type"] == "chief":
        members["chief"] = ["c:1"]
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": members, "task": task}))
    recipe = resolve("deep_mnist", {"strategy": "multi_worker"})
    local = cluster.local_outputs(recipe)
    assert cluster.is_chief(cluster.cluster_config()) == chief
    if chief:
        assert local == recipe
    else:
        scratch = tmp_path / f"kerascnn-worker-{task['index']}"
        assert Path(local.runs_dir) == scratch / "runs"
        assert Path(local.export.directory) == scratch / "saved_models"
    # A single process never moves its outputs, whatever TF_CONFIG says.
    assert cluster.local_outputs(resolve("deep_mnist")) == resolve("deep_mnist")
