"""Baseline: the plain fp32 training loop of a typical Kaggle segmentation notebook.

DataLoader with ``shuffle=True``, ``model.train()``, forward, BCE + soft Dice, backward, Adam step; no AMP, no
channels_last, no accumulation, no checkpoints. The benchmark times it on the same dataset and model as the kit.
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F

__all__ = ["bce_dice", "plain_train_epoch"]


def bce_dice(logits: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """0.5 · BCE + 0.5 · (1 − soft Dice) for N×1×H×W logits and N×H×W {0, 1} masks."""
    target = masks.unsqueeze(1).float()
    probs = torch.sigmoid(logits)
    dice = (2 * (probs * target).sum() + 1) / (probs.sum() + target.sum() + 1)
    return 0.5 * F.binary_cross_entropy_with_logits(logits, target) + 0.5 * (1 - dice)


def plain_train_epoch(model: torch.nn.Module, loader, optimizer: torch.optim.Optimizer, device: torch.device,
                      max_batches: int | None = None) -> tuple[int, float]:
    """One epoch (or ``max_batches``) of the plain loop; returns (images seen, seconds)."""
    model.train()
    seen = 0
    start = time.perf_counter()
    for i, (images, masks) in enumerate(loader):
        if max_batches is not None and i >= max_batches:
            break
        images, masks = images.to(device), masks.to(device)
        loss = bce_dice(model(images), masks)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        seen += images.shape[0]
    if device.type == "cuda":
        torch.cuda.synchronize()
    return seen, time.perf_counter() - start
