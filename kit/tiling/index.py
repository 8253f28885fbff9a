"""The tiler's outputs read back: part files merged into ``index.csv`` and ``stats.json``, counts, tile PNGs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from kit.fsutil import atomic_path, atomic_write_text
from kit.io import read_image, read_png_mask
from kit.tiling.tiler import INDEX_COLUMNS, TilePart

__all__ = ["read_index", "read_part", "part_complete", "merge_parts", "kept_counts", "read_stats", "read_tiles",
           "tiles_source_pixel_size"]

_DTYPES = {"id": str, "tile": str, "organ": str, "data_source": str}


def read_index(path: str | Path) -> pd.DataFrame:
    """An ``index.csv`` (or a part file) with ids as strings, empty organ/data_source as "" and bool ``kept``."""
    path = Path(path)
    if path.is_dir():
        path = path / "index.csv"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: run the tiler (notebook 00 / python -m kit tile) first")
    table = pd.read_csv(path, dtype=_DTYPES, keep_default_na=False, na_values={"mask_frac": [""]})
    missing = [c for c in INDEX_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{path} lacks columns {missing}; expected {list(INDEX_COLUMNS)}")
    table["kept"] = table["kept"].astype(str).map({"True": True, "False": False})
    return table


def read_part(part: TilePart, out_dir: Path) -> pd.DataFrame:
    """The index rows of a finished part."""
    return read_index(part.csv_path(out_dir))


def part_complete(part: TilePart, out_dir: Path) -> bool:
    """True when the part's files exist and so do the PNGs of all its kept tiles (else it must be redone)."""
    if not (part.csv_path(out_dir).exists() and part.json_path(out_dir).exists()):
        return False
    table = read_part(part, out_dir)
    kept = table.loc[table["kept"], ["tile", "mask_frac"]]
    images = all((out_dir / "images" / f"{t}.png").exists() for t in kept["tile"])
    masks = all((out_dir / "masks" / f"{t}.png").exists() for t in kept.loc[kept["mask_frac"].notna(), "tile"])
    return images and masks


def merge_parts(parts: Sequence[TilePart], out_dir: Path) -> pd.DataFrame:
    """Write ``index.csv`` (parts in the given order) and ``stats.json`` (channel mean/std of kept tiles, [0, 1]).

    The histogram sums are integers, so the statistics do not depend on how the work was split.
    """
    index = pd.concat([read_part(p, out_dir) for p in parts], ignore_index=True)
    with atomic_path(out_dir / "index.csv", suffix=".csv") as tmp:
        index.to_csv(tmp, index=False)
    histogram = np.zeros((3, 256), np.int64)
    for part in parts:
        histogram += np.asarray(json.loads(part.json_path(out_dir).read_text())["histogram"], np.int64)
    pixels = int(histogram[0].sum())
    values = np.arange(256) / 255.0
    mean = histogram @ values / max(pixels, 1)
    std = np.sqrt(np.maximum(histogram @ values**2 / max(pixels, 1) - mean**2, 0.0))
    stats = {"mean": [round(float(m), 6) for m in mean], "std": [round(float(s), 6) for s in std],
             "pixels": pixels, "kept_tiles": int(index["kept"].sum())}
    atomic_write_text(out_dir / "stats.json", json.dumps(stats, indent=2) + "\n")
    return index


def kept_counts(index: pd.DataFrame, by: str | Sequence[str] = "id") -> pd.DataFrame:
    """Kept and dropped tile counts (and the kept share) per ``by`` group of an index table ("" shows as "-")."""
    by = [by] if isinstance(by, str) else list(by)
    kept = index["kept"].astype(bool)
    groups = {b: index[b].fillna("").astype(str).replace("", "-") for b in by}
    counts = (pd.DataFrame({**groups, "kept": kept, "dropped": ~kept})
              .groupby(by, sort=True)[["kept", "dropped"]].sum().astype(int))
    counts["kept_share"] = (counts["kept"] / (counts["kept"] + counts["dropped"])).round(3)
    return counts


def read_stats(out_dir: str | Path) -> dict:
    """``stats.json`` of a tiler output folder: channel ``mean``/``std`` of kept tiles in [0, 1], pixel count."""
    path = Path(out_dir) / "stats.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: run the tiler (notebook 00 / python -m kit tile) first")
    return json.loads(path.read_text())


def read_tiles(out_dir: str | Path, tiles: Sequence[str]) -> tuple[list[np.ndarray], list[np.ndarray | None]]:
    """The RGB tiles named ``tiles`` and their class-id masks (None where a split has no masks)."""
    out_dir = Path(out_dir)
    images = [read_image(out_dir / "images" / f"{t}.png") for t in tiles]
    mask_paths = [out_dir / "masks" / f"{t}.png" for t in tiles]
    return images, [read_png_mask(p) if p.exists() else None for p in mask_paths]


def tiles_source_pixel_size(out_dir: str | Path, competition: str | None) -> float | None:
    """The µm/px of the images a tiles folder was cut from, when the profile knows it and all images share it."""
    from kit.competitions import get_profile

    out_dir = Path(out_dir)
    profile = get_profile(competition) if competition else None
    if profile is None or not profile.pixel_sizes or not (out_dir / "index.csv").is_file():
        return None
    pairs = read_index(out_dir)[["organ", "data_source"]].drop_duplicates()
    try:
        sizes = {profile.pixel_size(o, s) for o, s in zip(pairs["organ"], pairs["data_source"])}
    except KeyError:
        return None
    return sizes.pop() if len(sizes) == 1 else None
