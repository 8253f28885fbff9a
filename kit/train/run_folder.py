"""A self-contained run folder: the tiles' settings copied in, the model's input contract for its checkpoints, and
the per-epoch files (``last.pt``, ``best.pt``, ``log.csv``; optional offline wandb logging).

Notebook 02 and inference read only the run folder (on Kaggle: the training kernel's output), never the tiles
folder the recipe names, which is another kernel's mount path there.
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from kit.fsutil import atomic_path
from kit.models.checkpoint import save_checkpoint
from kit.train.config import TrainConfig

__all__ = ["TILES_FILES", "LOG_COLUMNS", "model_contract", "copy_tiles_files", "log_columns", "write_epoch_files",
           "start_wandb"]

#: what a run folder keeps of the tiles it trained on
TILES_FILES = ("tiling.json", "stats.json")

#: log.csv columns; per-class ``val_dice_<class>`` columns follow ``val_dice`` for multi-class runs. ``val_dice`` is
#: the competition metric on whole held-out images (``val_images`` of them; 0: scored on tiles, see
#: :mod:`kit.train.validation`), ``val_tile_dice`` the cheap per-tile score; NaN on epochs not validated.
LOG_COLUMNS = ("epoch", "lr", "train_loss", "val_loss", "val_dice", "val_iou", "val_tile_dice", "val_images",
               "seconds")


def _read_json(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON ({err})") from None


def model_contract(config: TrainConfig) -> dict[str, Any] | None:
    """The input contract (:func:`kit.models.contract.input_contract`) of ``config``'s model; None when it trains on
    a tiles folder without ``tiling.json`` (its scale is unknown)."""
    from kit.models.contract import input_contract
    from kit.tiling import tiles_source_pixel_size

    if config.tiles_dir is None:
        return input_contract(config.to_dict())
    folder = Path(config.tiles_dir)
    tiling = _read_json(folder / "tiling.json")
    if tiling is None:
        return None
    source = tiles_source_pixel_size(folder, tiling.get("competition"))
    return input_contract(config.to_dict(), tiling, _read_json(folder / "stats.json"), source)


def copy_tiles_files(config: TrainConfig, out_dir: str | Path) -> list[Path]:
    """Copy :data:`TILES_FILES` of the tiles folder into ``out_dir`` (atomic); returns the copies."""
    if config.tiles_dir is None:
        return []
    copies = []
    for name in TILES_FILES:
        source = Path(config.tiles_dir) / name
        if source.is_file():
            target = Path(out_dir) / name
            with atomic_path(target, suffix=".json") as tmp:
                shutil.copyfile(source, tmp)
            copies.append(target)
    return copies


def log_columns(class_names: Sequence[str]) -> list[str]:
    """The log.csv columns of a run: :data:`LOG_COLUMNS` with ``val_dice_<class>`` after ``val_dice`` when
    there are several classes."""
    columns = list(LOG_COLUMNS)
    columns[5:5] = [f"val_dice_{name}" for name in class_names if len(class_names) > 1]
    return columns


def write_epoch_files(out_dir: Path, state: dict[str, Any], history: list[dict[str, float]], columns: list[str],
                      improved: bool) -> None:
    """Write ``best.pt`` (when ``improved``), ``last.pt`` and ``log.csv`` atomically into ``out_dir``."""
    if improved:  # best before last: a failed best.pt write leaves last.pt at the previous epoch, so it is redone
        save_checkpoint(out_dir / "best.pt", state)
    save_checkpoint(out_dir / "last.pt", state)
    with atomic_path(out_dir / "log.csv", suffix=".csv") as tmp:
        pd.DataFrame(history, columns=columns).to_csv(tmp, index=False)


def start_wandb(config: TrainConfig, out_dir: Path) -> Any | None:
    """An offline wandb run in ``out_dir`` when ``config.wandb`` (None when off or wandb is not installed)."""
    if not config.wandb:
        return None
    try:
        import wandb
    except ImportError:
        warnings.warn("wandb is not installed; logging to log.csv only", stacklevel=2)
        return None
    os.environ.setdefault("WANDB_MODE", "offline")
    return wandb.init(dir=str(out_dir), config=config.to_dict(), reinit=True)
