"""TIFF sources for :mod:`kit.io`: find where a TIFF keeps its RGB and read windows of it with rasterio.

Layouts handled: 3+ bands in one page (interleaved or channel-first/planar; a 4th alpha band is dropped),
one single-band page per channel (GDAL exposes them as subdatasets; band 1 of each is one channel),
single band (grey, replicated to RGB), palette (expanded through the colour map). BigTIFF, tiled and
striped files read the same way. Samples must be uint8 or uint16 (scaled to uint8 by /257).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import rasterio
from rasterio.enums import ColorInterp, Resampling
from rasterio.errors import NotGeoreferencedWarning, RasterioError
from rasterio.windows import Window

__all__ = ["TiffSource"]

_SUPPORTED_DTYPES = ("uint8", "uint16")


class TiffSource:
    """Open rasterio handles on one TIFF and read RGB windows from them (not fork-safe: one per process)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._datasets: list = []
        self._palette: np.ndarray | None = None
        try:
            with warnings.catch_warnings():  # histology TIFFs carry no georeference
                warnings.simplefilter("ignore", NotGeoreferencedWarning)
                main = self._track(rasterio.open(path))
                self.shape = (main.height, main.width)
                if main.count >= 3:  # RGB or RGBA in one page; alpha is dropped
                    self._bands = [(main, 1), (main, 2), (main, 3)]
                elif len(main.subdatasets) >= 3 and (pages := self._same_size_pages(main)):
                    self._bands = [(page, 1) for page in pages]
                else:  # grey (1 band, or grey + alpha) or palette
                    self._bands = [(main, 1)]
                    if main.colorinterp[0] == ColorInterp.palette:
                        self._palette = _palette_lut(main.colormap(1))
        except RasterioError as err:
            self.close()
            raise ValueError(f"image {path} could not be opened as a TIFF ({err})") from None
        # GDAL can shrink reads from reduced-resolution copies in the file (never average palette indices)
        self.has_overviews = self._palette is None and any(dataset.overviews(band) for dataset, band in self._bands)
        dtypes = {dataset.dtypes[band - 1] for dataset, band in self._bands}
        if not dtypes <= set(_SUPPORTED_DTYPES):
            self.close()
            raise ValueError(f"image {path} has {sorted(dtypes)} samples; expected one of {_SUPPORTED_DTYPES}")

    def _track(self, dataset: rasterio.DatasetReader) -> rasterio.DatasetReader:
        self._datasets.append(dataset)
        return dataset

    def _same_size_pages(self, main: rasterio.DatasetReader) -> list:
        """The first three subdataset pages with the main page's size (one colour channel each), or []."""
        pages = []
        for name in main.subdatasets:
            page = self._track(rasterio.open(name))
            if (page.height, page.width) == self.shape:
                pages.append(page)
            if len(pages) == 3:
                return pages
        return []

    def read(self, y0: int, x0: int, h: int, w: int, out_hw: tuple[int, int] | None = None) -> list[np.ndarray]:
        """The h×w window at (y0, x0), inside the image, as uint8 planes: [grey] or [red, green, blue].

        ``out_hw`` = (out_h, out_w) downscales during the read with GDAL's average resampling (it reads
        the internal overviews when the file has them).
        """
        window = Window(x0, y0, w, h)
        out_h, out_w = out_hw or (h, w)
        options = {} if out_hw is None else {"resampling": Resampling.average}
        try:
            main = self._bands[0][0]
            if all(dataset is main for dataset, _ in self._bands):
                indexes = [band for _, band in self._bands]
                bands = main.read(indexes, window=window, out_shape=(len(indexes), out_h, out_w), **options)
            else:
                bands = np.stack(
                    [d.read(b, window=window, out_shape=(out_h, out_w), **options) for d, b in self._bands]
                )
        except RasterioError as err:  # truncated or corrupt data
            box = f"(y0={y0}, x0={x0}, h={h}, w={w})"
            raise ValueError(
                f"image {self.path}: reading window {box} failed ({err}); expected a complete TIFF, is it truncated?"
            ) from None
        if self._palette is not None:
            indices = np.minimum(bands[0], len(self._palette) - 1)
            return [self._palette[:, channel][indices] for channel in range(3)]
        if bands.dtype == np.uint16:
            bands = (bands // 257).astype(np.uint8)
        return list(bands)

    def close(self) -> None:
        """Close every rasterio handle."""
        for dataset in self._datasets:
            dataset.close()
        self._datasets = []


def _palette_lut(colormap: dict[int, tuple[int, ...]]) -> np.ndarray:
    """Index -> RGB table; indices the colour map lacks map to black."""
    lut = np.zeros((max(colormap, default=0) + 1, 3), np.uint8)
    for index, colour in colormap.items():
        lut[index] = colour[:3]
    return lut
