"""Run-length encoding of binary masks as Kaggle writes it: 1-indexed "start length" pairs.

Order "F" is column-major (top to bottom, then left to right: both HuBMAP competitions), order "C" is
row-major (NeoPolyp). An empty mask is the empty string; NaN/None (pandas' empty cells) decode to empty.
Any non-zero mask value is foreground.

Internally a mask is a sorted array of *change points*: the 0-based flat positions where the pixel
sequence switches between 0 and 1 (pixels before the first and after the last count as 0), i.e. run
start, run end (exclusive), next run start, ...  Encoding finds them band by band without a transposed
or int64 copy of the image; decoding paints them back with one ``np.repeat``.

>>> encode(np.array([[0, 1, 1, 0], [0, 1, 0, 0], [1, 1, 0, 1]]), order="F")
'3 5 12 1'
"""

from __future__ import annotations

import math
import re
from typing import Iterable

import cv2
import numpy as np

from kit.registry import Registry

__all__ = ["ORDERS", "encode", "decode", "decode_window", "runs_from_rle", "RleMask", "RleStreamEncoder"]

ORDERS = Registry.of("RLE order", ("F", "C"), "RLE order must be 'F' (column-major, HuBMAP) or 'C' (row-major, "
                     "NeoPolyp), got {name!r}{hint}", sort=False)
_BAND_BYTES = 1 << 19  # scan masks in ~512 KB bands so the comparison temporaries stay in cache
_MAX_TOKEN = 2**62  # no pixel index is this large; also keeps start + length clear of int64 overflow
_INT_TOKEN = re.compile(r"[+-]?[0-9]+")
_CLEAN_CHARS = b"0123456789 \t\n\r\x0b\x0c"  # ASCII digits and whitespace: numpy parses these exactly


def _check_order(order: str) -> str:
    return ORDERS.check(order)


def _check_shape(shape: Iterable[int]) -> tuple[int, int]:
    shape = tuple(int(s) for s in shape)
    if len(shape) != 2 or min(shape) < 1:
        raise ValueError(f"shape must be (height, width) with positive sides, got {shape}")
    return shape


# ----------------------------------------------------------------------------------------- encoding
def _as_binary(part: np.ndarray) -> np.ndarray:
    """``part`` itself when it only holds 0/1 (bool, or unsigned with max 1), else ``part != 0``."""
    if part.dtype == bool or (part.dtype.kind == "u" and part.size and part.max() <= 1):
        return part
    return part != 0


def _flat_changes(flat: np.ndarray) -> np.ndarray:
    """Positions p in 1..n-1 with flat[p] != flat[p-1] (foreground = non-zero), in cache-sized chunks."""
    step = max(_BAND_BYTES // flat.itemsize, 1)
    pieces = [np.zeros(0, np.int64)]
    for a in range(1, flat.size, step):
        part = _as_binary(flat[a - 1 : a + step])
        pieces.append(np.flatnonzero(part[1:] != part[:-1]) + a)
    return np.concatenate(pieces)


def _column_changes(cols: np.ndarray) -> np.ndarray:
    """Like :func:`_flat_changes` for the column-major sequence of a 2-D array in any memory layout.

    Changes inside a column come from comparing consecutive rows (contiguous for a C-order array, so
    no transposed copy); changes between columns compare the bottom of one with the top of the next.
    """
    h, w = cols.shape
    rows = max(_BAND_BYTES // (w * cols.itemsize), 1)
    pieces = []
    for r0 in range(1, h, rows):
        part = _as_binary(cols[r0 - 1 : r0 + rows])
        y, x = np.divmod(np.flatnonzero(part[1:] != part[:-1]), w)
        pieces.append(x * h + y + r0)
    top, bottom = _as_binary(cols[0]), _as_binary(cols[-1])
    pieces.append((np.flatnonzero(top[1:] != bottom[:-1]) + 1) * h)
    return np.sort(np.concatenate(pieces), kind="stable")  # radix/merge sort of band-sorted runs: ~2x quicker


def _change_points(cols: np.ndarray) -> np.ndarray:
    """Sorted int64 change points (see module doc) of the column-major pixel sequence of ``cols``."""
    if cols.size == 0:
        return np.zeros(0, np.int64)
    inner = _flat_changes(cols.ravel(order="F")) if cols.flags.f_contiguous else _column_changes(cols)
    head = [0] if cols[0, 0] != 0 else []
    tail = [cols.size] if cols[-1, -1] != 0 else []
    return np.concatenate([np.array(head, np.int64), inner.astype(np.int64, copy=False), np.array(tail, np.int64)])


def _join_ints(values: np.ndarray) -> str:
    """Positive integers as one space-separated decimal string, written digit column by digit column.

    Several times faster than ``' '.join(map(str, values.tolist()))`` (9 vs 50 ms for 300k numbers).
    """
    if values.size == 0:
        return ""
    digits = len(str(int(values.max())))
    rest = values.astype(np.uint32 if digits < 10 else np.uint64)
    chars = np.empty((values.size, digits + 1), np.uint8)
    keep = np.empty((values.size, digits + 1), bool)
    chars[:, digits], keep[:, digits] = ord(" "), True
    for k in range(digits - 1, -1, -1):  # least significant digit first
        quotient = rest // 10
        chars[:, k] = rest - quotient * 10 + ord("0")
        keep[:, k] = rest > 0  # False on leading zeros
        rest = quotient
    return chars[keep][:-1].tobytes().decode("ascii")


def _format(points: np.ndarray) -> str:
    """The RLE string of change points: 1-indexed starts and lengths."""
    pairs = points.copy()
    pairs[1::2] -= points[0::2]
    pairs[0::2] += 1
    return _join_ints(pairs)


def _lines(mask: np.ndarray, order: str) -> np.ndarray:
    """``mask`` arranged so that its pixel sequence in ``order`` is the column-major one (a view)."""
    return mask if order == "F" else mask.T


def encode(mask: np.ndarray, order: str = "F") -> str:
    """RLE string of ``mask`` (H×W, any dtype; non-zero is foreground) in pixel order ``order``.

    Memory: one ~512 KB band at a time plus the runs; the mask is never copied, transposed or promoted.
    """
    _check_order(order)
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"mask must be 2-D (height, width), got shape {mask.shape}")
    return _format(_change_points(_lines(mask, order)))


# ----------------------------------------------------------------------------------------- decoding
def _parse_ints(rle: str) -> np.ndarray:
    """The integers of an RLE string: numpy's C parser for clean input, exact errors otherwise."""
    if not rle or rle.isspace():  # numpy reads a blank string as [0]
        return np.zeros(0, np.int64)
    if rle.isascii() and not rle.encode("ascii").translate(None, _CLEAN_CHARS):  # numpy misreads e.g. "1 -"
        values = np.fromstring(rle, dtype=np.int64, sep=" ")
        if values.max() < _MAX_TOKEN:  # numpy saturates overflowing tokens
            return values
    tokens = rle.split()
    bad = next((token for token in tokens if not _INT_TOKEN.fullmatch(token)), None)
    if bad is not None:
        raise ValueError(f"RLE token {bad!r} is not an integer")
    bad = next((token for token in tokens if abs(int(token)) >= _MAX_TOKEN), None)
    if bad is not None:
        raise ValueError(f"RLE token {bad!r} is too large to be a pixel index")
    return np.array([int(token) for token in tokens], dtype=np.int64)


def runs_from_rle(rle: str | float | None, shape: tuple[int, int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Validated **0-based** run starts and the run lengths (int64 arrays) of an RLE string.

    NaN/None/"" give empty arrays. Raises ValueError naming the problem: odd token count, non-integer
    token, start < 1, length < 1, unsorted or overlapping runs, or (when ``shape`` is given) a run past
    the end of the image.
    """
    if rle is None or (isinstance(rle, float) and math.isnan(rle)):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    if not isinstance(rle, str):
        raise ValueError(f"RLE must be a string, NaN or None, got {type(rle).__name__} {rle!r:.40}")
    values = _parse_ints(rle)
    if values.size % 2:
        raise ValueError(f"RLE has an odd number of tokens ({values.size}): expected 'start length' pairs")
    starts, lengths = values[0::2] - 1, values[1::2]
    if starts.size and starts.min() < 0:
        i = int(np.argmax(starts < 0))
        raise ValueError(f"RLE run {i} starts at {starts[i] + 1}: starts must be >= 1 (1-indexed)")
    if lengths.size and lengths.min() < 1:
        i = int(np.argmax(lengths < 1))
        raise ValueError(f"RLE run {i} has length {lengths[i]}: lengths must be >= 1")
    ends = starts + lengths
    bad = np.flatnonzero(starts[1:] < ends[:-1])
    if bad.size:
        i = int(bad[0]) + 1
        kind = "unsorted" if starts[i] < starts[i - 1] else "overlapping"
        raise ValueError(f"RLE runs are {kind}: run {i} starts at {starts[i] + 1} before run {i - 1} ends")
    if shape is not None and ends.size and ends[-1] > shape[0] * shape[1]:
        raise ValueError(f"RLE run ends at pixel {ends[-1]}, past the end of the "
                         f"{shape[0]}x{shape[1]} image ({shape[0] * shape[1]} pixels)")
    return starts, lengths


def _paint(points: np.ndarray, total: int) -> np.ndarray:
    """Flat uint8 0/1 array of ``total`` pixels from sorted change points (gaps and runs by np.repeat)."""
    values = np.zeros(points.size + 1, np.uint8)
    values[1::2] = 1
    return np.repeat(values, np.diff(points, prepend=0, append=total))


def _points(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    points = np.empty(2 * starts.size, np.int64)
    points[0::2], points[1::2] = starts, ends
    return points


def decode(rle: str | float | None, shape: tuple[int, int], order: str = "F") -> np.ndarray:
    """The H×W uint8 0/1 mask of an RLE string; malformed input raises ValueError naming the problem.

    For order "F" the result is a column-major (Fortran-ordered) array: no transposed copy is made.
    """
    _check_order(order)
    shape = _check_shape(shape)
    starts, lengths = runs_from_rle(rle, shape)
    return _paint(_points(starts, starts + lengths), shape[0] * shape[1]).reshape(shape, order=order)


class RleMask:
    """An RLE parsed and validated once, answering sub-rectangle queries without the full image.

    ``starts`` / ``ends`` are the 0-based runs [start, end) as int64 arrays. A "line" is a column for
    order "F" and a row for "C"; each window line is one flat range, whose runs come from two binary
    searches, so a window costs O(lines × log runs + pixels).
    """

    def __init__(self, rle: str | float | None, shape: tuple[int, int], order: str = "F") -> None:
        self.order = _check_order(order)
        self.shape = _check_shape(shape)
        self.starts, lengths = runs_from_rle(rle, self.shape)
        self.ends = self.starts + lengths
        self.area = int(lengths.sum())  # foreground pixel count

    def to_array(self) -> np.ndarray:
        """The whole H×W uint8 mask (memory: the full image)."""
        total = self.shape[0] * self.shape[1]
        return _paint(_points(self.starts, self.ends), total).reshape(self.shape, order=self.order)

    def window(self, y0: int, x0: int, h: int, w: int) -> np.ndarray:
        """The C-ordered h×w uint8 mask of rows y0..y0+h, columns x0..x0+w; pixels outside the image are 0."""
        if h < 0 or w < 0:
            raise ValueError(f"window size must be >= 0, got h={h}, w={w}")
        out = np.zeros((h, w), dtype=np.uint8)
        height, width = self.shape
        if self.order == "F":
            line0, n_win_lines, off0, n_win_offs, n_lines, line_len = x0, w, y0, h, width, height
        else:
            line0, n_win_lines, off0, n_win_offs, n_lines, line_len = y0, h, x0, w, height, width
        a, b = max(line0, 0), min(line0 + n_win_lines, n_lines)  # image lines inside the window
        c, d = max(off0, 0), min(off0 + n_win_offs, line_len)  # offsets along a line inside the window
        if a >= b or c >= d:
            return out
        lo = np.arange(a, b, dtype=np.int64) * line_len + c  # flat range [lo, hi) of each window line
        hi = lo + (d - c)
        first = np.searchsorted(self.ends, lo, side="right")  # first run ending after lo
        count = np.maximum(np.searchsorted(self.starts, hi, side="left") - first, 0)
        if not count.any():
            return out
        line = np.repeat(np.arange(b - a), count)
        run = np.arange(line.size) + np.repeat(first - (np.cumsum(count) - count), count)
        shift = lo[line] - line * (d - c)  # image flat index -> index in the (lines × offsets) block
        points = _points(np.maximum(self.starts[run], lo[line]) - shift, np.minimum(self.ends[run], hi[line]) - shift)
        block = _paint(points, (b - a) * (d - c)).reshape(b - a, d - c)  # lines × offsets
        if self.order == "F":  # cv2's blocked transpose is ~10x faster than numpy's strided copy
            out[c - off0 : d - off0, a - line0 : b - line0] = cv2.transpose(block)
        else:
            out[a - line0 : b - line0, c - off0 : d - off0] = block
        return out


def decode_window(
    rle: str | float | None, shape: tuple[int, int], window: tuple[int, int, int, int], order: str = "F"
) -> np.ndarray:
    """The h×w mask of ``window`` = (y0, x0, h, w) straight from the runs (outside the image: 0).

    Parses the whole RLE each call: for many windows of one image keep an :class:`RleMask`.
    """
    return RleMask(rle, shape, order).window(*window)


class RleStreamEncoder:
    """Encode a huge mask block by block in pixel order, holding one block and the runs so far.

    Order "F": ``add(mask[:, x0:x1])`` blocks of whole columns, left to right. Order "C": ``add(mask[y0:y1])``
    blocks of whole rows, top to bottom. ``finish()`` returns exactly ``encode(full_mask, order)``.
    """

    def __init__(self, shape: tuple[int, int], order: str = "F") -> None:
        self.order = _check_order(order)
        self.shape = _check_shape(shape)
        self._line_len, self._n_lines = self.shape if order == "F" else self.shape[::-1]
        self._done_lines = 0
        self._pieces: list[np.ndarray] = []  # change points of the blocks so far
        self._open = False  # the last block ended inside a run

    def add(self, block: np.ndarray) -> None:
        """Append the next block of whole columns ("F") or whole rows ("C"); any non-zero is foreground."""
        block = np.asarray(block)
        cols = _lines(block, self.order)
        if block.ndim != 2 or cols.shape[0] != self._line_len:
            side = "height" if self.order == "F" else "width"
            raise ValueError(f"block of shape {block.shape} must be 2-D with {side} {self._line_len} "
                             f"(order {self.order!r} takes whole {'columns' if self.order == 'F' else 'rows'})")
        lines = cols.shape[1]
        if self._done_lines + lines > self._n_lines:
            raise ValueError(f"blocks exceed the image: {self._done_lines + lines} > {self._n_lines} "
                             f"{'columns' if self.order == 'F' else 'rows'}")
        offset = self._done_lines * self._line_len
        points = _change_points(cols) + offset
        if self._open and points.size and points[0] == offset:  # the open run continues into this block
            self._pieces[-1] = self._pieces[-1][:-1]
            points = points[1:]
        if points.size:
            self._open = bool(points[-1] == offset + cols.size)
            self._pieces.append(points)
        elif lines:
            self._open = False
        self._done_lines += lines

    def finish(self) -> str:
        """The RLE of everything added; raises ValueError if the blocks did not cover the whole image."""
        if self._done_lines != self._n_lines:
            raise ValueError(f"only {self._done_lines} of {self._n_lines} "
                             f"{'columns' if self.order == 'F' else 'rows'} were added")
        return _format(np.concatenate(self._pieces) if self._pieces else np.zeros(0, np.int64))
