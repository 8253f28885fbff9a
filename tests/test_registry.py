"""The shared name → item table behind the model, model-card, official-layout and blend-mode registries."""

from __future__ import annotations

import pytest

from kit.registry import Registry


def test_items_come_back_by_name_and_names_are_sorted():
    table = Registry("colour")
    table.add("red", 1)
    assert table.decorator("blue")(2) == 2  # a decorator returns what it registers
    assert table.names() == ["blue", "red"] and table.get("blue") == 2 and "red" in table and "green" not in table


def test_a_name_registered_twice_is_refused():
    table = Registry("colour")
    table.add("red", 1)
    with pytest.raises(ValueError, match="colour 'red' is registered twice"):
        table.add("red", 3)
    assert table.get("red") == 1


def test_unknown_names_suggest_the_closest_and_list_the_valid_ones():
    table = Registry("colour")
    for name in ("red", "blue"):
        table.add(name, name)
    with pytest.raises(KeyError, match=r"unknown colour 'rde' \(did you mean 'red'\?\); valid: blue, red"):
        table.get("rde")
    with pytest.raises(KeyError, match="unknown colour 'zzz'; valid: blue, red"):
        table.get("zzz")
    worded = Registry("layout", "no layout for {name!r}{hint}; known: {valid}")
    worded.add("pranet", 0)
    with pytest.raises(KeyError, match="no layout for 'xyz'; known: pranet"):
        worded.get("xyz")
