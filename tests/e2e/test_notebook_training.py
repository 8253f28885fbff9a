"""Notebook 01 in smoke mode with papermill, on tiles the tiler made from a tiny generated sample."""

from __future__ import annotations

import json

import nbformat
import numpy as np
import pandas as pd
import pytest

from kit.artifacts.oof import read_oof
from kit.models.checkpoint import load_checkpoint
from kit.notebooks import notebook_path, run_notebook
from kit.results import read_runs
from kit.sample import make_sample
from kit.tiling import TileSettings, tile_dataset
from kit.train import oof_scores

ORGANS = "hubmap-organ-segmentation"
#: the knobs notebooks/README and `make demo` rely on (interfaces.md)
REQUIRED = ("COMPETITION", "SMOKE", "SEED", "TILES_DIR", "DATA_DIR", "RUN_DIR", "ARCH", "ENCODER", "LOSS", "EPOCHS",
            "BATCH_SIZE", "IMAGE_SIZE", "AUGMENT", "LR", "MIN_LR", "GPUS", "MAX_MINUTES")


def _cell_tagged(notebook, tag: str):
    cells = [c for c in notebook.cells if tag in c.metadata.get("tags", [])]
    assert len(cells) == 1, f"expected one cell tagged {tag!r}, found {len(cells)}"
    return cells[0]


def test_notebook_is_committed_without_outputs_and_has_the_parameters():
    notebook = nbformat.read(notebook_path("01_training"), as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]
    source = _cell_tagged(notebook, "parameters").source
    names = {line.split("=")[0].strip() for line in source.splitlines() if "=" in line and not line.startswith("#")}
    missing = [p for p in REQUIRED if p not in names]
    assert not missing, f"parameters cell lacks {missing}"


def test_notebook_trains_in_smoke_mode_and_writes_the_run_folder(tmp_path, monkeypatch):
    make_sample(ORGANS, tmp_path / "data", n=8, size=256, seed=1)
    tiles = tmp_path / "input" / "tiling-kernel" / "tiles"  # as Kaggle attaches kernel 00's output
    tile_dataset(ORGANS, tmp_path / "data", tiles, "train", TileSettings(sz=64, pixel_size=0.8), progress=False)
    monkeypatch.setenv("KIT_KAGGLE_INPUT", str(tmp_path / "input"))
    run_dir = tmp_path / "runs" / "smoke"
    output, _ = run_notebook("01_training", tmp_path / "out", {  # TILES_DIR stays "tiles": not in the cwd
        "COMPETITION": ORGANS, "SMOKE": True, "SEED": 1, "RUN_DIR": str(run_dir), "N_SHOW": 2, "NOTES": "smoke test",
        "DATA_DIR": str(tmp_path / "data"),  # the tiles' source images: validation on whole images
    })
    for name in ("best.pt", "last.pt", "log.csv", "oof.npz", "config.json"):
        assert (run_dir / name).is_file(), name
    log = pd.read_csv(run_dir / "log.csv")
    assert list(log["epoch"]) == [1, 2]
    assert np.isfinite(log[["train_loss", "val_loss", "val_dice", "val_tile_dice"]].to_numpy()).all()
    best = load_checkpoint(run_dir / "best.pt")
    assert best["model_spec"]["name"] == "unet" and best["epoch"] == int(log["val_dice"].idxmax()) + 1
    config = json.loads((run_dir / "config.json").read_text())
    assert config["image_size"] == [64, 64] and config["tiles_dir"] == str(tiles)
    images = read_oof(run_dir)  # the held-out whole images (0.4 µm/px) at the tiles' 0.8 µm/px: half size
    assert (log["val_images"] == len(images)).all() and len(images) >= 1
    assert all(im.scale == 2.0 and im.probs.shape[1:] == tuple(-(-s // 2) for s in im.shape) for im in images)
    assert {im.group for im in images} <= {"kidney", "prostate", "largeintestine", "spleen", "lung"}
    # OOF scores (uint8 probabilities of best.pt) are the best validation Dice of the log
    assert oof_scores(run_dir).loc["all", "dice"] == pytest.approx(log["val_dice"].max(), abs=1e-6)
    runs = read_runs(tmp_path / "runs" / "runs.csv")
    assert list(runs["run"]) == ["smoke"] and runs["notes"][0] == "smoke test"
    executed = nbformat.read(output, as_version=4)
    images = [o for c in executed.cells if c.cell_type == "code" for o in c.outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 4  # augmentation preview, curves, two prediction grids
