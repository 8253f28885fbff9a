"""The notebooks' parameters cells hold the library defaults (or leave them to a named recipe)."""

from __future__ import annotations

import pytest

from kit.notebooks import NOTEBOOKS, PARAMETER_DEFAULTS, as_parameters, library_default, parameter_values
from kit.recipes import list_recipes, load_recipe

#: parameters that stand for no library default: this run's names and paths, the smoke switch, display knobs, and
#: machine settings (processes, GPUs, the Kaggle time budget)
NOT_DEFAULTS = {
    "00_tiling": {"COMPETITION", "DATA_DIR", "OUT_DIR", "WORKERS", "SMOKE", "SEED", "N_SHOW"},
    "01_training": {"RECIPE", "TILES_DIR", "DATA_DIR", "RUN_DIR", "FOLDS", "GPUS", "WORKERS", "SMOKE", "N_SHOW"},
    "02_ensembling": {"COMPETITION", "RUN_DIRS", "RUNS_ROOT", "OUT", "SMOKE", "SEED"},
    "03_inference": {"COMPETITION", "BUDGET_MINUTES", "N_SHOW", "SHOW_SIDE", "SMOKE", "SEED"},
}


@pytest.mark.parametrize("notebook", list(NOTEBOOKS))
def test_parameters_cell_holds_the_library_defaults(notebook):
    values = parameter_values(notebook)
    assert set(values) == set(PARAMETER_DEFAULTS[notebook]) | NOT_DEFAULTS[notebook]  # every parameter classified
    recipe = values.get("RECIPE")
    for name, reference in PARAMETER_DEFAULTS[notebook].items():
        if recipe is not None and values[name] is None:
            continue  # the named recipe (else the library default) supplies it
        default = library_default(reference)
        assert values[name] == (list(default) if isinstance(default, tuple) else default), f"{notebook}: {name}"


def test_the_training_notebook_names_a_shipped_recipe():
    recipe = parameter_values("01_training")["RECIPE"]
    assert recipe in list_recipes()
    assert load_recipe(recipe).train_config(tiles_dir="tiles").epochs >= 1


def test_library_settings_become_notebook_parameters():
    assert as_parameters("00_tiling", {"sz": 128, "make_zip": True}) == {"SZ": 128, "ZIP": True}
    assert as_parameters("02_ensembling", {"per_group": False}) == {"PER_ORGAN": False}
    with pytest.raises(KeyError, match="02_ensembling"):
        as_parameters("02_ensembling", {"epochs": 3})
