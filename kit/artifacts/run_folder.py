"""The training run folder (notebook 01's output): its files, written by the trainer and read by the ensemble builder.

Layout: ``config.json`` (the recipe), ``tiling.json`` + ``stats.json`` (copies of the tiles', so the folder stands
alone), ``last.pt`` (every epoch) and ``best.pt`` (best validation Dice; both hold ``model_spec`` and the model's
input contract, :mod:`kit.models.checkpoint`), ``log.csv`` (one row per epoch), ``oof.npz``
(:mod:`kit.artifacts.oof`). Notebook 02 and inference read only the run folder (on Kaggle: the training kernel's
output), never the tiles folder the recipe names, which is another kernel's mount path there; run folders written
before checkpoints held the contract fall back to the copies, then to that tiles folder.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from kit.artifacts.oof import OOF_FILE
from kit.artifacts.tiles import STATS_FILE, TILING_FILE, tiles_contract
from kit.fsutil import atomic_path
from kit.models.checkpoint import load_checkpoint, save_checkpoint
from kit.models.contract import CONTRACT_KEY, check_contract, input_contract
from kit.paths import find_step_output, kaggle_input_root

__all__ = ["CONFIG_FILE", "LAST_FILE", "BEST_FILE", "LOG_FILE", "TILES_FILES", "RUN_FILES", "LOG_COLUMNS",
           "RunFolder", "read_config", "read_log", "copy_tiles_files", "log_columns", "write_epoch_files",
           "find_runs", "describe_runs", "read_run"]

CONFIG_FILE, LAST_FILE, BEST_FILE, LOG_FILE = "config.json", "last.pt", "best.pt", "log.csv"
#: what a run folder keeps of the tiles it trained on
TILES_FILES = (TILING_FILE, STATS_FILE)
#: what training writes in its run folder (``--fresh`` deletes these, nothing else)
RUN_FILES = (LAST_FILE, BEST_FILE, LOG_FILE, OOF_FILE, CONFIG_FILE, *TILES_FILES, "wandb")

#: log.csv columns; per-class ``val_dice_<class>`` columns follow ``val_dice`` for multi-class runs. ``val_dice`` is
#: the competition metric on whole held-out images (``val_images`` of them; 0: scored on tiles, see
#: the trainer's validation), ``val_tile_dice`` the cheap per-tile score; NaN on epochs not validated.
LOG_COLUMNS = ("epoch", "lr", "train_loss", "val_loss", "val_dice", "val_iou", "val_tile_dice", "val_images",
               "seconds")


@dataclass
class RunFolder:
    """A training run folder read back: its recipe and its model's input contract (:mod:`kit.models.contract`)."""

    path: Path
    name: str
    config: dict[str, Any]
    contract: dict[str, Any]


def read_config(run_dir: str | Path) -> dict[str, Any]:
    """The recipe of a run folder (``config.json`` as a dict); a missing or broken file raises naming it."""
    path = Path(run_dir) / CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON ({err})") from None


def read_log(run_dir: str | Path, missing_ok: bool = False) -> pd.DataFrame | None:
    """The training log of a run folder (``log.csv``: one row per epoch, :data:`LOG_COLUMNS`); a missing file raises
    FileNotFoundError (``missing_ok``: None)."""
    path = Path(run_dir) / LOG_FILE
    if not path.is_file():
        if missing_ok:
            return None
        raise FileNotFoundError(f"{path} not found: train first (notebook 01 / python -m kit train)")
    return pd.read_csv(path)


def copy_tiles_files(tiles_dir: str | Path | None, out_dir: str | Path) -> list[Path]:
    """Copy :data:`TILES_FILES` of the tiles folder into the run folder ``out_dir`` (atomic); returns the copies."""
    if tiles_dir is None:
        return []
    copies = []
    for name in TILES_FILES:
        source = Path(tiles_dir) / name
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
        save_checkpoint(out_dir / BEST_FILE, state)
    save_checkpoint(out_dir / LAST_FILE, state)
    with atomic_path(out_dir / LOG_FILE, suffix=".csv") as tmp:
        pd.DataFrame(history, columns=columns).to_csv(tmp, index=False)


def find_runs(root: str | Path) -> list[Path]:
    """Run folders under ``root`` (or ``root`` itself) that hold ``oof.npz`` and ``best.pt``, sorted.

    A ``root`` that does not exist is looked for under the Kaggle input root instead (the output of a training
    kernel attached as a source).
    """
    root = Path(root)
    if not root.exists():
        root = kaggle_input_root()
    found = sorted({p.parent for p in root.rglob(OOF_FILE) if (p.parent / BEST_FILE).is_file()})
    if not found:
        raise FileNotFoundError(f"no run folder ({OOF_FILE} + {BEST_FILE}) under {root}: train first (notebook 01)")
    return found


def describe_runs(run_dirs: Sequence[str | Path]) -> pd.DataFrame:
    """One row per run folder: recipe essentials and the best validation Dice of its ``log.csv``."""
    rows = []
    for run_dir in map(Path, run_dirs):
        config = read_config(run_dir)
        row = {"run": str(run_dir), **{k: config.get(k) for k in ("arch", "encoder", "loss", "image_size", "fold")}}
        history = read_log(run_dir, missing_ok=True)
        if history is not None:
            row.update(epochs=len(history), best_val_dice=float(history["val_dice"].max()) if len(history) else None)
        rows.append(row)
    return pd.DataFrame(rows)


def _tiles_folder(run_dir: Path, named: str) -> Path:
    """The tiles folder a recipe names: as given, or relative to the run folder or the folders above it."""
    candidates = [Path(named)] if Path(named).is_absolute() else [
        Path(named), run_dir / named, run_dir.parent / named, run_dir.parent.parent / named]
    for candidate in candidates:
        if (candidate / TILING_FILE).is_file():
            return candidate
    try:  # on Kaggle: the tiling kernel's output attached as a source
        return find_step_output(named, TILING_FILE)
    except FileNotFoundError:
        pass
    tried = ", ".join(str(c) for c in candidates)
    raise FileNotFoundError(f"{run_dir / CONFIG_FILE} names tiles_dir {named!r}, but no {TILING_FILE} is in "
                            f"{tried} nor under {kaggle_input_root()}: pass tiles_dir= (the folder notebook 00 wrote)")


def read_run(run_dir: str | Path, tiles_dir: str | Path | None = None) -> RunFolder:
    """Read ``config.json`` of a run folder and the input contract of its model.

    The contract comes from ``best.pt`` (the trainer stores it there); run folders written before that fall back
    to the ``tiling.json``/``stats.json`` copies in the run folder, then to the tiles folder the recipe names.
    ``tiles_dir`` forces reading the contract's ingredients from that tiles folder.
    """
    run_dir = Path(run_dir)
    config = read_config(run_dir)
    best = run_dir / BEST_FILE
    if tiles_dir is None and best.is_file():
        state = load_checkpoint(best)
        if isinstance(state, dict) and CONTRACT_KEY in state:
            return RunFolder(run_dir, run_dir.name, config, check_contract(state[CONTRACT_KEY], str(best)))
    named = tiles_dir or config.get("tiles_dir")
    if named is None:
        return RunFolder(run_dir, run_dir.name, config, input_contract(config))
    folder = run_dir if tiles_dir is None and (run_dir / TILING_FILE).is_file() else _tiles_folder(run_dir,
                                                                                                     str(named))
    return RunFolder(run_dir, run_dir.name, config, tiles_contract(config, folder))
