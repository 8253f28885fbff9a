"""A study file: a base recipe, settings shared by every cell, and a grid of axes whose product gives the cells.

::

    {"description": "...", "recipe": "neopolyp-pranet-ce", "competition": "bkai-igh-neopolyp",
     "folds": "all", "budget_hours": 9, "base": {"epochs": 50},
     "grid": {"model": [{"label": "UNet ResNet34", "arch": "unet", "encoder": "resnet34"}, ...],
              "loss": ["ce", "focal"]}}

An axis named after a TrainConfig field lists values of that field; any axis may list objects of several fields
(with an optional ``label``). Shipped studies live in ``kit/recipes/studies/``.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kit.recipes import RECIPES_DIR, load_recipe
from kit.registry import Registry, file_or_name, json_files

__all__ = ["STUDIES_DIR", "STUDIES", "Cell", "Study", "list_studies", "load_study"]

STUDIES_DIR = RECIPES_DIR / "studies"
#: shipped study name (file stem) -> its file
STUDIES: Registry[Path] = json_files(
    "study", STUDIES_DIR, "study {name!r} is neither a file nor a shipped study{hint}; shipped: {valid}")
_KEYS = {"description", "recipe", "competition", "folds", "budget_hours", "base", "grid"}


@dataclass(frozen=True)
class Cell:
    """One configuration of the grid: its folder name, its labels per axis and its TrainConfig overrides."""

    name: str
    labels: dict[str, str]
    values: dict[str, Any]

    @property
    def title(self) -> str:
        """The labels joined for tables and plots, e.g. "UNet ResNet34 · ce"."""
        return " · ".join(self.labels.values())


@dataclass(frozen=True)
class Study:
    """A parsed study file."""

    name: str
    description: str
    recipe: str
    competition: str | None
    folds: str | list[int]
    budget_hours: float | None
    base: dict[str, Any] = field(default_factory=dict)
    grid: dict[str, list[Any]] = field(default_factory=dict)
    path: Path | None = None

    def cells(self) -> list[Cell]:
        """The product of the grid's axes, in file order (the first axis varies slowest)."""
        options = [[_option(axis, value) for value in values] for axis, values in self.grid.items()]
        cells = []
        for combo in itertools.product(*options):
            labels = {axis: label for axis, (label, _) in zip(self.grid, combo)}
            values: dict[str, Any] = {}
            for _, fields in combo:
                values.update(fields)
            cells.append(Cell(_folder_name(labels.values()), labels, values))
        names = [c.name for c in cells]
        if len(set(names)) < len(names):
            raise ValueError(f"study {self.path}: two cells share the folder name; give the axis values labels")
        return cells


def _option(axis: str, value: Any) -> tuple[str, dict[str, Any]]:
    if isinstance(value, dict):
        fields = {k: v for k, v in value.items() if k != "label"}
        return str(value.get("label") or "/".join(str(v) for v in fields.values())), fields
    label = "x".join(map(str, value)) if isinstance(value, list) else str(value)
    return label, {axis: value}


def _folder_name(labels) -> str:
    return "__".join(re.sub(r"[^A-Za-z0-9.-]+", "-", label.replace("+", "p")).strip("-") for label in labels)


def list_studies() -> list[str]:
    """Names of the shipped study files."""
    return STUDIES.names()


def load_study(name_or_file: str | Path) -> Study:
    """Read and check a study (shipped name or file): keys, grid axes, the base recipe, every cell's fields."""
    from kit.train import TrainConfig

    path = file_or_name(name_or_file, STUDIES)
    try:
        values = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"study {path}: not valid JSON ({err})") from None
    unknown = sorted(set(values) - _KEYS)
    if unknown or "recipe" not in values or not isinstance(values.get("grid"), dict) or not values["grid"]:
        raise ValueError(f"study {path}: needs 'recipe' and a non-empty 'grid' object; unknown keys {unknown}; "
                         f"valid: {', '.join(sorted(_KEYS))}")
    for axis, options in values["grid"].items():
        if not isinstance(options, list) or not options:
            raise ValueError(f"study {path}: grid.{axis} must be a non-empty list")
    beside = path.parent / str(values["recipe"])  # a recipe file beside the study, else a name or path
    recipe_source = str(beside) if beside.is_file() else str(values["recipe"])
    study = Study(name=path.stem, description=values.get("description", ""), recipe=recipe_source,
                  competition=values.get("competition"), folds=values.get("folds", "all"),
                  budget_hours=values.get("budget_hours"), base=dict(values.get("base", {})),
                  grid=dict(values["grid"]), path=path)
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    load_recipe(study.recipe, study.competition)
    for cell in study.cells():
        bad = sorted((set(study.base) | set(cell.values)) - fields)
        if bad:
            raise KeyError(f"study {path}: cell {cell.name} sets unknown TrainConfig fields {bad}")
    return study
