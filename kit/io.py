"""Images and masks: windowed RGB reads from any competition image, NeoPolyp colour masks, atomic PNG writes.

TIFFs go through rasterio windowed reads (layouts: :mod:`kit.io_tiff`); JPEG/PNG through OpenCV. Every read
returns H×W×3 uint8 RGB.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import cv2
import numpy as np

from kit.fsutil import atomic_path
from kit.io_tiff import TiffSource

__all__ = [
    "ImageReader",
    "open_image",
    "read_image",
    "write_png",
    "read_png_mask",
    "colour_mask_to_classes",
    "neopolyp_mask_to_classes",
    "read_neopolyp_mask",
]

_TIFF_SUFFIXES = {".tif", ".tiff"}
_JPEG_START, _JPEG_END = b"\xff\xd8", b"\xff\xd9"
_JPEG_TAIL = 1024  # the end-of-image marker must lie within this many last bytes (some writers pad after it)


class ImageReader:
    """Read windows of one image as H×W×3 uint8 RGB; windows may reach past the border (filled).

    The file is checked when the reader is made (missing: FileNotFoundError, unreadable: ValueError), then
    opened lazily per process: a pickled copy (DataLoader workers) or a forked child opens its own handles
    on its first read. Reads are serialised by a lock, so threads may share a reader. Use as a context
    manager or call :meth:`close`; a read after ``close`` re-opens the file.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"image {self.path} not found")
        self._source: TiffSource | np.ndarray | None = None
        self._pid, self._lock = os.getpid(), threading.Lock()
        self._shape: tuple[int, int] = self._opened().shape[:2]

    def _opened(self) -> TiffSource | np.ndarray:
        """The TIFF handles or the decoded JPEG/PNG pixels, loading them on first use (call under the lock)."""
        if self._source is None:
            self._source = self._load()
        return self._source

    def _adopt_process(self) -> None:
        """In a new process (pickled copy, forked child) drop inherited TIFF handles and the inherited lock."""
        if isinstance(self._source, TiffSource):
            self._source = None  # the parent's handles are never read from this process
        self._pid, self._lock = os.getpid(), threading.Lock()

    def _load(self) -> TiffSource | np.ndarray:
        if self.path.suffix.lower() in _TIFF_SUFFIXES:
            return TiffSource(self.path)
        data = self.path.read_bytes()
        if data[:2] == _JPEG_START and _JPEG_END not in data[-_JPEG_TAIL:]:
            raise ValueError(f"image {self.path} is a truncated JPEG (no end-of-image marker): libjpeg would fill the "
                             f"missing part with grey; re-copy or re-download the file")
        array = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        if array is None:
            raise ValueError(f"image {self.path} could not be decoded: expected a readable JPEG/PNG/TIFF file")
        return cv2.cvtColor(array, cv2.COLOR_BGR2RGB)

    def close(self) -> None:
        """Release the file handles and decoded pixels (a later read re-opens the file)."""
        if isinstance(self._source, TiffSource) and self._pid == os.getpid():  # only this process's handles
            self._source.close()
        self._source = None

    def __enter__(self) -> "ImageReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __getstate__(self) -> dict:
        """Pickle only the path and size: the copy opens its own handles when it first reads."""
        return {"path": self.path, "shape": self._shape}

    def __setstate__(self, state: dict) -> None:
        self.path, self._shape = state["path"], state["shape"]
        self._source, self._pid, self._lock = None, None, threading.Lock()

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
        """The h×w×3 window at (y0, x0), optionally resized to ``out_size`` = (oh, ow) with INTER_AREA.

        Pixels outside the image are ``fill`` (before resizing). TIFFs with internal overviews, shrunk at
        least 2× on both axes, are averaged by GDAL from the overviews instead (much faster, within a few
        grey levels of INTER_AREA).
        """
        y0, x0 = _integers("window origin", y0, x0)
        h, w = _integers("window size", h, w, minimum=1)
        out_h, out_w = (h, w) if out_size is None else _integers("out_size", *out_size, minimum=1)
        if not 0 <= fill <= 255:
            raise ValueError(f"fill must be a uint8 value in [0, 255], got {fill}")
        box = _Box(y0, x0, h, w, self.height, self.width)
        if self._pid != os.getpid():
            self._adopt_process()
        with self._lock:
            source = self._opened()
            if not isinstance(source, TiffSource):  # decoded JPEG/PNG; split copies, so no view escapes
                planes = list(cv2.split(_on_canvas(source[box.ya : box.yb, box.xa : box.xb], box, fill)))
            elif source.has_overviews and 2 * out_h <= h and 2 * out_w <= w:
                return _decimated(source, box, out_h, out_w, fill)
            else:
                inside = source.read(box.ya, box.xa, box.yb - box.ya, box.xb - box.xa) if box.hits else []
                planes = [_on_canvas(plane, box, fill) for plane in inside] or [np.full((h, w), fill, np.uint8)]
        if (out_h, out_w) != (h, w):  # per plane: same result as resizing H×W×3, without a transposing copy
            planes = [cv2.resize(plane, (out_w, out_h), interpolation=cv2.INTER_AREA) for plane in planes]
        return cv2.merge(planes if len(planes) == 3 else planes * 3)

    def read_all(self) -> np.ndarray:
        """The whole image (small images only)."""
        return self.read(0, 0, self.height, self.width)


class _Box:
    """A window (y0, x0, h, w) and its part inside an image of ``height`` × ``width``: rows ya:yb, cols xa:xb."""

    def __init__(self, y0: int, x0: int, h: int, w: int, height: int, width: int) -> None:
        self.y0, self.x0, self.h, self.w = y0, x0, h, w
        self.ya, self.yb = max(y0, 0), min(y0 + h, height)
        self.xa, self.xb = max(x0, 0), min(x0 + w, width)
        self.hits = self.ya < self.yb and self.xa < self.xb
        self.inside = (self.ya, self.yb, self.xa, self.xb) == (y0, y0 + h, x0, x0 + w)


def _on_canvas(pixels: np.ndarray, box: _Box, fill: int) -> np.ndarray:
    """``pixels`` (the inside part of ``box``) placed on a ``fill`` canvas of the whole window."""
    if box.inside:
        return pixels
    canvas = np.full((box.h, box.w) + pixels.shape[2:], fill, dtype=np.uint8)
    if box.hits:
        canvas[box.ya - box.y0 : box.yb - box.y0, box.xa - box.x0 : box.xb - box.x0] = pixels
    return canvas


def _decimated(source: TiffSource, box: _Box, out_h: int, out_w: int, fill: int) -> np.ndarray:
    """The window shrunk to out_h × out_w by GDAL; the inside part is placed at its scaled position."""
    out = np.full((out_h, out_w, 3), fill, dtype=np.uint8)
    oy0, oy1 = round((box.ya - box.y0) * out_h / box.h), round((box.yb - box.y0) * out_h / box.h)
    ox0, ox1 = round((box.xa - box.x0) * out_w / box.w), round((box.xb - box.x0) * out_w / box.w)
    if box.hits and oy0 < oy1 and ox0 < ox1:
        planes = source.read(box.ya, box.xa, box.yb - box.ya, box.xb - box.xa, (oy1 - oy0, ox1 - ox0))
        out[oy0:oy1, ox0:ox1] = cv2.merge(planes if len(planes) == 3 else planes * 3)
    return out


def _integers(what: str, *values: int, minimum: int | None = None) -> tuple[int, ...]:
    """``values`` as Python ints; ValueError naming ``what`` for non-integers or values below ``minimum``."""
    if not all(isinstance(v, (int, np.integer)) and (minimum is None or v >= minimum) for v in values):
        expected = "integers" if minimum is None else f"integers >= {minimum}"
        raise ValueError(f"{what} must be {expected}, got {values}")
    return tuple(int(v) for v in values)


def open_image(path: str | os.PathLike) -> ImageReader:
    """Open any competition image for windowed reads (missing: FileNotFoundError, unreadable: ValueError)."""
    return ImageReader(path)


def read_image(path: str | os.PathLike) -> np.ndarray:
    """The whole image as H×W×3 uint8 RGB."""
    with open_image(path) as reader:
        return reader.read_all()


def write_png(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write an RGB (H×W×3) or single-channel (H×W) uint8/uint16 array as PNG, atomically."""
    array = np.asarray(array)
    if array.dtype not in (np.uint8, np.uint16) or not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] == 3)):
        raise ValueError(f"PNG {path}: expected an H×W or H×W×3 uint8/uint16 array, got {array.dtype} {array.shape}")
    if array.ndim == 3:
        array = cv2.cvtColor(array, cv2.COLOR_RGB2BGR)
    with atomic_path(path, suffix=".png") as tmp:
        if not cv2.imwrite(str(tmp), array):
            raise ValueError(f"could not write PNG {path} from an array of shape {array.shape}")


def read_png_mask(path: str | os.PathLike) -> np.ndarray:
    """A class-id mask PNG (values are class ids, not 0/255) as H×W uint8 (first channel of a colour PNG)."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"mask {path} not found")
    mask = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if mask is None:
        raise ValueError(f"mask {path} could not be decoded: expected a PNG of class ids")
    if mask.dtype != np.uint8:
        raise ValueError(f"mask {path}: expected 8-bit class ids, got {mask.dtype}")
    return mask if mask.ndim == 2 else mask[..., 0]


def colour_mask_to_classes(image: np.ndarray, colours: list) -> np.ndarray:
    """Mask image -> class map: each pixel takes the nearest of black (class 0) and ``colours`` (class 1, 2 ...).

    A colour is a grey value or an [r, g, b] triple; with ``[255]`` a grey mask reads as "> 127 is class 1"
    (a tie goes to the lower class id). ``image`` is H×W or H×W×3 uint8.
    """
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3):
        raise ValueError(f"expected an H×W or H×W×3 uint8 mask image, got {image.dtype} array of {image.shape}")
    pixels = (image[..., None] if image.ndim == 2 else image).astype(np.int32)
    palette = np.array([[0, 0, 0]] + [[c] * 3 if np.isscalar(c) else list(c) for c in colours], dtype=np.int32)
    if palette.shape[1] != 3:
        raise ValueError(f"mask colours must be grey values or [r, g, b] triples; got {colours}")
    distances = ((pixels[..., None, :] - palette) ** 2).sum(axis=-1)
    return distances.argmin(axis=-1).astype(np.uint8)


def neopolyp_mask_to_classes(rgb: np.ndarray) -> np.ndarray:
    """NeoPolyp RGB mask -> class map: 0 background, 1 neoplastic (red), 2 non-neoplastic (green).

    Thresholds in OpenCV HSV (competitions.md §4): red H in [0,10] ∪ [160,179], S >= 100, V >= 20;
    green H in [36,70], S >= 25, V >= 25 — tolerant of the JPEG colour noise around edges.
    """
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an H×W×3 uint8 RGB mask, got {rgb.dtype} array of shape {rgb.shape}")
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
