"""The one packaging setting pyproject.toml cannot say: recipes/ ships as kerascnn.recipes.library.

The recipe files live in recipes/, where users read, copy and run them, and the recipe registry is
filled from the same files as the subpackage `kerascnn.recipes.library`, in an editable install and
in a wheel alike. `packages.find` in pyproject.toml cannot put a folder under another package's
name, and a list of packages there would have to name every new subpackage; so they are found
here. Everything else is in pyproject.toml.
"""

from setuptools import find_namespace_packages, setup

setup(
    packages=[*find_namespace_packages(include=["kerascnn*"]), "kerascnn.recipes.library"],
    package_dir={"kerascnn.recipes.library": "recipes"},
)
