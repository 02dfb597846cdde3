"""The only module that touches Keras internals (`keras.src` and private attributes).

Each function here stands in for a public API Keras does not have, for the Keras versions in
`KERAS_VERSIONS` (the range `pyproject.toml` pins and the tests run on). Importing this module with
another Keras is a one-line error, so a Keras release that moves these internals fails loudly here
instead of silently elsewhere. `tests/test_compat.py` checks that each one still works and that
the multi-worker fix is still needed.
"""

from __future__ import annotations

import keras

from kerascnn.errors import KerasCNNError

# [first, last) Keras versions these functions were written and tested for.
KERAS_VERSIONS = ((3, 10), (3, 16))


def _version(text: str) -> tuple[int, int]:
    major, minor = text.split(".")[:2]
    return int(major), int("".join(c for c in minor if c.isdigit()) or 0)


def check_keras_version(version: str = keras.__version__) -> None:
    """Raises a one-line error unless `version` is in `KERAS_VERSIONS`."""
    low, high = KERAS_VERSIONS
    if not low <= _version(version) < high:
        raise KerasCNNError(
            f"kerascnn.compat was written for Keras >={low[0]}.{low[1]},<{high[0]}.{high[1]}, "
            f"and Keras {version} is installed; install a Keras in that range "
            f"(pip install 'keras>={low[0]}.{low[1]},<{high[0]}.{high[1]}')"
        )


check_keras_version()


def run_through_graph(functional: keras.Model, inputs, operation_fn):
    """Runs a Functional model's graph with each operation replaced by `operation_fn(operation)`:
    the per-layer profiler's way into a model (Keras has no public hook per operation)."""
    return functional._run_through_graph(inputs, operation_fn=operation_fn)


def is_functional(model) -> bool:
    """Whether `model` has a Functional graph that `run_through_graph` can walk."""
    return isinstance(model, keras.Model) and hasattr(model, "_run_through_graph")


def continue_tensorboard_steps(callback: keras.callbacks.TensorBoard, steps: int) -> None:
    """Makes a TensorBoard callback number its step summaries from `steps` (a resumed run's
    step axis continues where the interrupted run's stopped; Keras restarts it at 0)."""
    callback._global_train_batch = steps


def multi_worker_fit_fixed() -> bool:
    """Whether `fix_multi_worker_fit` has been applied in this process."""
    # Here, not at the top: Keras' internals are touched only where a multi-worker run needs them.
    from keras.src.backend.tensorflow import trainer

    return getattr(trainer, "_kerascnn_fixed", False)


def fix_multi_worker_fit(is_multi_worker) -> None:
    """Makes Keras' `fit` work under a multi-worker strategy (`is_multi_worker(strategy)` tells).

    Two Keras 3 bugs make `fit` fail there (keras-team/keras#20585, tensorflow/tensorflow#72388;
    present in Keras 3.15): it averages a whole (inputs, targets) batch across workers with one
    `strategy.reduce` call, which accepts single tensors only, just to learn the batch's shapes;
    and it averages each step's scalar metrics with `axis=0`, which scalars do not have. Both are
    replaced, for multi-worker strategies only: the shapes come from this worker's part of the
    batch, and scalars are averaged without an axis. Applied once, by the process that makes a
    multi-worker strategy (`kerascnn.training.cluster`).
    """
    # Here, not at the top: Keras' internals are touched only where a multi-worker run needs them.
    from keras.src import tree
    from keras.src.backend.tensorflow import trainer

    if multi_worker_fit_fixed():
        return
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
        if iterator is not None and is_multi_worker(strategy):
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
