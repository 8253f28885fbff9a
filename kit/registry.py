"""One name → item table per kind of thing, and one error for a name that is not in it.

Every table of user-facing names in the kit (models, losses, TTA transforms, augmentation presets, schedules,
optimisers, competitions, recipes, notebooks, GPUs ...) is a :class:`Registry`. It holds the shared behaviour
once: refuse a name registered twice, list the names, and answer an unknown name with one
:class:`UnknownNameError` that names the kind, suggests the closest name and lists the valid ones.

>>> colours = Registry.of("colour", ["red", "blue"])
>>> colours.get("rde")
Traceback (most recent call last):
...
kit.registry.UnknownNameError: unknown colour 'rde' (did you mean 'red'?); valid: blue, red
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Callable, Generic, TypeVar

__all__ = ["Registry", "UnknownNameError", "DEFAULT_UNKNOWN", "json_files", "file_or_name"]

T = TypeVar("T")

#: the default message; ``{kind}``, ``{name}``, ``{where}``, ``{hint}`` and ``{valid}`` are filled in
DEFAULT_UNKNOWN = "unknown {kind} {name!r}{where}{hint}; valid: {valid}"


class UnknownNameError(KeyError, ValueError):
    """A name that is not in its table: ``kind``, the bad ``name``, the closest ``suggestion`` (or None) and the
    ``valid`` names. A KeyError and a ValueError at once; ``str()`` is the plain message (no quotes)."""

    def __init__(self, message: str, kind: str, name: object, suggestion: str | None, valid: list[str]) -> None:
        super().__init__(message)
        self.kind, self.name, self.suggestion, self.valid = kind, name, suggestion, valid

    def __str__(self) -> str:
        return str(self.args[0])

    def within(self, context: str) -> UnknownNameError:
        """The same error with ``context`` ("recipe x.json") put in front of the message."""
        return UnknownNameError(f"{context}: {self}", self.kind, self.name, self.suggestion, self.valid)


class Registry(Mapping[str, T], Generic[T]):
    """A name → item table; reads like a read-only dict whose missing keys raise :class:`UnknownNameError`.

    Args:
        kind: what the items are, in words ("model", "blend mode"), used in the messages.
        unknown: the message for a missing name (default :data:`DEFAULT_UNKNOWN`); ``{kind}``, ``{name}``,
            ``{where}`` (" in <context>" or ""), ``{hint}`` (" (did you mean 'x'?)" or "") and ``{valid}`` (the
            names) are filled in.
        sort: list the names sorted (True) or in registration order (False, for tables with a meaningful order).
        key: how a name is normalised before it is looked up or registered (e.g. lower case); default as is.
    """

    def __init__(self, kind: str, unknown: str = DEFAULT_UNKNOWN, sort: bool = True,
                 key: Callable[[str], str] | None = None) -> None:
        self.kind, self.unknown, self.sort, self.key = kind, unknown, sort, key
        self._items: dict[str, T] = {}

    @classmethod
    def of(cls, kind: str, items: Mapping[str, T] | Iterable[str], unknown: str = DEFAULT_UNKNOWN,
           sort: bool = True, key: Callable[[str], str] | None = None) -> Registry:
        """A registry filled from a mapping, or from plain names that stand for themselves (a set of options)."""
        table: Registry = cls(kind, unknown, sort, key)
        pairs = items.items() if isinstance(items, Mapping) else ((name, name) for name in items)
        for name, item in pairs:
            table.add(name, item)
        return table

    def _key(self, name: object) -> str:
        return self.key(str(name)) if self.key else name  # type: ignore[return-value]

    def add(self, name: str, item: T) -> T:
        """Register ``item`` as ``name``; a name registered twice raises ValueError."""
        name = self._key(name)
        if name in self._items:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._items[name] = item
        return item

    def decorator(self, name: str) -> Callable[[T], T]:
        """``@registry.decorator(name)``: register the decorated function or class as ``name``."""
        return lambda item: self.add(name, item)

    def names(self) -> list[str]:
        """The registered names, sorted (or in registration order when ``sort`` is False)."""
        return sorted(self._items) if self.sort else list(self._items)

    def check(self, name: str, where: str = "") -> str:
        """``name`` as registered (normalised by ``key``); an unknown name raises :class:`UnknownNameError`."""
        self.get(name, where)
        return self._key(name)

    def check_all(self, names: Iterable[str], where: str = "") -> list[str]:
        """Each of ``names`` as registered; unknown ones raise one :class:`UnknownNameError` whose ``name`` is the
        list of them (the suggestion is for the first)."""
        names = list(names)
        unknown = [name for name in names if name not in self]
        if unknown:
            raise self.error(unknown, where)
        return [self._key(name) for name in names]

    def parse(self, name: str) -> str:
        """For argparse's ``type=``: ``name`` as registered; an unknown one makes argparse print the message (one
        line, exit code 2)."""
        import argparse

        try:
            return self.check(name)
        except UnknownNameError as err:
            raise argparse.ArgumentTypeError(str(err)) from None

    def get(self, name: str, where: str = "") -> T:  # type: ignore[override]
        """The item registered as ``name``; an unknown one raises :class:`UnknownNameError` (closest name, valid
        names). ``where`` names the context in the message ("in spec 'x'")."""
        try:
            return self._items[self._key(name)]
        except (KeyError, TypeError):
            raise self.error(name, where) from None

    def error(self, name: object, where: str = "") -> UnknownNameError:
        """The :class:`UnknownNameError` for ``name`` (for callers that look names up their own way)."""
        valid = self.names()
        first = name[0] if isinstance(name, list) and name else name
        close = difflib.get_close_matches(str(self._key(first)), valid, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        message = self.unknown.format(kind=self.kind, name=name, where=f" {where}" if where else "", hint=hint,
                                      valid=", ".join(valid) or "none")
        return UnknownNameError(message, self.kind, name, close[0] if close else None, valid)

    def __getitem__(self, name: str) -> T:
        return self.get(name)

    def __contains__(self, name: object) -> bool:
        try:
            return self._key(name) in self._items
        except TypeError:
            return False

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {', '.join(self.names())})"


def json_files(kind: str, folder: Path, unknown: str = DEFAULT_UNKNOWN) -> Registry[Path]:
    """The ``*.json`` files of ``folder`` by stem (shipped recipes, studies)."""
    return Registry.of(kind, {path.stem: path for path in folder.glob("*.json")}, unknown)


def file_or_name(name_or_file: str | Path, files: Registry[Path]) -> Path:
    """``name_or_file`` itself when it is an existing .json file, else the file registered under that name."""
    path = Path(name_or_file)
    if path.suffix == ".json" and path.is_file():
        return path
    return files.get(str(name_or_file))
