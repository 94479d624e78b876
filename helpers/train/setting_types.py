"""Settings read from files, checked against the type hints of the dataclass fields they fill.

Experiment and grid files are JSON or YAML, and YAML reads ``1e-3`` as the string ``"1e-3"`` (its floats
need a dot), so a number given as a string is converted; anything else of the wrong type (``epochs: "ten"``)
is refused with the key's name, before any data is prepared. The hints of the fields are the schema: a new
field is checked without a line here.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import types
import typing
from collections.abc import Mapping
from typing import Any


class SettingError(ValueError):
    """A setting of the wrong type or out of range; the message names its key (``train.epochs``).
    ``keyed=False``: the message does not start with a key (unknown keys, a whole file)."""

    def __init__(self, message: str, keyed: bool = True):
        super().__init__(message)
        self.keyed = keyed


@functools.cache
def field_types(cls: type) -> dict[str, Any]:
    """``{field name: type hint}`` of a dataclass, its annotations resolved (``from __future__ import annotations``)."""
    hints = typing.get_type_hints(cls)
    return {field.name: hints[field.name] for field in dataclasses.fields(cls)}


def check_fields(instance: Any) -> None:
    """Convert every field of a dataclass ``instance`` to its hinted type in place (``"1e-3"`` -> 0.001 for a
    float), or raise ``SettingError`` naming the field. A nested dataclass given as a mapping is built with its
    class' ``from_dict`` (errors name ``outer.inner``)."""
    for name, hint in field_types(type(instance)).items():
        value = getattr(instance, name)
        converted = typed_value(value, hint, name)
        if converted is not value:
            object.__setattr__(instance, name, converted)  # frozen dataclasses too


def typed_value(value: Any, hint: Any, key: str) -> Any:
    """``value`` as the type ``hint`` says, or ``SettingError`` naming ``key`` and what was expected."""
    origin = typing.get_origin(hint)
    if hint is Any or hint is object:
        return value
    if origin in (typing.Union, types.UnionType):
        return _union_value(value, typing.get_args(hint), key)
    if origin is typing.Literal:
        if value in typing.get_args(hint):
            return value
        raise SettingError(f"{key} must be one of {', '.join(map(repr, typing.get_args(hint)))}, got {value!r}")
    if dataclasses.is_dataclass(hint):
        return _nested_value(value, hint, key)
    if origin in (list, tuple, dict) or hint in (list, tuple, dict):
        return _container_value(value, hint, key)
    if hint in (bool, int, float, str):
        return _scalar_value(value, hint, key)
    return value  # a type this checker does not know (e.g. a class of the approach): left to its own checks


def _union_value(value: Any, members: tuple, key: str) -> Any:
    if value is None:
        if type(None) in members:
            return None
        raise SettingError(f"{key} must be given (it cannot be null/None)")
    errors = []
    for member in (m for m in members if m is not type(None)):
        try:
            return typed_value(value, member, key)
        except SettingError as error:
            errors.append(error)
    if len(errors) == 1:
        raise errors[0]
    expected = " or ".join(_type_name(m) for m in members)
    raise SettingError(f"{key} must be {expected}, got {value!r}")


def _nested_value(value: Any, cls: type, key: str) -> Any:
    if isinstance(value, cls):
        return value
    if not isinstance(value, Mapping):
        raise SettingError(f"{key} must be a mapping of {cls.__name__} settings, got {value!r}")
    build = getattr(cls, "from_dict", None) or (lambda values: cls(**values))
    try:
        return build(value)
    except SettingError as error:
        raise SettingError(f"{key}.{error}" if error.keyed else f"{key}: {error}") from None
    except (TypeError, ValueError) as error:
        raise SettingError(f"{key}: {error}") from None


def _container_value(value: Any, hint: Any, key: str) -> Any:
    origin = typing.get_origin(hint) or hint
    arguments = typing.get_args(hint)
    if origin is dict:
        if not isinstance(value, Mapping):
            raise SettingError(f"{key} must be a mapping ({{name: value}}), got {value!r}")
        if not arguments:
            return value
        key_type, value_type = arguments
        return {typed_value(k, key_type, f"{key} key"): typed_value(v, value_type, f"{key}.{k}")
                for k, v in value.items()}
    if not isinstance(value, (list, tuple)):
        example = "[0, 1]" if arguments and arguments[0] is int else "[...]"
        raise SettingError(f"{key} must be a list, e.g. {example}, got {value!r}")
    if not arguments:
        return value
    if origin is tuple and not (len(arguments) == 2 and arguments[1] is Ellipsis):
        if len(value) != len(arguments):
            raise SettingError(f"{key} must hold {len(arguments)} values, got {value!r}")
        items = [typed_value(v, t, f"{key}[{i}]") for i, (v, t) in enumerate(zip(value, arguments))]
    else:
        items = [typed_value(v, arguments[0], f"{key}[{i}]") for i, v in enumerate(value)]
    if all(new is old for new, old in zip(items, value)):
        return value
    return tuple(items) if origin is tuple else items


def _scalar_value(value: Any, hint: type, key: str) -> Any:
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        raise SettingError(f"{key} must be true or false, got {value!r}")
    if hint is str:
        if isinstance(value, str):
            return value
        raise SettingError(f"{key} must be a string, got {value!r}")
    number = _number(value, key)
    if hint is float:
        return number  # an int stays an int: 0 and 0.0 name the same run, and its identity stays what it was
    if isinstance(number, float):
        if not number.is_integer():
            raise SettingError(f"{key} must be a whole number, got {value!r}")
        return int(number)
    return number


def _number(value: Any, key: str) -> int | float:
    """An int or float from a number or its text (``"1e-3"``, ``"32"``); bools and NaN refused."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise SettingError(f"{key} must be a number, got {value!r}")
    if isinstance(value, str):
        text = value.strip().replace("_", "")
        try:
            value = int(text)
        except ValueError:
            try:
                value = float(text)
            except ValueError:
                raise SettingError(f"{key} must be a number, got {value!r}") from None
    if isinstance(value, float) and math.isnan(value):
        raise SettingError(f"{key} must be a number, got NaN")
    return value


def _type_name(hint: Any) -> str:
    names = {bool: "true/false", int: "a whole number", float: "a number", str: "a string", type(None): "null"}
    if hint in names:
        return names[hint]
    origin = typing.get_origin(hint) or hint
    return {list: "a list", tuple: "a list", dict: "a mapping"}.get(origin, getattr(hint, "__name__", str(hint)))


def dataclass_from_dict(cls: type, values: Mapping[str, Any]) -> Any:
    """``cls(**values)``, refusing unknown keys with the list of known ones (a misspelt setting must not be
    silently ignored)."""
    if not isinstance(values, Mapping):
        raise SettingError(f"{cls.__name__} settings must be a mapping ({{name: value}}), got {values!r}", keyed=False)
    known = {field.name for field in dataclasses.fields(cls)}
    unknown = set(values) - known
    if unknown:
        raise SettingError(f"unknown {cls.__name__} key(s): {', '.join(sorted(map(str, unknown)))}; "
                           f"known: {', '.join(sorted(known))}", keyed=False)
    return cls(**values)


def check_at_least(instance: Any, minimums: Mapping[str, int | float], prefix: str = "") -> None:
    """Refuse fields below their minimum (None passes: it means "not set"), naming the key and the minimum."""
    for name, minimum in minimums.items():
        value = getattr(instance, name)
        if value is not None and value < minimum:
            raise SettingError(f"{prefix}{name} must be at least {minimum}, got {value!r}")
