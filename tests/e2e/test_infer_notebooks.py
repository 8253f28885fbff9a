"""`python -m kit ensemble` / `predict` and notebooks 02 + 03 in smoke mode, on a real (1-epoch) training run."""

from __future__ import annotations

import json

import nbformat
import pandas as pd
import pytest

from tests.infer_helpers import HUBMAP22, TINY_SPEC, tiny_sample
from kit.__main__ import main
from kit.infer.ensemble_config import EnsembleConfig
from kit.submit import validate_submission


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A 2022 sample, its 32-px tiles and one tiny model trained for one epoch on them (a real run folder)."""
    from kit.tiling import TileSettings, tile_dataset
    from kit.train import TrainConfig, run_training

    root = tmp_path_factory.mktemp("chain")
    data = tiny_sample(HUBMAP22, root / "data").out_dir
    tile_dataset(HUBMAP22, data, root / "tiles", settings=TileSettings(sz=32, reduce=1.0, filter=False),
                 progress=False)
    config = TrainConfig(out_dir=str(root / "runs" / "tiny"), tiles_dir=str(root / "tiles"), competition=HUBMAP22,
                         arch="unet", encoder=None, model_kwargs=dict(TINY_SPEC), n_folds=2, epochs=1,
                         batch_size=8, max_lr=1e-3, channels_last=False)
    run_training(config)
    return data, root / "runs" / "tiny"


@pytest.mark.parametrize("command, flag", [("ensemble", "--runs"), ("predict", "--budget-minutes")])
def test_commands_have_help(capsys, command, flag):
    with pytest.raises(SystemExit) as stop:
        main([command, "--help"])
    assert stop.value.code == 0 and flag in capsys.readouterr().out


def test_cli_ensemble_then_predict_and_score(trained, tmp_path, capsys):
    data, run = trained
    ensemble = tmp_path / "models" / "ensemble.json"
    assert main(["ensemble", "--runs", str(run), "--out", str(ensemble), "--tta", "hflip", "--min-area", "4"]) == 0
    config = EnsembleConfig.load(ensemble)
    assert config.tta == ["hflip"] and config.min_area == 4 and (tmp_path / "models" / "models" / "tiny.pt").is_file()
    assert config.models[0].input.pixel_size == pytest.approx(0.4)  # HPA tiles at reduce 1: 0.4 µm/px
    out = tmp_path / "submission.csv"
    assert main(["predict", "--competition", HUBMAP22, "--data", str(data), "--ensemble", str(ensemble.parent),
                 "--out", str(out), "--device", "cpu", "--score"]) == 0
    printed = capsys.readouterr().out
    assert "validated" in printed and "hold-out Dice" in printed
    validate_submission(out, HUBMAP22, data / "sample_submission.csv")
    assert main(["predict", "--competition", HUBMAP22, "--data", str(data), "--ensemble", str(tmp_path / "no"),
                 "--out", str(out)]) == 2
    assert "ensemble config" in capsys.readouterr().err


def outputs(path) -> tuple[str, int]:
    """All text output of an executed notebook and its number of images."""
    book = nbformat.read(path, as_version=4)
    texts, images = [], 0
    for cell in book.cells:
        for output in cell.get("outputs", []):
            texts.append(output.get("text", "") + output.get("data", {}).get("text/plain", ""))
            images += "image/png" in output.get("data", {})
    return "\n".join(texts), images


def test_notebooks_02_and_03_in_smoke_mode(trained, tmp_path, monkeypatch):
    from kit.notebooks import notebook_path, run_notebook

    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's inline backend, so figures become PNG outputs

    for name in ("02_ensembling", "03_inference"):  # committed without outputs, knobs in the tagged cell
        book = nbformat.read(notebook_path(name), as_version=4)
        assert not any(cell.get("outputs") for cell in book.cells if cell.cell_type == "code")
        assert sum("parameters" in cell.metadata.get("tags", []) for cell in book.cells) == 1
    data, run = trained
    path, _ = run_notebook("02_ensembling", tmp_path, {"COMPETITION": HUBMAP22, "SMOKE": True, "SEED": 0,
                                                       "RUN_DIRS": [str(run)], "OUT": "models/ensemble.json"},
                           timeout=300)
    config = EnsembleConfig.load(tmp_path / "models" / "ensemble.json")
    assert config.tta == ["identity"] and (tmp_path / "models" / config.models[0].checkpoint).is_file()
    text, images = outputs(path)
    assert "OOF mean per-image Dice" in text and images == 2  # weights and threshold curves
    path, _ = run_notebook("03_inference", tmp_path, {"COMPETITION": HUBMAP22, "SMOKE": True, "SEED": 0,
                                                      "DATA_DIR": str(data)}, timeout=300)
    validate_submission(tmp_path / "submission.csv", HUBMAP22, data / "sample_submission.csv")
    predictions = pd.read_csv(tmp_path / "predictions.csv")
    assert set(predictions["status"]) == {"predicted"}
    text, images = outputs(path)
    assert "hold-out Dice" in text and images == 1  # the overlays
    assert json.loads((tmp_path / "models" / "ensemble.json").read_text())["competition"] == HUBMAP22
