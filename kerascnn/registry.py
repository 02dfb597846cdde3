"""The one registry of kerascnn: models, recipes and augmentation presets, each looked up by name.

A name registers once; a second registration raises. An unknown name raises an error that lists the
closest known names, so a typo on the command line is one line to fix.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from kerascnn.errors import DuplicateNameError, UnknownNameError


def unknown_name_message(kind: str, name: str, known: Iterable[str]) -> str:
    """'unknown model 'vgg61'; did you mean 'vgg16'?' with a hint where to see them all."""
    known = sorted(known)
    close = difflib.get_close_matches(str(name), known, n=3, cutoff=0.6)
    if close:
        hint = "did you mean " + " or ".join(repr(c) for c in close) + "?"
    elif len(known) <= 12:
        hint = "known: " + ", ".join(known)
    else:
        hint = f"{len(known)} are known"
    return f"unknown {kind} {name!r}; {hint} (run 'kerascnn list' to see them all)"


class Registry:
    """Names to callables, filled by the `register` decorator."""

    def __init__(self, kind: str, *, defined_in: str, defaults: dict[str, Any] | None = None):
        self.kind = kind
        self._defined_in = defined_in
        self._defaults = dict(defaults or {})
        self._entries: dict[str, Callable[..., Any]] = {}
        self._metadata: dict[str, dict[str, Any]] = {}

    @property
    def _filled(self) -> dict[str, Callable[..., Any]]:
        # The built-in entries register when their package is imported; import it on first use so a
        # lookup never depends on what the caller happened to import before.
        importlib.import_module(self._defined_in)
        return self._entries

    def register(self, fn: Callable | None = None, *, name: str | None = None, **metadata):
        """Registers `fn` under `name` (default: its `__name__`); usable as `@register`.

        `metadata` (e.g. a model's `task`) completes the registry's defaults; `names` filters on it.
        """

        def add(fn: Callable) -> Callable:
            key = name or fn.__name__
            if key in self._entries:
                other = self._entries[key]
                raise DuplicateNameError(
                    f"{self.kind} {key!r} is already registered by "
                    f"{other.__module__}.{other.__qualname__}; register under another name"
                )
            self._entries[key] = fn
            self._metadata[key] = {**self._defaults, **metadata}
            return fn

        return add(fn) if fn is not None else add

    def get(self, name: str) -> Callable[..., Any]:
        try:
            return self._filled[name]
        except (KeyError, TypeError):
            raise UnknownNameError(unknown_name_message(self.kind, name, self._entries)) from None

    def summary(self, name: str) -> str:
        """The first line of the entry's docstring."""
        doc = (self.get(name).__doc__ or "").strip()
        return doc.splitlines()[0] if doc else ""

    def metadata(self, name: str) -> dict[str, Any]:
        """What `name` was registered with, e.g. {"task": "classification"}."""
        self.get(name)
        return dict(self._metadata[name])

    def names(self, **metadata) -> list[str]:
        """All names, or those registered with the given metadata (`names(task="classification")`)."""
        return sorted(
            key
            for key in self._filled
            if all(self._metadata[key].get(k) == v for k, v in metadata.items())
        )

    def __contains__(self, name: object) -> bool:
        return name in self._filled

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._filled)


# A model's task says which questions it answers: a classifier maps images to class probabilities
# (and trains with the classification run); GAN parts are built by their GAN model.
models = Registry("model", defined_in="kerascnn.models", defaults={"task": "classification"})
recipes = Registry("recipe", defined_in="kerascnn.recipes")
augmentations = Registry("augmentation preset", defined_in="kerascnn.data.augment")
