"""Parse loss spec strings such as ``"0.4*ce + 0.6*dice"`` or ``"bce + tversky(alpha=0.3, beta=0.7)"``.

Grammar: ``term ('+' term)*`` with ``term = [weight '*'] name ['(' key=value, ... ')']``. A missing weight
is 1; weights are not normalised (the loss is Σ weight·term). Values are Python literals (numbers, True,
False, None, strings, lists/tuples). Names are checked against the registry by :func:`kit.losses.build_loss`.
"""

from __future__ import annotations

import ast
import math
import re
from dataclasses import dataclass, field
from typing import Any

__all__ = ["LossTerm", "parse_loss_spec"]

_TERM_HEAD = re.compile(
    r"\s*(?:(?P<weight>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*\*\s*)?(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*"
)


@dataclass(frozen=True)
class LossTerm:
    """One weighted term of a spec: ``weight * name(**kwargs)``."""

    weight: float
    name: str
    kwargs: dict[str, Any] = field(default_factory=dict)


def _closing_paren(text: str, start: int) -> int:
    """Index of the ')' matching the '(' at ``start`` (quotes respected); -1 if there is none."""
    depth, quote = 0, None
    for i in range(start, len(text)):
        ch = text[i]
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
            if depth == 0:
                return i
    return -1


def _parse_kwargs(inner: str, name: str, spec: str) -> dict[str, Any]:
    try:
        call = ast.parse(f"_({inner})", mode="eval").body
    except SyntaxError:
        raise ValueError(f"loss spec {spec!r}: cannot parse the arguments of {name!r}: ({inner})") from None
    if call.args or any(kw.arg is None for kw in call.keywords):
        raise ValueError(f"loss spec {spec!r}: arguments of {name!r} must be key=value pairs; got ({inner})")
    kwargs = {}
    for kw in call.keywords:
        try:
            kwargs[kw.arg] = ast.literal_eval(kw.value)
        except ValueError:
            raise ValueError(
                f"loss spec {spec!r}: value of {name}({kw.arg}=...) must be a literal (number, string, list, "
                f"True/False/None); got {ast.unparse(kw.value)!r}"
            ) from None
    return kwargs


def parse_loss_spec(spec: str) -> list[LossTerm]:
    """Split a loss spec into weighted terms.

    >>> parse_loss_spec("0.4*ce + 0.6*dice(smooth=0)")
    [LossTerm(weight=0.4, name='ce', kwargs={}), LossTerm(weight=0.6, name='dice', kwargs={'smooth': 0})]

    Raises:
        ValueError: empty spec, bad syntax, non-positive weight or non-literal argument (the message shows
            where).
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"loss spec must be a non-empty string such as '0.4*ce+0.6*dice'; got {spec!r}")
    terms, pos = [], 0
    while True:
        head = _TERM_HEAD.match(spec, pos)
        if head is None:
            raise ValueError(
                f"loss spec {spec!r}: expected '[weight*]name[(key=value, ...)]' at position {pos}: {spec[pos:]!r}"
            )
        weight = float(head["weight"]) if head["weight"] is not None else 1.0
        name = head["name"].lower()
        if not 0 < weight < math.inf:
            raise ValueError(f"loss spec {spec!r}: weight of {name!r} must be > 0 and finite; got {weight:g}")
        pos, kwargs = head.end(), {}
        if pos < len(spec) and spec[pos] == "(":
            end = _closing_paren(spec, pos)
            if end < 0:
                raise ValueError(f"loss spec {spec!r}: unbalanced '(' after {name!r}")
            kwargs = _parse_kwargs(spec[pos + 1 : end], name, spec)
            pos = end + 1
        terms.append(LossTerm(weight, name, kwargs))
        rest = re.compile(r"\s*(\+|$)").match(spec, pos)
        if rest is None:
            raise ValueError(f"loss spec {spec!r}: expected '+' or the end at position {pos}: {spec[pos:]!r}")
        if rest.group(1) == "":
            return terms
        pos = rest.end()
