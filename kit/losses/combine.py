"""Loss combinators: a weighted sum of terms, and deep supervision over a model's list of outputs."""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from kit.losses.base import LossInputs, SegmentationLoss

__all__ = ["WeightedSumLoss", "DeepSupervisionLoss"]


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


class DeepSupervisionLoss(nn.Module):
    """Apply ``loss`` to one logits tensor, or to every tensor of a list (deep supervision).

    With a list, each output is resized (bilinear) to the target's H×W when its size differs, and the
    result is the weighted mean Σ w_i·loss(output_i) / Σ w_i (equal weights by default), so the loss keeps
    the scale of a single output.

    Args:
        loss: the loss of one output.
        weights: one weight per output (checked against the number of outputs at call time).
    """

    def __init__(self, loss: nn.Module, weights: Sequence[float] | None = None) -> None:
        super().__init__()
        if weights is not None and (not weights or any(w < 0 for w in weights) or sum(weights) <= 0):
            raise ValueError(f"deep supervision weights must be non-negative with a positive sum; got {weights}")
        self.loss = loss
        self.weights = None if weights is None else [float(w) for w in weights]

    def forward(self, outputs: torch.Tensor | Sequence[torch.Tensor], target: torch.Tensor) -> torch.Tensor:
        """Loss of ``outputs`` (a tensor or a list of N×C×h×w tensors) against ``target`` (N×H×W or N×1×H×W)."""
        if isinstance(outputs, torch.Tensor):
            return self.loss(outputs, target)
        outputs = list(outputs)
        if not outputs:
            raise ValueError("deep supervision got an empty list of outputs")
        weights = self.weights if self.weights is not None else [1.0] * len(outputs)
        if len(weights) != len(outputs):
            raise ValueError(
                f"deep supervision has {len(weights)} weights but the model returned {len(outputs)} outputs"
            )
        size = tuple(target.shape[-2:])
        total = 0.0
        for weight, output in zip(weights, outputs, strict=True):
            if weight == 0:
                continue
            if tuple(output.shape[-2:]) != size:
                output = F.interpolate(output, size=size, mode="bilinear", align_corners=False)
            total = total + weight * self.loss(output, target)
        return total / sum(weights)
