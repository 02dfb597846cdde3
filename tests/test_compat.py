"""`kerascnn.compat`, the only module that touches Keras internals: each stand-in still works on
the installed Keras, the version check names the range, and the multi-worker fix is still needed."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest

from kerascnn import compat
from kerascnn.errors import KerasCNNError

PACKAGE = Path(__file__).resolve().parent.parent / "kerascnn"


@pytest.mark.parametrize("version", ["3.9.2", "3.16.0", "4.0.0", "2.15.0"])
def test_a_keras_outside_the_range_is_one_line_naming_it(version):
    with pytest.raises(KerasCNNError, match=r"written for Keras >=3\.10,<3\.16, and Keras "):
        compat.check_keras_version(version)


def test_the_installed_keras_is_in_the_range_pyproject_pins():
    compat.check_keras_version()
    pins = (PACKAGE.parent / "pyproject.toml").read_text()
    low, high = compat.KERAS_VERSIONS
    assert f'"keras>={low[0]}.{low[1]},<{high[0]}.{high[1]}"' in pins


def test_run_through_graph_visits_every_layer_and_computes_the_model():
    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(3, name="hidden")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(2, name="out")(hidden))
    visited = []

    def visiting(operation):
        visited.append(operation.name)
        return operation

    x = np.ones((2, 4), np.float32)
    outputs = compat.run_through_graph(model, x, visiting)
    assert visited == ["hidden", "out"]
    np.testing.assert_allclose(np.asarray(outputs), np.asarray(model(x)), rtol=1e-6)
    assert compat.is_functional(model) and not compat.is_functional(keras.layers.Dense(1))


def test_tensorboard_steps_continue_from_a_given_step(tmp_path):
    callback = keras.callbacks.TensorBoard(log_dir=str(tmp_path), update_freq=1)
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    callback.set_model(model)
    callback.on_train_begin()
    compat.continue_tensorboard_steps(callback, 40)
    callback.on_train_batch_begin(0)
    callback.on_train_batch_end(0, {"loss": 1.0})
    assert callback._global_train_batch == 41  # the attribute Keras steps its summaries by


def test_only_compat_touches_keras_internals():
    for path in PACKAGE.rglob("*.py"):
        if path.name == "compat.py":
            continue
        text = path.read_text()
        assert "keras.src" not in text, f"{path} imports keras.src"
        assert "_run_through_graph" not in text and "_global_train_batch" not in text, path


# Two workers fit a tiny model under MultiWorkerMirroredStrategy with Keras as installed; with
# FIXED=1 after kerascnn's fix. Keras' own `fit` fails there (keras-team/keras#20585).
WORKER = textwrap.dedent(
    """
    import os, sys
    import numpy as np
    import tensorflow as tf
    import keras
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    if os.environ["FIXED"] == "1":
        from kerascnn import compat
        from kerascnn.training.cluster import is_multi_worker
        compat.fix_multi_worker_fit(is_multi_worker)
    with strategy.scope():
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
        model.compile("sgd", "mse")
    x, y = np.ones((32, 4), np.float32), np.zeros((32, 2), np.float32)
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)
    model.fit(data, epochs=1, verbose=0)
    print("FIT OK")
    """
)


def two_workers(tmp_path, fixed: str):
    from test_multi_worker import free_ports

    ports = free_ports(2)
    workers = [f"127.0.0.1:{port}" for port in ports]
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    processes = [
        subprocess.Popen(
            [sys.executable, str(script)],
            env={
                **os.environ,
                "FIXED": fixed,
                "PYTHONPATH": str(PACKAGE.parent),
                "TF_CONFIG": json.dumps(
                    {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
                ),
            },
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for index in range(2)
    ]
    results = []
    for process in processes:
        try:
            out, err = process.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            for other in processes:
                other.kill()
            raise
        results.append((process.returncode, out, err))
    return results


@pytest.mark.slow  # two-worker clusters in fresh processes, with and without the fix
@pytest.mark.parametrize("fixed", ["0", "1"])
def test_the_multi_worker_fix_is_needed_and_works(tmp_path, fixed):
    results = two_workers(tmp_path, fixed)
    if fixed == "1":
        for code, out, err in results:
            assert code == 0 and "FIT OK" in out, err[-2000:]
    else:
        # If this fails, Keras fixed keras-team/keras#20585: drop compat.fix_multi_worker_fit.
        assert all(code != 0 and "FIT OK" not in out for code, out, _ in results), results
