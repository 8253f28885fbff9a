"""Sliding-window geometry: where each window sits, what it reads and which part of it is kept.

Coordinates are in *working* pixels (the model's scale). A window reads ``core + 2 * margin`` pixels per side
and keeps only its ``core``; cores step by ``stride`` and the last one is shifted back so it ends exactly at the
border (edges get more overlap, never padding). An image smaller than one core gets a single window that reaches
past the border; the reader fills the outside and the merger crops it away. :func:`read_window` reads a
window's box at any scale from a :class:`kit.io.ImageReader` or an in-memory :class:`ArrayReader`.

>>> [w.y for w in window_grid((100, 64), window=64, overlap=0.5)]
[0, 32, 36]
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterator

import cv2
import numpy as np

__all__ = [
    "Window",
    "WindowGrid",
    "window_grid",
    "axis_starts",
    "whole_image_window",
    "ArrayReader",
    "as_reader",
    "read_window",
]


@dataclass(frozen=True)
class Window:
    """One window: the kept core ``(y, x, height, width)`` plus ``margin`` context pixels on every side."""

    y: int
    x: int
    height: int
    width: int
    margin: int = 0

    @property
    def read_box(self) -> tuple[int, int, int, int]:
        """``(y0, x0, h, w)`` of the region fed to the model: the core grown by the margin (may leave the image)."""
        m = self.margin
        return self.y - m, self.x - m, self.height + 2 * m, self.width + 2 * m

    @property
    def core_box(self) -> tuple[int, int, int, int]:
        """``(y0, x0, h, w)`` of the kept core."""
        return self.y, self.x, self.height, self.width


def axis_starts(length: int, core: int, stride: int) -> list[int]:
    """Core starts along one axis: every ``stride`` pixels, the last one ending at ``length`` (0 if it fits in one)."""
    if length < 1 or core < 1 or stride < 1:
        raise ValueError(f"length, core and stride must be >= 1, got {length}, {core}, {stride}")
    if length <= core:
        return [0]
    count = math.ceil((length - core) / stride) + 1
    starts = [min(i * stride, length - core) for i in range(count)]
    return sorted(set(starts))


def _pair(value: int | tuple[int, int], name: str) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, int) else tuple(int(v) for v in value)
    if len(pair) != 2 or min(pair) < 1:
        raise ValueError(f"{name} must be a positive int or (height, width), got {value!r}")
    return pair


@dataclass(frozen=True)
class WindowGrid:
    """All windows over an image of ``shape`` (working pixels), row-major.

    Args:
        shape: (height, width) of the image at the working scale.
        window: model input side (int or (h, w)), context included.
        overlap: fraction of the core shared by neighbours, in [0, 1); ignored when ``stride`` is given.
        margin: context pixels on each side that the model sees but whose predictions are dropped.
        stride: explicit step between cores (default ``round(core * (1 - overlap))``, at least 1).
    """

    shape: tuple[int, int]
    window: int | tuple[int, int]
    overlap: float = 0.0
    margin: int = 0
    stride: int | tuple[int, int] | None = None

    def __post_init__(self) -> None:
        _pair(self.shape, "shape")
        window = _pair(self.window, "window")
        if not 0.0 <= self.overlap < 1.0:
            raise ValueError(f"overlap must be in [0, 1), got {self.overlap}")
        if self.margin < 0 or 2 * self.margin >= min(window):
            raise ValueError(f"margin {self.margin} must be >= 0 and leave a core inside the {window} window")
        if self.stride is not None:
            _pair(self.stride, "stride")

    @property
    def core(self) -> tuple[int, int]:
        """(h, w) of the kept part of each window."""
        wh, ww = _pair(self.window, "window")
        return wh - 2 * self.margin, ww - 2 * self.margin

    @property
    def steps(self) -> tuple[int, int]:
        """(dy, dx) between neighbouring cores."""
        if self.stride is not None:
            return _pair(self.stride, "stride")
        return tuple(max(1, int(round(c * (1.0 - self.overlap)))) for c in self.core)

    def __iter__(self) -> Iterator[Window]:
        (ch, cw), (dy, dx) = self.core, self.steps
        height, width = self.shape
        xs = axis_starts(width, cw, dx)
        for y in axis_starts(height, ch, dy):
            for x in xs:
                yield Window(y, x, ch, cw, self.margin)

    def __len__(self) -> int:
        (ch, cw), (dy, dx) = self.core, self.steps
        return len(axis_starts(self.shape[0], ch, dy)) * len(axis_starts(self.shape[1], cw, dx))


def window_grid(
    shape: tuple[int, int],
    window: int | tuple[int, int],
    overlap: float = 0.0,
    margin: int = 0,
    stride: int | tuple[int, int] | None = None,
) -> list[Window]:
    """The windows of :class:`WindowGrid` as a list."""
    return list(WindowGrid(tuple(shape), window, overlap, margin, stride))


def whole_image_window(shape: tuple[int, int], multiple: int = 32) -> Window:
    """One window over the whole image, padded up to a multiple of ``multiple`` (what encoders need)."""
    height, width = _pair(shape, "shape")
    if multiple < 1:
        raise ValueError(f"multiple must be >= 1, got {multiple}")
    return Window(0, 0, -(-height // multiple) * multiple, -(-width // multiple) * multiple)


class ArrayReader:
    """An in-memory H×W×3 uint8 RGB image with the reading interface of :class:`kit.io.ImageReader`."""

    def __init__(self, image: np.ndarray) -> None:
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"image must be H×W×3 uint8 RGB, got {image.dtype} array of shape {image.shape}")
        self.image = image
        self.height, self.width = image.shape[:2]

    def read(
        self, y0: int, x0: int, h: int, w: int, out_size: tuple[int, int] | None = None, fill: int = 0
    ) -> np.ndarray:
        """The h×w×3 window at (y0, x0), filled outside the image, optionally resized (INTER_AREA)."""
        out = np.full((h, w, 3), fill, dtype=np.uint8)
        ya, yb = max(y0, 0), min(y0 + h, self.height)
        xa, xb = max(x0, 0), min(x0 + w, self.width)
        if ya < yb and xa < xb:
            out[ya - y0 : yb - y0, xa - x0 : xb - x0] = self.image[ya:yb, xa:xb]
        if out_size is not None and tuple(out_size) != (h, w):
            out = cv2.resize(out, (out_size[1], out_size[0]), interpolation=cv2.INTER_AREA)
        return out


def as_reader(image: Any):
    """A reader for ``image``: a reader (has ``read``/``height``/``width``), an RGB array or a file path."""
    if isinstance(image, np.ndarray):
        return ArrayReader(image)
    if all(hasattr(image, name) for name in ("read", "height", "width")):
        return image
    from kit.io import open_image

    return open_image(image)


def read_window(reader: Any, window: Window, scale: float = 1.0, fill: int = 0) -> np.ndarray:
    """The window's read box (working pixels, ``scale`` source pixels each) as h×w×3 uint8 from ``reader``."""
    y0, x0, h, w = window.read_box
    if scale == 1.0:
        return reader.read(y0, x0, h, w, fill=fill)
    sy0, sx0 = round(y0 * scale), round(x0 * scale)
    sy1, sx1 = round((y0 + h) * scale), round((x0 + w) * scale)
    return reader.read(sy0, sx0, max(1, sy1 - sy0), max(1, sx1 - sx0), out_size=(h, w), fill=fill)
