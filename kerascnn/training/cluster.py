"""Multi-worker training: one recipe on several processes or machines (`strategy="multi_worker"`).

Every worker runs the same command with its own `TF_CONFIG` (the standard TensorFlow cluster
description: the workers' host:port list and which one this process is), and
`tf.distribute.MultiWorkerMirroredStrategy` keeps the workers' weights identical by summing
gradients across all of them every step. `batch_size` stays the global batch: each global batch is
split across all replicas of all workers, so N workers train what one process trains on the same
global batch.

All workers run the same code, callbacks included, because every collective operation (a training
step, an evaluation, a prediction for a figure) must be entered by all of them. Only the chief
(task `chief`, or worker 0 when the cluster has none) writes where the recipe says: run directories
and exports of the other workers go to a scratch folder of their own
(`<temp dir>/kerascnn-worker-<index>`), where their checkpoints let them resume with the chief.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from pathlib import Path

import tensorflow as tf

from kerascnn.errors import KerasCNNError

EXAMPLE = (
    'TF_CONFIG=\'{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
    '"task": {"type": "worker", "index": 0}}\''
)


def cluster_config() -> dict:
    """This process's TF_CONFIG, checked: a cluster of `worker` (and optionally one `chief`)
    host:port addresses and this process's task in it."""
    text = os.environ.get("TF_CONFIG", "")
    if not text.strip():
        raise KerasCNNError(
            "strategy 'multi_worker' needs TF_CONFIG to describe the cluster; on each worker set "
            f"e.g. {EXAMPLE} (index 0, 1, ... one per worker)"
        )
    try:
        config = json.loads(text)
    except ValueError as error:
        raise KerasCNNError(f"TF_CONFIG is not valid JSON ({error}); e.g. {EXAMPLE}") from None
    cluster = config.get("cluster") if isinstance(config, dict) else None
    task = config.get("task") if isinstance(config, dict) else None
    if not isinstance(cluster, dict) or not isinstance(task, dict):
        raise KerasCNNError(f"TF_CONFIG needs a 'cluster' and a 'task'; e.g. {EXAMPLE}")
    unknown = sorted(set(cluster) - {"worker", "chief"})
    if unknown or not cluster.get("worker") and not cluster.get("chief"):
        raise KerasCNNError(
            f"TF_CONFIG's cluster must list 'worker' (and may name one 'chief') addresses, "
            f"got {sorted(cluster)}; e.g. {EXAMPLE}"
        )
    kind, index = task.get("type"), task.get("index", 0)
    members = cluster.get(kind) or []
    if not isinstance(index, int) or not 0 <= index < len(members):
        raise KerasCNNError(
            f"TF_CONFIG's task {task} is not in its cluster ({ {k: len(v) for k, v in cluster.items()} }); "
            "set task.type to 'worker' or 'chief' and task.index to this process's place in that list"
        )
    return config


def is_chief(config: dict) -> bool:
    """Whether the process of `config` (a checked TF_CONFIG, `cluster_config()`) writes logs and
    exports: the `chief` task, or worker 0 when the cluster has none."""
    task = config["task"]
    if task.get("type") == "chief":
        return True
    has_chief = bool(config["cluster"].get("chief"))
    return task.get("type") == "worker" and task.get("index", 0) == 0 and not has_chief


def local_outputs(recipe):
    """`recipe` with its outputs where this process writes them: unchanged for a single process and
    for the chief, in `<temp dir>/kerascnn-worker-<index>` for the other workers of a multi-worker
    run. Checks TF_CONFIG first, so a bad one stops the run before anything is written."""
    if recipe.strategy != "multi_worker":
        return recipe
    config = cluster_config()
    if is_chief(config):
        return recipe
    task = config["task"]
    scratch = Path(tempfile.gettempdir()) / f"kerascnn-{task['type']}-{task.get('index', 0)}"
    return dataclasses.replace(
        recipe,
        runs_dir=str(scratch / "runs"),
        export=dataclasses.replace(recipe.export, directory=str(scratch / "saved_models")),
    )


_strategy = None


def multi_worker_strategy() -> tf.distribute.MultiWorkerMirroredStrategy:
    """The process's `MultiWorkerMirroredStrategy` (made once: it starts this worker's server and
    must come before TensorFlow runs anything else), with Keras' `fit` made to work under it."""
    global _strategy
    if _strategy is None:
        cluster_config()
        try:
            _strategy = tf.distribute.MultiWorkerMirroredStrategy()
        except RuntimeError as error:  # "Collective ops must be configured at program startup"
            raise KerasCNNError(
                f"strategy 'multi_worker' must start before TensorFlow runs anything ({error}); "
                "run it in a fresh process, e.g. kerascnn run RECIPE --strategy multi_worker"
            ) from None
        fix_keras_fit()
    return _strategy


def is_multi_worker(strategy) -> bool:
    return (
        isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
        and strategy.extended._in_multi_worker_mode()
    )


def fix_keras_fit() -> None:
    """Two Keras 3 bugs make `fit` fail under a multi-worker strategy (keras-team/keras#20585,
    tensorflow/tensorflow#72388; present in Keras 3.15): it averages a whole (inputs, targets)
    batch across workers with one `strategy.reduce` call, which accepts single tensors only, just to
    learn the batch's shapes; and it averages each step's scalar metrics with `axis=0`, which
    scalars do not have. Both are replaced here, for multi-worker strategies only: the shapes
    come from this worker's part of the batch, and scalars are averaged without an axis."""
    from keras.src import tree
    from keras.src.backend.tensorflow import trainer

    if getattr(trainer, "_kerascnn_fixed", False) or not (
        hasattr(trainer, "reduce_per_replica")
        and hasattr(trainer.TensorFlowTrainer, "_maybe_symbolic_build")
    ):
        return  # fixed already, or a Keras whose internals moved (tests/test_multi_worker.py tells)
    reduce_per_replica = trainer.reduce_per_replica
    symbolic_build = trainer.TensorFlowTrainer._maybe_symbolic_build

    def reduce_scalars_too(values, strategy, reduction="auto"):
        if reduction in ("auto", "mean") and is_multi_worker(strategy):
            return tree.map_structure(
                lambda v: strategy.reduce("MEAN", v, axis=0 if v.shape.rank else None), values
            )
        return reduce_per_replica(values, strategy, reduction)

    def build_from_local_batch(self, iterator=None, data_batch=None):
        strategy = self.distribute_strategy
        if (
            iterator is not None
            and self._distribute_strategy is not None
            and is_multi_worker(strategy)
        ):
            for _, _, batches in iterator:
                data_batch = tree.map_structure(
                    lambda v: strategy.experimental_local_results(v)[0], next(batches)
                )
                break
            iterator = None
        return symbolic_build(self, iterator=iterator, data_batch=data_batch)

    trainer.reduce_per_replica = reduce_scalars_too
    trainer.TensorFlowTrainer._maybe_symbolic_build = build_from_local_batch
    trainer._kerascnn_fixed = True


def check_same_position(strategy, epoch: int, step: int) -> None:
    """Raises unless every worker resumes at the same (epoch, step): a worker killed between the
    others' checkpoint writes holds an older checkpoint, and training on from different steps
    would hang or diverge."""
    if not is_multi_worker(strategy):
        return
    here = tf.constant([[epoch, step]], tf.int64)
    every = strategy.gather(strategy.run(lambda: tf.identity(here)), axis=0).numpy()
    if (every != every[0]).any():
        raise KerasCNNError(
            "the workers' checkpoints differ (epoch, step of each replica: "
            f"{', '.join(f'{e}/{s}' for e, s in every)}): they were stopped while checkpointing; "
            "copy the newest run's checkpoints/last folder to the workers behind it, or start "
            "all of them again with --fresh"
        )
