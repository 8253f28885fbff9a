"""Run-length encoding of binary masks as Kaggle writes it: 1-indexed "start length" pairs.

Order "F" is column-major (top to bottom, then left to right: both HuBMAP competitions), order "C" is
row-major (NeoPolyp). An empty mask is the empty string; NaN/None (pandas' empty cells) decode to empty.

>>> encode(np.array([[0, 0, 1, 0], [0, 0, 1, 0], [1, 1, 1, 1]]), order="F")
'3 5 12 1'
"""

from __future__ import annotations

import math
import warnings
from typing import Iterable

import numpy as np

__all__ = ["ORDERS", "encode", "decode", "decode_window", "runs_from_rle", "RleMask", "RleStreamEncoder"]

ORDERS = ("F", "C")


def _check_order(order: str) -> str:
    if order not in ORDERS:
        raise ValueError(f"RLE order must be 'F' (column-major, HuBMAP) or 'C' (row-major, NeoPolyp), got {order!r}")
    return order


def _check_shape(shape: Iterable[int]) -> tuple[int, int]:
    shape = tuple(int(s) for s in shape)
    if len(shape) != 2 or min(shape) < 1:
        raise ValueError(f"shape must be (height, width) with positive sides, got {shape}")
    return shape


def _flat_runs(flat: np.ndarray) -> np.ndarray:
    """0-based [start, end) boundaries of the runs of ones in a 1-D 0/1 uint8 array, as one int64 array."""
    padded = np.zeros(flat.size + 2, dtype=np.uint8)
    padded[1:-1] = flat
    return np.flatnonzero(padded[1:] != padded[:-1])


def _boundaries(mask: np.ndarray, order: str) -> np.ndarray:
    """Sorted flat positions where the 0/1 value changes along the ``order`` pixel sequence (0..H·W).

    No transposed copy of the image: changes inside each line (a column for "F", a row for "C") come
    from a difference along that axis in the array's own memory order; changes between lines compare the
    last pixel of one line with the first of the next.
    """
    h, w = mask.shape
    if order == "F":
        inner = np.flatnonzero(mask[1:] != mask[:-1])  # index y*w + x of (y+1, x) vs (y, x)
        y, x = np.divmod(inner, w)
        inner = x * h + y + 1
        first, last, line_len = mask[0], mask[-1], h
    else:
        inner = np.flatnonzero(mask[:, 1:] != mask[:, :-1])
        y, x = np.divmod(inner, w - 1)
        inner = y * w + x + 1
        first, last, line_len = mask[:, 0], mask[:, -1], w
    between = (np.flatnonzero(last[:-1] != first[1:]) + 1) * line_len
    ends = [np.array([0])] if first[0] else []
    if last[-1]:
        ends.append(np.array([h * w]))
    return np.sort(np.concatenate([inner.astype(np.int64), between.astype(np.int64), *ends]))


def _format(starts: np.ndarray, lengths: np.ndarray) -> str:
    pairs = np.empty(starts.size * 2, dtype=np.int64)
    pairs[0::2] = starts
    pairs[1::2] = lengths
    return str(pairs.tolist())[1:-1].replace(",", "")


def encode(mask: np.ndarray, order: str = "F") -> str:
    """RLE string of ``mask`` (H×W; any non-zero value is foreground) in pixel order ``order``."""
    _check_order(order)
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"mask must be 2-D (height, width), got shape {mask.shape}")
    binary = mask.view(np.uint8) if mask.dtype == bool else (mask != 0).view(np.uint8)
    bounds = _boundaries(binary, order)
    starts, ends = bounds[0::2], bounds[1::2]
    return _format(starts + 1, ends - starts)


def _parse(rle: str) -> np.ndarray:
    """The integers of an RLE string (fast path for well-formed input, exact errors otherwise)."""
    if not rle.strip():
        return np.zeros(0, np.int64)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)  # numpy warns when it stops at a bad token
        try:
            values = np.fromstring(rle, dtype=np.int64, sep=" ")
            if rle.rstrip()[-1].isdigit():
                return values
        except (DeprecationWarning, ValueError):
            pass
    tokens = rle.split()
    try:
        return np.array(tokens, dtype=np.int64)
    except (ValueError, OverflowError):
        bad = next(t for t in tokens if not t.lstrip("-").isdigit())
        raise ValueError(f"RLE token {bad!r} is not an integer") from None


def runs_from_rle(rle: str | float | None, shape: tuple[int, int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Validated 0-based run starts and lengths (int64) of an RLE string.

    Raises ValueError naming the problem: odd token count, non-integer token, start < 1, length < 1,
    unsorted or overlapping runs, or (when ``shape`` is given) a run past the end of the image.
    """
    if rle is None or (isinstance(rle, float) and math.isnan(rle)):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    if not isinstance(rle, str):
        raise ValueError(f"RLE must be a string, got {type(rle).__name__}")
    values = _parse(rle)
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
    if starts.size > 1:
        overlap = starts[1:] < ends[:-1]
        if overlap.any():
            i = int(np.argmax(overlap)) + 1
            kind = "unsorted" if starts[i] < starts[i - 1] else "overlapping"
            raise ValueError(f"RLE runs are {kind}: run {i} starts at {starts[i] + 1} before run {i - 1} ends")
    if shape is not None and ends.size:
        total = shape[0] * shape[1]
        if ends[-1] > total:
            raise ValueError(f"RLE run ends at pixel {ends[-1]}, past the end of the {shape[0]}x{shape[1]} image")
    return starts, lengths


def decode(rle: str | float | None, shape: tuple[int, int], order: str = "F") -> np.ndarray:
    """The H×W uint8 0/1 mask of an RLE string; malformed input raises ValueError naming the problem."""
    _check_order(order)
    shape = _check_shape(shape)
    starts, lengths = runs_from_rle(rle, shape)
    total = shape[0] * shape[1]
    if starts.size == 0:
        return np.zeros(shape, dtype=np.uint8, order=order)
    counts = np.empty(2 * starts.size + 1, dtype=np.int64)  # gap, run, gap, run, ..., tail
    counts[0] = starts[0]
    counts[1:-1:2] = lengths
    counts[2:-1:2] = starts[1:] - (starts[:-1] + lengths[:-1])
    counts[-1] = total - (starts[-1] + lengths[-1])
    values = np.zeros(counts.size, dtype=np.uint8)
    values[1::2] = 1
    return np.repeat(values, counts).reshape(shape, order=order)


class RleMask:
    """An RLE parsed and validated once, answering sub-rectangle queries without the full image.

    For order "F" every image column is a contiguous range of the flat index; a window's column is found
    with a binary search over the run ends, so a window costs O(columns × log runs + pixels).
    """

    def __init__(self, rle: str | float | None, shape: tuple[int, int], order: str = "F") -> None:
        self.order = _check_order(order)
        self.shape = _check_shape(shape)
        self.starts, lengths = runs_from_rle(rle, self.shape)
        self.ends = self.starts + lengths

    @property
    def area(self) -> int:
        """Number of foreground pixels."""
        return int((self.ends - self.starts).sum())

    def to_array(self) -> np.ndarray:
        """The whole H×W uint8 mask (small images only)."""
        return self.window(0, 0, *self.shape)

    def window(self, y0: int, x0: int, h: int, w: int) -> np.ndarray:
        """The h×w uint8 mask of rows y0..y0+h and columns x0..x0+w; pixels outside the image are 0."""
        out = np.zeros((h, w), dtype=np.uint8)
        height, width = self.shape
        # A "line" is a column for order F and a row for order C; the flat index runs along each line.
        if self.order == "F":
            line0, off0, n_win_lines, n_win_off, n_lines, line_len, view = x0, y0, w, h, width, height, out.T
        else:
            line0, off0, n_win_lines, n_win_off, n_lines, line_len, view = y0, x0, h, w, height, width, out
        a, b = max(line0, 0), min(line0 + n_win_lines, n_lines)
        o0, o1 = max(off0, 0), min(off0 + n_win_off, line_len)
        if a >= b or o0 >= o1 or self.starts.size == 0:
            return out
        lines = np.arange(a, b, dtype=np.int64)
        lo, hi = lines * line_len + o0, lines * line_len + o1  # flat range of the window on each line
        first = np.searchsorted(self.ends, lo, side="right")  # first run ending after lo
        counts = np.maximum(np.searchsorted(self.starts, hi, side="left") - first, 0)
        total = int(counts.sum())
        if total == 0:
            return out
        line_idx = np.repeat(np.arange(lines.size), counts)
        run_idx = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts) + np.repeat(first, counts)
        s = np.maximum(self.starts[run_idx], lo[line_idx]) - lo[line_idx]
        e = np.minimum(self.ends[run_idx], hi[line_idx]) - lo[line_idx]
        diff = np.zeros((lines.size, o1 - o0 + 1), dtype=np.int32)
        np.add.at(diff, (line_idx, s), 1)
        np.add.at(diff, (line_idx, e), -1)
        block = (np.cumsum(diff[:, :-1], axis=1) > 0).view(np.uint8)
        view[a - line0 : b - line0, o0 - off0 : o1 - off0] = block
        return out


def decode_window(
    rle: str | float | None, shape: tuple[int, int], window: tuple[int, int, int, int], order: str = "F"
) -> np.ndarray:
    """The mask of ``window`` = (y0, x0, h, w) straight from the runs (outside the image: 0)."""
    return RleMask(rle, shape, order).window(*window)


class RleStreamEncoder:
    """Encode a huge mask block by block in pixel order, holding only one block and the runs so far.

    Order "F": ``add(mask[:, x0:x1])`` blocks of whole columns, left to right. Order "C": ``add(mask[y0:y1])``
    blocks of whole rows, top to bottom. ``finish()`` returns exactly ``encode(full_mask, order)``.
    """

    def __init__(self, shape: tuple[int, int], order: str = "F") -> None:
        self.order = _check_order(order)
        self.shape = _check_shape(shape)
        self._line_len = self.shape[0] if order == "F" else self.shape[1]
        self._n_lines = self.shape[1] if order == "F" else self.shape[0]
        self._done_lines = 0
        self._pieces: list[np.ndarray] = []  # 0-based [start, end) bounds of finished runs, flattened
        self._open_start: int | None = None  # a run still open at the end of the last block

    def add(self, block: np.ndarray) -> None:
        """Append the next block of whole columns ("F") or rows ("C")."""
        block = np.asarray(block)
        lines = block.shape[1] if self.order == "F" else block.shape[0]
        length = block.shape[0] if self.order == "F" else block.shape[1]
        if block.ndim != 2 or length != self._line_len:
            side = "height" if self.order == "F" else "width"
            raise ValueError(f"block of shape {block.shape} must be 2-D with {side} {self._line_len}")
        if self._done_lines + lines > self._n_lines:
            raise ValueError(f"blocks exceed the image: {self._done_lines + lines} > {self._n_lines} lines")
        flat = (block != 0).view(np.uint8).ravel(order=self.order)
        offset = self._done_lines * self._line_len
        bounds = _flat_runs(flat) + offset
        if self._open_start is not None:
            if flat.size and flat[0]:
                bounds[0] = self._open_start  # the open run continues into this block
            else:
                bounds = np.concatenate([[self._open_start, offset], bounds])
            self._open_start = None
        if bounds.size and flat.size and flat[-1]:
            self._open_start = int(bounds[-2])
            bounds = bounds[:-2]
        self._pieces.append(bounds)
        self._done_lines += lines

    def finish(self) -> str:
        """The RLE of everything added; raises if the blocks did not cover the whole image."""
        if self._done_lines != self._n_lines:
            raise ValueError(f"only {self._done_lines} of {self._n_lines} lines were added")
        bounds = np.concatenate(self._pieces) if self._pieces else np.zeros(0, np.int64)
        if self._open_start is not None:
            bounds = np.concatenate([bounds, [self._open_start, self._done_lines * self._line_len]])
            self._open_start = None
        starts, ends = bounds[0::2], bounds[1::2]
        return _format(starts + 1, ends - starts)
