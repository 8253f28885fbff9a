"""Streaming tiler: the classic 256×256 grid with tissue filter and pixel-size normalisation, one window at a time."""

from kit.tiling.filters import TissueFilter
from kit.tiling.grid import TileGrid
from kit.tiling.jobs import TileJob, TileSettings, build_jobs
from kit.tiling.tiler import INDEX_COLUMNS, TilingSummary, tile_dataset, tile_image

__all__ = ["INDEX_COLUMNS", "TileGrid", "TileJob", "TileSettings", "TilingSummary", "TissueFilter", "build_jobs",
           "tile_dataset", "tile_image"]
