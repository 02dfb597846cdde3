"""Overrides: change any recipe field by its dotted key, with type checks and helpful rejections.

From Python the values are objects (`epochs=2`, `optimizer={"learning_rate": 3e-4}`); from the command
line they are text (`--set optimizer.learning_rate=3e-4`) read as Python literals, never evaluated.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal, Union

from kerascnn.errors import RecipeError

_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


def apply_overrides(recipe, overrides: Mapping[str, Any], *, from_text: bool = False):
    """Returns `recipe` with each dotted key of `overrides` set; nested mappings set sub-fields."""
    for key, value in overrides.items():
        recipe = _set(recipe, str(key).split("."), value, key=str(key), from_text=from_text)
    return recipe


def parse_assignments(assignments: list[str]) -> dict[str, str]:
    """['a.b=1', 'c=x'] -> {'a.b': '1', 'c': 'x'}, rejecting items without '='."""
    parsed = {}
    for item in assignments:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise RecipeError(
                f"--set expects KEY=VALUE (e.g. --set optimizer.learning_rate=3e-4), got {item!r}"
            )
        parsed[key.strip()] = value.strip()
    return parsed


def _set(obj, path: list[str], value, *, key: str, from_text: bool):
    head, rest = path[0], path[1:]
    if dataclasses.is_dataclass(obj):
        names = [f.name for f in dataclasses.fields(obj)]
        if head not in names:
            raise RecipeError(_unknown_key(key, head, names))
        current = getattr(obj, head)
        if rest:
            new = _set(current, rest, value, key=key, from_text=from_text)
        elif dataclasses.is_dataclass(current) and isinstance(value, Mapping):
            new = current
            for sub_key, sub_value in value.items():
                new = _set(
                    new,
                    str(sub_key).split("."),
                    sub_value,
                    key=f"{key}.{sub_key}",
                    from_text=from_text,
                )
        else:
            new = _coerce(value, typing.get_type_hints(type(obj))[head], key, from_text)
        return dataclasses.replace(obj, **{head: new})
    if isinstance(obj, Mapping):
        # Free-form keyword arguments (model.args): checked against the builder when the run starts.
        current = obj.get(head, {})
        new = (
            _set(
                current if isinstance(current, Mapping) else {},
                rest,
                value,
                key=key,
                from_text=from_text,
            )
            if rest
            else _literal(value)
            if from_text
            else value
        )
        return {**obj, head: new}
    raise RecipeError(f"unknown recipe key {key!r}: {head!r} is inside a plain value, not a group")


def _unknown_key(key: str, head: str, names: list[str]) -> str:
    close = difflib.get_close_matches(head, names, n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"unknown recipe key {key!r}; {hint}valid keys here: {', '.join(names)}"


def _literal(text: str):
    if not isinstance(text, str):
        return text
    lowered = text.strip().lower()
    if lowered in ("none", "null"):
        return None
    if lowered in ("true", "false"):
        return lowered == "true"
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text


def _type_name(tp) -> str:
    if typing.get_origin(tp) is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if typing.get_origin(tp) in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if tp is type(None):
        return "None"
    if typing.get_origin(tp) is tuple:
        return "a tuple (" + ", ".join(_type_name(a) for a in typing.get_args(tp)) + ")"
    return getattr(tp, "__name__", str(tp))


def _coerce(value, tp, key: str, from_text: bool):
    """`value` as type `tp`, or a RecipeError saying what was expected."""
    converted = _convert(value, tp, from_text)
    if converted is _INVALID:
        raise RecipeError(f"{key} expects {_type_name(tp)}, got {shown(value)}")
    return converted


def checked_type(value, tp, key: str):
    """`value` (a Python object, not text) as type `tp` (a list given for a tuple becomes a tuple),
    or a RecipeError saying what was expected: how a recipe's dataclasses check their fields."""
    return _coerce(value, tp, key, from_text=False)


def shown(value, limit: int = 80) -> str:
    """`repr(value)` cut to `limit` characters, for one-line messages (safe for any object)."""
    try:
        text = repr(value)
    except Exception:  # e.g. an int too long to print (sys.set_int_max_str_digits)
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


_INVALID = object()


def _convert_tuple(value, args):
    """A list or tuple (JSON has no tuples) checked item by item against tuple[...] `args`."""
    if not isinstance(value, (list, tuple)):
        return _INVALID
    types_ = [args[0]] * len(value) if len(args) == 2 and args[1] is Ellipsis else list(args)
    if len(types_) != len(value):
        return _INVALID
    items = tuple(_convert(item, tp, False) for item, tp in zip(value, types_, strict=True))
    return _INVALID if any(item is _INVALID for item in items) else items


def _convert(value, tp, from_text: bool):
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        return _literal(value) if from_text else value
    if origin in (Union, types.UnionType):
        if type(None) in args and (value is None or (from_text and _literal(value) is None)):
            return None
        for arg in args:
            if (
                arg is not type(None)
                and (result := _convert(value, arg, from_text)) is not _INVALID
            ):
                return result
        return _INVALID
    if origin is Literal:
        return value if value in args else _INVALID
    if tp is bool:
        if from_text and isinstance(value, str):
            text = value.strip().lower()
            return True if text in _TRUE else False if text in _FALSE else _INVALID
        return value if isinstance(value, bool) else _INVALID
    if tp in (int, float):
        if from_text and isinstance(value, str):
            value = _literal(value)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return _INVALID
        if tp is int:
            if isinstance(value, int):
                return value
            return int(value) if value.is_integer() else _INVALID
        try:
            return float(value)
        except OverflowError:  # an int beyond float's range
            return _INVALID
    if tp is str:
        return value if isinstance(value, str) else _INVALID
    if origin is tuple:
        return _convert_tuple(_literal(value) if from_text else value, args)
    if origin in (Mapping, dict) or tp in (dict, Mapping):
        value = _literal(value) if from_text else value
        return dict(value) if isinstance(value, Mapping) else _INVALID
    return value if isinstance(value, tp) else _INVALID
