"""Tissue filter on a reduced tile: enough saturated pixels means tissue, not glass or padding."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["TissueFilter"]


@dataclass(frozen=True)
class TissueFilter:
    """Keep a tile when more than ``p_th`` pixels have HSV saturation above ``s_th`` (iafoss rule).

    ``p_th`` defaults to ``1000 * (sz / 256) ** 2`` (1.5% of the tile); like the classic tiler, a tile whose
    pixel sum is not above ``p_th`` (black padding) is dropped too. ``enabled=False`` keeps every tile.
    """

    s_th: int = 40
    p_th: float | None = None
    enabled: bool = True

    def threshold(self, sz: int) -> float:
        """The pixel-count threshold for tiles of side ``sz``."""
        return self.p_th if self.p_th is not None else 1000 * (sz / 256) ** 2

    def saturated(self, tile: np.ndarray) -> int:
        """Number of pixels whose HSV saturation exceeds ``s_th`` (saturation ignores the channel order)."""
        saturation = cv2.cvtColor(np.ascontiguousarray(tile), cv2.COLOR_RGB2HSV)[..., 1]
        return int(np.count_nonzero(saturation > self.s_th))

    def keep(self, tile: np.ndarray) -> tuple[bool, float]:
        """(keep?, tissue fraction) of an RGB uint8 tile; the fraction is the share of saturated pixels."""
        count = self.saturated(tile)
        fraction = count / (tile.shape[0] * tile.shape[1])
        if not self.enabled:
            return True, fraction
        limit = self.threshold(tile.shape[0])
        return bool(count > limit and int(tile.sum(dtype=np.int64)) > limit), fraction
