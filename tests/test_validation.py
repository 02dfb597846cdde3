"""Recipe-level validation: every field's type and range where the recipe is made (property-based,
over every field of every registered recipe), settings a recipe would not read refused instead of
ignored, and bad recipe files and batch sizes refused in one line before anything is written."""

import dataclasses
import math
import typing

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kerascnn import recipes
from kerascnn.cli import main
from kerascnn.data.captioned import load_captioned
from kerascnn.errors import DataError, KerasCNNError, RecipeError
from kerascnn.recipes import Recipe, apply_overrides, resolve
from kerascnn.training.checks import check_batch_size, check_overrides

NAMES = recipes.list_recipes()


def _keys(cls=Recipe, prefix=""):
    """(dotted key, annotation) of every field, groups included (`data` as well as `data.name`)."""
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        yield prefix + field.name, hints[field.name]
        if dataclasses.is_dataclass(field.default):
            yield from _keys(type(field.default), f"{prefix}{field.name}.")


FIELDS = dict(_keys())
KEYS = sorted(FIELDS)


def _replaced(recipe, key, value):
    """`recipe` with `key` set by `dataclasses.replace`, as a recipe file would: no override parsing."""
    *groups, field = key.split(".")
    chain = [recipe]
    for group in groups:
        chain.append(getattr(chain[-1], group))
    new = dataclasses.replace(chain[-1], **{field: value})
    for parent, group in zip(reversed(chain[:-1]), reversed(groups), strict=True):
        new = dataclasses.replace(parent, **{group: new})
    return new


def _set(recipe, key, value, how):
    if how == "replace":
        return _replaced(recipe, key, value)
    if how == "text":
        return apply_overrides(recipe, {key: str(value)}, from_text=True)
    return apply_overrides(recipe, {key: value})


def _one_line(error):
    text = str(error)
    assert text and "\n" not in text, text
    return text


WRONG_OR_OUT_OF_RANGE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([-1, 0, 2**31, 2**32, 2**63, -(2**63) - 1, 10**400]),
    st.floats(),  # nan and infinities included
    st.text(max_size=12),
    st.sampled_from(["", " ", "\0", "a\0b", "1e999", "-1", "(1, 2)", "{'a': 1}", "[1, 2, 3]"]),
    st.lists(st.integers(-3, 5000) | st.floats() | st.text(max_size=2), max_size=4),
    st.tuples(st.integers(-3, 5000), st.integers(-3, 5000), st.integers(-3, 5000)),
    st.dictionaries(st.text(max_size=6), st.integers() | st.text(max_size=3), max_size=2),
    st.builds(object),
)


@settings(
    max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    name=st.sampled_from(NAMES),
    key=st.sampled_from(KEYS),
    value=WRONG_OR_OUT_OF_RANGE,
    how=st.sampled_from(["python", "text", "replace"]),
)
def test_any_value_of_any_field_of_any_recipe_is_a_recipe_or_a_one_line_error(
    name, key, value, how
):
    """Only kerascnn's own errors, in one line: never a TypeError, OverflowError or the like from
    the resolution, the checks before a run (`check_recipe`) or the override check."""
    try:
        recipe = _set(recipes.get(name), key, value, how)
        recipes.check(recipe)
        if how != "replace":
            check_overrides(recipe, {key: value})
    except KerasCNNError as error:
        _one_line(error)
    else:
        assert isinstance(recipe, Recipe)


def _out_of_range(key, tp):
    """Values no field of annotation `tp` accepts: the wrong type always, and by kind the
    values beyond every range."""
    values = [object()]
    text = " ".join(str(a) for a in typing.get_args(tp)) + str(tp)
    if tp in (int, float) or "int" in text or "float" in text:
        values += [-1, math.nan, math.inf, -math.inf, 10**400]
    if "tuple[int, int, int]" in text:
        values += [(0, 28, 1), (28, 28), (5000, 28, 1), [28, 28, -1]]
    if "tuple[int, int]" in text:
        values += [(0, 1), (3, 2), (1,)]
    if key == "data.classes":
        values += [(1,), (1, 1), (-1, 2)]
    if key in ("data.data_dir", "data.tfds_data_dir", "transfer.init_from", "runs_dir"):
        values += ["", "a\0b"]
    if key in ("name", "data.name", "model.name", "export.directory"):
        values += [""]
    if typing.get_origin(tp) is typing.Literal:
        values += ["bogus", 1]
    return values


def test_every_field_of_every_recipe_refuses_wrong_types_and_out_of_range_values():
    """Exhaustive where the property test samples: each field, each recipe, each way of setting."""
    refused = 0
    for name in NAMES:
        recipe = recipes.get(name)
        for key, tp in FIELDS.items():
            for value in _out_of_range(key, tp):
                for how in ("python", "replace"):
                    with pytest.raises(RecipeError) as error:
                        _set(recipe, key, value, how)
                    _one_line(error.value)
                    refused += 1
    assert refused > 5000


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("seed", -1, "seed must be from 0 to 4294967295"),
        ("seed", 2**32, "seed must be from 0 to 4294967295"),
        ("epochs", 10**400, "epochs must be an integer below 2**63"),
        ("optimizer.learning_rate", 10**400, "optimizer.learning_rate expects float"),
        ("optimizer.learning_rate", math.inf, "optimizer.learning_rate must be a finite number"),
        ("optimizer.warmup_epochs", math.inf, "optimizer.warmup_epochs must be a finite number"),
        ("data.image_shape", (100_000, 28, 1), "each from 1 to 4096"),
        ("callbacks.sample_grid", 10**6, "callbacks.sample_grid must be from 1 to 256"),
        ("runs_dir", "", "runs_dir must be a non-empty path"),
        ("data.data_dir", "", "data.data_dir must be a non-empty path"),
    ],
    ids=lambda item: item if isinstance(item, str) else None,
)
def test_range_errors_say_what_was_expected(key, value, message):
    with pytest.raises(RecipeError) as error:
        resolve("deep_mnist", {key: value})
    assert message in _one_line(error.value)


def test_a_recipe_made_in_code_is_checked_like_an_override():
    with pytest.raises(RecipeError, match="epochs expects int, got '3'"):
        Recipe(name="mine", epochs="3")
    with pytest.raises(RecipeError, match="data expects DataConfig"):
        Recipe(name="mine", data={"name": "mnist"})
    # A list where a tuple is meant is stored as a tuple, so records and recipes compare equal.
    data = recipes.DataConfig(image_shape=[32, 32, 3])
    assert data.image_shape == (32, 32, 3) and hash(data.image_shape)


# Settings a resolved recipe would not read: (recipe, overrides, what the one line says).
UNREAD = [
    ("mnist_ensemble", {"epochs": 3}, "epochs is not used by the ensemble 'mnist_ensemble'"),
    ("mnist_ensemble", {"seed": 1}, "members train with their own recipes' settings"),
    ("mnist_ensemble", {"augmentation": "digits"}, "augmentation is not used by the ensemble"),
    ("mnist_ensemble", {"optimizer": {"learning_rate": 0.1}}, "optimizer.learning_rate is not"),
    ("mnist_ensemble", {"transfer.init_from": "runs/x"}, "transfer.init_from is not used by"),
    ("mnist_ensemble", {"callbacks.tensorboard": False}, "callbacks.tensorboard is not used"),
    ("mnist_ensemble", {"model.args.dropout": 0.2}, "model.args is not used by the ensemble"),
    ("deep_mnist", {"callbacks.sample_grid": 16}, "callbacks.sample_grid is for GANs and"),
    ("deep_mnist", {"callbacks.quality_every": 2}, "is a classifier, whose run shows"),
    ("deep_mnist", {"target_inception_score": 9.0}, "target_inception_score is the figure of a"),
    ("deep_mnist", {"target_bleu4": 0.5}, "whose figure is target_accuracy"),
    ("dcgan", {"callbacks.inspect_examples": 100}, "callbacks.inspect_examples is for classifiers"),
    ("dcgan", {"transfer.init_from": "runs/x"}, "transfer.init_from is for classifiers"),
    ("dcgan", {"steps_per_execution": 4}, "steps_per_execution is not used by a GAN"),
    ("dcgan", {"data.validation": "holdout"}, "data.validation is for classifiers"),
    ("dcgan", {"callbacks.early_stopping_patience": 3}, "which has none"),
    ("dcgan", {"target_accuracy": 0.9}, "whose figure is target_inception_score"),
    ("dcgan", {"data.label_mode": "coarse"}, "data.label_mode chooses class labels"),
    ("captioning", {"label_smoothing": 0.1}, "label_smoothing is for classifiers and GANs"),
    ("captioning", {"callbacks.inspect_examples": 10}, "shows callbacks.sample_grid captioned"),
    ("captioning", {"optimizer.discriminator_learning_rate": 1e-4}, "has no discriminator"),
    ("captioning", {"data.tfds_data_dir": "/tfds"}, "'scenes' is generated, not read from tfds"),
    ("deep_mnist", {"optimizer.momentum": 0.9}, "optimizer.momentum is for sgd and rmsprop"),
    ("deep_mnist", {"optimizer.nesterov": True}, "optimizer.nesterov is for sgd"),
    ("alexnet", {"optimizer.beta_1": 0.5}, "optimizer.beta_1 is for adam and adamw"),
    ("alexnet", {"optimizer.epsilon": 1e-3}, "optimizer.epsilon is for adam, adamw and rmsprop"),
    ("deep_mnist", {"optimizer.decay_rate": 0.5}, "is for the exponential, step and plateau"),
    ("resnet18", {"optimizer.decay_epochs": 5}, "optimizer.schedule is 'cosine'"),
    ("alexnet", {"optimizer.plateau_patience": 2}, "is for the plateau schedule"),
    ("deep_mnist", {"optimizer.warmup_epochs": 1.0}, "needs optimizer.schedule='cosine'"),
    ("deep_mnist", {"transfer.frozen_epochs": 2}, "no transfer.init_from (--init-from)"),
    ("deep_mnist", {"transfer.learning_rate_factor": 0.5}, "every epoch uses optimizer.learning"),
    ("deep_mnist", {"data.holdout_fraction": 0.2}, "data.validation is 'test'; add --set data.v"),
    (
        "deep_mnist",
        {"callbacks.tensorboard": False, "callbacks.histogram_freq": 2},
        "histogram_freq sets TensorBoard's weight histograms, but callbacks.tensorboard is false",
    ),
    (
        "deep_mnist",
        {"callbacks.tensorboard": False, "callbacks.profile_batches": (2, 3)},
        "callbacks.profile_batches records a TensorBoard profile, but",
    ),
    (
        "deep_mnist",
        {"callbacks.tensorboard": False, "callbacks.inspect_examples": 500},
        "callbacks.inspect_examples shows held-out images in TensorBoard, but",
    ),
    (
        "deep_mnist",
        {"callbacks.checkpoint": False, "callbacks.checkpoint_every": 10},
        "but callbacks.checkpoint is false",
    ),
    (
        "deep_mnist",
        {"data.validation": "none", "callbacks.early_stopping_patience": 3},
        "but data.validation is 'none'",
    ),
    (
        "deep_mnist",
        {"data.name": "mnist_sample", "data.data_dir": "/data/mnist"},
        "data.data_dir is not read: data.name 'mnist_sample' is the bundled sample",
    ),
    (
        "deep_mnist",
        {"data.data_dir": "/data/mnist", "data.tfds_data_dir": "/tfds"},
        "data.tfds_data_dir is not read: the folder /data/mnist is read instead of tfds",
    ),
    (
        "deep_mnist",
        {"data.name": "mnist_sample", "data.tfds_data_dir": "/tfds"},
        "the bundled sample, used instead of tfds",
    ),
    (
        "captioning",
        {"data.name": "scenes", "data.data_dir": "/data/flickr"},
        "data.name 'scenes' reads no folder",
    ),
    (
        "deep_mnist",
        {"export.enabled": False, "export.directory": "elsewhere"},
        "export.directory is not used: export.enabled is false",
    ),
]


@pytest.mark.parametrize("name, overrides, message", UNREAD, ids=[f"{n} {o}" for n, o, _ in UNREAD])
def test_a_setting_the_recipe_would_not_read_is_refused(name, overrides, message):
    with pytest.raises(KerasCNNError) as error:
        recipe = resolve(name, overrides)
        recipes.check(recipe)
        check_overrides(recipe, overrides)
    assert message in _one_line(error.value)


@pytest.mark.parametrize(
    "name, overrides",
    [
        ("deep_mnist", {"callbacks.tensorboard": False, "callbacks.inspect_examples": 0}),
        ("deep_mnist", {"callbacks.tensorboard": False, "callbacks.histogram_freq": 0}),
        ("dcgan", {"callbacks.inspect_examples": 0, "data.validation": "none"}),
        ("dcgan", {"label_smoothing": 0.1, "callbacks.sample_grid": 16}),
        ("captioning", {"data.data_dir": "/data/flickr"}),  # honoured: the folder is read
        ("captioning", {"data.offline_fallback": False}),  # forbids a fallback that cannot happen
        ("mnist_ensemble", {"data.name": "mnist_sample", "batch_size": 100}),
        ("mnist_ensemble", {"precision": "float32", "deterministic": True}),
        ("deep_mnist", {"optimizer": {"name": "sgd", "momentum": 0.9, "nesterov": True}}),
        ("deep_mnist", {"optimizer.schedule": "plateau", "optimizer.decay_rate": 0.5}),
        ("deep_mnist", {"data.validation": "holdout", "data.holdout_fraction": 0.2}),
        ("deep_mnist", {"export.enabled": True, "export.directory": "elsewhere"}),
        ("alexnet", {"optimizer.schedule": "cosine"}),  # its step decay settings are left unread
    ],
)
def test_what_the_recipe_reads_passes(name, overrides):
    recipe = resolve(name, overrides)
    recipes.check(recipe)
    check_overrides(recipe, overrides)


def test_a_recipe_file_that_sets_what_it_cannot_use_is_refused():
    """The recipe's own values are judged too, not only overrides (a file or record)."""
    classifier = dataclasses.replace(
        recipes.get("deep_mnist"),
        callbacks=recipes.CallbackConfig(tensorboard=False, histogram_freq=5),
    )
    with pytest.raises(RecipeError, match="callbacks.tensorboard is false"):
        recipes.check(classifier)
    gan = dataclasses.replace(recipes.get("dcgan"), target_bleu4=0.5)
    with pytest.raises(RecipeError, match="target_bleu4 is the figure of a captioner's recipe"):
        recipes.check(gan)


def test_an_ensemble_checks_its_members_with_its_own():
    with pytest.raises(RecipeError, match="members\\[0\\] of 'mnist_ensemble' needs a 'recipe'"):
        recipes.check(resolve("mnist_ensemble", {"members": ({"seed": 1},)}))
    with pytest.raises(RecipeError, match="is not a classifier"):
        recipes.check(resolve("mnist_ensemble", {"members": ({"recipe": "dcgan"},)}))


def test_smoke_overrides_are_checked_with_the_recipe():
    with pytest.raises(RecipeError, match="smoke .*unknown recipe key 'epoch'"):
        recipes.check(resolve("deep_mnist", {"smoke": {"epoch": 1}}))


def test_the_python_api_refuses_unread_overrides_before_anything_is_written(in_tmp):
    with pytest.raises(RecipeError, match="epochs is not used by the ensemble"):
        recipes.run("mnist_ensemble", smoke=True, epochs=2)
    with pytest.raises(RecipeError, match="callbacks.sample_grid is for GANs"):
        recipes.run("deep_mnist", smoke=True, callbacks={"sample_grid": 4})
    assert list(in_tmp.iterdir()) == []


def write_flickr8k(root, images=12):
    """A Flickr8k-layout folder: Images/ and captions.txt, two captions per image."""
    rng = np.random.default_rng(0)
    lines = ["image,caption"]
    for index in range(images):
        path = root / "Images" / f"{index}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        image = rng.integers(0, 255, (20, 20, 3), dtype=np.uint8)
        path.write_bytes(tf.io.encode_png(image).numpy())
        lines += [f"{index}.png,A dog runs on grass .", f"{index}.png,A dog in a field ."]
    (root / "captions.txt").write_text("\n".join(lines) + "\n")
    return root


def test_a_flickr8k_folder_given_to_the_scenes_recipe_selects_the_flickr8k_reader(tmp_path):
    folder = write_flickr8k(tmp_path / "photos")
    recipe = resolve("captioning", {"data.data_dir": str(folder)})
    assert recipe.data.name == "scenes"  # as the recipe says; the folder decides what is read
    recipes.check(recipe)
    splits = load_captioned(recipe.data)
    assert splits.info.name == "flickr8k" and "Flickr8k layout" in splits.info.source
    assert (splits.info.num_train, splits.info.num_test) == (10, 2)
    assert splits.info.image_shape == (64, 64, 3)  # the recipe's shape, resized
    with pytest.raises(DataError, match="holds no Flickr8k.token.txt or captions.txt"):
        load_captioned(resolve("captioning", {"data.data_dir": str(tmp_path)}).data)


@pytest.mark.slow  # a captioner trained and scored
def test_the_captioning_recipe_trains_and_reports_on_the_folder_it_was_given(in_tmp):
    folder = write_flickr8k(in_tmp / "photos")
    result = recipes.run(
        "captioning",
        smoke=True,
        verbose=0,
        batch_size=8,
        **{"data.data_dir": str(folder), "export.enabled": False},
        **{"model.args": {"units": 16, "embedding_dim": 8, "max_length": 8}},
    )
    assert result.metrics["data"]["name"] == "flickr8k"
    assert "Flickr8k layout in" in result.summary() and "synthetic" not in result.summary()


def test_a_batch_larger_than_the_training_set_is_refused():
    recipe = resolve("deep_mnist", {"batch_size": 100_000_000, "data.train_limit": 500})
    with pytest.raises(RecipeError) as error:
        check_batch_size(recipe, 500)
    assert _one_line(error.value) == (
        "batch_size 100000000 is larger than the training set, 500 images (data.train_limit "
        "500): every epoch would be one step; use a batch size of at most 500 (--batch-size)"
    )
    check_batch_size(resolve("deep_mnist", {"batch_size": 500}), 500)


BAD_RECIPE_FILES = [
    ("def recipe(:\n    pass\n", "recipe file {path} has a syntax error at line 1: invalid syntax"),
    ("import kerascnn_nowhere\n", "failed at line 1: ModuleNotFoundError: No module named"),
    ("x = 1\nraise SystemExit(3)\n", "recipe file {path} failed at line 2: SystemExit: 3"),
    ("def recipe():\n    return 1 / 0\n", "recipe() in {path} failed at line 2: ZeroDivisionError"),
    (
        "from kerascnn.recipes import Recipe\n\n\ndef recipe():\n    return Recipe(name='x', epochs=0)\n",
        "recipe() in {path} made an invalid recipe at line 5: epochs must be at least 1, got 0",
    ),
]


@pytest.mark.parametrize("content, message", BAD_RECIPE_FILES)
def test_a_recipe_file_that_cannot_run_is_one_line(tmp_path, content, message):
    path = tmp_path / "mine.py"
    path.write_text(content)
    with pytest.raises(RecipeError) as error:
        recipes.load_file(path)
    assert message.format(path=path) in _one_line(error.value)


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "mine.py"], "recipe file mine.py has a syntax error at line 1"),
        (["run", "deep_mnist", "--set", "seed=-1"], "seed must be from 0 to 4294967295"),
        (
            ["run", "deep_mnist", "--dataset", "mnist_sample", "--batch-size", "100000000"],
            "batch_size 100000000 is larger than the training set, 6000 images",
        ),
    ],
    ids=["syntax error", "negative seed", "huge batch"],
)
def test_bad_requests_end_in_one_line_and_exit_2_without_a_traceback(in_tmp, capfd, args, message):
    (in_tmp / "mine.py").write_text("def recipe(:\n")
    code = main(args)  # in this process; tests/test_cli.py runs the real entry point
    err = capfd.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    (line,) = err.splitlines()
    assert line.startswith("kerascnn: error: ") and message in line
    assert sorted(p.name for p in in_tmp.iterdir()) == ["mine.py"]  # nothing written


def test_the_cli_refuses_a_flag_the_recipe_would_not_read(in_tmp, capsys):
    assert main(["run", "mnist_ensemble", "--epochs", "2"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "epochs is not used by the ensemble 'mnist_ensemble'" in line
    assert main(["show", "mnist_ensemble", "--dataset", "mnist_sample"]) == 0  # passed on
    assert list(in_tmp.iterdir()) == []
