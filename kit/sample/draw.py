"""Seamless synthetic textures and shapes: any window of a virtual slide renders the same pixels.

Smooth fields are low-resolution noise sampled with ``cv2.remap`` at global coordinates; speckle comes
from an integer hash of the global pixel position. So a 20000² slide can be rendered band by band and
every band agrees with the whole.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["Ellipse", "SmoothField", "speckle", "draw_ellipses", "blend"]


@dataclass(frozen=True)
class Ellipse:
    """An ellipse in global pixel coordinates: centre (cy, cx), semi-axes (ry, rx), angle in degrees."""

    cy: int
    cx: int
    ry: int
    rx: int
    angle: float = 0.0

    def bounds(self) -> tuple[int, int, int, int]:
        """(y0, x0, y1, x1) of a box that contains the ellipse."""
        r = max(self.ry, self.rx) + 1
        return self.cy - r, self.cx - r, self.cy + r, self.cx + r


class SmoothField:
    """A smooth random field in [0, 1] over a (height, width) image with features about ``scale`` px wide."""

    def __init__(self, height: int, width: int, scale: float, rng: np.random.Generator) -> None:
        self.scale = float(scale)
        shape = (int(np.ceil(height / scale)) + 3, int(np.ceil(width / scale)) + 3)
        noise = rng.random(shape).astype(np.float32)
        self.low = cv2.GaussianBlur(noise, (0, 0), 0.8)
        lo, hi = float(self.low.min()), float(self.low.max())
        self.low = (self.low - lo) / max(hi - lo, 1e-6)

    def window(self, y0: int, x0: int, h: int, w: int) -> np.ndarray:
        """The h×w float32 field at global (y0, x0)."""
        ys = ((np.arange(y0, y0 + h, dtype=np.float32) + 0.5) / self.scale + 0.5)[:, None]
        xs = ((np.arange(x0, x0 + w, dtype=np.float32) + 0.5) / self.scale + 0.5)[None, :]
        map_y = np.broadcast_to(ys, (h, w)).astype(np.float32)
        map_x = np.broadcast_to(xs, (h, w)).astype(np.float32)
        return cv2.remap(self.low, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def speckle(y0: int, x0: int, h: int, w: int, seed: int, density: float) -> np.ndarray:
    """Boolean h×w mask of hashed random dots (the same dot pattern for any window of the slide)."""
    ys = np.arange(y0, y0 + h, dtype=np.int64)[:, None] & 0xFFFFFFFF
    xs = np.arange(x0, x0 + w, dtype=np.int64)[None, :] & 0xFFFFFFFF
    value = (ys * 73856093) ^ (xs * 19349663) ^ (seed * 83492791)
    value = (value ^ (value >> 13)) * 1274126177 & 0xFFFFFFFF
    return (value % 100000) < density * 100000


def draw_ellipses(shape: tuple[int, int], y0: int, x0: int, ellipses: list[Ellipse], value: int = 1,
                  thickness: int = -1, scale: float = 1.0) -> np.ndarray:
    """uint8 mask of ``shape`` with the ellipses that touch the window at (y0, x0) drawn in ``value``."""
    out = np.zeros(shape, np.uint8)
    h, w = shape
    for e in ellipses:
        by0, bx0, by1, bx1 = e.bounds()
        if by1 < y0 or bx1 < x0 or by0 > y0 + h or bx0 > x0 + w:
            continue
        axes = (max(1, int(e.rx * scale)), max(1, int(e.ry * scale)))
        cv2.ellipse(out, (e.cx - x0, e.cy - y0), axes, e.angle, 0, 360, value, thickness)
    return out


def blend(base: np.ndarray, colour: tuple[int, int, int], where: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """Paint ``colour`` over ``base`` (float32 H×W×3) where the boolean/float mask ``where`` is set."""
    weight = where.astype(np.float32)[..., None] * alpha
    return base * (1 - weight) + np.asarray(colour, np.float32) * weight
