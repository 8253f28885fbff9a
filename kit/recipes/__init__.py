"""Named training recipes shipped with the kit: TrainConfig fields plus tiling and inference settings.

A recipe is a JSON file in this folder (or anywhere, given by path)::

    {"description": "one line", "source": "where the settings come from", "competition": "<slug>",
     "train": {TrainConfig fields}, "tiling": {TileSettings fields} or null, "inference": {build_ensemble options},
     "competitions": {"<slug>": {"train": {...}, "tiling": {...}, "inference": {...}}}}

``competitions`` holds per-competition overrides (the demo recipe runs on every sample). Values resolve in one
order, lowest first: TrainConfig defaults < the recipe < its override for the chosen competition < explicit
settings (command-line flags, notebook parameters that are not None). ``python -m kit recipes`` lists them.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from kit.registry import Registry, UnknownNameError, file_or_name, json_files

__all__ = ["RECIPES_DIR", "RECIPES", "Recipe", "list_recipes", "load_recipe", "recipe_path", "check_recipe",
           "check_recipe_file"]

RECIPES_DIR = Path(__file__).resolve().parent
_SECTIONS = ("train", "tiling", "inference")
_TOP_KEYS = {"description", "source", "competition", "competitions", *_SECTIONS,
             "folds", "reasons", "fingerprint"}  # the last three: what `kit plan` suggests and saw (informational)
_PLACEHOLDER = "__recipe_check__"  # stands in for the data folder when a recipe is validated without data


@dataclass(frozen=True)
class Recipe:
    """One recipe resolved for one competition: its sections are plain dicts, ready to use."""

    name: str
    description: str
    source: str
    competition: str
    train: dict[str, Any] = field(default_factory=dict)
    tiling: dict[str, Any] | None = None
    inference: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    def train_values(self, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """TrainConfig fields of this recipe with ``overrides`` (None values ignored) applied on top; the class
        count comes from the competition unless the recipe or an override sets it."""
        from kit.competitions import get_profile

        values = {"competition": self.competition, "num_classes": get_profile(self.competition).num_classes,
                  **self.train}
        values.update({k: v for k, v in (overrides or {}).items() if v is not None})
        return values

    def train_config(self, **overrides: Any):
        """The :class:`~kit.train.TrainConfig` of this recipe; ``overrides`` that are not None win."""
        from kit.train import TrainConfig

        return TrainConfig.from_dict(self.train_values(overrides))

    def tile_settings(self):
        """The :class:`~kit.tiling.TileSettings` of the recipe (None: it trains on whole images)."""
        from kit.tiling import TileSettings

        return None if self.tiling is None else TileSettings(**self.tiling)

    def to_dict(self) -> dict[str, Any]:
        """The resolved recipe as a recipe file (no per-competition overrides left)."""
        return {"description": self.description, "source": self.source, "competition": self.competition,
                "train": self.train, "tiling": self.tiling, "inference": self.inference}


#: shipped recipe name (file stem) -> its file
RECIPES: Registry[Path] = json_files(
    "recipe", RECIPES_DIR, "recipe {name!r} is neither a recipe file nor a shipped recipe{hint}; shipped: {valid}")


def list_recipes() -> list[str]:
    """Names of the shipped recipes (file stems), sorted."""
    return RECIPES.names()


def recipe_path(name_or_file: str | Path) -> Path:
    """The file of a shipped recipe name, or ``name_or_file`` itself when it is an existing file."""
    return file_or_name(name_or_file, RECIPES)


def _read(path: Path) -> dict[str, Any]:
    try:
        values = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"recipe {path}: not valid JSON ({err})") from None
    if not isinstance(values, dict):
        raise ValueError(f"recipe {path}: expected a JSON object, got {type(values).__name__}")
    unknown = sorted(set(values) - _TOP_KEYS)
    if unknown:
        raise ValueError(f"recipe {path}: unknown keys {unknown}; valid: {', '.join(sorted(_TOP_KEYS))}")
    for key in ("description", "competition"):
        if not isinstance(values.get(key), str) or not values[key]:
            raise ValueError(f"recipe {path}: {key!r} must be a non-empty string")
    return values


def load_recipe(name_or_file: str | Path, competition: str | None = None) -> Recipe:
    """Read a recipe (shipped name or file) and resolve it for ``competition`` (default: the recipe's own)."""
    path = recipe_path(name_or_file)
    values = _read(path)
    slug = competition or values["competition"]
    override = values.get("competitions", {}).get(slug, {})
    unknown = sorted(set(override) - set(_SECTIONS))
    if unknown:
        raise ValueError(f"recipe {path}: competitions.{slug} has unknown keys {unknown}; "
                         f"valid: {', '.join(_SECTIONS)}")
    sections: dict[str, Any] = {}
    for key in _SECTIONS:
        base, extra = values.get(key), override.get(key)
        if base is not None and not isinstance(base, dict):
            raise ValueError(f"recipe {path}: {key!r} must be an object or null")
        sections[key] = {**(base or {}), **(extra or {})} if (base is not None or extra) else None
    return Recipe(name=path.stem, description=values["description"], source=values.get("source", ""),
                  competition=slug, train=sections["train"] or {}, tiling=sections["tiling"],
                  inference=sections["inference"] or {}, path=path)


def _inference_options() -> set[str]:
    from kit.ensemble.build import build_ensemble

    return set(inspect.signature(build_ensemble).parameters) - {"run_dirs", "out", "tiles_dir"}


def check_recipe(recipe: Recipe) -> None:
    """Raise ValueError/KeyError naming the recipe file and the bad key when any section would not run.

    Checks: the competition exists; the TrainConfig builds (data folder stood in); the architecture is in the
    zoo; the loss spec parses; the augmentation preset exists; the tiling settings build; the inference options
    are :func:`kit.ensemble.build.build_ensemble` keywords with a valid TTA and blend.
    """
    from kit.augment.presets import PRESETS
    from kit.competitions import get_profile
    from kit.infer.blend import BLEND_WEIGHTS
    from kit.infer.tta import get_tta
    from kit.losses import build_loss
    from kit.models import get_builder
    from kit.train import TrainConfig

    where = f"recipe {recipe.name} ({recipe.path})"
    try:
        get_profile(recipe.competition)
        fields = {f.name for f in dataclasses.fields(TrainConfig)}
        for key in ("out_dir", "tiles_dir", "data_dir"):
            if key in recipe.train:
                raise ValueError(f"train.{key} is chosen per run (--out, --tiles, --data), not in a recipe")
        unknown = sorted(set(recipe.train) - fields)
        if unknown:
            raise KeyError(f"unknown train keys {unknown}")
        config = recipe.train_config(tiles_dir=_PLACEHOLDER)
        get_builder(config.arch)
        build_loss(config.loss, mode=config.mode, ignore_index=config.ignore_index)
        PRESETS.check(config.augment)
        recipe.tile_settings()
        options = _inference_options()
        unknown = sorted(set(recipe.inference) - options)
        if unknown:
            raise KeyError(f"unknown inference keys {unknown}; valid: {', '.join(sorted(options))}")
        if "tta" in recipe.inference:
            get_tta(recipe.inference["tta"])
        if "blend" in recipe.inference:
            BLEND_WEIGHTS.check(recipe.inference["blend"])
    except UnknownNameError as err:
        raise err.within(where) from None
    except (ValueError, KeyError, TypeError) as err:
        message = err.args[0] if err.args else str(err)
        raise ValueError(f"{where}: {message}") from None


def check_recipe_file(name_or_file: str | Path) -> list[str]:
    """Check a recipe for its own competition and for each per-competition override; returns those slugs."""
    path = recipe_path(name_or_file)
    slugs = list(dict.fromkeys([_read(path)["competition"], *_read(path).get("competitions", {})]))
    for slug in slugs:
        check_recipe(load_recipe(path, slug))
    return slugs
