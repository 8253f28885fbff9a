"""Every fold in one command (one pooled OOF), one fold per device, and studies: budget, interruption, rerun."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from kit.__main__ import main
from kit.artifacts.oof import read_oof
from kit.ensemble.build import family_of
from kit.models import list_models
from kit.recipes import load_recipe
from kit.study import cell_config, load_study, run_study
from kit.tiling import TileSettings
from kit.train.folds import combine_oof, expected_oof_ids, parse_folds, train_folds
from tests.infer_helpers import sample_tiles

ORGANS = "hubmap-organ-segmentation"


@pytest.fixture(scope="module")
def tiles(tmp_path_factory):
    root = tmp_path_factory.mktemp("folds")
    return sample_tiles(ORGANS, root / "data", root / "tiles", TileSettings(sz=64, pixel_size=0.8), n=6, size=192,
                        seed=2)


def _ids(path) -> list[str]:
    return [image.id for image in read_oof(path)]


def _smoke(tiles, out, n_folds: int):
    config = load_recipe("demo-cpu").train_config(tiles_dir=str(tiles), out_dir=str(out), n_folds=n_folds,
                                                  validation="tiles")  # no source images: validate the tiles
    return config.smoke().replace(epochs=1, max_steps_per_epoch=1, progress=False)


def test_parse_folds():
    assert parse_folds("all", 5) == [0, 1, 2, 3, 4] and parse_folds("0,2,4", 5) == [0, 2, 4]
    assert parse_folds([3, 1, 3], 5) == [3, 1]
    for bad in ("5", "a,b", []):
        with pytest.raises(ValueError, match="folds"):
            parse_folds(bad, 5)


def test_folds_all_leaves_one_oof_covering_every_image_and_a_rerun_skips(tiles, tmp_path, capsys):
    out = tmp_path / "demo"
    argv = ["train", "--recipe", "demo-cpu", "--tiles", str(tiles), "--data", str(tiles.parent / "data"),
            "--out", str(out), "--folds", "all", "--n-folds", "3", "--smoke", "--epochs", "1"]
    assert main(argv) == 0
    ids = _ids(out)
    config = json.loads((out / "fold0" / "config.json").read_text())
    assert ids == sorted(set(ids))
    from kit.train import TrainConfig

    images = set(pd.read_csv(tiles.parent / "data" / "train.csv", dtype=str)["id"])
    assert set(ids) == expected_oof_ids(TrainConfig.from_dict(config)) <= images  # every training image, once
    assert sorted(pd.read_csv(out / "runs.csv")["run"]) == ["fold0", "fold1", "fold2"]
    families = {family_of(json.loads((out / f"fold{k}" / "config.json").read_text())) for k in range(3)}
    assert len(families) == 1  # notebook 02 / kit ensemble weigh the folds as one member
    stamps = [(out / f"fold{k}" / "best.pt").stat().st_mtime_ns for k in range(3)]
    capsys.readouterr()
    assert main(argv) == 0
    assert capsys.readouterr().out.count("finished before, skipped") == 3
    assert stamps == [(out / f"fold{k}" / "best.pt").stat().st_mtime_ns for k in range(3)]
    assert main([*argv, "--loss", "dice"]) == 2  # finished folds of another recipe are refused, not kept silently
    assert "loss" in capsys.readouterr().err


def test_one_fold_per_device_runs_parallel_processes(tiles, tmp_path):
    out = tmp_path / "parallel"
    summaries = train_folds(_smoke(tiles, out, 2), "all", devices=["", ""], log=lambda _: None)
    assert all(s["epochs"] == 1 for s in summaries.values())
    assert len(_ids(out)) == len(expected_oof_ids(_smoke(tiles, out, 2), whole_images=False))  # tiles validated
    assert sorted(pd.read_csv(out / "runs.csv")["run"]) == ["fold0", "fold1"]  # both processes' rows kept


def test_overlapping_folds_are_refused(tiles, tmp_path):
    for n in (2, 3):
        train_folds(_smoke(tiles, tmp_path / f"n{n}", n), [0], log=lambda _: None)
    with pytest.raises(ValueError, match="overlap"):
        combine_oof([tmp_path / "n2" / "fold0", tmp_path / "n3" / "fold0"], tmp_path / "oof.npz")


def _study(tmp_path) -> str:
    path = tmp_path / "study.json"
    path.write_text(json.dumps({"description": "2x2", "recipe": "demo-cpu", "folds": "all",
                                "base": {"n_folds": 2, "epochs": 1, "validation": "tiles"},
                                "grid": {"loss": ["bce", "dice"], "augment": ["none", "light"]}}))
    return str(path)


def test_a_study_interrupted_after_its_first_cell_finishes_on_rerun(tiles, tmp_path):
    study, out = _study(tmp_path), tmp_path / "study"

    def interrupt(text: str) -> None:  # stop the second cell after its first fold, as a killed session would
        if "bce__light" in text and "fold 1: training" in text:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_study(study, out, tiles_dir=str(tiles), smoke=True, log=interrupt)
    assert pd.read_csv(out / "runs.csv")["run"].tolist() == ["bce__none"]
    assert (out / "bce__light" / "fold0" / "fold_summary.json").is_file()
    first = (out / "bce__none" / "fold0" / "best.pt").stat().st_mtime_ns
    result = run_study(study, out, tiles_dir=str(tiles), smoke=True, log=lambda _: None)
    assert result.stopped == "" and result.trained == ["bce__light", "dice__none", "dice__light"]
    runs = pd.read_csv(out / "runs.csv")
    assert sorted(runs["run"]) == ["bce__light", "bce__none", "dice__light", "dice__none"]
    assert (out / "bce__none" / "fold0" / "best.pt").stat().st_mtime_ns == first  # finished cell skipped
    table = (out / "results.md").read_text().strip().splitlines()
    assert len(table) == 2 + 4 and "folds 0,1: mean" in table[2]
    assert (out / "study.png").stat().st_size > 0
    for cell in runs["run"]:
        assert len(_ids(out / cell)) == len(expected_oof_ids(_smoke(tiles, out, 2), whole_images=False))


def test_a_spent_budget_starts_no_cell(tiles, tmp_path):
    result = run_study(_study(tmp_path), tmp_path / "s", tiles_dir=str(tiles), smoke=True, budget_hours=1e-9,
                       log=lambda _: None)
    assert result.stopped == "budget" and result.trained == [] and not (tmp_path / "s" / "runs.csv").exists()


def test_the_shipped_neopolyp_study_has_the_write_up_table_shape(capsys):
    study = load_study("neopolyp-table")
    cells = study.cells()
    assert len(cells) == 13 * 3 and study.folds == [0]
    for cell in cells:
        config = cell_config(study, cell, "runs/x", data_dir="data")
        assert config.arch in list_models() and config.image_size == (480, 640) and config.num_classes == 3
    assert main(["study", "neopolyp-table", "--out", "x", "--list"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 39


def test_results_command_prints_the_study_table(tmp_path, capsys):
    from kit.results import append_run

    append_run(tmp_path / "runs.csv", {"run": "a", "architecture": "unet", "loss": "ce", "val_dice": 0.5})
    assert main(["results", "--runs", str(tmp_path / "runs.csv")]) == 0
    assert "unet | - | ce" in capsys.readouterr().out


def test_notebooks_01_with_folds_and_02_weigh_the_folds_as_one_member(tiles, tmp_path):
    from kit.notebooks import run_notebook

    run_dir = tmp_path / "runs" / "demo"
    run_notebook("01_training", tmp_path / "out", {
        "COMPETITION": ORGANS, "RECIPE": "demo-cpu", "TILES_DIR": str(tiles), "DATA_DIR": str(tiles.parent / "data"),
        "RUN_DIR": str(run_dir), "FOLDS": "all", "N_FOLDS": 2, "SMOKE": True, "N_SHOW": 1, "EPOCHS": 1})
    assert (run_dir / "fold0" / "best.pt").is_file() and (run_dir / "fold1" / "best.pt").is_file()
    assert len(_ids(run_dir)) == len(expected_oof_ids(_smoke(tiles, run_dir, 2)))  # every image
    out = tmp_path / "models" / "ensemble.json"
    run_notebook("02_ensembling", tmp_path / "out", {"COMPETITION": ORGANS, "RUN_DIRS": [str(run_dir)],
                                                     "OUT": str(out), "SMOKE": True})
    ensemble = json.loads(out.read_text())
    assert len(ensemble["models"]) == 2 and ensemble["weights"] == [0.5, 0.5]  # one member, its weight shared
