"""A self-contained run folder: the tiles' settings copied in, and the model's input contract for its checkpoints.

Notebook 02 and inference read only the run folder (on Kaggle: the training kernel's output), never the tiles
folder the recipe names, which is another kernel's mount path there.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from kit.fsutil import atomic_path
from kit.train.config import TrainConfig

__all__ = ["TILES_FILES", "model_contract", "copy_tiles_files"]

#: what a run folder keeps of the tiles it trained on
TILES_FILES = ("tiling.json", "stats.json")


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
