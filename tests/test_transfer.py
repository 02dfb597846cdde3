"""Transfer learning: a model trained on some digits, fine-tuned on the others, beats training from
scratch for the same few steps; a source that does not fit is a one-line error."""

import numpy as np
import pytest

from kerascnn import recipes
from kerascnn.errors import RecipeError
from kerascnn.training import transfer

SMALL = {
    "data.name": "mnist_sample",
    "data.test_limit": 500,
    "export.enabled": False,
    "callbacks.tensorboard": False,
    "callbacks.inspect_examples": 0,
}


def train_on_0_to_4(runs, images: int, epochs: int):
    """The run directory of a deep MNIST CNN trained on `images` digits 0-4 for `epochs`."""
    return recipes.run(
        "deep_mnist",
        verbose=0,
        epochs=epochs,
        batch_size=50,
        runs_dir=str(runs),
        **{**SMALL, "data.classes": (0, 1, 2, 3, 4), "data.train_limit": images},
    ).run_dir


@pytest.fixture(scope="module")
def digits_0_to_4(tmp_path_factory):
    """A source run for the mechanics of transfer: briefly trained (200 digits 0-4, 1 epoch)."""
    return train_on_0_to_4(tmp_path_factory.mktemp("source"), images=200, epochs=1)


@pytest.fixture(scope="module")
def trained_on_0_to_4(tmp_path_factory):
    """A source worth transferring from: 2,000 digits 0-4, 2 epochs."""
    return train_on_0_to_4(tmp_path_factory.mktemp("trained"), images=2000, epochs=2)


def fine_tune(runs_dir, **overrides):
    return recipes.run(
        "deep_mnist",
        verbose=0,
        epochs=3,
        batch_size=20,
        runs_dir=str(runs_dir),
        **{**SMALL, "data.classes": (5, 6, 7, 8, 9), "data.train_limit": 200, **overrides},
    )


@pytest.mark.slow  # two trainings compared: a minute
def test_fine_tuning_from_other_digits_beats_training_from_scratch(trained_on_0_to_4, tmp_path):
    scratch = fine_tune(tmp_path / "scratch")
    tuned = fine_tune(tmp_path / "tuned", **{"transfer.init_from": str(trained_on_0_to_4)})
    assert list(tuned.metrics["data"]["class_names"]) == ["5", "6", "7", "8", "9"]
    assert tuned.metrics["test_accuracy"] > scratch.metrics["test_accuracy"] + 0.04


def test_two_phases_train_the_head_alone_then_everything_slower(digits_0_to_4):
    from kerascnn.data import load_dataset
    from kerascnn.training.tasks import ClassificationTask

    recipe = recipes.resolve(
        "deep_mnist",
        {
            **SMALL,
            "data.classes": (5, 6, 7, 8, 9),
            "data.train_limit": 40,
            "epochs": 3,
            "transfer.init_from": str(digits_0_to_4),
            "transfer.frozen_epochs": 1,
        },
    )
    data = load_dataset(recipe.data)
    task = ClassificationTask()
    model = task.build(recipe, data)
    classifier = transfer.classifier_of(model)
    heads = transfer.head_layers(recipe, classifier)
    assert [layer.name for layer in heads] == ["fc1", "fc2"]  # what include_top=False leaves out
    images, labels = next(iter(data.train.batch(40)))
    images = images.numpy().astype("float32")

    def step():
        before = {
            layer.name: layer.get_weights()[0] for layer in classifier.layers if layer.weights
        }
        model.fit(images, labels.numpy(), epochs=1, verbose=0)
        return {
            n: not np.array_equal(w, classifier.get_layer(n).get_weights()[0])
            for n, w in before.items()
        }

    moved = step()  # phase one: the head alone
    assert moved == {name: name in ("fc1", "fc2") for name in moved}
    task.start_phase(model, recipe, data.info, epoch=1)
    assert float(model.optimizer.learning_rate.numpy()) == pytest.approx(1e-4)  # 1e-3 x 0.1
    assert all(step().values())  # phase two: every layer


@pytest.mark.parametrize(
    "overrides,message",
    [
        ({"transfer.init_from": "nowhere/at/all"}, "holds no model"),
        ({"model.name": "lenet5"}, "holds a 'deep_mnist_cnn', but this recipe trains a 'lenet5'"),
        ({"data.image_shape": (28, 28, 3)}, "layer 'block1_conv1' has weights of shapes"),
        ({"transfer.frozen_epochs": 3}, "must be fewer than the epochs"),
    ],
)
def test_a_source_that_does_not_fit_is_one_clear_line(digits_0_to_4, tmp_path, overrides, message):
    overrides = {"transfer.init_from": str(digits_0_to_4), **overrides}
    with pytest.raises(RecipeError, match=message) as error:
        fine_tune(tmp_path, **overrides)
    assert "\n" not in str(error.value)
    assert not (tmp_path / "deep_mnist").exists()  # nothing written
