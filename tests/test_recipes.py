import ast
import dataclasses
import json
import re
import shutil
from pathlib import Path

import pytest

from kerascnn import recipes
from kerascnn.errors import RecipeError, UnknownNameError
from kerascnn.recipes import Recipe, apply_overrides, parse_assignments, resolve

REPO = Path(__file__).resolve().parents[1]
# recipes/NAME.py is the recipe NAME; a file named _*.py holds what several share.
RECIPE_FILES = sorted(p for p in (REPO / "recipes").glob("*.py") if not p.name.startswith("_"))


@pytest.mark.parametrize("name", recipes.list_recipes())
def test_every_recipe_is_valid_and_has_a_smoke_version(name):
    recipe = recipes.get(name)
    assert recipe.name == name and recipe.description
    recipes.check(recipe)
    smoke = recipes.smoke_version(recipe)
    recipes.check(smoke)
    assert smoke.epochs == 1 and smoke.data.train_limit <= 512 and smoke.data.test_limit <= 128


def test_deep_mnist_has_the_books_settings():
    recipe = recipes.get("deep_mnist")
    assert (recipe.data.name, recipe.model.name) == ("mnist", "deep_mnist_cnn")
    assert (recipe.optimizer.name, recipe.optimizer.learning_rate) == ("adam", 1e-3)
    assert (recipe.batch_size, recipe.epochs, recipe.target_accuracy) == (100, 20, 0.9938)


def test_python_overrides_plain_nested_and_dotted():
    recipe = resolve(
        "deep_mnist",
        {
            "epochs": 2,
            "optimizer": {"learning_rate": 3e-4},
            "data.train_limit": 100,
            "model.args.dropout": 0.25,
        },
    )
    assert recipe.epochs == 2
    assert recipe.optimizer.learning_rate == 3e-4 and recipe.optimizer.name == "adam"
    assert recipe.data.train_limit == 100
    assert recipe.model.args == {"dropout": 0.25}
    assert recipes.get("deep_mnist").model.args == {}, (
        "overrides must not mutate the registered recipe"
    )


@pytest.mark.parametrize(
    "text,key,expected",
    [
        ("epochs=3", "epochs", 3),
        ("optimizer.learning_rate=3e-4", "optimizer.learning_rate", 3e-4),
        ("optimizer.learning_rate=1", "optimizer.learning_rate", 1.0),
        ("optimizer.nesterov=true", "optimizer.nesterov", True),
        ("optimizer.weight_decay=None", "optimizer.weight_decay", None),
        ("optimizer.weight_decay=0.01", "optimizer.weight_decay", 0.01),
        ("data.name=fashion_mnist", "data.name", "fashion_mnist"),
        ("data.data_dir=/data/mnist", "data.data_dir", "/data/mnist"),
        ("precision=mixed_bfloat16", "precision", "mixed_bfloat16"),
        ("model.args.hidden_units=64", "model.args", {"hidden_units": 64}),
        ("smoke={'epochs': 2}", "smoke", {"epochs": 2}),
    ],
)
def test_text_overrides_are_parsed_by_field_type(text, key, expected):
    recipe = resolve("deep_mnist", parse_assignments([text]), from_text=True)
    value = recipe
    for part in key.split("."):
        value = getattr(value, part)
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize(
    "overrides,message",
    [
        ({"epoch": 2}, r"unknown recipe key 'epoch'; did you mean 'epochs'\?"),
        ({"optimizer.lr": 0.1}, r"unknown recipe key 'optimizer.lr'.*learning_rate"),
        ({"epochs.value": 1}, "inside a plain value"),
        ({"epochs": "two"}, "epochs expects int, got 'two'"),
        ({"epochs": 2.5}, "epochs expects int"),
        ({"epochs": True}, "epochs expects int"),
        ({"epochs": 0}, "epochs must be at least 1, got 0"),
        ({"batch_size": 0}, "batch_size must be at least 1"),
        ({"optimizer.learning_rate": -0.1}, "optimizer.learning_rate must be "),
        ({"optimizer.name": "adagrad"}, "optimizer.name expects one of 'adam', 'adamw'"),
        ({"precision": "float16"}, "precision expects one of 'float32'"),
        ({"data.validation": "train"}, "data.validation expects one of"),
        ({"optimizer.nesterov": "maybe"}, "optimizer.nesterov expects bool"),
        ({"optimizer.ema_momentum": 1.5}, r"optimizer.ema_momentum must be None or in \(0, 1\)"),
        ({"optimizer.beta_1": -0.1}, r"optimizer.beta_1 must be None or in \[0, 1\)"),
        ({"callbacks.quality_examples": 1}, "callbacks.quality_examples must be from 2 to 100,000"),
    ],
)
def test_bad_overrides_are_rejected_with_a_helpful_message(overrides, message):
    with pytest.raises(RecipeError, match=message):
        resolve("deep_mnist", overrides, from_text=isinstance(next(iter(overrides.values())), str))


@pytest.mark.parametrize(
    "overrides,error,message",
    [
        ({"model.args.dropot": 0.1}, RecipeError, "did you mean 'dropout'"),
        ({"model.args.classes": 3}, RecipeError, "set by the run from the data"),
        ({"model.name": "vgg61"}, UnknownNameError, "unknown model 'vgg61'"),
        (
            {"model.name": "dcgan_generator"},
            RecipeError,
            "is a gan generator model, not a model a recipe trains",
        ),
        ({"augmentation": "digit"}, UnknownNameError, "did you mean 'digits'"),
        ({"optimizer.warmup_epochs": 1.0}, RecipeError, "needs optimizer.schedule='cosine'"),
        (
            {"model.name": "show_and_tell", "augmentation": "cifar"},
            RecipeError,
            "would make captions wrong",
        ),
        (
            {"model.name": "show_and_tell", "model.args.vocabulary": ["a"]},
            RecipeError,
            "model.args.vocabulary is set by the run from the data",
        ),
    ],
)
def test_registry_dependent_checks(overrides, error, message):
    with pytest.raises(error, match=message):
        recipes.check(resolve("deep_mnist", overrides))


def test_set_without_equals_sign():
    with pytest.raises(RecipeError, match="--set expects KEY=VALUE"):
        parse_assignments(["epochs"])


@pytest.mark.parametrize("name", recipes.list_recipes())
def test_record_round_trips_through_json(name, tmp_path):
    recipe = resolve(name, {"epochs": 3, "model.args.dropout": 0.3})
    path = tmp_path / "recipe.json"
    path.write_text(json.dumps(recipes.to_dict(recipe)))
    assert recipes.load_file(path) == recipe
    assert resolve(str(path)) == recipe


@pytest.mark.parametrize("name", recipes.list_recipes())
def test_python_source_is_a_runnable_recipe_file(name, tmp_path):
    path = tmp_path / f"{name}.py"
    path.write_text(recipes.python_source(recipes.get(name)))
    assert recipes.load_file(path) == recipes.get(name)


def test_the_registry_is_the_recipe_files():
    from kerascnn.recipes import library

    assert Path(library.__file__).parent == REPO / "recipes", (
        "kerascnn.recipes.library must be this repository's recipes/ (pip install -e .)"
    )
    assert [p.stem for p in RECIPE_FILES] == recipes.list_recipes()


@pytest.mark.parametrize("path", RECIPE_FILES, ids=lambda p: p.stem)
def test_a_recipe_file_run_by_path_or_copied_is_the_registered_recipe(path, tmp_path):
    registered = recipes.get(path.stem)
    assert recipes.load_file(path) == registered
    copy = tmp_path / "my_recipe.py"
    shutil.copy(path, copy)
    assert recipes.load_file(copy) == registered


@pytest.mark.parametrize("path", RECIPE_FILES, ids=lambda p: p.stem)
def test_every_recipe_file_states_its_figure_and_the_command(path):
    doc = ast.get_docstring(ast.parse(path.read_text()))
    assert doc and doc.startswith(f"{path.stem}: "), f"{path}: the docstring starts with its name"
    assert re.search(r"^Figure\b", doc, re.M), f"{path}: state the current figure ('Figure ...')"
    assert re.search(r"^    (python scripts/|kerascnn )", doc, re.M), f"{path}: give the command"


@pytest.mark.parametrize(
    "variant, base", [("vgg19", "vgg16"), ("resnet34", "resnet18"), ("resnet50", "resnet18")]
)
def test_variants_differ_from_their_base_only_in_the_network(variant, base):
    variant, base = recipes.get(variant), recipes.get(base)
    differ = {
        field.name
        for field in dataclasses.fields(Recipe)
        if getattr(variant, field.name) != getattr(base, field.name)
    }
    assert differ == {"name", "description", "model"}
    assert variant.model.args == base.model.args


@pytest.mark.parametrize("name", recipes.list_recipes())
def test_recipes_that_may_fall_back_to_the_sample_have_a_budget_for_it(name):
    recipe = recipes.get(name)
    if recipe.data.name == "cifar10":
        assert recipe.fallback_epochs is not None and recipe.fallback_epochs < recipe.epochs


@pytest.mark.parametrize(
    "content,message",
    [
        ("x = 1\n", "must define a function recipe"),
        ("def recipe():\n    return 3\n", "returned int, expected a Recipe"),
    ],
)
def test_bad_recipe_files(tmp_path, content, message):
    path = tmp_path / "mine.py"
    path.write_text(content)
    with pytest.raises(RecipeError, match=message):
        recipes.load_file(path)
    with pytest.raises(RecipeError, match="does not exist"):
        recipes.load_file(tmp_path / "nothere.py")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(RecipeError, match="not valid JSON"):
        recipes.load_file(tmp_path / "bad.json")


def test_recipes_are_frozen_and_variants_use_replace():
    recipe = recipes.get("deep_mnist")
    with pytest.raises(dataclasses.FrozenInstanceError):
        recipe.epochs = 3
    variant = dataclasses.replace(recipe, name="deep_mnist_long", epochs=40)
    assert isinstance(variant, Recipe) and variant.epochs == 40
    assert apply_overrides(variant, {}) == variant


@pytest.mark.parametrize(
    "config, expected",
    [
        ({"name": "adam", "beta_1": 0.5}, {"beta_1": 0.5, "use_ema": False}),
        (
            {"name": "adam", "ema_momentum": 0.999},
            {"beta_1": 0.9, "use_ema": True, "ema_momentum": 0.999},
        ),
        (
            {"name": "sgd", "momentum": 0.9, "ema_momentum": 0.99},
            {"use_ema": True, "momentum": 0.9},
        ),
    ],
)
def test_optimizer_fields_reach_the_keras_optimizer(config, expected):
    from kerascnn.recipes import OptimizerConfig
    from kerascnn.training.runtime import make_optimizer

    optimizer = make_optimizer(OptimizerConfig(**config), num_examples=100, batch_size=10, epochs=1)
    settings = optimizer.get_config()
    assert {key: settings[key] for key in expected} == pytest.approx(expected)
