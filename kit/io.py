"""Images and masks: windowed RGB reads from any competition image, NeoPolyp colour masks, atomic PNG writes.

TIFFs go through rasterio windowed reads (RGB bands, RGB split over subdatasets, single band, BigTIFF,
tiled or striped); JPEG/PNG through OpenCV. Every read returns H×W×3 uint8 RGB.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import cv2
import numpy as np

from kit.fsutil import atomic_path

__all__ = [
    "ImageReader",
    "open_image",
    "read_image",
    "write_png",
    "read_png_mask",
    "neopolyp_mask_to_classes",
    "read_neopolyp_mask",
]

_TIFF_SUFFIXES = {".tif", ".tiff"}


def _to_uint8(array: np.ndarray) -> np.ndarray:
    if array.dtype == np.uint8:
        return array
    if array.dtype == np.uint16:
        return (array // 257).astype(np.uint8)
    if np.issubdtype(array.dtype, np.floating) and array.size and array.max() <= 1.0:
        return np.clip(array * 255 + 0.5, 0, 255).astype(np.uint8)
    return np.clip(array, 0, 255).astype(np.uint8)


class ImageReader:
    """Read windows of one image as H×W×3 uint8 RGB; windows may reach past the border (filled).

    The file is opened lazily and re-opened after a fork, so a reader can be handed to DataLoader workers.
    Use as a context manager or call :meth:`close`.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"image {self.path} not found")
        self._pid: int | None = None
        self._bands: list = []  # (rasterio dataset, band index) per RGB channel
        self._datasets: list = []
        self._array: np.ndarray | None = None
        self._shape: tuple[int, int] | None = None
        self._open()

    # ------------------------------------------------------------------ open
    def _open(self) -> None:
        self.close()
        self._pid = os.getpid()
        if self.path.suffix.lower() in _TIFF_SUFFIXES:
            self._open_tiff()
        else:
            array = cv2.imread(str(self.path), cv2.IMREAD_COLOR)
            if array is None:
                raise ValueError(f"image {self.path} could not be decoded: expected a readable JPEG/PNG/TIFF")
            self._array = cv2.cvtColor(array, cv2.COLOR_BGR2RGB)
            self._shape = self._array.shape[:2]

    def _open_tiff(self) -> None:
        import rasterio
        from rasterio.errors import NotGeoreferencedWarning, RasterioIOError

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", NotGeoreferencedWarning)
                main = rasterio.open(self.path)
                self._datasets.append(main)
                if main.count >= 3:
                    self._bands = [(main, 1), (main, 2), (main, 3)]
                elif main.subdatasets:  # RGB stored as one single-band page per channel
                    subs = [rasterio.open(s) for s in main.subdatasets[:3]]
                    self._datasets.extend(subs)
                    self._bands = [(s, 1) for s in subs] if len(subs) == 3 else [(subs[0], 1)] * 3
                else:
                    self._bands = [(main, 1)] * 3
        except RasterioIOError as err:
            raise ValueError(f"image {self.path} could not be opened as a TIFF ({err})") from None
        shapes = {(d.height, d.width) for d, _ in self._bands}
        if len(shapes) != 1:
            raise ValueError(f"image {self.path}: channels have different sizes {sorted(shapes)}")
        self._shape = shapes.pop()

    def _ensure_open(self) -> None:
        if self._pid != os.getpid():
            self._open()

    def close(self) -> None:
        """Release the file handles (a later read re-opens them)."""
        for dataset in self._datasets:
            dataset.close()
        self._datasets, self._bands, self._array = [], [], None
        self._pid = None

    def __enter__(self) -> "ImageReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __getstate__(self) -> dict:
        return {"path": self.path}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["path"])

    # ------------------------------------------------------------------ read
    @property
    def shape(self) -> tuple[int, int]:
        """(height, width) in pixels."""
        return self._shape

    @property
    def height(self) -> int:
        """Image height in pixels."""
        return self._shape[0]

    @property
    def width(self) -> int:
        """Image width in pixels."""
        return self._shape[1]

    def read(
        self, y0: int, x0: int, h: int, w: int, out_size: tuple[int, int] | None = None, fill: int = 0
    ) -> np.ndarray:
        """The h×w×3 window at (y0, x0), optionally resized to ``out_size`` = (oh, ow) with INTER_AREA."""
        self._ensure_open()
        out = np.full((h, w, 3), fill, dtype=np.uint8)
        ya, yb = max(y0, 0), min(y0 + h, self.height)
        xa, xb = max(x0, 0), min(x0 + w, self.width)
        if ya < yb and xa < xb:
            out[ya - y0 : yb - y0, xa - x0 : xb - x0] = self._read_inside(ya, xa, yb - ya, xb - xa)
        if out_size is not None and tuple(out_size) != (h, w):
            out = cv2.resize(out, (out_size[1], out_size[0]), interpolation=cv2.INTER_AREA)
        return out

    def _read_inside(self, y0: int, x0: int, h: int, w: int) -> np.ndarray:
        if self._array is not None:
            return self._array[y0 : y0 + h, x0 : x0 + w]
        from rasterio.windows import Window

        window = Window(x0, y0, w, h)
        main, _ = self._bands[0]
        try:
            if all(d is main for d, _ in self._bands):
                bands = main.read([b for _, b in self._bands], window=window)
            else:
                bands = np.stack([d.read(b, window=window) for d, b in self._bands])
        except Exception as err:  # rasterio raises its own types for truncated data
            raise ValueError(f"image {self.path}: reading window {(y0, x0, h, w)} failed ({err})") from None
        return _to_uint8(np.moveaxis(bands, 0, -1))

    def read_all(self) -> np.ndarray:
        """The whole image (small images only)."""
        return self.read(0, 0, self.height, self.width)


def open_image(path: str | os.PathLike) -> ImageReader:
    """Open any competition image for windowed reads (missing file: FileNotFoundError naming it)."""
    return ImageReader(path)


def read_image(path: str | os.PathLike) -> np.ndarray:
    """The whole image as H×W×3 uint8 RGB."""
    with open_image(path) as reader:
        return reader.read_all()


def write_png(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write an RGB (H×W×3) or single-channel (H×W) uint8 array as PNG, atomically."""
    array = np.asarray(array)
    if array.ndim == 3:
        array = cv2.cvtColor(array, cv2.COLOR_RGB2BGR)
    with atomic_path(path, suffix=".png") as tmp:
        if not cv2.imwrite(str(tmp), array):
            raise ValueError(f"could not write PNG {path} from an array of shape {array.shape}")


def read_png_mask(path: str | os.PathLike) -> np.ndarray:
    """A class-id mask PNG (values are class ids, not 0/255) as H×W uint8."""
    mask = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if mask is None:
        raise FileNotFoundError(f"mask {path} not found or not a readable PNG")
    return mask if mask.ndim == 2 else mask[..., 0]


def neopolyp_mask_to_classes(rgb: np.ndarray) -> np.ndarray:
    """NeoPolyp RGB mask -> class map: 0 background, 1 neoplastic (red), 2 non-neoplastic (green).

    Thresholds in OpenCV HSV (competitions.md §4): red H in [0,10] ∪ [160,179], S >= 100, V >= 20;
    green H in [36,70], S >= 25, V >= 25 — tolerant of the JPEG colour noise around edges.
    """
    hsv = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2HSV)
    hue, sat, val = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    red = ((hue <= 10) | (hue >= 160)) & (sat >= 100) & (val >= 20)
    green = (hue >= 36) & (hue <= 70) & (sat >= 25) & (val >= 25)
    classes = np.zeros(rgb.shape[:2], dtype=np.uint8)
    classes[red] = 1
    classes[green] = 2
    return classes


def read_neopolyp_mask(path: str | os.PathLike) -> np.ndarray:
    """Read a NeoPolyp ground-truth JPEG and return its class map."""
    return neopolyp_mask_to_classes(read_image(path))
