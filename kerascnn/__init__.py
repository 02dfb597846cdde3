"""kerascnn: classic CNN families with recipes that reproduce published numbers.

    >>> import kerascnn
    >>> model = kerascnn.create_model("deep_mnist_cnn")
    >>> result = kerascnn.recipes.run("deep_mnist", epochs=2)

The public names load on first use (PEP 562), so that `import kerascnn.cli` starts without TensorFlow.
"""

import importlib

__version__ = "0.1.0"

_LAZY = {
    "recipes": ("kerascnn.recipes", None),
    "create_model": ("kerascnn.models", "create_model"),
    "list_models": ("kerascnn.models", "list_models"),
    "fully_convolutional": ("kerascnn.models.convolutional", "fully_convolutional"),
    "export": ("kerascnn.export", "export_model"),
    "predict": ("kerascnn.tools.predict", "predict"),
    "export_run": ("kerascnn.tools.export", "export_run"),
}
__all__ = ["__version__", *_LAZY]


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module 'kerascnn' has no attribute {name!r}")
    module_name, attribute = _LAZY[name]
    module = importlib.import_module(module_name)
    return module if attribute is None else getattr(module, attribute)


def __dir__():
    return sorted(__all__)
