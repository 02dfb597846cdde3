"""The built-in recipes, one file each: the recipe registry is filled from this folder.

In the repository this folder is `recipes/`; installed, it is the package `kerascnn.recipes.library`
(pyproject.toml maps one to the other), so `kerascnn list` knows every recipe after a plain
`pip install` too. Each file NAME.py defines `recipe()`, registered under NAME; the first line of
its docstring is the recipe's description. A file whose name starts with `_` is not a recipe: it
holds what several recipes share (`_cifar10.py`). A recipe file imports another as
`kerascnn.recipes.library.NAME`, which works from the registry, by path and in a copy.
"""

import importlib
import pkgutil

from kerascnn.errors import RecipeError
from kerascnn.registry import recipes


def _register_all() -> None:
    for found in pkgutil.iter_modules(__path__):
        if found.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{found.name}")
        if not callable(getattr(module, "recipe", None)):
            raise RecipeError(
                f"{module.__file__} must define a function recipe() returning a Recipe"
            )
        recipes.register(module.recipe, name=found.name)


_register_all()
