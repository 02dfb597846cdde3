import pytest

from kerascnn.errors import DuplicateNameError, UnknownNameError
from kerascnn.registry import Registry, augmentations, models, recipes


def test_duplicate_name_raises():
    registry = Registry("thing", defined_in="kerascnn.registry")

    @registry.register
    def alpha():
        """First."""

    with pytest.raises(DuplicateNameError, match="'alpha' is already registered"):
        registry.register(lambda: None, name="alpha")
    assert registry.names() == ["alpha"]


def test_unknown_name_lists_closest_names():
    registry = Registry("thing", defined_in="kerascnn.registry")
    for name in ("resnet18", "resnet34", "vgg16"):
        registry.register(lambda: None, name=name)
    with pytest.raises(UnknownNameError) as error:
        registry.get("resnet19")
    message = str(error.value)
    assert "unknown thing 'resnet19'" in message
    assert "'resnet18'" in message and "vgg16" not in message
    with pytest.raises(UnknownNameError, match="known: resnet18, resnet34, vgg16"):
        registry.get("alexnet")


def test_summary_is_first_docstring_line():
    registry = Registry("thing", defined_in="kerascnn.registry")

    @registry.register
    def beta():
        """One line.

        More.
        """

    assert registry.summary("beta") == "One line."


@pytest.mark.parametrize("registry", [models, recipes, augmentations], ids=lambda r: r.kind)
def test_builtin_registries_are_filled_and_documented(registry):
    assert len(registry) >= 1
    for name in registry:
        assert registry.summary(name), f"{registry.kind} {name} has no docstring"
