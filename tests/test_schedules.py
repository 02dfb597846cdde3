"""Learning-rate schedules: the rate the optimizer uses at given steps, against the formulas the
recipe fields describe (`OptimizerConfig`), for warmup + cosine, exponential, step and plateau, and
the span a run's tasks give the schedule."""

import dataclasses
import math

import keras
import pytest

from kerascnn.config import OptimizerConfig
from kerascnn.data.sources import DatasetInfo
from kerascnn.recipes import resolve
from kerascnn.training.runtime import make_optimizer
from kerascnn.training.tasks import ClassificationTask
from kerascnn.training.tasks.base import optimizer_for

# 95 examples in batches of 10: ten steps an epoch, the last one a partial batch.
EXAMPLES, BATCH, STEPS_PER_EPOCH = 95, 10, 10


def rate_at(optimizer, step: int) -> float:
    """The learning rate the optimizer applies at its step `step` (0 for the first update)."""
    optimizer.iterations.assign(step)
    return float(optimizer.learning_rate)


def rates(config, steps, epochs=3):
    optimizer = make_optimizer(config, num_examples=EXAMPLES, batch_size=BATCH, epochs=epochs)
    return [rate_at(optimizer, step) for step in steps]


def test_constant_rate():
    config = OptimizerConfig(learning_rate=0.01)
    assert rates(config, [0, 7, 1000]) == pytest.approx([0.01] * 3)


def test_cosine_after_linear_warmup():
    # 0.5 warmup epochs = 5 steps from 0 up to 0.01, then half a cosine to 0 at the end of the
    # 3 epochs (30 steps), and 0 after.
    config = OptimizerConfig(learning_rate=0.01, schedule="cosine", warmup_epochs=0.5)
    lr, warmup, total = 0.01, 5, 3 * STEPS_PER_EPOCH

    def expected(step):
        if step < warmup:
            return lr * step / warmup
        done = min(step - warmup, total - warmup) / (total - warmup)
        return lr * 0.5 * (1 + math.cos(math.pi * done))

    steps = [0, 1, 4, 5, 10, 17, 29, 30, 45]
    got = rates(config, steps)
    assert got == pytest.approx([expected(s) for s in steps], abs=1e-9)
    assert got[0] == 0 and got[3] == pytest.approx(lr) and got[-1] == pytest.approx(0)
    assert got[5] == pytest.approx(lr / 2, rel=0.1)  # 12 of 25 decay steps: about half way


def test_cosine_without_warmup_starts_at_the_rate():
    config = OptimizerConfig(learning_rate=0.01, schedule="cosine")
    total = 3 * STEPS_PER_EPOCH
    steps = [0, 15, 30]
    expected = [0.01 * 0.5 * (1 + math.cos(math.pi * s / total)) for s in steps]
    assert rates(config, steps) == pytest.approx(expected, abs=1e-9)
    assert rates(config, [15]) == pytest.approx([0.005])


@pytest.mark.parametrize("schedule", ["exponential", "step"])
def test_exponential_and_step_decay(schedule):
    # decay_rate 0.5 every 1.5 epochs = 15 steps: smoothly, or in stairs.
    config = OptimizerConfig(
        learning_rate=0.01, schedule=schedule, decay_rate=0.5, decay_epochs=1.5
    )
    steps = [0, 7, 14, 15, 22, 30, 45, 100]
    power = (lambda s: s / 15) if schedule == "exponential" else (lambda s: s // 15)
    assert rates(config, steps) == pytest.approx([0.01 * 0.5 ** power(s) for s in steps])
    if schedule == "step":
        assert rates(config, [14, 15, 16]) == pytest.approx([0.01, 0.005, 0.005])


def plateau_callback(validation="test", patience=2, rate=0.5):
    recipe = resolve(
        "deep_mnist",
        {
            "optimizer.schedule": "plateau",
            "optimizer.learning_rate": 0.01,
            "optimizer.plateau_patience": patience,
            "optimizer.decay_rate": rate,
            "data.validation": validation,
        },
    )
    (callback,) = ClassificationTask().callbacks(recipe, None, None)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.Adam(recipe.optimizer.learning_rate), "mse")
    callback.set_model(model)
    callback.on_train_begin()
    return callback, model


def epoch_rates(callback, model, logs_per_epoch):
    out = []
    for epoch, logs in enumerate(logs_per_epoch):
        callback.on_epoch_end(epoch, dict(logs))
        out.append(float(model.optimizer.learning_rate))
    return out


def test_plateau_multiplies_by_the_decay_rate_after_patience_epochs_without_improvement():
    # The first epoch sets the best loss; every `patience` epochs without improvement after it
    # the rate is multiplied by decay_rate: after epoch e, 0.01 * 0.5 ** (e // 2).
    callback, model = plateau_callback(patience=2, rate=0.5)
    got = epoch_rates(callback, model, [{"loss": 1.0, "val_loss": 1.0}] * 7)
    assert got == pytest.approx([0.01 * 0.5 ** (epoch // 2) for epoch in range(7)])


def test_plateau_watches_the_validation_loss_or_without_validation_the_training_loss():
    # The validation loss improves while the training loss stalls: no reduction.
    callback, model = plateau_callback(patience=2)
    improving = [{"loss": 1.0, "val_loss": 1.0 - 0.1 * epoch} for epoch in range(5)]
    assert epoch_rates(callback, model, improving) == pytest.approx([0.01] * 5)
    # Without validation the same logs (no val_loss) reduce on the stalled training loss.
    callback, model = plateau_callback(validation="none", patience=2)
    stalled = [{"loss": 1.0} for _ in range(5)]
    assert epoch_rates(callback, model, stalled) == pytest.approx(
        [0.01, 0.01, 0.005, 0.005, 0.0025]
    )


def test_other_schedules_add_no_plateau_callback():
    for schedule in ("constant", "cosine", "exponential", "step"):
        recipe = resolve("deep_mnist", {"optimizer.schedule": schedule})
        assert ClassificationTask().callbacks(recipe, None, None) == []


INFO = DatasetInfo(
    name="tiny",
    source="test",
    image_shape=(4, 4, 1),
    num_classes=3,
    num_train=EXAMPLES,
    num_validation=0,
    num_test=10,
)


@pytest.mark.parametrize("task", ["classification", "gan_and_captioning"])
def test_a_cosine_schedule_spans_schedule_epochs_not_the_epochs_run(task):
    # Two epochs of a four-epoch plan (scripts/verify_recipes.py): the rate after the two epochs
    # is half the initial one (half way down the cosine), not 0.
    recipe = resolve("deep_mnist", {"epochs": 2, "batch_size": BATCH})
    settings = dataclasses.replace(
        recipe.optimizer, learning_rate=0.01, schedule="cosine", schedule_epochs=4.0
    )
    recipe = dataclasses.replace(recipe, optimizer=settings)
    if task == "classification":
        inputs = keras.Input((4, 4, 1))
        model = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Flatten()(inputs)))
        ClassificationTask().start_phase(model, recipe, INFO, epoch=0)
        optimizer = model.optimizer
    else:
        optimizer = optimizer_for(recipe, INFO)
    end_of_run = 2 * STEPS_PER_EPOCH
    assert rate_at(optimizer, end_of_run) == pytest.approx(0.005)
    assert rate_at(optimizer, 2 * end_of_run) == pytest.approx(0)
