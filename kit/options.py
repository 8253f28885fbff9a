"""One source for a step's defaults: dataclass fields that carry their help, read by the CLI, notebooks and tests.

A step's settings are a dataclass whose fields are declared with :func:`option` (default and help text), or a
function's keyword parameters. :func:`default_of` reads a default from either, :func:`help_of` a field's help and
:func:`value_type` the scalar type its annotation names; :mod:`kit.commands.flags` derives the command-line flags
from them, so no flag re-types a default.

>>> from dataclasses import dataclass
>>> @dataclass
... class Tiles:
...     sz: int = option(256, "tile side in pixels")
...     stride: int | None = option(None, "pixels between tiles")
>>> default_of(Tiles, "sz"), help_of(Tiles, "sz"), value_type(Tiles, "stride")
(256, 'tile side in pixels', (<class 'int'>, False))
"""

from __future__ import annotations

import dataclasses
import inspect
import types
import typing
from typing import Any, Callable

__all__ = ["option", "default_of", "help_of", "value_type", "shown"]

_SCALARS = (bool, int, float, str)


def option(default: Any = dataclasses.MISSING, help: str = "", *,
           factory: Callable[[], Any] | None = None) -> Any:
    """A dataclass field with ``default`` (``factory`` builds a mutable one) and its ``help`` text."""
    metadata = {"help": help}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def _name(source: type | Callable) -> str:
    return getattr(source, "__qualname__", repr(source))


def _field(source: type, name: str) -> dataclasses.Field:
    fields = {f.name: f for f in dataclasses.fields(source)}
    if name not in fields:
        raise KeyError(f"{_name(source)} has no field {name!r}; fields: {', '.join(fields)}")
    return fields[name]


def default_of(source: type | Callable, name: str) -> Any:
    """The default of field ``name`` of dataclass ``source``, or of parameter ``name`` of function ``source``;
    KeyError when there is no such field or parameter, or it has no default."""
    if dataclasses.is_dataclass(source):
        field = _field(source, name)
        if field.default_factory is not dataclasses.MISSING:
            return field.default_factory()
        default = field.default
    else:
        parameters = inspect.signature(source).parameters
        if name not in parameters:
            raise KeyError(f"{_name(source)} has no parameter {name!r}; parameters: {', '.join(parameters)}")
        default = parameters[name].default
    if default in (dataclasses.MISSING, inspect.Parameter.empty):
        raise KeyError(f"{_name(source)}.{name} has no default")
    return default


def help_of(source: type | Callable, name: str) -> str:
    """The help text of field ``name`` of dataclass ``source`` ("" for a function parameter or a plain field)."""
    return _field(source, name).metadata.get("help", "") if dataclasses.is_dataclass(source) else ""


def value_type(source: type | Callable, name: str) -> tuple[type | None, bool]:
    """(scalar type, is a list) of ``name``'s annotation: ``int | None`` -> (int, False), ``list[str]`` ->
    (str, True), ``str | Path`` -> (str, False); (None, False) when no bool/int/float/str can parse it."""
    hint = typing.get_type_hints(source)[name]
    union = typing.get_origin(hint) in (typing.Union, types.UnionType)
    members = [m for m in typing.get_args(hint) if m is not type(None)] if union else [hint]
    if len(members) == 1 and typing.get_origin(members[0]) is list:
        items = typing.get_args(members[0])
        return (items[0] if len(items) == 1 and items[0] in _SCALARS else None), True
    if len(members) == 1 and members[0] in _SCALARS:
        return members[0], False
    return (str if str in members else None), False


def shown(value: Any) -> str:
    """A default as a user types it: 0.001, 1e-05, identity hflip vflip."""
    if isinstance(value, (list, tuple)):
        return " ".join(map(shown, value))
    return format(value, "g") if isinstance(value, float) else str(value)
