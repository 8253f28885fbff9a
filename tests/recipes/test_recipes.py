"""Shipped recipes: each validates, builds its own model, and trains in smoke mode; flags override recipes."""

from __future__ import annotations

import argparse
import fnmatch
import json
import tomllib
from pathlib import Path

import pandas as pd
import pytest
import torch

from kit.__main__ import build_parser, main
from kit.commands.train import config_values
from kit.models import model_info
from kit.models.spec import build_model_from_spec
from kit.recipes import RECIPES_DIR, check_recipe_file, list_recipes, load_recipe
from kit.sample import make_sample
from kit.tiling import TileSettings
from kit.train import run_training
from kit.train.builders import model_spec
from tests.infer_helpers import sample_tiles

ORGANS, KIDNEY, POLYP = "hubmap-organ-segmentation", "hubmap-kidney-segmentation", "bkai-igh-neopolyp"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Tiny data of each competition: HuBMAP 2022 tiles, HuBMAP 2021 slides + tiles, NeoPolyp images."""
    root = tmp_path_factory.mktemp("recipes")
    sample_tiles(ORGANS, root / "organs", root / "organ_tiles", TileSettings(sz=64, pixel_size=0.8), n=6, size=256,
                 seed=1)
    sample_tiles(KIDNEY, root / "kidney", root / "kidney_tiles", TileSettings(sz=64, reduce=2.0), n=4, size=480,
                 seed=1)
    make_sample(POLYP, root / "polyp", n=6, size=160, seed=1)
    return {ORGANS: {"tiles_dir": str(root / "organ_tiles"), "validation": "tiles"},
            KIDNEY: {"tiles_dir": str(root / "kidney_tiles"), "data_dir": str(root / "kidney")},
            POLYP: {"data_dir": str(root / "polyp")}}


def test_the_issue_recipes_are_shipped_and_packaged():
    names = list_recipes()
    for name in ("hubmap2022-uresnet34-hc", "hubmap2022-pranet", "hubmap2021-unet-seresnext101", "demo-cpu",
                 "neopolyp-pranet-ce-dice", "neopolyp-pranet-ce"):
        assert name in names
    patterns = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"]["kit"]
    for path in [*RECIPES_DIR.glob("*.json"), *RECIPES_DIR.glob("studies/*.json")]:
        relative = path.relative_to(RECIPES_DIR.parent).as_posix()
        assert any(fnmatch.fnmatch(relative, p) for p in patterns), f"{relative} would not ship in the wheel"
    untagged = {"pranet", "hardnet_mseg", "neounet"}  # paper backbones no smp/timm tag serves: a file or scratch
    for name in names:  # recipes name their weights; the demo runs offline
        train = load_recipe(name).train
        offline = name == "demo-cpu" or train["arch"] in untagged
        assert train["encoder_weights"] is None if offline else train["encoder_weights"] == "imagenet", name


def test_recipes_check_lists_every_recipe_with_one_line(capsys):
    assert main(["recipes", "--check"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == len(list_recipes()) and all(line.startswith("ok  ") for line in lines)


@pytest.mark.parametrize("name", list_recipes())
def test_each_recipe_builds_its_model_and_trains_in_smoke_mode(name, data, tmp_path):
    for slug in check_recipe_file(name):
        recipe = load_recipe(name, slug)
        config = recipe.train_config(**data[slug], out_dir=str(tmp_path / slug / name))
        with torch.device("meta"):  # the recipe's own architecture and kwargs, shapes only (no weights, no FLOPs)
            out = build_model_from_spec(model_spec(config)).eval()(torch.rand(1, 3, 64, 64))
        assert out.shape == (1, model_info(config.arch).channels(config.num_classes), 64, 64)  # neounet: 2 sigmoids
        smoke = config.smoke().replace(epochs=1, max_steps_per_epoch=1, n_folds=2)  # the samples: 2 patients
        summary = run_training(smoke)
        assert summary["epochs"] == 1 and (tmp_path / slug / name / "oof.npz").is_file()
        assert smoke.loss == recipe.train.get("loss", smoke.loss)


def _args(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["train", "--out", "runs/x", "--tiles", "t", *argv])


def test_explicit_flags_override_the_recipe_and_nothing_else_does(tmp_path):
    values = config_values(_args("--recipe", "demo-cpu", "--epochs", "3"))
    assert values["epochs"] == 3 and values["max_lr"] == 1e-3 and values["encoder"] == "resnet18"
    assert values["num_classes"] == 1 and values["out_dir"] == "runs/x" and values["tiles_dir"] == "t"
    kidney = config_values(_args("--recipe", "demo-cpu", "--competition", KIDNEY))
    assert kidney["n_folds"] == 3 and kidney["competition"] == KIDNEY  # the recipe's override for that competition
    polyp = config_values(_args("--recipe", "demo-cpu", "--competition", POLYP))
    assert polyp["num_classes"] == 3 and polyp["loss"] == "0.5*ce+0.5*dice"
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"epochs": 7, "batch_size": 2}))
    layered = config_values(_args("--recipe", "demo-cpu", "--config", str(config), "--batch-size", "5",
                                  "--set", "weight_decay=0.01"))
    assert (layered["epochs"], layered["batch_size"], layered["weight_decay"]) == (7, 5, 0.01)


def test_a_bad_recipe_is_one_line_naming_the_file_and_key(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"description": "x", "competition": ORGANS, "train": {"epoch": 3}}))
    assert main(["recipes", "--check", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "bad.json" in err and "'epoch'" in err
    assert main(["train", "--recipe", "no-such-recipe", "--out", str(tmp_path / "r"), "--tiles", "t"]) == 2
    assert "demo-cpu" in capsys.readouterr().err  # the valid names are listed


def test_train_recipe_from_the_command_line_writes_the_recipe_values(data, tmp_path):
    out = tmp_path / "cli"
    assert main(["train", "--recipe", "demo-cpu", "--tiles", data[ORGANS]["tiles_dir"], "--out", str(out),
                 "--smoke", "--loss", "dice", "--set", "validation=tiles"]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["loss"] == "dice" and config["max_lr"] == 1e-3 and config["max_minutes"] == 5.0
    assert pd.read_csv(tmp_path / "runs.csv")["run"].tolist() == ["cli"]


def test_recipes_ship_in_the_kit_wheel(tmp_path):
    import zipfile

    from kit.kernels.wheels import build_kit_wheel

    names = set(zipfile.ZipFile(build_kit_wheel(tmp_path)).namelist())
    assert {"kit/recipes/demo-cpu.json", "kit/recipes/studies/neopolyp-table.json"} <= names


def test_kernel_settings_inject_a_recipe_and_fold_list_and_feed_02_from_several_kernels(tmp_path):
    import nbformat

    from kit.kernels.build import build_kernel_folders
    from kit.kernels.settings import repo_root

    settings = tmp_path / "kernels"
    settings.mkdir()
    (settings / "datasets.json").write_text((repo_root() / "kernels" / "datasets.json").read_text())
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell("COMPETITION = None\nRECIPE = None\nFOLDS = None",
                                                metadata={"tags": ["parameters"]})]
    nbformat.write(notebook, tmp_path / "01.ipynb")
    common = {"notebook": str(tmp_path / "01.ipynb"), "gpu": True, "internet": False, "competition": True}
    for name, folds in (("01-a", [0, 1]), ("01-b", [2, 3, 4])):
        (settings / f"{name}.json").write_text(json.dumps({**common, "name": name, "slug": f"seg-kit-{name}",
                                                          "parameters": {"RECIPE": "demo-cpu", "FOLDS": folds}}))
    (settings / "02.json").write_text(json.dumps({**common, "name": "02", "slug": "seg-kit-02", "gpu": False,
                                                  "notebook": str(tmp_path / "01.ipynb"), "kernels": ["01-a", "01-b"]}))
    folders = {f.name: f for f in build_kernel_folders("me", ORGANS, tmp_path / "b", settings_dir=settings)}
    cells = nbformat.read(folders["01-b"] / "01.ipynb", as_version=4).cells
    injected = next(c.source for c in cells if "injected-parameters" in c.metadata.get("tags", []))
    assert "RECIPE = 'demo-cpu'" in injected and "FOLDS = [2, 3, 4]" in injected and "COMPETITION" in injected
    meta = json.loads((folders["02"] / "kernel-metadata.json").read_text())
    assert meta["kernel_sources"] == ["me/seg-kit-01-a", "me/seg-kit-01-b"]


def test_the_demo_runs_the_demo_recipe(tmp_path):
    from kit.demo import demo_steps

    for slug, tiling in ((ORGANS, {"SZ": 128, "PIXEL_SIZE": 0.8}), (KIDNEY, {"SZ": 128, "REDUCE": 4.0})):
        steps = {s.notebook: s.parameters for s in demo_steps(slug, tmp_path)}
        assert steps["01_training"]["RECIPE"] == "demo-cpu"
        assert tiling.items() <= steps["00_tiling"].items()
        assert steps["02_ensembling"]["TTA"] == load_recipe("demo-cpu").inference["tta"]
