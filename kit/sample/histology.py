"""A virtual H&E/PAS-like slide: pink tissue with nuclei on white glass, FTU-like structures with exact masks.

Each pixel gets a label (glass, dust, stroma, nucleus, structure rim / core / dots / lumen) and a stain
level (a smooth field plus grain); one palette lookup turns (label, level) into RGB. All parts are
seamless (:mod:`kit.sample.draw`), so a 20000² slide renders band by band in bounded memory and every
band agrees with the whole.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from kit.registry import Registry
from kit.sample.draw import Ellipse, GrainTexture, SmoothField, coarse_window, power_of_two_step

__all__ = ["OrganStyle", "HistologySlide", "STYLES"]

GLASS, DUST, STROMA, NUCLEUS, RIM, CORE, DOTS, LUMEN = range(8)
LEVELS = 32  # stain levels per label: label * LEVELS + level indexes a 256-entry palette
_NOISE_LEVELS = (np.arange(256) >> 6).astype(np.uint8)  # white noise 0–255 -> 0–3 extra stain levels

Colour = tuple[int, int, int]
BASE_COLOURS: dict[int, tuple[Colour, Colour]] = {  # label -> (lightest, darkest) RGB
    GLASS: ((246, 245, 248), (239, 238, 242)),
    DUST: ((226, 224, 230), (206, 203, 212)),
    STROMA: ((236, 178, 214), (196, 112, 176)),
    NUCLEUS: ((152, 82, 158), (122, 60, 140)),  # as dark as structure rims: colour alone cannot tell them apart
    RIM: ((156, 84, 160), (128, 62, 142)),
    CORE: ((246, 220, 240), (238, 206, 232)),
    DOTS: ((172, 102, 176), (148, 82, 158)),
    LUMEN: ((252, 248, 252), (244, 238, 246)),
}


@dataclass(frozen=True)
class OrganStyle:
    """How an organ's structures look.

    ``radius``: semi-minor axis range in px at scale 1; ``aspect``: major/minor ratio range;
    ``per_megapixel``: structures per 10⁶ px at scale 1; ``rim``: rim width as a fraction of the radius;
    ``lumen``: radius fraction of a pale lumen (0: none); ``wobble``/``lobes``: wavy outline;
    ``dots``: share of core pixels drawn as dark dots; ``nuclei``: share of stroma pixels that are
    nuclei; ``colours``: palette entries that differ from :data:`BASE_COLOURS`.
    """

    radius: tuple[float, float]
    aspect: tuple[float, float]
    per_megapixel: float
    rim: float = 0.18
    lumen: float = 0.0
    wobble: float = 0.0
    lobes: tuple[int, int] = (0, 0)
    dots: float = 0.06
    nuclei: float = 0.03
    colours: dict[int, tuple[Colour, Colour]] = field(default_factory=dict)


STYLES: Registry[OrganStyle] = Registry.of("slide style", {
    # 2021 kidney slides: large round glomeruli, dark capsule, pale textured tuft
    "glomerulus": OrganStyle((45, 80), (1.0, 1.25), 3.0),
    # 2022 organs (HPA scale, 0.4 µm/px): distinct shapes and looks
    "kidney": OrganStyle((18, 28), (1.0, 1.25), 40.0),
    "largeintestine": OrganStyle((10, 15), (1.8, 2.6), 110.0, rim=0.4, lumen=0.22, dots=0.12, colours={
        RIM: ((130, 70, 152), (92, 44, 124)), CORE: ((236, 226, 242), (214, 198, 228)),
        DOTS: ((120, 64, 150), (96, 48, 130))}),
    "lung": OrganStyle((16, 26), (1.0, 1.4), 55.0, rim=0.14, dots=0.01, colours={
        RIM: ((206, 120, 176), (172, 82, 148)), CORE: ((248, 234, 244), (240, 222, 236))}),
    "spleen": OrganStyle((28, 42), (1.0, 1.3), 18.0, rim=0.25, wobble=0.12, lobes=(3, 5), dots=0.3, nuclei=0.1,
                         colours={STROMA: ((224, 140, 178), (188, 88, 138)), RIM: ((178, 108, 178), (148, 78, 158)),
                                  CORE: ((122, 72, 156), (88, 46, 130)), DOTS: ((76, 36, 110), (58, 24, 92))}),
    "prostate": OrganStyle((20, 32), (1.3, 1.9), 28.0, rim=0.2, wobble=0.14, lobes=(5, 8), dots=0.02, colours={
        RIM: ((192, 124, 184), (162, 94, 166)), CORE: ((250, 234, 246), (242, 220, 238))}),
})


def _palette(style: OrganStyle) -> np.ndarray:
    """256×3 uint8: row label * LEVELS + level, level 0 lightest to LEVELS - 1 darkest."""
    colours = {**BASE_COLOURS, **style.colours}
    t = np.linspace(0, 1, LEVELS, dtype=np.float32)[:, None]
    rows = [np.asarray(light, np.float32) * (1 - t) + np.asarray(dark, np.float32) * t
            for light, dark in (colours[label] for label in range(len(colours)))]
    return np.clip(np.concatenate(rows) + 0.5, 0, 255).astype(np.uint8)


class HistologySlide:
    """Render any window of a (height, width) slide; the structures' union is the ground-truth mask.

    Args:
        height, width: slide size in pixels.
        seed: everything (tissue outline, texture, structures) follows from it (a non-negative int).
        style: an :data:`STYLES` key choosing the structures' look.
        scale: pixels per reference pixel (``reference_um / pixel_size``): structures and texture shrink
            on coarser images.
    """

    def __init__(self, height: int, width: int, seed: int, style: str = "kidney", scale: float = 1.0) -> None:
        self.style = STYLES.get(style)
        self.height, self.width, self.seed, self.scale = height, width, seed, scale
        rng = np.random.default_rng(seed)
        self.outline = SmoothField(height, width, max(height, width) / 5, rng)
        self.stain = SmoothField(height, width, 40 * scale, rng)
        period = int(min(1024, max(256, 2 ** np.ceil(np.log2(max(height, width))))))
        self.grain = GrainTexture(rng, blob=max(0.6, 1.2 * scale), period=period)
        self.palette = _palette(self.style).reshape(256, 1, 3)
        self._on_tissue = np.full(256, STROMA * LEVELS, np.uint8)  # blob rank -> label code, on tissue
        self._on_tissue[: int(256 * self.style.nuclei)] = NUCLEUS * LEVELS
        self._on_glass = np.full(256, GLASS * LEVELS, np.uint8)  # ... and on glass: rare dust specks
        self._on_glass[253:] = DUST * LEVELS
        self.structures = self._place(rng)
        self._boxes = np.array([e.bounds() for e in self.structures], np.int64).reshape(-1, 4)

    # ------------------------------------------------------------------ layout
    def _tissue_score(self, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
        """> 0.5 on tissue: a noisy blob that never reaches the slide's borders."""
        radial = ((ys / self.height - 0.5) / 0.44) ** 2 + ((xs / self.width - 0.5) / 0.44) ** 2
        return self.outline.sample(ys, xs) * 0.9 + 0.7 - radial

    def _tissue_window(self, y0: int, x0: int, h: int, w: int) -> np.ndarray:
        return coarse_window(self._tissue_score, y0, x0, h, w, power_of_two_step(self.outline.scale))

    def tissue(self, y0: int, x0: int, h: int, w: int) -> np.ndarray:
        """Boolean tissue mask of the window (False on glass)."""
        return self._tissue_window(y0, x0, h, w) > 0.5

    def tissue_outline(self, grid: int = 256) -> np.ndarray:
        """(points, 2) int array of (x, y) around the largest tissue region, traced on a ``grid``-cell map."""
        step = max(self.height, self.width) / grid
        ys = (np.arange(int(np.ceil(self.height / step))) + 0.5)[:, None] * step
        xs = (np.arange(int(np.ceil(self.width / step))) + 0.5)[None, :] * step
        coarse = (self._tissue_score(ys.astype(np.float32), xs.astype(np.float32)) > 0.5).astype(np.uint8)
        contours, _ = cv2.findContours(coarse, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        if not contours:
            return np.zeros((0, 2), np.int64)
        largest = max(contours, key=cv2.contourArea)[:, 0, :]
        return np.rint((largest + 0.5) * step).astype(np.int64)

    def _place(self, rng: np.random.Generator) -> list[Ellipse]:
        """Non-overlapping structures lying inside the tissue, as many as the style's density asks."""
        style, scale = self.style, self.scale
        count = max(1, int(round(style.per_megapixel * self.height * self.width / 1e6 / scale**2)))
        placed: list[Ellipse] = []
        circles = np.zeros((0, 3), np.float32)  # (y, x, r): each structure covered by 5 circles
        gap = 4 * scale
        angles = np.linspace(0, 2 * np.pi, 8, endpoint=False)
        for _ in range(30):
            if len(placed) >= count:
                break
            k = 2 * (count - len(placed)) + 16
            ry = np.maximum(2.0, rng.uniform(*style.radius, k) * scale)
            rx = np.maximum(ry, ry * rng.uniform(*style.aspect, k))
            cy, cx = rng.uniform(0, self.height, k), rng.uniform(0, self.width, k)
            angle = rng.uniform(0, 180, k)
            lobes = rng.integers(style.lobes[0], style.lobes[1] + 1, k)
            phase = rng.uniform(0, 2 * np.pi, k)
            reach = rx * (1 + style.wobble) + gap
            ys = cy[:, None] + reach[:, None] * np.sin(angles)[None, :]
            xs = cx[:, None] + reach[:, None] * np.cos(angles)[None, :]
            inside = (self._tissue_score(ys, xs) > 0.5).all(axis=1)
            for i in np.flatnonzero(inside):
                own = _cover(cy[i], cx[i], ry[i] * (1 + style.wobble), rx[i] - ry[i], np.radians(angle[i]))
                if circles.size:
                    d2 = (own[:, None, 0] - circles[None, :, 0]) ** 2 + (own[:, None, 1] - circles[None, :, 1]) ** 2
                    if (d2 < (own[:, None, 2] + circles[None, :, 2] + gap) ** 2).any():
                        continue
                circles = np.concatenate([circles, own])
                placed.append(Ellipse(int(cy[i]), int(cx[i]), int(round(ry[i])), int(round(rx[i])), float(angle[i]),
                                      style.wobble, int(lobes[i]), float(phase[i])))
                if len(placed) >= count:
                    break
        return placed

    def _touching(self, y0: int, x0: int, h: int, w: int) -> list[Ellipse]:
        b = self._boxes
        hit = (b[:, 0] < y0 + h) & (b[:, 2] > y0) & (b[:, 1] < x0 + w) & (b[:, 3] > x0)
        return [self.structures[i] for i in np.flatnonzero(hit)]

    # ------------------------------------------------------------------ pixels
    def mask(self, y0: int, x0: int, h: int, w: int) -> np.ndarray:
        """uint8 0/1 mask of the window (structures only; they lie inside tissue)."""
        out = np.zeros((h, w), np.uint8)
        for ellipse in self._touching(y0, x0, h, w):
            where, radius = ellipse.radius_map(y0, x0, h, w)
            out[where][radius <= 1] = 1
        return out

    def _codes(self, y0: int, x0: int, h: int, w: int, blobs: np.ndarray) -> np.ndarray:
        """uint8 label * LEVELS per pixel of the window; ``blobs`` is the grain's blob channel there."""
        style = self.style
        tissue = cv2.compare(self._tissue_window(y0, x0, h, w), 0.5, cv2.CMP_GT)
        codes = cv2.copyTo(cv2.LUT(blobs, self._on_tissue), tissue, cv2.LUT(blobs, self._on_glass))
        for ellipse in self._touching(y0, x0, h, w):
            where, radius = ellipse.radius_map(y0, x0, h, w)
            part = codes[where]
            part[radius <= 1] = RIM * LEVELS
            core = radius <= min(1 - style.rim, 1 - 1.5 / max(ellipse.ry, 1))
            part[core] = CORE * LEVELS
            part[core & (blobs[where] < 256 * style.dots)] = DOTS * LEVELS
            if style.lumen:
                part[radius <= style.lumen] = LUMEN * LEVELS
        return codes

    def render(self, y0: int, x0: int, h: int, w: int) -> np.ndarray:
        """uint8 RGB (h×w×3) of the window."""
        codes = self._codes(y0, x0, h, w, self.grain.window(y0, x0, h, w, 0))
        noise = cv2.LUT(self.grain.window(y0, x0, h, w, 1), _NOISE_LEVELS)
        level = cv2.add(cv2.convertScaleAbs(self.stain.window(y0, x0, h, w), alpha=LEVELS - 4.01), noise)
        index = cv2.add(codes, level)
        return cv2.LUT(cv2.merge([index, index, index]), self.palette)


def _cover(cy: float, cx: float, r: float, half_length: float, angle: float) -> np.ndarray:
    """(5, 3) circles (y, x, r) of radius ``r`` along a major axis of ``half_length`` either side of the centre."""
    t = np.linspace(-1, 1, 5) * half_length
    return np.stack([cy + t * np.sin(angle), cx + t * np.cos(angle), np.full(5, r)], axis=1).astype(np.float32)
