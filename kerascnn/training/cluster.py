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
import functools
import json
import os
import tempfile
from pathlib import Path

import tensorflow as tf

from kerascnn import compat
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


@functools.cache
def multi_worker_strategy() -> tf.distribute.MultiWorkerMirroredStrategy:
    """The process's `MultiWorkerMirroredStrategy`, with Keras' `fit` made to work under it
    (`kerascnn.compat.fix_multi_worker_fit`). Made once per process, as TensorFlow requires: it
    starts this worker's server and must come before TensorFlow runs anything else."""
    cluster_config()
    try:
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    except RuntimeError as error:  # "Collective ops must be configured at program startup"
        raise KerasCNNError(
            f"strategy 'multi_worker' must start before TensorFlow runs anything ({error}); "
            "run it in a fresh process, e.g. kerascnn run RECIPE --strategy multi_worker"
        ) from None
    compat.fix_multi_worker_fit(is_multi_worker)
    return strategy


def is_multi_worker(strategy) -> bool:
    """Whether `strategy` spans several workers (a cluster in TF_CONFIG), not one process."""
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return False
    resolver = strategy.cluster_resolver
    tasks = resolver.cluster_spec().as_dict() if resolver is not None else {}
    return sum(len(addresses) for addresses in tasks.values()) > 1


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
