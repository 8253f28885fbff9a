"""The demo chain: the plan names only real notebook parameters, and a smoke run writes and scores everything."""

from __future__ import annotations

import json

import nbformat
import pandas as pd
import pytest

from kit.competitions import list_competitions
from kit.demo import demo_steps, export_plots, run_demo
from kit.notebooks import parameter_values


def parameter_names(notebook: str) -> set[str]:
    """Names assigned in the notebook's ``parameters`` cell."""
    return set(parameter_values(notebook))


@pytest.mark.parametrize("smoke", [False, True])
@pytest.mark.parametrize("competition", list_competitions())
def test_every_demo_parameter_exists_in_its_notebook(competition, smoke, tmp_path):
    steps = demo_steps(competition, tmp_path, smoke=smoke)
    assert [s.notebook for s in steps] == ["00_tiling", "01_training", "02_ensembling", "03_inference"]
    for step in steps:
        unknown = set(step.parameters) - parameter_names(step.notebook)
        assert not unknown, f"{step.notebook} has no parameters {sorted(unknown)}"  # papermill would ignore them


def test_steps_chain_each_output_into_the_next_input(tmp_path):
    tiling, training, ensembling, inference = (s.parameters for s in demo_steps("hubmap-organ-segmentation", tmp_path))
    assert training["TILES_DIR"] == tiling["OUT_DIR"]
    assert ensembling["RUN_DIRS"] == [training["RUN_DIR"]]
    assert inference["ENSEMBLE"] == ensembling["OUT"]
    assert inference["DATA_DIR"] == tiling["DATA_DIR"]
    neo = demo_steps("bkai-igh-neopolyp", tmp_path)[1].parameters
    assert neo["TILES_DIR"] is None and neo["DATA_DIR"] == tiling["DATA_DIR"]  # NeoPolyp trains on whole images


def test_unknown_competition_lists_the_valid_ones(tmp_path):
    with pytest.raises(KeyError, match="hubmap-organ-segmentation"):
        demo_steps("sartorius", tmp_path)


def test_smoke_demo_runs_the_four_notebooks_and_scores_the_submission(tmp_path, monkeypatch):
    monkeypatch.delenv("MPLBACKEND", raising=False)  # let the notebooks render their figures
    run_dir = tmp_path / "demo"
    summary = run_demo("hubmap-organ-segmentation", run_dir, smoke=True, log=lambda _: None)
    assert set(summary.seconds) == {"sample", "00_tiling", "01_training", "02_ensembling", "03_inference"}
    for name in ("00_tiling", "01_training", "02_ensembling", "03_inference"):
        assert (run_dir / "notebooks" / f"{name}.ipynb").is_file()
    assert (run_dir / "runs" / "unet" / "best.pt").is_file()
    assert (run_dir / "models" / "ensemble.json").is_file()
    submission = pd.read_csv(run_dir / "submission.csv")
    sample = pd.read_csv(run_dir / "data" / "sample_submission.csv")
    assert list(submission["id"].astype(str)) == list(sample["id"].astype(str))
    index = pd.read_csv(run_dir / "tiles" / "index.csv")
    assert summary.tiles_total == len(index) and summary.tiles_kept == int(index["kept"].sum()) > 0
    log = pd.read_csv(run_dir / "runs" / "unet" / "log.csv")
    assert summary.last_epoch["epoch"] == int(log["epoch"].iloc[-1])
    assert summary.oof_dice == json.loads((run_dir / "models" / "ensemble.json").read_text())["oof_score"]
    assert 0.0 <= summary.holdout["score"] <= 1.0 and summary.holdout["n_images"] == len(sample)
    assert summary.plots and all(p.suffix == ".png" and p.stat().st_size > 0 for p in summary.plots)
    saved = json.loads((run_dir / "summary.json").read_text())
    assert saved["holdout"]["score"] == summary.holdout["score"]
    text = str(summary)
    assert "hold-out" in text and f"{summary.holdout['score']:.4f}" in text


def test_export_plots_writes_each_png_output(tmp_path):
    nb = nbformat.v4.new_notebook()
    png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8/5+hHgAHggJ/PchI7wAAAABJRU5ErkJggg=="
    cell = nbformat.v4.new_code_cell("plot()")
    cell.outputs = [nbformat.v4.new_output("display_data", data={"image/png": png}),
                    nbformat.v4.new_output("stream", text="no picture")]
    nb.cells = [cell, nbformat.v4.new_code_cell("x = 1")]
    path = tmp_path / "01_training.ipynb"
    nbformat.write(nb, path)
    (written,) = export_plots(path, tmp_path / "plots")
    assert written.name == "01_training_1.png" and written.read_bytes().startswith(b"\x89PNG")
