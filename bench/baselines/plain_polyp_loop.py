"""Baseline: the plain polyp training loop of a typical notebook (smp UNet, BCE + Dice, flips, Adam, 0.5).

Every training frame, resized to ``size``² once; random horizontal / vertical flips and rot90; Adam at a constant
learning rate; 0.5 · BCE + 0.5 · soft Dice; no validation, no schedule, no TTA. Prediction: the frame resized to
``size``², sigmoid, bilinear back to the frame size, threshold 0.5.
"""

from __future__ import annotations

import time

import cv2
import numpy as np
import segmentation_models_pytorch as smp
import torch

from bench.baselines.plain_train_loop import bce_dice

__all__ = ["load_frames", "train_plain", "predict_plain"]


def load_frames(image_paths: list[str], mask_paths: list[str] | None, size: int):
    """Images as N×3×size×size float in [0, 1] (and masks N×size×size {0, 1}: grey > 127 is polyp)."""
    images = [cv2.resize(cv2.imread(p)[..., ::-1], (size, size), interpolation=cv2.INTER_AREA) for p in image_paths]
    x = torch.from_numpy(np.stack(images).transpose(0, 3, 1, 2).copy()).float() / 255
    if mask_paths is None:
        return x, None
    masks = [cv2.resize(cv2.imread(p, cv2.IMREAD_GRAYSCALE), (size, size), interpolation=cv2.INTER_NEAREST) > 127
             for p in mask_paths]
    return x, torch.from_numpy(np.stack(masks)).float()


def _flip(x: torch.Tensor, y: torch.Tensor, rng: np.random.Generator):
    if rng.random() < 0.5:
        x, y = x.flip(-1), y.flip(-1)
    if rng.random() < 0.5:
        x, y = x.flip(-2), y.flip(-2)
    if rng.random() < 0.5:
        x, y = x.rot90(1, (-2, -1)), y.rot90(1, (-2, -1))
    return x, y


def train_plain(x: torch.Tensor, y: torch.Tensor, epochs: int, lr: float = 1e-3, batch_size: int = 8,
                encoder: str = "resnet18", seed: int = 0, log=print) -> torch.nn.Module:
    """Train a UNet from scratch on (x, y) for ``epochs`` epochs; returns the model in eval mode."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = smp.Unet(encoder, encoder_weights=None, classes=1)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    for epoch in range(epochs):
        model.train()
        start, total = time.perf_counter(), 0.0
        for batch in torch.from_numpy(rng.permutation(len(x))).split(batch_size):
            images, masks = _flip(x[batch], y[batch], rng)
            loss = bce_dice(model(images), masks)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(loss) * len(batch)
        log(f"plain epoch {epoch + 1}/{epochs}: loss {total / len(x):.4f} ({time.perf_counter() - start:.0f} s)")
    return model.eval()


@torch.no_grad()
def predict_plain(model: torch.nn.Module, x: torch.Tensor, shapes: list[tuple[int, int]]) -> list[np.ndarray]:
    """Binary masks at each frame's (height, width): sigmoid, bilinear resize, > 0.5."""
    out = []
    for i in range(0, len(x), 16):
        probs = torch.sigmoid(model(x[i:i + 16]))
        for p, (h, w) in zip(probs, shapes[i:i + 16]):
            full = torch.nn.functional.interpolate(p[None], size=(h, w), mode="bilinear", align_corners=False)
            out.append(full[0, 0].numpy() > 0.5)
    return out
