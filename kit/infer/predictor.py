"""Predictor: whole-image or sliding-window inference of an ensemble, with TTA, at a reduced scale, back to full size.

Windows are read lazily from an image reader (on CUDA a background thread reads the next batch meanwhile),
normalised per model, predicted in batches (AMP autocast on CUDA only), inverted through the TTA transforms,
turned into probabilities by each member's output mode (:func:`kit.outputs.probabilities`: sigmoid, softmax, or
independent sigmoids laid out as background + classes) and blended into a :class:`BandMerger`
at the output scale. Bands are finished as soon as no later window touches them, so memory stays bounded:

* :meth:`Predictor.predict_probs`: C×h×w uint8 probabilities (0–255) at the output (working) scale;
* :meth:`Predictor.predict_rle`: one RLE per foreground class, the full-resolution mask streamed band by band
  (threshold for a binary model, argmax for a multi-class one) into :class:`kit.rle.RleStreamEncoder`;
* :meth:`Predictor.predict_mask`: the full-resolution 0/1 or class-id mask (small images).
"""

from __future__ import annotations

import contextlib
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from kit.infer.blend import make_weight_map
from kit.infer.merge import BandMerger, RleSink, labels_from_probs, to_uint8, upsample
from kit.infer.model_input import ModelInput
from kit.infer.tta import get_tta, predict_with_tta
from kit.infer.windows import Window, WindowGrid, as_reader, read_window, whole_image_window
from kit.outputs import check_output_mode, probabilities

__all__ = ["Member", "Predictor"]


@dataclass
class Member:
    """One model of the ensemble (in eval mode it returns N×C×H×W logits), its weight, its input settings and its
    output mode (:data:`kit.outputs.OUTPUT_MODES`, from the checkpoint's output contract or the model card;
    ``None``: by the channel count, sigmoid for one and softmax for several, as every checkpoint before the
    output contract was trained)."""

    model: torch.nn.Module
    weight: float = 1.0
    input: ModelInput = field(default_factory=ModelInput)
    output: str | None = None

    def __post_init__(self) -> None:
        if self.output is not None:
            check_output_mode(self.output, "for a predictor Member")

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """N×C×H×W class probabilities (the kit's layout) of this member's logits."""
        mode = self.output or ("binary" if logits.shape[1] == 1 else "multiclass")
        return probabilities(logits, mode)


@dataclass
class _Plan:
    """One member's windows for one image (at the member's scale) and its blend map × member weight."""

    index: int
    member: Member
    scale: float
    windows: list[Window]
    weights: torch.Tensor


@dataclass
class _Step:
    """One batch: a member, its windows, and how far the merger may finalize after it (None: not yet)."""

    plan: _Plan
    windows: list[Window]
    finalize_upto: int | None = None


class Predictor:
    """Ensemble inference over one image at a time.

    Args:
        members: one model, one :class:`Member`, or several (weights are normalised).
        tta: TTA transform names or presets (see :func:`kit.infer.tta.get_tta`).
        batch_size: windows per forward pass.
        device: torch device (default: CUDA when available).
        amp: float16 autocast on CUDA (ignored on CPU).
        out_reduce: scale of the merged map in source pixels per pixel (default: the finest member scale).
        fill: pixel value for window parts outside the image.
        accumulate_dtype: dtype of the merger's sums (float32, or float16 to halve them).
        progress: show a tqdm bar over the windows.
        gdal_cache_mb: cap on GDAL's block cache while predicting (its default, 5 % of the RAM, fills up with
            tiles that a streamed slide never reads again); ``None`` leaves GDAL alone.
    """

    def __init__(
        self,
        members: torch.nn.Module | Member | Sequence[Member],
        tta: str | Sequence[str] | None = None,
        batch_size: int = 8,
        device: str | torch.device | None = None,
        amp: bool = True,
        out_reduce: float | None = None,
        fill: int = 0,
        accumulate_dtype: torch.dtype = torch.float32,
        progress: bool = False,
        gdal_cache_mb: int | None = 256,
    ) -> None:
        if isinstance(members, torch.nn.Module):
            members = [Member(members)]
        elif isinstance(members, Member):
            members = [members]
        members = [m for m in members if m.weight != 0]
        if not members or any(m.weight < 0 for m in members):
            raise ValueError("a Predictor needs at least one member with a positive weight (no negative weights)")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        total = sum(m.weight for m in members)
        self.members = [replace(m, weight=m.weight / total) for m in members]
        for member in self.members:
            member.model.to(self.device).eval()
        self.tta = get_tta(tta)
        self.batch_size, self.amp, self.out_reduce, self.fill = batch_size, amp, out_reduce, fill
        self.accumulate_dtype, self.progress, self.gdal_cache_mb = accumulate_dtype, progress, gdal_cache_mb

    # ------------------------------------------------------------------ outputs
    def output_scale(self, height: int, width: int, pixel_size: float | None = None) -> float:
        """Source pixels per pixel of the merged map for an image of this size (and pixel size)."""
        return self._plans(height, width, pixel_size)[0]

    def window_count(self, height: int, width: int, pixel_size: float | None = None) -> int:
        """Forward passes (windows × TTA transforms, all members) that an image of this size costs."""
        return sum(len(plan.windows) for plan in self._plans(height, width, pixel_size)[2]) * len(self.tta)

    def predict_probs(self, image: Any, pixel_size: float | None = None) -> np.ndarray:
        """C×h×w uint8 probabilities (0–255) at the output scale (:meth:`output_scale`).

        ``image``: a reader, an H×W×3 uint8 array or a path; ``pixel_size``: its µm/px (members with a
        target pixel size need it).
        """
        reader = as_reader(image)
        out = None
        for start, band in self._bands(reader, pixel_size, axis=1):
            if out is None:
                out_shape = self._plans(reader.height, reader.width, pixel_size)[1]
                out = np.zeros((band.shape[0], *out_shape), dtype=np.uint8)
            out[:, :, start : start + band.shape[-1]] = to_uint8(band)
        return out

    def predict_rle(
        self, image: Any, threshold: float = 0.5, order: str = "F", pixel_size: float | None = None
    ) -> list[str]:
        """RLE of the full-resolution mask, one per foreground class (binary: a one-element list).

        The mask is never held whole: each finished band is upsampled, thresholded (binary) or argmaxed
        (multi-class) and streamed into an RLE encoder in pixel ``order`` ("F" columns, "C" rows).
        """
        reader = as_reader(image)
        axis = 1 if order == "F" else 0
        scale, out_shape, _ = self._plans(reader.height, reader.width, pixel_size)
        sink = None
        for _, band in self._bands(reader, pixel_size, axis=axis):
            if sink is None:
                sink = RleSink(out_shape, (reader.height, reader.width), scale, band.shape[0], threshold, order)
            sink.push(to_uint8(band))
        return sink.finish()

    def predict_mask(self, image: Any, threshold: float = 0.5, pixel_size: float | None = None) -> np.ndarray:
        """Full-resolution H×W uint8 mask: 0/1 for a binary model, argmax class ids otherwise (small images)."""
        reader = as_reader(image)
        probs = self.predict_probs(reader, pixel_size)
        scale = self.output_scale(reader.height, reader.width, pixel_size)
        return labels_from_probs(upsample(probs, (reader.height, reader.width), scale), threshold)

    # ------------------------------------------------------------------ planning
    def _plans(self, height: int, width: int, pixel_size: float | None) -> tuple[float, tuple[int, int], list[_Plan]]:
        """(output scale, output shape, one plan per member) for an image of this size."""
        scales = [m.input.scale_for(height, width, pixel_size) for m in self.members]
        out_scale = float(self.out_reduce or min(scales))
        out_shape = (_working_side(height, out_scale), _working_side(width, out_scale))
        plans = []
        for index, (member, scale) in enumerate(zip(self.members, scales)):
            spec = member.input
            shape = (_working_side(height, scale), _working_side(width, scale))
            if spec.window is None:
                multiple = 1 if spec.size is not None else spec.pad_multiple  # size: resized, never padded
                windows, blend = [whole_image_window(shape, multiple)], "constant"
            else:
                windows, blend = list(WindowGrid(shape, spec.window, spec.overlap, spec.margin)), spec.blend
            weights = torch.from_numpy(make_weight_map(blend, (windows[0].height, windows[0].width)))
            plans.append(_Plan(index, member, scale, windows, (weights * member.weight).to(self.device)))
        return out_scale, out_shape, plans

    def _schedule(self, plans: list[_Plan], out_scale: float, out_shape: tuple[int, int], axis: int) -> list[_Step]:
        """Batches in order of their start along ``axis``, with the merger's finalize points."""
        items = []
        for plan in plans:
            for window in plan.windows:
                y, x, h, w = _footprint(window, plan.scale / out_scale)
                start, across, length = (x, y, w) if axis == 1 else (y, x, h)
                items.append((start, plan.index, across, length, window))
        items.sort(key=lambda item: item[:3])
        chunk = max(item[3] for item in items)
        steps: list[_Step] = []
        i = 0
        while i < len(items):
            j = i
            while j < len(items) and items[j][0] < items[i][0] + chunk:
                j += 1
            for plan in plans:
                mine = [item[4] for item in items[i:j] if item[1] == plan.index]
                steps += [_Step(plan, mine[k : k + self.batch_size]) for k in range(0, len(mine), self.batch_size)]
            steps[-1].finalize_upto = items[j][0] if j < len(items) else out_shape[1 if axis == 1 else 0]
            i = j
        return steps

    # ------------------------------------------------------------------ running
    def _bands(self, reader: Any, pixel_size: float | None, axis: int) -> Iterator[tuple[int, torch.Tensor]]:
        """Yield (start, finished band of averaged float32 probabilities) along ``axis``, in order."""
        out_scale, out_shape, plans = self._plans(reader.height, reader.width, pixel_size)
        steps = self._schedule(plans, out_scale, out_shape, axis)
        merger: BandMerger | None = None
        bar = tqdm(total=sum(len(s.windows) for s in steps), desc="windows", disable=not self.progress)
        with self._gdal_env():
            for step, images in zip(steps, self._read_batches(reader, steps)):
                probs = self._forward(step.plan, images)
                if merger is None:
                    merger = BandMerger(out_shape, probs.shape[1], axis, self.accumulate_dtype, self.device)
                elif probs.shape[1] != merger.channels:
                    raise ValueError(f"member {step.plan.index} predicts {probs.shape[1]} channels, "
                                     f"member 0 predicted {merger.channels}: ensemble members must agree")
                ratio = step.plan.scale / out_scale
                for window, window_probs in zip(step.windows, probs):
                    self._aggregate(merger, window, window_probs, step.plan.weights, ratio)
                bar.update(len(step.windows))
                if step.finalize_upto is not None and step.finalize_upto > merger.done:
                    start = merger.done
                    yield start, merger.finalize(step.finalize_upto)
        bar.close()

    def _read_batches(self, reader: Any, steps: list[_Step]) -> Iterator[np.ndarray]:
        """The windows of each step as N×h×w×3 uint8, in order.

        On CUDA a background thread reads the next batch while the GPU works; on the CPU reads stay in line,
        since an extra thread would compete with the model's own threads.
        """
        if self.device.type != "cuda":
            yield from (self._read_batch(reader, step) for step in steps)
            return
        with ThreadPoolExecutor(max_workers=1) as pool:
            pending = pool.submit(self._read_batch, reader, steps[0])
            for k in range(len(steps)):
                images = pending.result()
                if k + 1 < len(steps):
                    pending = pool.submit(self._read_batch, reader, steps[k + 1])
                yield images

    def _gdal_env(self) -> contextlib.AbstractContextManager:
        if self.gdal_cache_mb is None:
            return contextlib.nullcontext()
        import rasterio

        return rasterio.Env(GDAL_CACHEMAX=int(self.gdal_cache_mb))

    def _read_batch(self, reader: Any, step: _Step) -> np.ndarray:
        size = step.plan.member.input.size
        if size is not None:  # the whole image resized to the training H×W (INTER_AREA, as the datasets do)
            return np.stack([reader.read(*w.read_box, out_size=size, fill=self.fill) for w in step.windows])
        return np.stack([read_window(reader, w, step.plan.scale, self.fill) for w in step.windows])

    def _forward(self, plan: _Plan, images: np.ndarray) -> torch.Tensor:
        """N×C×h×w float32 probabilities of the window cores (TTA-averaged)."""
        spec = plan.member.input
        x = torch.from_numpy(images).to(self.device).permute(0, 3, 1, 2).float()
        mean = torch.tensor(spec.mean, device=self.device).view(1, 3, 1, 1) * 255
        std = torch.tensor(spec.std, device=self.device).view(1, 3, 1, 1) * 255
        x.sub_(mean).div_(std)
        use_amp = self.amp and self.device.type == "cuda"
        with torch.no_grad(), torch.autocast("cuda", dtype=torch.float16, enabled=use_amp):
            probs = predict_with_tta(lambda t: _logits(plan.member.model(t)), x, self.tta, plan.member.probabilities)
        m = spec.margin if spec.window is not None else 0
        return probs[..., m : probs.shape[-2] - m, m : probs.shape[-1] - m]

    @staticmethod
    def _aggregate(merger: BandMerger, window: Window, probs: torch.Tensor, weights: torch.Tensor, ratio: float):
        y, x, h, w = _footprint(window, ratio)
        if (h, w) != tuple(probs.shape[-2:]):
            probs = F.interpolate(probs[None], size=(h, w), mode="bilinear", align_corners=False)[0]
            weights = F.interpolate(weights[None, None], size=(h, w), mode="bilinear", align_corners=False)[0, 0]
        merger.aggregate(probs, y, x, weights)


def _logits(output: Any) -> torch.Tensor:
    """The logits tensor of a model output (deep-supervised lists: the first item)."""
    return output[0] if isinstance(output, (list, tuple)) else output


def _footprint(window: Window, ratio: float) -> tuple[int, int, int, int]:
    """(y, x, h, w) of a window core at the output scale (``ratio`` = member scale / output scale)."""
    if ratio == 1.0:
        return window.core_box
    y0, x0 = round(window.y * ratio), round(window.x * ratio)
    y1, x1 = round((window.y + window.height) * ratio), round((window.x + window.width) * ratio)
    return y0, x0, max(1, y1 - y0), max(1, x1 - x0)


def _working_side(length: int, scale: float) -> int:
    return max(1, math.ceil(length / scale - 1e-6))
