"""One name → item table per kind of thing (models, model cards, official layouts, blend modes).

Each kind keeps its own table and its own error wording; this class holds the shared behaviour once: refuse a
name registered twice, list the names sorted, and answer an unknown name with one KeyError that suggests the
closest name and lists the valid ones.
"""

from __future__ import annotations

import difflib
from typing import Callable, Generic, TypeVar

__all__ = ["Registry"]

T = TypeVar("T")


class Registry(Generic[T]):
    """A name → item table.

    Args:
        kind: what the items are, in words ("model", "blend mode"), used in the messages.
        unknown: the KeyError text for a missing name; ``{name}``, ``{hint}`` (" (did you mean 'x'?)" or "")
            and ``{valid}`` (the sorted names) are filled in.
    """

    def __init__(self, kind: str, unknown: str = "unknown {kind} {name!r}{hint}; valid: {valid}") -> None:
        self.kind, self.unknown = kind, unknown
        self._items: dict[str, T] = {}

    def add(self, name: str, item: T) -> T:
        """Register ``item`` as ``name``; a name registered twice raises ValueError."""
        if name in self._items:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._items[name] = item
        return item

    def decorator(self, name: str) -> Callable[[T], T]:
        """``@registry.decorator(name)``: register the decorated function or class as ``name``."""
        return lambda item: self.add(name, item)

    def names(self) -> list[str]:
        """The registered names, sorted."""
        return sorted(self._items)

    def get(self, name: str) -> T:
        """The item registered as ``name``; an unknown name raises KeyError (closest name, valid names)."""
        try:
            return self._items[name]
        except (KeyError, TypeError):
            close = difflib.get_close_matches(str(name), self.names(), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            message = self.unknown.format(kind=self.kind, name=name, hint=hint, valid=", ".join(self.names()))
            raise KeyError(message) from None

    def __contains__(self, name: object) -> bool:
        return name in self._items
