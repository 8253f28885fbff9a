"""Pixel-wise losses: cross-entropy and focal loss (sigmoid in binary and multilabel mode, softmax in multiclass
mode)."""

from __future__ import annotations

from typing import Sequence

import torch

from kit.losses import functional as LF
from kit.losses.base import LossInputs, SegmentationLoss

__all__ = ["CrossEntropyLoss", "FocalLoss"]


class CrossEntropyLoss(SegmentationLoss):
    """Mean cross-entropy over valid pixels: sigmoid BCE (binary, multilabel: every channel) or softmax CE
    (multiclass).

    Args:
        pos_weight: binary / multilabel only; weight of the positive term (e.g. negatives / positives).
        class_weights: multiclass only; one weight per class (weighted mean, as ``torch.nn.CrossEntropyLoss``).
    """

    def __init__(
        self,
        mode: str = "binary",
        ignore_index: int | None = None,
        pos_weight: float | None = None,
        class_weights: Sequence[float] | None = None,
    ) -> None:
        super().__init__(mode, ignore_index)
        if pos_weight is not None and mode == "multiclass":
            raise ValueError("ce pos_weight applies to mode 'multilabel' or 'binary' only; use class_weights in "
                             "multiclass mode")
        if class_weights is not None and mode != "multiclass":
            raise ValueError("ce class_weights applies to mode 'multiclass' only; use pos_weight in binary mode")
        self.pos_weight = pos_weight
        self.class_weights = None if class_weights is None else tuple(float(w) for w in class_weights)

    def compute(self, inputs: LossInputs) -> torch.Tensor:
        if inputs.mode != "multiclass":
            return LF.binary_cross_entropy(inputs.logits, inputs.target, inputs.valid, self.pos_weight)
        _check_length("ce class_weights", self.class_weights, inputs.logits.shape[1])
        return LF.cross_entropy(inputs.logits, inputs.labels, inputs.valid, self.class_weights)


class FocalLoss(SegmentationLoss):
    """Focal loss −α_t (1 − p_t)^γ log p_t averaged over valid pixels (Lin et al. 2017).

    Args:
        gamma: focusing exponent (2 in the paper).
        alpha: binary / multilabel: weight of positives in [0, 1] (negatives get 1 − alpha; RetinaNet: 0.25);
            multiclass: one weight per class. ``None``: no weighting.
    """

    def __init__(
        self,
        mode: str = "binary",
        ignore_index: int | None = None,
        gamma: float = 2.0,
        alpha: float | Sequence[float] | None = None,
    ) -> None:
        super().__init__(mode, ignore_index)
        if gamma < 0:
            raise ValueError(f"focal gamma must be >= 0; got {gamma}")
        if alpha is not None:
            if mode != "multiclass" and not (isinstance(alpha, (int, float)) and 0 <= alpha <= 1):
                raise ValueError(f"{mode} focal alpha must be a number in [0, 1]; got {alpha!r}")
            if mode == "multiclass":
                if isinstance(alpha, (int, float)):
                    raise ValueError("multiclass focal alpha must be a list with one weight per class")
                alpha = tuple(float(a) for a in alpha)
        self.gamma, self.alpha = float(gamma), alpha

    def compute(self, inputs: LossInputs) -> torch.Tensor:
        if inputs.mode != "multiclass":
            return LF.binary_focal_loss(inputs.logits, inputs.target, inputs.valid, self.gamma, self.alpha)
        _check_length("focal alpha", self.alpha, inputs.logits.shape[1])
        return LF.softmax_focal_loss(inputs.logits, inputs.labels, inputs.valid, self.gamma, self.alpha)


def _check_length(name: str, weights: Sequence[float] | None, num_classes: int) -> None:
    if weights is not None and len(weights) != num_classes:
        raise ValueError(f"{name} has {len(weights)} values but the logits have {num_classes} classes")
