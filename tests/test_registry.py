"""The shared name → item table behind every name table of the kit, and its one error for an unknown name."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import kit
from kit.kernels import load_kernel_settings
from kit.losses import build_loss
from kit.models.pranet import resolve_prediction_map
from kit.models.pretrained import weights_key
from kit.registry import Registry, UnknownNameError


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


def test_the_unknown_name_error_is_a_key_and_value_error_with_a_plain_message():
    table = Registry.of("colour", ["red", "blue"], sort=False)
    with pytest.raises(UnknownNameError) as caught:
        table["rde"]
    err = caught.value
    assert isinstance(err, KeyError) and isinstance(err, ValueError)
    assert str(err) == "unknown colour 'rde' (did you mean 'red'?); valid: red, blue"  # no KeyError quotes
    assert (err.kind, err.name, err.suggestion, err.valid) == ("colour", "rde", "red", ["red", "blue"])
    assert str(err.within("recipe x.json")) == f"recipe x.json: {err}"
    assert table.check_all(["red"]) == ["red"] and list(table) == ["red", "blue"] and len(table) == 2
    with pytest.raises(UnknownNameError, match=r"unknown colour \['bleu', 'x'\] \(did you mean 'blue'\?\)"):
        table.check_all(["red", "bleu", "x"])


def test_a_normalising_key_and_a_context_reach_the_lookup_and_the_message():
    table = Registry.of("transform", ["hflip"], key=lambda name: name.lower().replace("-", ""))
    assert table.get("H-Flip") == "hflip" and table.check("H-FLIP") == "hflip" and "h-flip" in table
    with pytest.raises(UnknownNameError, match="unknown transform 'vflip' in spec 'x' \\(did you mean 'hflip'"):
        table.get("vflip", "in spec 'x'")


def _every_registry() -> dict[str, Registry]:
    """Every module-level Registry of the kit (importing each module), by ``module.attribute``."""
    found: dict[int, tuple[str, Registry]] = {}
    for module_info in pkgutil.walk_packages(kit.__path__, "kit."):
        module = importlib.import_module(module_info.name)
        for attribute, value in vars(module).items():
            if isinstance(value, Registry) and id(value) not in found:
                found[id(value)] = (f"{module_info.name}.{attribute}", value)
    return dict(found.values())


REGISTRIES = _every_registry()


def test_every_name_table_of_the_kit_is_found():
    kinds = {table.kind for table in REGISTRIES.values()}
    assert {"loss", "TTA transform", "augmentation preset", "competition", "schedule", "optimizer", "notebook",
            "recipe", "study", "gpu", "blend mode", "model name", "official layout", "output mode",
            "head activation"} <= kinds


@pytest.mark.parametrize("where", sorted(REGISTRIES))
def test_every_registry_answers_an_unknown_name_with_the_one_error_and_a_suggestion(where):
    table = REGISTRIES[where]
    valid = table.names()
    bad = valid[0] + "x"
    assert valid and bad not in table
    with pytest.raises(UnknownNameError) as caught:
        table.get(bad)
    err, message = caught.value, str(caught.value)
    assert err.suggestion in valid and repr(err.suggestion) in message and repr(bad) in message
    assert all(name in message for name in valid) and err.kind.split()[0].lower() in message.lower()
    assert isinstance(err, KeyError) and isinstance(err, ValueError)


@pytest.mark.parametrize("lookup,name", [
    (lambda name: load_kernel_settings().check_all([name]), "03-inferenc"),
    (lambda name: weights_key("resnet18", name), "imagenett"),
    (lambda name: build_loss(f"0.5*{name}"), "dcie"),
    (lambda name: resolve_prediction_map(name), "lateral_map_22"),
])
def test_lookups_built_per_call_raise_the_one_error_too(lookup, name):
    with pytest.raises(UnknownNameError) as caught:
        lookup(name)
    assert caught.value.suggestion and repr(caught.value.suggestion) in str(caught.value)
