"""The tiler's part files merged into ``index.csv`` and ``stats.json`` (written through :mod:`kit.artifacts.tiles`),
counts, tile PNGs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from kit.artifacts.tiles import INDEX_FILE, read_index, tile_paths, write_index, write_stats
from kit.io import read_image, read_png_mask
from kit.tiling.tiler import TilePart

__all__ = ["read_part", "part_complete", "merge_parts", "kept_counts", "read_tiles"]


def read_part(part: TilePart, out_dir: Path) -> pd.DataFrame:
    """The index rows of a finished part."""
    return read_index(part.csv_path(out_dir))


def part_complete(part: TilePart, out_dir: Path) -> bool:
    """True when the part's files exist and so do the PNGs of all its kept tiles (else it must be redone)."""
    if not (part.csv_path(out_dir).exists() and part.json_path(out_dir).exists()):
        return False
    table = read_part(part, out_dir)
    kept = table.loc[table["kept"], ["tile", "mask_frac"]]
    images = all(p.exists() for p in tile_paths(out_dir, kept["tile"])[0])
    masks = all(p.exists() for p in tile_paths(out_dir, kept.loc[kept["mask_frac"].notna(), "tile"])[1])
    return images and masks


def merge_parts(parts: Sequence[TilePart], out_dir: Path) -> pd.DataFrame:
    """Write ``index.csv`` (parts in the given order) and ``stats.json`` (channel mean/std of kept tiles, [0, 1]).

    The histogram sums are integers, so the statistics do not depend on how the work was split.
    """
    index = pd.concat([read_part(p, out_dir) for p in parts], ignore_index=True)
    write_index(index, out_dir / INDEX_FILE)
    histogram = np.zeros((3, 256), np.int64)
    for part in parts:
        histogram += np.asarray(json.loads(part.json_path(out_dir).read_text())["histogram"], np.int64)
    pixels = int(histogram[0].sum())
    values = np.arange(256) / 255.0
    mean = histogram @ values / max(pixels, 1)
    std = np.sqrt(np.maximum(histogram @ values**2 / max(pixels, 1) - mean**2, 0.0))
    stats = {"mean": [round(float(m), 6) for m in mean], "std": [round(float(s), 6) for s in std],
             "pixels": pixels, "kept_tiles": int(index["kept"].sum())}
    write_stats(out_dir, stats)
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


def read_tiles(out_dir: str | Path, tiles: Sequence[str]) -> tuple[list[np.ndarray], list[np.ndarray | None]]:
    """The RGB tiles named ``tiles`` and their class-id masks (None where a split has no masks)."""
    image_paths, mask_paths = tile_paths(out_dir, tiles)
    return [read_image(p) for p in image_paths], [read_png_mask(p) if p.exists() else None for p in mask_paths]
