"""Lovász extensions of the Jaccard loss (Berman et al., CVPR 2018): binary hinge and multi-class softmax.

Both sort per-pixel errors in decreasing order and take their dot product with the gradient of the
Jaccard loss along that order, ∇J = successive differences of 1 − (G − cumsum g) / (G + cumsum(1 − g)),
G = Σ g. Ignored pixels are dropped before sorting. Binary targets are rounded to {0, 1}.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from kit.registry import Registry

__all__ = ["lovasz_grad", "lovasz_hinge", "lovasz_softmax"]

CLASS_CHOICES = Registry.of("lovasz classes", ("present", "all"),
                            "lovasz classes must be one of {valid}; got {name!r}{hint}", sort=False)


def lovasz_grad(gt_sorted: torch.Tensor) -> torch.Tensor:
    """Gradient of the Lovász extension of the Jaccard loss w.r.t. errors sorted in decreasing order."""
    total = gt_sorted.sum()
    intersection = total - gt_sorted.cumsum(0)
    union = total + (1 - gt_sorted).cumsum(0)
    jaccard = 1 - intersection / union
    if gt_sorted.numel() > 1:
        jaccard = torch.cat([jaccard[:1], jaccard[1:] - jaccard[:-1]])
    return jaccard


def _hinge_flat(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    if logits.numel() == 0:
        return logits.sum() * 0
    errors = 1 - logits * (2 * labels - 1)
    errors_sorted, order = torch.sort(errors, descending=True)
    return torch.dot(F.relu(errors_sorted), lovasz_grad(labels[order]))


def lovasz_hinge(
    logits: torch.Tensor, target: torch.Tensor, valid: torch.Tensor, per_image: bool = False
) -> torch.Tensor:
    """Binary Lovász hinge on N×C×H×W logits (C > 1: every channel's pixels together): hinge errors
    1 − x·(2g − 1), over the batch or per image."""
    labels = (target > 0.5).float()
    keep = (valid > 0).expand_as(logits)
    if not per_image:
        return _hinge_flat(logits[keep], labels[keep])
    losses = [_hinge_flat(logits[i][keep[i]], labels[i][keep[i]]) for i in range(logits.shape[0])]
    return torch.stack(losses).mean()


def _softmax_flat(probs: torch.Tensor, labels: torch.Tensor, classes: str) -> torch.Tensor:
    """Lovász-softmax of P×C probabilities against P labels."""
    losses = []
    for c in range(probs.shape[1]):
        fg = (labels == c).float()
        if classes == "present" and not bool(fg.any()):
            continue
        errors = (fg - probs[:, c]).abs()
        errors_sorted, order = torch.sort(errors, descending=True)
        losses.append(torch.dot(errors_sorted, lovasz_grad(fg[order])))
    if not losses:
        return probs.sum() * 0
    return torch.stack(losses).mean()


def lovasz_softmax(
    probs: torch.Tensor,
    labels: torch.Tensor,
    valid: torch.Tensor,
    classes: str = "present",
    per_image: bool = False,
) -> torch.Tensor:
    """Multi-class Lovász-softmax: errors |1[g = c] − p_c| per class, averaged over classes.

    Args:
        classes: "present" averages over the classes present in the (valid) target, "all" over every class.
    """
    CLASS_CHOICES.check(classes)
    flat_probs = probs.permute(0, 2, 3, 1)  # N×H×W×C
    keep = valid[:, 0] > 0
    if not per_image:
        return _softmax_flat(flat_probs[keep], labels[keep], classes)
    losses = [_softmax_flat(flat_probs[i][keep[i]], labels[i][keep[i]], classes) for i in range(probs.shape[0])]
    return torch.stack(losses).mean()
