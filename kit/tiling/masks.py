"""Where a tile's mask comes from: windows of an RLE (never the full mask) or of a small class-map image."""

from __future__ import annotations

import functools
from typing import Protocol

import numpy as np

from kit.rle import RleMask
from kit.tiling.jobs import TileJob

__all__ = ["MaskWindows", "MaskArray", "open_masks"]


class MaskWindows(Protocol):
    """Anything answering ``window(y0, x0, h, w) -> uint8 h×w`` class ids (0 outside the image)."""

    def window(self, y0: int, x0: int, h: int, w: int) -> np.ndarray: ...


class MaskArray:
    """A class-id mask held in memory (NeoPolyp masks are small images), answering windows like RleMask."""

    def __init__(self, mask: np.ndarray) -> None:
        self.mask = mask

    def window(self, y0: int, x0: int, h: int, w: int) -> np.ndarray:
        """The h×w window at (y0, x0); outside the image is 0."""
        out = np.zeros((h, w), np.uint8)
        ya, yb = max(y0, 0), min(y0 + h, self.mask.shape[0])
        xa, xb = max(x0, 0), min(x0 + w, self.mask.shape[1])
        if ya < yb and xa < xb:
            out[ya - y0 : yb - y0, xa - x0 : xb - x0] = self.mask[ya:yb, xa:xb]
        return out


@functools.lru_cache(maxsize=2)  # the parts of one image reuse its parsed runs within a worker
def open_masks(job: TileJob, shape: tuple[int, int]) -> MaskWindows | None:
    """The mask source of ``job`` for an image of ``shape`` (H, W), or None when the job has no labels.

    A malformed RLE or a mask image of another size raises ValueError naming the id and the file.
    """
    if job.mask_path:
        mask = job.profile.read_mask(job.mask_path)
        if mask.shape != tuple(shape):
            raise ValueError(f"mask {job.mask_path} is {mask.shape[0]}x{mask.shape[1]} (HxW) but image "
                             f"{job.image_path} is {shape[0]}x{shape[1]}")
        return MaskArray(mask)
    if job.rle is None:
        return None
    try:
        return RleMask(job.rle, shape, job.rle_order)
    except ValueError as err:
        raise ValueError(f"{job.table} row id {job.image_id!r}: bad RLE for a {shape[0]}x{shape[1]} image: {err}") \
            from None
