"""Pure loss functions on tensors (no modules, no state); the loss classes call these.

Conventions: ``probs``/``logits``/``target`` are N×C×H×W float tensors, ``labels`` N×H×W class ids,
``valid`` N×1×H×W with 1 where a pixel counts (see :mod:`kit.losses.base`). Region losses sum soft
counts over the batch and the pixels (``per_image=False``) or per image (``per_image=True``), score
each class channel, and average the per-class (per-image) losses. Every function returns a scalar that
stays finite, with finite gradients, when targets are empty or every pixel is ignored.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

__all__ = [
    "weighted_mean",
    "soft_counts",
    "dice_loss",
    "jaccard_loss",
    "tversky_index",
    "tversky_loss",
    "focal_tversky_loss",
    "binary_cross_entropy",
    "cross_entropy",
    "binary_focal_loss",
    "softmax_focal_loss",
    "active_contour_loss",
    "structure_weight",
    "structure_loss",
]

EPS = 1e-7
_TINY = 1e-12


def weighted_mean(values: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Σ values·weights / Σ weights (``weights`` broadcast to ``values``); 0 when every weight is 0."""
    weights = weights.expand_as(values)
    return (values * weights).sum() / weights.sum().clamp_min(_TINY)


def soft_counts(
    probs: torch.Tensor, target: torch.Tensor, valid: torch.Tensor, per_image: bool = False
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Soft TP = Σ p·g, FP = Σ p·(1−g), FN = Σ (1−p)·g over valid pixels, per class: shape C or N×C."""
    dims = (2, 3) if per_image else (0, 2, 3)
    p = probs * valid
    g = target * valid
    tp = (p * g).sum(dims)
    return tp, (p - p * g).sum(dims), (g - p * g).sum(dims)


def dice_loss(
    probs: torch.Tensor, target: torch.Tensor, valid: torch.Tensor, smooth: float = 1.0, per_image: bool = False
) -> torch.Tensor:
    """Soft Dice loss 1 − (2·TP + s) / (2·TP + FP + FN + s), averaged over classes (and images)."""
    tp, fp, fn = soft_counts(probs, target, valid, per_image)
    return (1 - (2 * tp + smooth) / (2 * tp + fp + fn + smooth).clamp_min(EPS)).mean()


def tversky_index(
    tp: torch.Tensor, fp: torch.Tensor, fn: torch.Tensor, alpha: float, beta: float, smooth: float
) -> torch.Tensor:
    """TI = (TP + s) / (TP + α·FP + β·FN + s): ``alpha`` weights false positives, ``beta`` false negatives."""
    return (tp + smooth) / (tp + alpha * fp + beta * fn + smooth).clamp_min(EPS)


def tversky_loss(
    probs: torch.Tensor,
    target: torch.Tensor,
    valid: torch.Tensor,
    alpha: float = 0.3,
    beta: float = 0.7,
    smooth: float = 1.0,
    per_image: bool = False,
) -> torch.Tensor:
    """Tversky loss 1 − TI (see :func:`tversky_index`; α = β = 1 is the Jaccard loss): the focal Tversky loss
    with γ = 1."""
    return focal_tversky_loss(probs, target, valid, alpha, beta, 1.0, smooth, per_image)


def jaccard_loss(
    probs: torch.Tensor, target: torch.Tensor, valid: torch.Tensor, smooth: float = 1.0, per_image: bool = False
) -> torch.Tensor:
    """Soft Jaccard (IoU) loss 1 − (TP + s) / (TP + FP + FN + s)."""
    return tversky_loss(probs, target, valid, 1.0, 1.0, smooth, per_image)


def focal_tversky_loss(
    probs: torch.Tensor,
    target: torch.Tensor,
    valid: torch.Tensor,
    alpha: float = 0.3,
    beta: float = 0.7,
    gamma: float = 4 / 3,
    smooth: float = 1.0,
    per_image: bool = False,
) -> torch.Tensor:
    """Focal Tversky loss (1 − TI)^(1/γ) (Abraham & Khan 2019; γ = 4/3 in the paper)."""
    tp, fp, fn = soft_counts(probs, target, valid, per_image)
    return _safe_power(1 - tversky_index(tp, fp, fn, alpha, beta, smooth), 1 / gamma).mean()


def _safe_power(x: torch.Tensor, exponent: float) -> torch.Tensor:
    """x^exponent for x >= 0, linear below EPS: x^e has an infinite slope at 0 when e < 1 (a perfect
    prediction reaches x = 0), the linear piece keeps the gradient finite and the value 0 at 0."""
    small = x < EPS
    return torch.where(small, x * EPS ** (exponent - 1), x.clamp_min(EPS) ** exponent)


def binary_cross_entropy(
    logits: torch.Tensor, target: torch.Tensor, valid: torch.Tensor, pos_weight: float | None = None
) -> torch.Tensor:
    """Mean sigmoid BCE over valid pixels; ``pos_weight`` multiplies the positive term."""
    weight = None if pos_weight is None else torch.tensor(float(pos_weight), device=logits.device)
    per_pixel = F.binary_cross_entropy_with_logits(logits, target, reduction="none", pos_weight=weight)
    return weighted_mean(per_pixel, valid)


def cross_entropy(
    logits: torch.Tensor,
    labels: torch.Tensor,
    valid: torch.Tensor,
    class_weights: Sequence[float] | None = None,
) -> torch.Tensor:
    """Softmax cross-entropy over valid pixels; with ``class_weights`` a weighted mean (as PyTorch's)."""
    per_pixel = F.cross_entropy(logits, labels, reduction="none")
    weights = valid[:, 0]
    if class_weights is not None:
        weights = weights * torch.as_tensor(class_weights, dtype=logits.dtype, device=logits.device)[labels]
    return weighted_mean(per_pixel, weights)


def _focal_mean(log_pt: torch.Tensor, gamma: float, valid: torch.Tensor, alpha_t: torch.Tensor | None) -> torch.Tensor:
    """Mean over valid pixels of −α_t (1 − p_t)^γ log p_t (α_t None: 1)."""
    # (1 − p_t) is clamped so that a fractional γ keeps a finite gradient when p_t reaches 1
    loss = -((1 - log_pt.exp()).clamp_min(_TINY) ** gamma) * log_pt
    return weighted_mean(loss if alpha_t is None else loss * alpha_t, valid)


def binary_focal_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    valid: torch.Tensor,
    gamma: float = 2.0,
    alpha: float | None = None,
) -> torch.Tensor:
    """Focal loss −α_t (1 − p_t)^γ log p_t (Lin et al. 2017); α_t = α for positives, 1 − α for negatives."""
    log_pt = -F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    alpha_t = None if alpha is None else alpha * target + (1 - alpha) * (1 - target)
    return _focal_mean(log_pt, gamma, valid, alpha_t)


def softmax_focal_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    valid: torch.Tensor,
    gamma: float = 2.0,
    alpha: Sequence[float] | None = None,
) -> torch.Tensor:
    """Multi-class focal loss −α[c] (1 − p_c)^γ log p_c at the true class c; ``alpha`` is one weight per class."""
    log_pt = F.log_softmax(logits, dim=1).gather(1, labels.unsqueeze(1))
    per_class = None if alpha is None else torch.as_tensor(alpha, dtype=logits.dtype, device=logits.device)
    return _focal_mean(log_pt, gamma, valid, None if per_class is None else per_class[labels].unsqueeze(1))


def active_contour_loss(
    probs: torch.Tensor,
    target: torch.Tensor,
    valid: torch.Tensor,
    lam: float = 1.0,
    mu: float = 1.0,
    length_weight: float = 1.0,
) -> torch.Tensor:
    """Active contour loss (Chen et al., CVPR 2019), means over pixels as in the official code.

    Length = mean √((∂ₓu)² + (∂ᵧu)² + 1e-8) on the (H−2)×(W−2) grid of forward differences;
    Region_in = mean u·(v − 1)² (predicted foreground on true background: false positives);
    Region_out = mean (1 − u)·v² (missed foreground: false negatives);
    loss = length_weight·Length + λ·(μ·Region_in + Region_out), u = probability, v = target.
    The official code uses λ = μ = 1 and length_weight = 1; a popular PyTorch port uses length_weight = 10.
    """
    if probs.shape[-2] < 3 or probs.shape[-1] < 3:
        raise ValueError(f"active contour loss needs images of at least 3×3 pixels; got {tuple(probs.shape[-2:])}")
    dx = probs[:, :, 1:, :] - probs[:, :, :-1, :]
    dy = probs[:, :, :, 1:] - probs[:, :, :, :-1]
    length_map = torch.sqrt(dx[:, :, 1:, :-2] ** 2 + dy[:, :, :-2, 1:] ** 2 + 1e-8)
    # a length sample counts only when the four pixels of its two differences are all valid
    valid_length = valid[:, :, 1:-1, :-2] * valid[:, :, 2:, :-2] * valid[:, :, :-2, 1:-1] * valid[:, :, :-2, 2:]
    length = weighted_mean(length_map, valid_length)
    region_in = weighted_mean(probs * (target - 1) ** 2, valid)
    region_out = weighted_mean((1 - probs) * target**2, valid)
    return length_weight * length + lam * (mu * region_in + region_out)


def structure_weight(target: torch.Tensor, kernel: int = 31, edge_weight: float = 5.0) -> torch.Tensor:
    """Edge-aware pixel weights w = 1 + edge_weight·|avgpool_k(g) − g| (stride 1, zero padding counted, as F3Net)."""
    pooled = F.avg_pool2d(target, kernel_size=kernel, stride=1, padding=kernel // 2)
    return 1 + edge_weight * (pooled - target).abs()


def structure_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    valid: torch.Tensor | None = None,
    weight: torch.Tensor | None = None,
    kernel: int = 31,
    edge_weight: float = 5.0,
) -> torch.Tensor:
    """PraNet / HarDNet-MSEG structure loss: weighted BCE + weighted IoU, per image, averaged.

    wBCE = Σ w·BCE(x, g) / Σ w and wIoU = 1 − (Σ w·p·g + 1) / (Σ w·(p + g) − Σ w·p·g + 1), p = σ(x),
    with w = :func:`structure_weight` of the target unless ``weight`` is given. Unlike the official code
    (whose legacy ``reduce='none'`` argument makes PyTorch average the BCE first, so only the IoU is
    weighted), the per-pixel weight is applied to the BCE too. Ignored pixels get weight 0.
    """
    if valid is None:
        valid = torch.ones_like(target[:, :1])
    if weight is None:
        weight = structure_weight(target * valid, kernel, edge_weight)
    weight = weight * valid
    bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    wbce = (weight * bce).sum((2, 3)) / weight.sum((2, 3)).clamp_min(_TINY)
    probs = torch.sigmoid(logits)
    inter = (probs * target * weight).sum((2, 3))
    union = ((probs + target) * weight).sum((2, 3))
    wiou = 1 - (inter + 1) / (union - inter + 1)
    return (wbce + wiou).mean()
