"""Loss combinators: a weighted sum of terms, a foreground (target > 0) loss for binary auxiliary maps, and deep
supervision over a model's list of outputs."""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from kit.losses.base import LossInputs, SegmentationLoss
from kit.registry import Registry

__all__ = ["OUTPUT_KINDS", "WeightedSumLoss", "ForegroundLoss", "DeepSupervisionLoss"]

OUTPUT_KINDS = Registry.of("output kind", ("classes", "foreground"),
                           "unknown output kinds {name!r}{hint}; valid: {valid}", sort=False)
"""Kinds of model outputs a loss knows: "classes" (the map the target's ids label: 1 channel in binary mode,
C in multiclass mode) and "foreground" (a 1-channel map of target > 0, every non-background class against the
background, e.g. BlazeNeo's auxiliary polyp map). A model whose ``train()`` outputs are not all class maps says
which is which in its ``output_kinds`` attribute."""


class WeightedSumLoss(SegmentationLoss):
    """Σ weight_i · loss_i; the batch is checked and converted once and shared by every term."""

    def __init__(
        self,
        terms: Sequence[tuple[float, SegmentationLoss]],
        mode: str = "binary",
        ignore_index: int | None = None,
        names: Sequence[str] | None = None,
    ) -> None:
        super().__init__(mode, ignore_index)
        if not terms:
            raise ValueError("WeightedSumLoss needs at least one term")
        self.weights = [float(w) for w, _ in terms]
        self.terms = nn.ModuleList(loss for _, loss in terms)
        self.names = list(names) if names is not None else [type(t).__name__ for t in self.terms]

    def compute(self, inputs: LossInputs) -> torch.Tensor:
        return sum(w * term.compute(inputs) for w, term in zip(self.weights, self.terms, strict=True))

    def extra_repr(self) -> str:
        terms = " + ".join(f"{w:g}*{n}" for w, n in zip(self.weights, self.names, strict=True))
        return f"{super().extra_repr()}, terms={terms!r}"


class ForegroundLoss(nn.Module):
    """A binary ``loss`` of a 1-channel map against the foreground (target > 0) of a class-id target.

    Pixels whose target is ``ignore_index`` get the foreground value :attr:`IGNORE_INDEX` (never a {0, 1}
    value), so ``loss`` must be built with ``ignore_index=ForegroundLoss.IGNORE_INDEX`` then.
    """

    IGNORE_INDEX = -1

    def __init__(self, loss: nn.Module, ignore_index: int | None = None) -> None:
        super().__init__()
        self.loss = loss
        self.ignore_index = ignore_index

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Binary loss of ``logits`` (N×1×H×W) against ``target > 0`` (target: N×H×W or N×1×H×W class ids)."""
        foreground = (target > 0).float()
        if self.ignore_index is not None:
            ignored = torch.full_like(foreground, self.IGNORE_INDEX)
            foreground = torch.where(target == self.ignore_index, ignored, foreground)
        return self.loss(logits, foreground)


class DeepSupervisionLoss(nn.Module):
    """Apply ``loss`` to one logits tensor, or to every tensor of a list (deep supervision).

    With a list, each output is resized (bilinear) to the target's H×W when its size differs, and the
    result is the weighted mean Σ w_i·loss_i(output_i) / Σ w_i (equal weights by default), so the loss keeps
    the scale of a single output. ``loss_i`` is ``loss`` for a "classes" output and ``foreground`` for a
    "foreground" one (see :data:`OUTPUT_KINDS`); a single tensor is always a class map.

    Args:
        loss: the loss of one class map.
        weights: one weight per output (checked against the number of outputs at call time).
        kinds: one kind per output (default: all "classes"; checked at call time).
        foreground: the loss of a "foreground" output (needed when ``kinds`` has one).
    """

    def __init__(self, loss: nn.Module, weights: Sequence[float] | None = None, kinds: Sequence[str] | None = None,
                 foreground: nn.Module | None = None) -> None:
        super().__init__()
        if weights is not None and (not weights or any(w < 0 for w in weights) or sum(weights) <= 0):
            raise ValueError(f"deep supervision weights must be non-negative with a positive sum; got {weights}")
        OUTPUT_KINDS.check_all(kinds or ())
        if "foreground" in (kinds or ()) and foreground is None:
            raise ValueError("output kinds name a 'foreground' output but no foreground loss was given")
        self.loss = loss
        self.foreground = foreground
        self.weights = None if weights is None else [float(w) for w in weights]
        self.kinds = None if kinds is None else list(kinds)

    def _per_output(self, values: list | None, default: object, n: int, what: str) -> list:
        if values is None:
            return [default] * n
        if len(values) != n:
            raise ValueError(f"deep supervision has {len(values)} {what} but the model returned {n} outputs")
        return values

    def forward(self, outputs: torch.Tensor | Sequence[torch.Tensor], target: torch.Tensor) -> torch.Tensor:
        """Loss of ``outputs`` (a tensor or a list of N×C×h×w tensors) against ``target`` (N×H×W or N×1×H×W)."""
        if isinstance(outputs, torch.Tensor):
            return self.loss(outputs, target)
        outputs = list(outputs)
        if not outputs:
            raise ValueError("deep supervision got an empty list of outputs")
        weights = self._per_output(self.weights, 1.0, len(outputs), "weights")
        kinds = self._per_output(self.kinds, "classes", len(outputs), "output kinds")
        size = tuple(target.shape[-2:])
        total = 0.0
        for weight, kind, output in zip(weights, kinds, outputs, strict=True):
            if weight == 0:
                continue
            if tuple(output.shape[-2:]) != size:
                output = F.interpolate(output, size=size, mode="bilinear", align_corners=False)
            loss = self.foreground if kind == "foreground" else self.loss
            total = total + weight * loss(output, target)
        return total / sum(weights)
