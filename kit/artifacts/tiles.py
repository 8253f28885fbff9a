"""The tiles folder (notebook 00's output): ``index.csv``, ``stats.json``, ``tiling.json``, ``images/``, ``masks/``.

This module owns the folder's files; the tiler writes them and every reader (training datasets, run folders, the
ensemble builder, notebooks) goes through it, so missing values and broken files mean the same everywhere:
``index.csv`` ids and tile names are strings, an empty organ / data source is ``""``, an empty ``mask_frac`` is
NaN (a split without masks), ``kept`` is bool; ``stats.json`` holds the channel ``mean``/``std`` of the kept tiles
in [0, 1] (checked on read); ``tiling.json`` the settings the tiles were cut with.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from kit.fsutil import atomic_path, atomic_write_text

__all__ = ["INDEX_FILE", "STATS_FILE", "TILING_FILE", "INDEX_COLUMNS", "read_index", "write_index", "read_stats",
           "write_stats", "read_tiling", "write_tiling", "normalisation", "tile_paths", "tiles_source_pixel_size",
           "tiles_contract"]

INDEX_FILE, STATS_FILE, TILING_FILE = "index.csv", "stats.json", "tiling.json"
INDEX_COLUMNS = ("id", "tile", "idx", "row", "col", "y", "x", "h", "w", "scale", "tissue_frac", "mask_frac",
                 "kept", "organ", "data_source")

_DTYPES = {"id": str, "tile": str, "organ": str, "data_source": str}
_RUN_TILER = "run the tiler (notebook 00 / python -m kit tile) first"


def read_index(path: str | Path) -> pd.DataFrame:
    """An ``index.csv`` (a tiles folder's, or a tiler part file) with ids as strings, empty organ/data_source as ""
    and bool ``kept``."""
    path = Path(path)
    if path.is_dir():
        path = path / INDEX_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: {_RUN_TILER}")
    table = pd.read_csv(path, dtype=_DTYPES, keep_default_na=False, na_values={"mask_frac": [""]})
    missing = [c for c in INDEX_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{path} lacks columns {missing}; expected {list(INDEX_COLUMNS)}")
    table["kept"] = table["kept"].astype(str).map({"True": True, "False": False})
    return table


def write_index(table: pd.DataFrame, path: str | Path) -> None:
    """Write an index table (:data:`INDEX_COLUMNS`) to ``path`` atomically (``index.csv`` or a part file)."""
    with atomic_path(path, suffix=".csv") as tmp:
        table.to_csv(tmp, index=False)


def _json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON ({err})") from None


def read_stats(folder: str | Path, missing_ok: bool = False) -> dict[str, Any] | None:
    """``stats.json`` of a tiles folder (or a run folder's copy): channel ``mean``/``std`` of the kept tiles in
    [0, 1], pixel count. A missing file raises FileNotFoundError (``missing_ok``: None); a file without three
    ``mean`` and ``std`` values raises ValueError naming it."""
    path = Path(folder) / STATS_FILE
    if not path.is_file():
        if missing_ok:
            return None
        raise FileNotFoundError(f"{path} not found: {_RUN_TILER}")
    stats = _json(path)
    if not all(isinstance(stats.get(k), list) and len(stats[k]) == 3 for k in ("mean", "std")):
        raise ValueError(f"{path} needs 'mean' and 'std' with 3 values each; got keys {sorted(stats)}")
    return stats


def write_stats(folder: str | Path, stats: dict[str, Any]) -> None:
    """Write ``stats.json`` into ``folder`` atomically."""
    atomic_write_text(Path(folder) / STATS_FILE, json.dumps(stats, indent=2) + "\n")


def read_tiling(folder: str | Path, missing_ok: bool = False) -> dict[str, Any] | None:
    """``tiling.json`` of a tiles folder (or a run folder's copy): competition, split and tiling settings. A missing
    file raises FileNotFoundError (``missing_ok``: None)."""
    path = Path(folder) / TILING_FILE
    if not path.is_file():
        if missing_ok:
            return None
        raise FileNotFoundError(f"{path} not found: {_RUN_TILER}")
    return _json(path)


def write_tiling(folder: str | Path, record: dict[str, Any]) -> None:
    """Write ``tiling.json`` into ``folder`` atomically."""
    atomic_write_text(Path(folder) / TILING_FILE, json.dumps(record, indent=2) + "\n")


def normalisation(folder: str | Path) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Channel (mean, std) in [0, 1] units of the tiles (their ``stats.json``); ImageNet's when it is absent."""
    from kit.models.contract import IMAGENET_MEAN, IMAGENET_STD

    stats = read_stats(folder, missing_ok=True)
    return (IMAGENET_MEAN, IMAGENET_STD) if stats is None else (tuple(stats["mean"]), tuple(stats["std"]))


def tile_paths(folder: str | Path, tiles: Sequence[str]) -> tuple[list[Path], list[Path]]:
    """The image and mask PNG paths of the tiles named ``tiles`` (masks may be absent: a split without masks)."""
    folder = Path(folder)
    return ([folder / "images" / f"{t}.png" for t in tiles], [folder / "masks" / f"{t}.png" for t in tiles])


def tiles_source_pixel_size(folder: str | Path, competition: str | None) -> float | None:
    """The µm/px of the images a tiles folder was cut from, when the profile knows it and all images share it."""
    from kit.competitions import get_profile

    folder = Path(folder)
    profile = get_profile(competition) if competition else None
    if profile is None or not profile.pixel_sizes or not (folder / INDEX_FILE).is_file():
        return None
    pairs = read_index(folder)[["organ", "data_source"]].drop_duplicates()
    try:
        sizes = {profile.pixel_size(o, s) for o, s in zip(pairs["organ"], pairs["data_source"])}
    except KeyError:
        return None
    return sizes.pop() if len(sizes) == 1 else None


def tiles_contract(config: dict[str, Any], folder: str | Path | None) -> dict[str, Any] | None:
    """The input contract (:func:`kit.models.contract.input_contract`) of a recipe (a config.json dict) trained on
    the tiles in ``folder`` (None: on whole images); None when that folder has no ``tiling.json`` (the tiles' scale
    is unknown)."""
    from kit.models.contract import input_contract

    if folder is None:
        return input_contract(config)
    tiling = read_tiling(folder, missing_ok=True)
    if tiling is None:
        return None
    return input_contract(config, tiling, read_stats(folder, missing_ok=True),
                          tiles_source_pixel_size(folder, tiling.get("competition")))
