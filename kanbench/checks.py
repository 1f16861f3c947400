"""Checks of configuration values, each failing with one ValueError line that names the
key, the value and what is allowed; shared by the run config and the family schemas."""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import fields
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kanbench.tasks import Task


def section(name: str, values: Any, schema: type) -> Any:
    """An instance of the dataclass schema from the mapping values, every key known and
    every value of its field's type (see has_type)."""
    if not isinstance(values, Mapping):
        raise ValueError(f"config section {name!r} must be a mapping")
    allowed = {f.name for f in fields(schema)}
    no_unknown_keys(name, values, allowed)
    typed = {}
    hints = typing.get_type_hints(schema)
    for f in fields(schema):
        if f.name in values:
            value = values[f.name]
            if isinstance(value, Sequence) and not isinstance(value, str):
                value = tuple(value)
            if not has_type(value, hints[f.name]):
                raise ValueError(
                    f"{name}.{f.name} must be {type_name(hints[f.name])}, got {value!r}"
                )
            typed[f.name] = value
    return schema(**typed)


def has_type(value: Any, annotation: Any) -> bool:
    """Whether value fits a schema field's annotation (int, float, bool, str, dict,
    tuple[T, ...], tuple[T1, T2], X | None); an int is a float, a bool is neither."""
    if annotation is Any:
        return True
    options = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return any(has_type(value, option) for option in options)
    if annotation is type(None):
        return value is None
    if typing.get_origin(annotation) is tuple:
        if not isinstance(value, tuple):
            return False
        if len(options) == 2 and options[1] is Ellipsis:
            return all(has_type(item, options[0]) for item in value)
        return len(value) == len(options) and all(map(has_type, value, options))
    if annotation is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, typing.get_origin(annotation) or annotation)


def type_name(annotation: Any) -> str:
    """An annotation in words: 'an integer', 'a list of integers or null', ..."""
    names = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}
    names |= {dict: "a mapping", type(None): "null"}
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return " or ".join(type_name(option) for option in typing.get_args(annotation))
    if typing.get_origin(annotation) is tuple:
        options = typing.get_args(annotation)
        if len(options) == 2 and options[1] is Ellipsis:
            return f"a list of {type_name(options[0]).split(' ', 1)[1]}s"
        return f"a list of {len(options)} {type_name(options[0]).split(' ', 1)[1]}s"
    return names.get(annotation, str(annotation))


def as_dict(instance: Any) -> dict:
    return {f.name: getattr(instance, f.name) for f in fields(instance)}


def no_unknown_keys(name: str, section: Mapping, allowed: set[str]) -> None:
    unknown = sorted(set(section) - allowed)
    if unknown:
        close = difflib.get_close_matches(unknown[0], allowed, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"unknown key(s) {unknown} in {name}{hint}; allowed: {sorted(allowed)}")


def choice(key: str, value: Any, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise ValueError(f"{key} must be one of {list(allowed)}, got {value!r}")


def integer(key: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{key} must be an integer >= {minimum}, got {value!r}")


def positive(key: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{key} must be a positive number, got {value!r}")


def nonnegative(key: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise ValueError(f"{key} must be a number >= 0, got {value!r}")


def fraction(key: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ValueError(f"{key} must be a number in [0, 1), got {value!r}")


def schedule(key: str, sizes: Sequence[int]) -> None:
    if not sizes:
        raise ValueError(f"{key} must list at least one grid size")
    for value in sizes:
        integer(key, value, minimum=1)
    if any(b <= a for a, b in zip(sizes[:-1], sizes[1:], strict=True)):
        raise ValueError(f"{key} must be strictly increasing, got {list(sizes)}")


def shape(key: str, widths: Sequence[int], task: Task) -> None:
    """widths: at least 2 positive widths, from the task's inputs to one output."""
    if len(widths) < 2:
        raise ValueError(f"{key} must list at least 2 widths, got {list(widths)}")
    for value in widths:
        integer(key, value, minimum=1)
    if widths[0] != task.input_dim or widths[-1] != 1:
        raise ValueError(
            f"{key} {list(widths)} must start with the task's {task.input_dim} "
            f"inputs and end with 1 output"
        )
