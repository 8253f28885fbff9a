"""Seamless drawing helpers: any window of a virtual image renders exactly the same pixels as the whole.

* Smooth fields are evaluated on a coarse grid anchored at global coordinates and upsampled with
  ``cv2.resize`` by a power of two, so every window agrees bit for bit with every other.
* Grain (nuclei blobs, colour noise) comes from a periodic random texture indexed by global position.
* Shapes are drawn from their implicit equation on their bounding box, so they need no polygon
  rasteriser and are translation invariant.

Everything is vectorised numpy/cv2; the cost grows with the window's pixels, never with the image's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["Ellipse", "SmoothField", "GrainTexture", "coarse_window", "draw_ellipses", "blend", "power_of_two_step"]

SampleFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Ellipse:
    """An ellipse in global pixel coordinates, optionally with a wavy (lobed) outline.

    Centre (cy, cx), semi-axes (ry, rx), rotation ``angle`` in degrees; ``wobble`` > 0 scales the
    outline by ``1 + wobble * sin(lobes * theta + phase)``.
    """

    cy: int
    cx: int
    ry: int
    rx: int
    angle: float = 0.0
    wobble: float = 0.0
    lobes: int = 0
    phase: float = 0.0

    def bounds(self) -> tuple[int, int, int, int]:
        """(y0, x0, y1, x1), end exclusive, of a box that contains the ellipse."""
        r = int(np.ceil(max(self.ry, self.rx) * (1 + abs(self.wobble)))) + 1
        return self.cy - r, self.cx - r, self.cy + r + 1, self.cx + r + 1

    def radius_map(self, y0: int, x0: int, h: int, w: int) -> tuple[tuple[slice, slice], np.ndarray] | None:
        """Normalised radius (<= 1 inside) on the part of the window (y0, x0, h, w) the ellipse can touch.

        Returns (window slices, float32 radius array) or None when the ellipse misses the window.
        """
        by0, bx0, by1, bx1 = self.bounds()
        ya, yb, xa, xb = max(by0, y0), min(by1, y0 + h), max(bx0, x0), min(bx1, x0 + w)
        if ya >= yb or xa >= xb:
            return None
        dy = (np.arange(ya, yb, dtype=np.float32) - self.cy)[:, None]
        dx = (np.arange(xa, xb, dtype=np.float32) - self.cx)[None, :]
        cos, sin = np.float32(np.cos(np.radians(self.angle))), np.float32(np.sin(np.radians(self.angle)))
        u, v = dx * cos + dy * sin, dy * cos - dx * sin
        radius = np.sqrt((u / np.float32(self.rx)) ** 2 + (v / np.float32(self.ry)) ** 2)
        if self.wobble:
            radius /= 1 + np.float32(self.wobble) * np.sin(self.lobes * np.arctan2(v, u) + np.float32(self.phase))
        return (slice(ya - y0, yb - y0), slice(xa - x0, xb - x0)), radius

    def outline(self, points: int = 32) -> np.ndarray:
        """(points, 2) float array of (x, y) on the boundary (normalised radius 1), counter-clockwise."""
        phi = np.linspace(0, 2 * np.pi, points, endpoint=False)
        rho = 1 / np.sqrt((np.cos(phi) / self.rx) ** 2 + (np.sin(phi) / self.ry) ** 2)
        if self.wobble:
            rho *= 1 + self.wobble * np.sin(self.lobes * phi + self.phase)
        u, v = rho * np.cos(phi), rho * np.sin(phi)
        cos, sin = np.cos(np.radians(self.angle)), np.sin(np.radians(self.angle))
        return np.stack([self.cx + u * cos - v * sin, self.cy + u * sin + v * cos], axis=1)


def draw_ellipses(shape: tuple[int, int], y0: int, x0: int, ellipses: list[Ellipse], value: int = 1,
                  inside: float = 1.0) -> np.ndarray:
    """uint8 mask of ``shape`` at global (y0, x0): ``value`` where a normalised radius <= ``inside``."""
    out = np.zeros(shape, np.uint8)
    for ellipse in ellipses:
        found = ellipse.radius_map(y0, x0, *shape)
        if found is not None:
            where, radius = found
            out[where][radius <= inside] = value
    return out


def power_of_two_step(feature_px: float, limit: int = 16) -> int:
    """Coarse-grid step for a field whose features are ``feature_px`` wide: a power of two <= feature/5."""
    step = 1
    while step * 2 <= min(limit, feature_px / 5):
        step *= 2
    return step


def coarse_window(sample: SampleFn, y0: int, x0: int, h: int, w: int, step: int) -> np.ndarray:
    """h×w float32 values of a smooth function at global pixels (y0.., x0..).

    ``sample(ys, xs)`` evaluates the function at pixel-centre coordinates (broadcast arrays). It is
    called on a grid of cell centres every ``step`` (a power of two) pixels, anchored at the origin, with
    one cell of margin, and upsampled bilinearly: any two windows give identical values where they overlap.
    """
    if step == 1:
        ys = np.arange(y0, y0 + h, dtype=np.float32)[:, None] + 0.5
        xs = np.arange(x0, x0 + w, dtype=np.float32)[None, :] + 0.5
        return np.ascontiguousarray(np.broadcast_to(sample(ys, xs), (h, w)), np.float32)
    gy0, gy1 = y0 // step - 1, (y0 + h - 1) // step + 2
    gx0, gx1 = x0 // step - 1, (x0 + w - 1) // step + 2
    ys = (np.arange(gy0, gy1, dtype=np.float32) * step + step / 2)[:, None]
    xs = (np.arange(gx0, gx1, dtype=np.float32) * step + step / 2)[None, :]
    coarse = np.ascontiguousarray(np.broadcast_to(sample(ys, xs), (ys.size, xs.size)), np.float32)
    fine = cv2.resize(coarse, (xs.size * step, ys.size * step), interpolation=cv2.INTER_LINEAR)
    oy, ox = y0 - gy0 * step, x0 - gx0 * step
    return fine[oy : oy + h, ox : ox + w]


class SmoothField:
    """A smooth random field in [0, 1] over a (height, width) image with features about ``scale`` px wide."""

    def __init__(self, height: int, width: int, scale: float, rng: np.random.Generator) -> None:
        self.scale = float(scale)
        shape = (int(np.ceil(height / scale)) + 3, int(np.ceil(width / scale)) + 3)
        low = cv2.GaussianBlur(rng.random(shape).astype(np.float32), (0, 0), 0.8)
        lo, hi = float(low.min()), float(low.max())
        self.low = (low - lo) / max(hi - lo, 1e-6)
        self.step = power_of_two_step(self.scale)

    def sample(self, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
        """Field values at global pixel coordinates ``ys``, ``xs`` (broadcastable float arrays)."""
        ys, xs = np.broadcast_arrays(np.float32(ys / self.scale + 0.5), np.float32(xs / self.scale + 0.5))
        map_y, map_x = np.ascontiguousarray(ys, np.float32), np.ascontiguousarray(xs, np.float32)
        return cv2.remap(self.low, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

    def window(self, y0: int, x0: int, h: int, w: int) -> np.ndarray:
        """The h×w float32 field at global (y0, x0)."""
        return coarse_window(self.sample, y0, x0, h, w, self.step)


class GrainTexture:
    """A periodic random texture: channel 0 blobs ``blob`` px wide, channel 1 white noise; values 0–255.

    Channel 0 holds ranks, so ``blobs < 256 * p`` selects a fraction ``p`` of the pixels as blobs.
    """

    def __init__(self, rng: np.random.Generator, blob: float = 1.2, period: int = 1024) -> None:
        self.period = period
        noise = rng.random((2, period, period)).astype(np.float32)
        pad = int(4 * blob) + 2
        wrapped = np.pad(noise[0], pad, mode="wrap")
        blobs = cv2.GaussianBlur(wrapped, (0, 0), max(blob, 0.3))[pad:-pad, pad:-pad]
        ranks = np.empty(blobs.size, np.float32)
        ranks[np.argsort(blobs, axis=None)] = np.arange(blobs.size, dtype=np.float32) * (256 / blobs.size)
        self.channels = (ranks.reshape(blobs.shape).astype(np.uint8), (noise[1] * 256).astype(np.uint8))

    def window(self, y0: int, x0: int, h: int, w: int, channel: int = 0) -> np.ndarray:
        """The h×w uint8 texture ``channel`` (0 blobs, 1 noise) at global (y0, x0)."""
        rows = _periodic(self.channels[channel], y0, h, axis=0)
        return _periodic(rows, x0, w, axis=1)


def _periodic(array: np.ndarray, start: int, length: int, axis: int) -> np.ndarray:
    """``length`` entries of ``array`` repeated periodically along ``axis``, from index ``start``."""
    period = array.shape[axis]
    start %= period
    pieces, taken = [], 0
    while taken < length:
        stop = min(period, start + length - taken)
        pieces.append(array[start:stop] if axis == 0 else array[:, start:stop])
        taken += stop - start
        start = 0
    return np.concatenate(pieces, axis=axis)


def blend(base: np.ndarray, colour: tuple[int, int, int], where: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """Paint ``colour`` over ``base`` (float32 H×W×3) where the boolean/float mask ``where`` is set."""
    weight = where.astype(np.float32)[..., None] * alpha
    return base * (1 - weight) + np.asarray(colour, np.float32) * weight
