"""Tile one part of one image: read windows, filter, decode mask windows, write PNGs and the part's index rows."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import rasterio

from kit.artifacts.tiles import INDEX_COLUMNS, write_index
from kit.fsutil import atomic_write_text
from kit.io import open_image, write_png
from kit.tiling.filters import TissueFilter
from kit.tiling.grid import TileGrid
from kit.tiling.jobs import TileJob, TileSettings
from kit.tiling.masks import open_masks

__all__ = ["GDAL_CACHE_MB", "TilePart", "tile_part"]

# GDAL's block cache defaults to 5% of the RAM and fills up on a big slide; a few block rows are all a
# row of windows reuses, so a small cache keeps the memory flat without rereading blocks.
GDAL_CACHE_MB = 64

@dataclass(frozen=True)
class TilePart:
    """Grid rows ``first_row ..`` (``n_rows`` of them, or all when None) of one image: the unit of work.

    Its index rows go to ``parts/<id>/<first_row>.csv`` (written last, atomically: the part is done once it
    exists) and its channel histogram to ``parts/<id>/<first_row>.json``.
    """

    job: TileJob
    first_row: int = 0
    n_rows: int | None = None

    def csv_path(self, out_dir: Path) -> Path:
        """The part's index rows."""
        return Path(out_dir) / "parts" / self.job.image_id / f"{self.first_row:05d}.csv"

    def json_path(self, out_dir: Path) -> Path:
        """The part's channel histogram of kept tiles."""
        return self.csv_path(out_dir).with_suffix(".json")


def _check_shape(job: TileJob, shape: tuple[int, int]) -> None:
    if job.shape is not None and tuple(shape) != tuple(job.shape):
        source = job.shape_source or job.table or "the table"
        raise ValueError(f"image {job.image_path} is {shape[0]}x{shape[1]} (HxW) but {source} "
                         f"says {job.shape[0]}x{job.shape[1]} for id {job.image_id!r}")


def _histogram(tile: np.ndarray) -> np.ndarray:
    """(3, 256) counts of each channel's values."""
    codes = tile.reshape(-1, 3).astype(np.uint16) + np.array([0, 256, 512], np.uint16)
    return np.bincount(codes.ravel(), minlength=768).reshape(3, 256)


def tile_part(part: TilePart, settings: TileSettings, out_dir: str | Path) -> pd.DataFrame:
    """Tile ``part``: write its kept tiles (``images/`` RGB, ``masks/`` class ids) and its part files.

    One window is read per tile and its mask is decoded from the RLE for that window only, so memory is a
    few windows whatever the image size. Returns the part's index rows (:data:`INDEX_COLUMNS`).
    """
    out_dir = Path(out_dir)
    job = part.job
    keep_filter = TissueFilter(settings.s_th, settings.p_th, settings.filter)
    histogram = np.zeros((3, 256), np.int64)
    rows = []
    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB), open_image(job.image_path) as reader:
        _check_shape(job, reader.shape)
        masks = open_masks(job, reader.shape)
        grid = TileGrid(reader.height, reader.width, settings.sz, job.reduce, settings.stride)
        n_rows, cols = grid.shape
        last_row = n_rows if part.n_rows is None else min(n_rows, part.first_row + part.n_rows)
        size, side = (settings.sz, settings.sz), grid.window
        for idx in range(part.first_row * cols, last_row * cols):
            row, col, y, x = grid.origin(idx)
            image = reader.read(y, x, side, side)
            if image.shape[:2] != size:  # OpenCV INTER_AREA here, so tiles equal the classic whole-image resize
                image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
            kept, tissue = keep_filter.keep(image)
            mask_frac = float("nan")
            name = f"{job.image_id}_{idx:05d}"
            if masks is not None:
                mask = masks.window(y, x, side, side)
                if mask.shape != size:
                    mask = cv2.resize(mask, size, interpolation=cv2.INTER_NEAREST)
                mask_frac = np.count_nonzero(mask) / mask.size
                if kept:
                    write_png(out_dir / "masks" / f"{name}.png", mask)
            if kept:
                write_png(out_dir / "images" / f"{name}.png", image)
                histogram += _histogram(image)
            rows.append((job.image_id, name, idx, row, col, y, x, side, side, grid.scale, tissue, mask_frac, kept,
                         job.organ, job.data_source))
    table = pd.DataFrame(rows, columns=list(INDEX_COLUMNS))
    atomic_write_text(part.json_path(out_dir), json.dumps({"histogram": histogram.tolist()}))
    write_index(table, part.csv_path(out_dir))
    return table
