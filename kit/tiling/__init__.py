"""Streaming tiler: the classic 256×256 grid with tissue filter and pixel-size normalisation, one window at a time.

``tile_dataset`` is the entry point (``python -m kit tile`` and notebook 00 call it); the modules split the work:
``grid`` (tile positions), ``filters`` (tissue filter), ``jobs`` (images and labels from a competition's
table), ``masks`` (mask windows), ``tiler`` (one part of one image), ``index`` (parts merged into index.csv and
stats.json, counts) and ``run`` (planning, resuming, processes, merging). The folder's files are owned by
:mod:`kit.artifacts.tiles` (read them through it).
"""

from kit.tiling.filters import TissueFilter
from kit.tiling.grid import TileGrid
from kit.tiling.index import kept_counts, merge_parts, part_complete, read_tiles
from kit.tiling.jobs import TileJob, TileSettings, build_jobs
from kit.tiling.masks import MaskArray, open_masks
from kit.tiling.run import PART_TILES, TilingSummary, plan_parts, tile_dataset
from kit.tiling.tiler import TilePart, tile_part

__all__ = ["PART_TILES", "MaskArray", "TileGrid", "TileJob", "TilePart", "TileSettings",
           "TilingSummary", "TissueFilter", "build_jobs", "kept_counts", "merge_parts", "open_masks",
           "part_complete", "plan_parts", "read_tiles", "tile_dataset", "tile_part"]
