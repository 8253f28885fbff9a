"""Split -> aggregate -> finalize: weighted averaging of window predictions, one band at a time.

:class:`BandMerger` keeps value and weight sums only for the band of columns (``axis=1``, HuBMAP's column-major
RLE) or rows (``axis=0``, NeoPolyp's row-major RLE) that windows can still touch. Windows must arrive sorted by
their start along that axis; ``finalize(upto)`` hands back the averaged band before ``upto`` and frees it, so a
slide never needs a full float map. :class:`BandUpsampler` turns finished working-resolution bands into
full-resolution bands (bilinear, pixel centres aligned), giving exactly what upsampling the whole map would give;
:class:`RleSink` thresholds (or argmaxes) those bands and streams them into :class:`kit.rle.RleStreamEncoder`.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np
import torch

from kit.metrics import labels_from_probs as metric_labels
from kit.rle import RleStreamEncoder

__all__ = ["BandMerger", "BandUpsampler", "RleSink", "upsample", "to_uint8", "labels_from_probs", "encode_probs"]


def to_uint8(probs: torch.Tensor) -> np.ndarray:
    """Probabilities in [0, 1] -> uint8 0–255 (rounded) on the CPU."""
    return (probs.float().clamp_(0, 1) * 255 + 0.5).to(torch.uint8).cpu().numpy()


class BandMerger:
    """Weighted average of overlapping window predictions over an image of ``shape`` with ``channels`` channels.

    Args:
        shape: (height, width) of the merged map.
        channels: channels of every prediction.
        axis: 1 = finish bands of columns left to right; 0 = bands of rows top to bottom.
        dtype: accumulator dtype (float32 is exact to rounding; float16 halves memory, error <= 1/255 on [0, 1]).
        device: where the sums live (the GPU when predicting there).

    The sums live in ring buffers along the band axis that double when a window reaches past them, so
    finishing a band neither copies nor reallocates. Memory: (channels + 1) × dtype bytes × (side across
    the band) × :attr:`open_lines`.
    """

    def __init__(
        self,
        shape: tuple[int, int],
        channels: int,
        axis: int = 1,
        dtype: torch.dtype = torch.float32,
        device: str | torch.device = "cpu",
    ) -> None:
        if axis not in (0, 1):
            raise ValueError(f"axis must be 0 (bands of rows) or 1 (bands of columns), got {axis}")
        self.shape = (int(shape[0]), int(shape[1]))
        if min(self.shape) < 1 or channels < 1:
            raise ValueError(f"shape {shape} and channels {channels} must be positive")
        self.channels, self.axis, self.dtype, self.device = channels, axis, dtype, torch.device(device)
        self.across, self.along = (self.shape[0], self.shape[1]) if axis == 1 else (self.shape[1], self.shape[0])
        self.done = 0  # lines before this were handed out by finalize; line i sits at ring slot i % capacity
        self._values = torch.zeros(channels, self.across, 0, dtype=dtype, device=self.device)
        self._weights = torch.zeros(1, self.across, 0, dtype=dtype, device=self.device)

    @property
    def open_lines(self) -> int:
        """Lines (columns or rows) currently held in memory."""
        return self._values.shape[-1]

    def _segments(self, lo: int, hi: int) -> list[tuple[int, int, int]]:
        """Ring slices holding lines lo..hi: (slot start, slot stop, offset of the slice within lo..hi)."""
        cap = self._values.shape[-1]
        if hi <= lo or cap == 0:
            return []
        start = lo % cap
        first = min(hi - lo, cap - start)
        return [(start, start + first, 0)] + ([(0, hi - lo - first, first)] if first < hi - lo else [])

    def _take(self, buffer: torch.Tensor, lo: int, hi: int) -> torch.Tensor:
        parts = [buffer[..., a:b] for a, b, _ in self._segments(lo, hi)]
        return parts[0] if len(parts) == 1 else torch.cat(parts, dim=-1)

    def _grow(self, capacity: int) -> None:
        """Re-lay the open lines into ring buffers of ``capacity`` slots."""
        old = self._values.shape[-1]
        values = torch.zeros(self.channels, self.across, capacity, dtype=self.dtype, device=self.device)
        weights = torch.zeros(1, self.across, capacity, dtype=self.dtype, device=self.device)
        if old:
            open_values = self._take(self._values, self.done, self.done + old)
            open_weights = self._take(self._weights, self.done, self.done + old)
            self._values, self._weights = values, weights  # _segments now maps lines to the new slots
            for a, b, offset in self._segments(self.done, self.done + old):
                values[..., a:b] = open_values[..., offset : offset + b - a]
                weights[..., a:b] = open_weights[..., offset : offset + b - a]
        self._values, self._weights = values, weights

    def _canonical(self, tensor: torch.Tensor) -> torch.Tensor:
        """Image layout (…, h, w) -> internal layout with the band axis last."""
        return tensor if self.axis == 1 else tensor.transpose(-1, -2)

    def aggregate(self, values: torch.Tensor, y: int, x: int, weights: torch.Tensor | None = None) -> None:
        """Add one prediction ``values`` (C×h×w) whose top-left pixel is (y, x), weighted by ``weights`` (h×w).

        Parts outside the image are dropped. A window reaching back into a finalized band raises ValueError.
        """
        if values.ndim != 3 or values.shape[0] != self.channels:
            raise ValueError(f"values must be {self.channels}×h×w, got shape {tuple(values.shape)}")
        if weights is None:
            weights = torch.ones(values.shape[-2:], dtype=self.dtype, device=self.device)
        if tuple(weights.shape) != tuple(values.shape[-2:]):
            raise ValueError(f"weights of shape {tuple(weights.shape)} do not match values {tuple(values.shape)}")
        values = self._canonical(values.to(self.device, self.dtype))
        weights = self._canonical(weights.to(self.device, self.dtype))
        a0, b0 = (y, x) if self.axis == 1 else (x, y)
        a_lo, a_hi = max(a0, 0), min(a0 + values.shape[1], self.across)
        b_lo, b_hi = max(b0, 0), min(b0 + values.shape[2], self.along)
        if a_lo >= a_hi or b_lo >= b_hi:
            return
        if b_lo < self.done:
            side = "column" if self.axis == 1 else "row"
            raise ValueError(f"window at (y={y}, x={x}) reaches {side} {b_lo}, already finalized up to {self.done}: "
                             f"aggregate windows in order of their start {side}")
        if b_hi - self.done > self.open_lines:
            self._grow(min(max(b_hi - self.done, 2 * self.open_lines), self.along))
        v = values[:, a_lo - a0 : a_hi - a0, b_lo - b0 : b_hi - b0]
        w = weights[a_lo - a0 : a_hi - a0, b_lo - b0 : b_hi - b0]
        for a, b, offset in self._segments(b_lo, b_hi):
            part = slice(offset, offset + b - a)
            self._values[:, a_lo:a_hi, a:b].addcmul_(v[..., part], w[..., part])
            self._weights[0, a_lo:a_hi, a:b].add_(w[..., part])

    def finalize(self, upto: int) -> torch.Tensor:
        """The float32 average of lines ``done..upto`` in image layout (C×H×n or C×n×W); frees them.

        Pixels no window covered are 0.
        """
        upto = min(int(upto), self.along)
        if upto < self.done:
            raise ValueError(f"cannot finalize up to {upto}: already finalized up to {self.done}")
        stored = min(upto, self.done + self.open_lines)
        band = torch.zeros(self.channels, self.across, upto - self.done, dtype=torch.float32, device=self.device)
        if stored > self.done:
            weights = self._take(self._weights, self.done, stored).float().clamp_min(torch.finfo(torch.float32).tiny)
            torch.div(self._take(self._values, self.done, stored).float(), weights, out=band[..., : stored - self.done])
            for a, b, _ in self._segments(self.done, stored):
                self._values[..., a:b].zero_()
                self._weights[..., a:b].zero_()
        self.done = upto
        return band if self.axis == 1 else band.transpose(-1, -2)

    def finalize_all(self) -> torch.Tensor:
        """Everything not yet finalized (see :meth:`finalize`)."""
        return self.finalize(self.along)


def _interpolation(full: int, work: int, scale: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For every full-resolution line: lower working line, upper working line, float32 weight of the upper."""
    pos = (np.arange(full, dtype=np.float64) + 0.5) / scale - 0.5
    pos = np.clip(pos, 0, work - 1)
    lower = np.floor(pos).astype(np.int64)
    upper = np.minimum(lower + 1, work - 1)
    return lower, upper, (pos - lower).astype(np.float32)


class BandUpsampler:
    """Bilinear upsampling from a working map (``scale`` source pixels per working pixel) to full resolution.

    Feed finished working bands in order with :meth:`push` (image layout, C×Hw×n for ``axis=1`` or C×n×Ww for
    ``axis=0``) and consume the float32 full-resolution blocks it yields (C×H×m or C×m×W, at most
    ``block_pixels`` pixels per channel each); :meth:`finish` yields the rest. Working pixel j covers source pixels
    [j·scale, (j+1)·scale), so full-resolution pixel X samples working position (X + 0.5) / scale − 0.5.
    """

    def __init__(
        self,
        work_shape: tuple[int, int],
        full_shape: tuple[int, int],
        scale: float,
        axis: int = 1,
        block_pixels: int = 1 << 22,
    ) -> None:
        if axis not in (0, 1) or scale <= 0:
            raise ValueError(f"axis must be 0 or 1 and scale > 0, got axis={axis}, scale={scale}")
        self.axis = axis
        k = 1 if axis == 1 else 0  # index of the band axis in (h, w)
        self.work_along, self.full_along = work_shape[k], full_shape[k]
        self.work_across = work_shape[1 - k]
        self._across = _interpolation(full_shape[1 - k], work_shape[1 - k], scale)
        self._lower, self._upper, self._frac = _interpolation(self.full_along, self.work_along, scale)
        self._block = max(1, block_pixels // max(1, full_shape[1 - k]))
        self._tail: np.ndarray | None = None  # working lines still needed, canonical layout (C, across, n)
        self._tail_start = 0
        self._pushed = 0  # working lines received
        self.emitted = 0  # full-resolution lines yielded

    def push(self, band: np.ndarray) -> Iterator[np.ndarray]:
        """Add the next working lines and yield every full-resolution block they complete."""
        band = np.asarray(band)
        band = band if self.axis == 1 else np.swapaxes(band, -1, -2)
        if band.ndim != 3 or band.shape[1] != self.work_across:
            side = "height" if self.axis == 1 else "width"
            raise ValueError(f"band must be C×h×w with working {side} {self.work_across}, got shape {band.shape}")
        self._tail = band if self._tail is None else np.concatenate([self._tail, band], axis=-1)
        self._pushed += band.shape[-1]
        if self._pushed > self.work_along:
            raise ValueError(f"pushed {self._pushed} working lines, the map has only {self.work_along}")
        ready = int(np.searchsorted(self._upper, self._pushed, side="left"))  # lines whose samples have arrived
        yield from self._emit(ready)

    def finish(self) -> Iterator[np.ndarray]:
        """Yield the remaining full-resolution lines (all working lines must have been pushed)."""
        if self._pushed != self.work_along:
            raise ValueError(f"only {self._pushed} of {self.work_along} working lines were pushed")
        yield from self._emit(self.full_along)

    def _emit(self, ready: int) -> Iterator[np.ndarray]:
        j0, j1, g = self._across
        while self.emitted < ready:
            stop = min(ready, self.emitted + self._block)
            lo, hi = self._lower[self.emitted : stop], self._upper[self.emitted : stop]
            first = int(lo[0])
            lines = self._tail[..., first - self._tail_start : int(hi[-1]) + 1 - self._tail_start]
            lines = lines.astype(np.float32)
            across = lines[:, j0] * (1 - g)[:, None] + lines[:, j1] * g[:, None]  # C × full across × k
            f = self._frac[self.emitted : stop]
            block = across[..., lo - first] * (1 - f) + across[..., hi - first] * f
            self.emitted = stop
            yield block if self.axis == 1 else np.swapaxes(block, -1, -2)
        keep = int(self._lower[self.emitted]) if self.emitted < self.full_along else self._pushed
        if self._tail is not None and keep > self._tail_start:
            self._tail = self._tail[..., keep - self._tail_start :].copy()
            self._tail_start = keep


def upsample(work_map: np.ndarray, full_shape: tuple[int, int], scale: float, axis: int = 1) -> np.ndarray:
    """The whole C×Hw×Ww working map at full resolution (C×H×W float32); small images only.

    Bit-identical to streaming the same map through :class:`BandUpsampler` with the same ``axis``.
    """
    work_map = np.asarray(work_map)
    upsampler = BandUpsampler(work_map.shape[-2:], full_shape, scale, axis=axis, block_pixels=1 << 62)
    blocks = [*upsampler.push(work_map), *upsampler.finish()]
    return np.concatenate(blocks, axis=-1 if axis == 1 else -2)


def labels_from_probs(block: np.ndarray, threshold: float) -> np.ndarray:
    """C×… probabilities on the 0–255 scale (uint8, or float after upsampling) -> uint8 0/1 (one channel,
    :func:`kit.metrics.threshold`) or argmax class ids."""
    return metric_labels(block, threshold, max_value=255)


class RleSink:
    """Finished working bands (uint8 0–255) -> full-resolution labels -> one RLE encoder per foreground class.

    Order "F" takes bands of columns, order "C" bands of rows (image layout, C×h×n or C×n×w). One channel is
    thresholded at ``threshold``; several channels are reduced by argmax (class 0 = background).
    """

    def __init__(
        self,
        work_shape: tuple[int, int],
        full_shape: tuple[int, int],
        scale: float,
        channels: int,
        threshold: float = 0.5,
        order: str = "F",
    ) -> None:
        self.axis = 1 if order == "F" else 0
        self.upsampler = BandUpsampler(work_shape, full_shape, scale, axis=self.axis)
        self.threshold = threshold
        self.classes = range(1, max(2, channels))
        self.encoders = [RleStreamEncoder(full_shape, order) for _ in self.classes]

    def push(self, band: np.ndarray) -> None:
        """Add the next finished working band."""
        self._add(self.upsampler.push(band))

    def finish(self) -> list[str]:
        """The RLE of each foreground class (binary: a one-element list)."""
        self._add(self.upsampler.finish())
        return [encoder.finish() for encoder in self.encoders]

    def _add(self, blocks: Iterator[np.ndarray]) -> None:
        for block in blocks:
            labels = labels_from_probs(block, self.threshold)
            for k, encoder in zip(self.classes, self.encoders):
                encoder.add(labels == k)


def encode_probs(
    probs: np.ndarray, full_shape: tuple[int, int], scale: float, threshold: float = 0.5, order: str = "F"
) -> list[str]:
    """RLEs (one per foreground class) of a C×h×w uint8 working map upsampled to ``full_shape`` band by band.

    The two-step path for slides: ``predict_probs`` -> clean the small map -> ``encode_probs``.
    """
    probs = np.asarray(probs)
    if probs.ndim != 3:
        raise ValueError(f"probs must be C×h×w, got shape {probs.shape}")
    sink = RleSink(probs.shape[1:], full_shape, scale, probs.shape[0], threshold, order)
    step = 1024
    length = probs.shape[2] if sink.axis == 1 else probs.shape[1]
    for start in range(0, length, step):
        sink.push(probs[:, :, start : start + step] if sink.axis == 1 else probs[:, start : start + step])
    return sink.finish()
