"""Region (overlap) losses: Dice, Jaccard, Tversky, focal Tversky and Lovász.

Binary mode scores the single foreground channel; multiclass mode scores every class channel of the
softmax against the one-hot target and averages; multilabel mode does the same with the sigmoid channels. Soft
counts are summed over the whole batch unless ``per_image=True``. The smoothing term ``smooth`` keeps empty-vs-empty
at a perfect score (loss 0).
"""

from __future__ import annotations

import torch

from kit.losses import functional as LF
from kit.losses.base import LossInputs, SegmentationLoss
from kit.losses.lovasz import CLASS_CHOICES, lovasz_hinge, lovasz_softmax

__all__ = ["DiceLoss", "JaccardLoss", "TverskyLoss", "FocalTverskyLoss", "LovaszLoss"]


def _check_non_negative(**values: float) -> None:
    for name, value in values.items():
        if value < 0:
            raise ValueError(f"loss parameter {name} must be >= 0; got {value}")


class _SmoothedOverlapLoss(SegmentationLoss):
    """What Dice and Jaccard share: the ``smooth`` and ``per_image`` parameters."""

    def __init__(
        self, mode: str = "binary", ignore_index: int | None = None, smooth: float = 1.0, per_image: bool = False
    ) -> None:
        super().__init__(mode, ignore_index)
        _check_non_negative(smooth=smooth)
        self.smooth, self.per_image = float(smooth), bool(per_image)


class DiceLoss(_SmoothedOverlapLoss):
    """1 − (2·TP + s) / (2·TP + FP + FN + s) with soft counts."""

    def compute(self, inputs: LossInputs) -> torch.Tensor:
        return LF.dice_loss(inputs.probs, inputs.target, inputs.valid, self.smooth, self.per_image)


class JaccardLoss(_SmoothedOverlapLoss):
    """1 − (TP + s) / (TP + FP + FN + s) with soft counts (soft IoU loss)."""

    def compute(self, inputs: LossInputs) -> torch.Tensor:
        return LF.jaccard_loss(inputs.probs, inputs.target, inputs.valid, self.smooth, self.per_image)


class TverskyLoss(SegmentationLoss):
    """1 − TI, TI = (TP + s) / (TP + α·FP + β·FN + s): **alpha weights false positives, beta false negatives**.

    Defaults α = 0.3, β = 0.7 (Salehi et al. 2017's best: missing foreground costs more). α = β = 0.5 gives
    the Dice loss (up to the smoothing), α = β = 1 the Jaccard loss.
    """

    def __init__(
        self,
        mode: str = "binary",
        ignore_index: int | None = None,
        alpha: float = 0.3,
        beta: float = 0.7,
        smooth: float = 1.0,
        per_image: bool = False,
    ) -> None:
        super().__init__(mode, ignore_index)
        _check_non_negative(alpha=alpha, beta=beta, smooth=smooth)
        self.alpha, self.beta, self.smooth, self.per_image = float(alpha), float(beta), float(smooth), bool(per_image)

    def compute(self, inputs: LossInputs) -> torch.Tensor:
        return LF.tversky_loss(
            inputs.probs, inputs.target, inputs.valid, self.alpha, self.beta, self.smooth, self.per_image
        )


class FocalTverskyLoss(TverskyLoss):
    """(1 − TI)^(1/γ) with TI as in :class:`TverskyLoss` (α → FP, β → FN); γ = 4/3 (Abraham & Khan 2019)."""

    def __init__(
        self,
        mode: str = "binary",
        ignore_index: int | None = None,
        alpha: float = 0.3,
        beta: float = 0.7,
        gamma: float = 4 / 3,
        smooth: float = 1.0,
        per_image: bool = False,
    ) -> None:
        super().__init__(mode, ignore_index, alpha, beta, smooth, per_image)
        if gamma <= 0:
            raise ValueError(f"focal_tversky gamma must be > 0; got {gamma}")
        self.gamma = float(gamma)

    def compute(self, inputs: LossInputs) -> torch.Tensor:
        return LF.focal_tversky_loss(
            inputs.probs, inputs.target, inputs.valid, self.alpha, self.beta, self.gamma, self.smooth, self.per_image
        )


class LovaszLoss(SegmentationLoss):
    """Lovász hinge on the logits (binary; multilabel: over every channel's pixels) or Lovász-softmax on the
    probabilities (multiclass).

    Args:
        per_image: average the loss of each image instead of one loss over the batch (TGS Salt winners: True).
        classes: multiclass only; "present" (classes in the target) or "all".
    """

    def __init__(
        self,
        mode: str = "binary",
        ignore_index: int | None = None,
        per_image: bool = False,
        classes: str = "present",
    ) -> None:
        super().__init__(mode, ignore_index)
        CLASS_CHOICES.check(classes)
        self.per_image, self.classes = bool(per_image), classes

    def compute(self, inputs: LossInputs) -> torch.Tensor:
        if inputs.mode != "multiclass":
            return lovasz_hinge(inputs.logits, inputs.target, inputs.valid, self.per_image)
        return lovasz_softmax(inputs.probs, inputs.labels, inputs.valid, self.classes, self.per_image)
