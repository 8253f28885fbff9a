"""The classic tile grid (iafoss, HuBMAP 2021): centred padding, row-major index, optional overlap and scale."""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["TileGrid"]


@dataclass(frozen=True)
class TileGrid:
    """Tiles of ``sz`` output pixels, each covering ``sz * reduce`` source pixels, every ``stride`` output pixels.

    With ``stride == sz`` (the default) this is the classic grid: the image is padded to a multiple of
    ``sz * reduce``, half the padding before (``pad // 2``), so tile (row, col) starts at source pixel
    ``-pad // 2 + row * sz * reduce``. With ``stride < sz`` tiles overlap; the grid still covers the image
    and stays centred. ``reduce`` may be fractional (pixel-size normalisation) or below 1 (upscaling); the
    window side is then rounded to whole source pixels and :attr:`scale` is the exact output/source ratio.
    """

    height: int
    width: int
    sz: int = 256
    reduce: float = 4.0
    stride: int | None = None

    def __post_init__(self) -> None:
        if self.sz < 1 or not self.reduce > 0:
            raise ValueError(f"tile size must be >= 1 and reduce > 0, got sz={self.sz}, reduce={self.reduce}")
        if self.stride is not None and not 1 <= self.stride <= self.sz:
            raise ValueError(f"stride must be in 1..sz ({self.sz}), got {self.stride}")
        if self.height < 1 or self.width < 1:
            raise ValueError(f"image size must be positive, got {self.height}x{self.width}")

    @property
    def window(self) -> int:
        """Side of one tile in source pixels."""
        return max(1, int(round(self.sz * self.reduce)))

    @property
    def scale(self) -> float:
        """Output pixels per source pixel (``sz / window``)."""
        return self.sz / self.window

    @property
    def step(self) -> int:
        """Distance between neighbouring tiles in source pixels."""
        if self.stride is None or self.stride == self.sz:
            return self.window
        return max(1, int(round(self.stride * self.reduce)))

    def _axis(self, length: int) -> tuple[int, int]:
        """(tile count, total padding) along one axis."""
        n = max(1, math.ceil(max(length - self.window, 0) / self.step) + 1)
        return n, (n - 1) * self.step + self.window - length

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, cols) of the grid."""
        return self._axis(self.height)[0], self._axis(self.width)[0]

    @property
    def padding(self) -> tuple[int, int]:
        """Total (vertical, horizontal) padding in source pixels; half of it (rounded down) lies before."""
        return self._axis(self.height)[1], self._axis(self.width)[1]

    def __len__(self) -> int:
        rows, cols = self.shape
        return rows * cols

    def origin(self, idx: int) -> tuple[int, int, int, int]:
        """(row, col, y, x) of tile ``idx``: grid cell and top-left source pixel (negative in the padding)."""
        rows, cols = self.shape
        if not 0 <= idx < rows * cols:
            raise IndexError(f"tile index {idx} outside 0..{rows * cols - 1}")
        row, col = divmod(idx, cols)
        pad_y, pad_x = self.padding
        return row, col, row * self.step - pad_y // 2, col * self.step - pad_x // 2
