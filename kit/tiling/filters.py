"""Tissue filter on a reduced tile: enough saturated pixels means tissue, not glass or padding."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["TissueFilter"]


@dataclass(frozen=True)
class TissueFilter:
    """Keep a tile when more than ``p_th`` pixels have HSV saturation above ``s_th`` (iafoss defaults).

    ``p_th`` defaults to ``1000 * (sz / 256) ** 2``; ``enabled=False`` keeps every tile.
    """

    s_th: int = 40
    p_th: int | None = None
    enabled: bool = True

    def threshold(self, sz: int) -> float:
        """The pixel-count threshold for tiles of side ``sz``."""
        return self.p_th if self.p_th is not None else 1000 * (sz / 256) ** 2

    def tissue_fraction(self, tile: np.ndarray) -> float:
        """Share of pixels whose saturation exceeds ``s_th`` (channel order does not matter for S)."""
        saturation = cv2.cvtColor(np.ascontiguousarray(tile), cv2.COLOR_RGB2HSV)[..., 1]
        return float((saturation > self.s_th).mean())

    def keep(self, tile: np.ndarray) -> tuple[bool, float]:
        """(keep?, tissue fraction) of an RGB tile."""
        fraction = self.tissue_fraction(tile)
        if not self.enabled:
            return True, fraction
        count = fraction * tile.shape[0] * tile.shape[1]
        limit = self.threshold(tile.shape[0])
        return bool(count > limit and tile.sum() > limit), fraction
