"""What every segmentation loss shares: checked, normalised inputs and a base module taking logits.

Three modes (the output modes of :mod:`kit.outputs`):

- ``"binary"``: logits N×1×H×W; target N×1×H×W or N×H×W with values in [0, 1] (hard {0, 1} masks or
  soft labels). Probabilities are ``sigmoid(logits)``.
- ``"multiclass"``: logits N×C×H×W; target N×H×W (or N×1×H×W) of class ids in [0, C). Probabilities are
  ``softmax(logits, dim=1)``.
- ``"multilabel"``: logits N×F×H×W, one channel per foreground class (no background channel); target N×H×W (or
  N×1×H×W) of class ids in [0, F]; channel ``c`` is trained against ``target == c + 1``. Probabilities are
  ``sigmoid(logits)``, so every loss that takes sigmoid inputs in binary mode works channel by channel.

Pixels whose target equals ``ignore_index`` are excluded from every loss (they enter no sum, no mean and
no weight map). All arithmetic runs in float32 even under autocast.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from kit.outputs import OUTPUT_MODES

__all__ = ["MODES", "LossInputs", "check_mode", "prepare_inputs", "SegmentationLoss"]

MODES = OUTPUT_MODES


@dataclass
class LossInputs:
    """One batch in the form every loss function consumes (all tensors N×C×H×W unless noted).

    Attributes:
        logits: float32 logits.
        probs: sigmoid (binary, multilabel) or softmax (multiclass) of ``logits``.
        target: float32 target; binary: the mask (C = 1); multiclass: one-hot (zero at ignored pixels);
            multilabel: one-hot without the background channel (zero at ignored pixels).
        labels: class ids N×H×W (ignored pixels set to 0); ``None`` in binary mode.
        valid: float32 N×1×H×W, 1 where the pixel counts, 0 where its target is ``ignore_index``.
        mode: "binary", "multiclass" or "multilabel".
    """

    logits: torch.Tensor
    probs: torch.Tensor
    target: torch.Tensor
    labels: torch.Tensor | None
    valid: torch.Tensor
    mode: str


def check_mode(mode: str) -> str:
    """Return ``mode`` if it is a known mode, else raise a ValueError listing them."""
    return MODES.check(mode)


def _as_nchw_target(target: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    n, _, h, w = logits.shape
    if target.dim() == 3:
        target = target.unsqueeze(1)
    if target.dim() != 4 or target.shape[1] != 1 or target.shape[0] != n or tuple(target.shape[2:]) != (h, w):
        raise ValueError(
            f"target of shape {tuple(target.shape)} does not fit logits {tuple(logits.shape)}: "
            f"expected N×H×W or N×1×H×W = ({n}, {h}, {w})"
        )
    return target


def prepare_inputs(
    logits: torch.Tensor, target: torch.Tensor, mode: str, ignore_index: int | None = None
) -> LossInputs:
    """Check shapes and values, apply ``ignore_index`` and compute probabilities once.

    Raises:
        ValueError: wrong shapes, a binary target outside [0, 1] or a class id outside [0, C).
    """
    check_mode(mode)
    if logits.dim() != 4:
        raise ValueError(f"logits must be N×C×H×W; got shape {tuple(logits.shape)}")
    logits = logits.float()
    target = _as_nchw_target(target, logits)
    if ignore_index is None:
        valid = torch.ones_like(target, dtype=torch.bool)
    else:
        valid = target != ignore_index
    if mode == "binary":
        if logits.shape[1] != 1:
            raise ValueError(f"binary mode needs logits with 1 channel; got {logits.shape[1]} (use mode='multiclass')")
        mask = torch.where(valid, target, torch.zeros_like(target)).float()
        low, high = (float(v) for v in torch.aminmax(mask))
        if low < 0 or high > 1:
            raise ValueError(
                f"binary target values must lie in [0, 1]; got [{low:g}, {high:g}] "
                "(binarize the mask or train with num_classes > 1 and mode='multiclass')"
            )
        return LossInputs(logits, torch.sigmoid(logits), mask, None, valid.float(), mode)
    multilabel = mode == "multilabel"
    num_classes = logits.shape[1] + multilabel  # multilabel: the background has no channel
    if num_classes < 2:
        raise ValueError("multiclass mode needs logits with at least 2 channels (use mode='binary' for 1)")
    if target.is_floating_point():
        raise ValueError(f"multiclass target must hold integer class ids; got dtype {target.dtype}")
    labels = torch.where(valid, target, torch.zeros_like(target)).long()[:, 0]
    low, high = (int(v) for v in torch.aminmax(labels))
    if low < 0 or high >= num_classes:
        raise ValueError(
            f"{mode} target holds class ids in [{low}, {high}] but logits have {logits.shape[1]} channels "
            f"(expected ids in [0, {num_classes - 1}]" + ("" if ignore_index is None else f" or {ignore_index}") + ")"
        )
    one_hot = F.one_hot(labels, num_classes).permute(0, 3, 1, 2).float() * valid.float()
    if multilabel:
        return LossInputs(logits, torch.sigmoid(logits), one_hot[:, 1:], labels, valid.float(), mode)
    return LossInputs(logits, torch.softmax(logits, dim=1), one_hot, labels, valid.float(), mode)


class SegmentationLoss(nn.Module):
    """Base class: ``forward(logits, target)`` checks the inputs and calls :meth:`compute`.

    Subclasses set ``modes`` (the modes they support) and implement ``compute(inputs) -> scalar``.
    Combined losses prepare a batch once and call ``compute`` of every term.
    """

    modes: tuple[str, ...] = MODES

    def __init__(self, mode: str = "binary", ignore_index: int | None = None) -> None:
        super().__init__()
        check_mode(mode)
        if mode not in self.modes:
            raise ValueError(
                f"{type(self).__name__} supports mode {' or '.join(self.modes)} only; got {mode!r}"
            )
        self.mode = mode
        self.ignore_index = ignore_index

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Scalar loss of ``logits`` (N×C×H×W) against ``target`` (see the module docstring)."""
        return self.compute(prepare_inputs(logits, target, self.mode, self.ignore_index))

    def compute(self, inputs: LossInputs) -> torch.Tensor:
        """Scalar loss of a prepared batch."""
        raise NotImplementedError

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}, ignore_index={self.ignore_index}"
