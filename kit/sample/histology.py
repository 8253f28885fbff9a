"""A virtual H&E/PAS-like slide: pink tissue with nuclei on white glass, FTU-like structures with exact masks."""

from __future__ import annotations

import numpy as np

from kit.sample.draw import Ellipse, SmoothField, blend, draw_ellipses, speckle

__all__ = ["OrganStyle", "HistologySlide", "STYLES"]


class OrganStyle:
    """How an organ's structures look: radius range (px at the reference scale), aspect range, density."""

    def __init__(self, radius: tuple[float, float], aspect: tuple[float, float], per_megapixel: float,
                 rim: float = 0.18) -> None:
        self.radius, self.aspect, self.per_megapixel, self.rim = radius, aspect, per_megapixel, rim


STYLES = {
    "glomerulus": OrganStyle((45, 80), (1.0, 1.25), 3.0),
    "kidney": OrganStyle((18, 28), (1.0, 1.25), 22.0),
    "largeintestine": OrganStyle((9, 14), (2.2, 3.2), 36.0, rim=0.3),
    "lung": OrganStyle((14, 22), (1.0, 1.5), 26.0, rim=0.12),
    "spleen": OrganStyle((28, 40), (1.0, 1.3), 9.0),
    "prostate": OrganStyle((18, 30), (1.3, 2.0), 15.0, rim=0.25),
}

GLASS = (244, 243, 246)
TISSUE_DARK, TISSUE_LIGHT = (196, 112, 176), (236, 178, 214)
NUCLEUS = (86, 38, 118)
FTU_FILL, FTU_RIM, FTU_DOTS = (246, 222, 240), (132, 58, 142), (160, 92, 168)


class HistologySlide:
    """Render any window of a (height, width) slide; the structures' union is the ground-truth mask.

    Args:
        height, width: slide size in pixels.
        seed: everything (tissue outline, texture, structures) follows from it.
        style: an :data:`STYLES` key choosing the structures' look.
        scale: pixels per reference pixel (``reference_um / pixel_size``): structures and texture shrink
            on coarser images.
    """

    def __init__(self, height: int, width: int, seed: int, style: str = "kidney", scale: float = 1.0) -> None:
        self.height, self.width, self.seed, self.scale = height, width, seed, scale
        rng = np.random.default_rng(seed)
        self.outline = SmoothField(height, width, max(height, width) / 5, rng)
        self.stain = SmoothField(height, width, 40 * scale, rng)
        self.structures = self._place(STYLES[style], rng)
        self.rim = STYLES[style].rim

    def _tissue(self, y0: int, x0: int, h: int, w: int) -> np.ndarray:
        ys = (np.arange(y0, y0 + h, dtype=np.float32)[:, None] + 0.5) / self.height - 0.5
        xs = (np.arange(x0, x0 + w, dtype=np.float32)[None, :] + 0.5) / self.width - 0.5
        radial = (ys / 0.44) ** 2 + (xs / 0.44) ** 2  # tissue never touches every border
        return (self.outline.window(y0, x0, h, w) * 0.9 + 0.55 - radial) > 0.5

    def _place(self, style: OrganStyle, rng: np.random.Generator) -> list[Ellipse]:
        count = max(1, int(round(style.per_megapixel * self.height * self.width / 1e6 / self.scale**2)))
        placed: list[Ellipse] = []
        for _ in range(count * 20):
            if len(placed) >= count:
                break
            r = rng.uniform(*style.radius) * self.scale
            aspect = rng.uniform(*style.aspect)
            cy, cx = int(rng.integers(0, self.height)), int(rng.integers(0, self.width))
            if not self._tissue(cy, cx, 1, 1)[0, 0]:
                continue
            ry, rx = max(2, int(r)), max(2, int(r * aspect))
            if any((cy - e.cy) ** 2 + (cx - e.cx) ** 2 < (max(ry, rx) + max(e.ry, e.rx) + 4) ** 2 for e in placed):
                continue
            placed.append(Ellipse(cy, cx, ry, rx, float(rng.uniform(0, 180))))
        return placed

    def mask(self, y0: int, x0: int, h: int, w: int) -> np.ndarray:
        """uint8 0/1 mask of the window (structures only; they lie inside tissue)."""
        return draw_ellipses((h, w), y0, x0, self.structures)

    def render(self, y0: int, x0: int, h: int, w: int) -> np.ndarray:
        """uint8 RGB of the window."""
        tissue = self._tissue(y0, x0, h, w)
        stain = self.stain.window(y0, x0, h, w)[..., None]
        image = np.asarray(TISSUE_DARK, np.float32) * stain + np.asarray(TISSUE_LIGHT, np.float32) * (1 - stain)
        image = blend(image, NUCLEUS, speckle(y0, x0, h, w, self.seed, 0.03), 0.85)
        image = blend(image, GLASS, ~tissue, 1.0)
        image = blend(image, (225, 225, 230), ~tissue & speckle(y0, x0, h, w, self.seed + 2, 0.01), 1.0)
        inside = self.mask(y0, x0, h, w).astype(bool)
        core = draw_ellipses((h, w), y0, x0, self.structures, scale=1 - self.rim).astype(bool)
        image = blend(image, FTU_FILL, core, 0.9)
        image = blend(image, FTU_DOTS, core & speckle(y0, x0, h, w, self.seed + 1, 0.06), 0.8)
        image = blend(image, FTU_RIM, inside & ~core, 0.85)
        return np.clip(image + 0.5, 0, 255).astype(np.uint8)
