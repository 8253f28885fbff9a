"""Command-line flags derived from a step's settings: default, type and help come from the dataclass field (or the
function parameter), never re-typed here (:mod:`kit.options`).

:func:`flag_arguments` is the pure builder (the keyword arguments of ``add_argument``); :func:`add_field_flags`
adds a table of them to a parser and :func:`field_values` reads the parsed values back by field name.
"""

from __future__ import annotations

import argparse
from typing import Any, Callable, Mapping

from kit.options import default_of, help_of, shown, value_type

__all__ = ["flag_arguments", "add_field_flags", "field_values"]


def flag_arguments(source: type | Callable, name: str, *, explicit: bool = False, type: Callable | None = None,
                   help: str | None = None) -> dict[str, Any]:
    """``add_argument`` keyword arguments for the flag of field (or parameter) ``name`` of ``source`` (pure).

    ``dest`` is the field name; the default is the field's, named in the help; a bool becomes ``store_true``
    (default False) or ``store_false`` (default True: name the flag ``--no-...``); a list annotation or a list or
    tuple default takes one or more values. ``explicit``: the flag defaults to None so that only a flag given
    overrides (a recipe, a config file), and its help names the library default. ``type`` parses what the
    annotation cannot (sizes, tuples); ``help`` is for a function parameter (a dataclass field carries its own).
    """
    default = default_of(source, name)
    text = help if help is not None else help_of(source, name)
    if not text:
        raise ValueError(f"{getattr(source, '__qualname__', source)}.{name} has no help text for its flag")
    kind, many = value_type(source, name)
    kind, many = type or kind, many or isinstance(default, (list, tuple))
    if kind is bool and not many:
        if explicit:
            raise ValueError(f"{name}: a bool flag cannot default to None (explicit)")
        if default:
            text += " (this flag turns it off)"
        return {"dest": name, "action": "store_false" if default else "store_true", "default": default, "help": text}
    if kind is None:
        raise TypeError(f"{getattr(source, '__qualname__', source)}.{name}: pass type= to parse its values")
    if default is not None:
        text += f" ({'library ' if explicit else ''}default: {shown(default)})"
    arguments = {"dest": name, "type": kind, "default": None if explicit else default, "help": text}
    return {**arguments, "nargs": "+"} if many else arguments


def add_field_flags(parser: argparse.ArgumentParser, source: type | Callable, flags: Mapping[str, str], *,
                    explicit: bool = False, types: Mapping[str, Callable] | None = None,
                    helps: Mapping[str, str] | None = None) -> None:
    """Add one flag per ``flags`` entry (flag -> field name of ``source``), see :func:`flag_arguments`."""
    for flag, name in flags.items():
        parser.add_argument(flag, **flag_arguments(source, name, explicit=explicit, type=(types or {}).get(flag),
                                                   help=(helps or {}).get(flag)))


def field_values(args: argparse.Namespace, flags: Mapping[str, str]) -> dict[str, Any]:
    """The parsed values of ``flags`` by field name."""
    return {name: getattr(args, name) for name in flags.values()}
