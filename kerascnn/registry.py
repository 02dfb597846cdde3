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

    def __init__(self, kind: str, *, defined_in: str):
        self.kind = kind
        self._defined_in = defined_in
        self._entries: dict[str, Callable[..., Any]] = {}

    @property
    def _filled(self) -> dict[str, Callable[..., Any]]:
        # The built-in entries register when their package is imported; import it on first use so a
        # lookup never depends on what the caller happened to import before.
        importlib.import_module(self._defined_in)
        return self._entries

    def register(self, fn: Callable | None = None, *, name: str | None = None):
        """Registers `fn` under `name` (default: its `__name__`); usable as `@register`."""

        def add(fn: Callable) -> Callable:
            key = name or fn.__name__
            if key in self._entries:
                other = self._entries[key]
                raise DuplicateNameError(
                    f"{self.kind} {key!r} is already registered by "
                    f"{other.__module__}.{other.__qualname__}; register under another name"
                )
            self._entries[key] = fn
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

    def names(self) -> list[str]:
        return sorted(self._filled)

    def __contains__(self, name: object) -> bool:
        return name in self._filled

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._filled)


models = Registry("model", defined_in="kerascnn.models")
recipes = Registry("recipe", defined_in="kerascnn.recipes")
augmentations = Registry("augmentation preset", defined_in="kerascnn.data.augment")
