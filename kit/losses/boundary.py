"""Boundary-aware losses: active contour (Chen et al. 2019) and the PraNet structure loss."""

from __future__ import annotations

import torch

from kit.losses import functional as LF
from kit.losses.base import LossInputs, SegmentationLoss

__all__ = ["ActiveContourLoss", "StructureLoss"]


class ActiveContourLoss(SegmentationLoss):
    """length_weight·Length + λ·(μ·Region_in + Region_out) on the probabilities (see
    :func:`kit.losses.functional.active_contour_loss`). μ scales the false-positive region term.

    In multiclass mode it is applied to every softmax channel against its one-hot target and averaged.
    The minimum is not 0: a perfect prediction still pays the length of the true contour.
    """

    def __init__(
        self,
        mode: str = "binary",
        ignore_index: int | None = None,
        lam: float = 1.0,
        mu: float = 1.0,
        length_weight: float = 1.0,
    ) -> None:
        super().__init__(mode, ignore_index)
        for name, value in (("lam", lam), ("mu", mu), ("length_weight", length_weight)):
            if value < 0:
                raise ValueError(f"active_contour {name} must be >= 0; got {value}")
        self.lam, self.mu, self.length_weight = float(lam), float(mu), float(length_weight)

    def compute(self, inputs: LossInputs) -> torch.Tensor:
        return LF.active_contour_loss(
            inputs.probs, inputs.target, inputs.valid, self.lam, self.mu, self.length_weight
        )


class StructureLoss(SegmentationLoss):
    """Weighted BCE + weighted IoU with w = 1 + edge_weight·|avgpool_kernel(g) − g| (PraNet, HarDNet-MSEG).

    Binary only. The per-pixel weight really multiplies the BCE (the official code's ``reduce='none'``
    silently averaged it first); see :func:`kit.losses.functional.structure_loss`.
    """

    modes = ("binary",)

    def __init__(
        self, mode: str = "binary", ignore_index: int | None = None, kernel: int = 31, edge_weight: float = 5.0
    ) -> None:
        super().__init__(mode, ignore_index)
        if kernel < 1 or kernel % 2 == 0:
            raise ValueError(f"structure kernel must be a positive odd number; got {kernel}")
        if edge_weight < 0:
            raise ValueError(f"structure edge_weight must be >= 0; got {edge_weight}")
        self.kernel, self.edge_weight = int(kernel), float(edge_weight)

    def compute(self, inputs: LossInputs) -> torch.Tensor:
        return LF.structure_loss(
            inputs.logits, inputs.target, inputs.valid, kernel=self.kernel, edge_weight=self.edge_weight
        )
