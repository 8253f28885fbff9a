"""Blending weight maps for overlapping windows: constant, gaussian, pyramid (one registry, one factory).

Every map is float32, shaped like the window core, with its maximum at 1 and every value at least
``min_weight`` so each covered pixel gets a positive weight sum.

>>> make_weight_map("pyramid", (4, 4)).round(2)[1]
array([0.33, 1.  , 1.  , 0.33], dtype=float32)
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from kit.registry import Registry

__all__ = ["WeightMapBuilder", "BLEND_WEIGHTS", "register_blend", "blend_names", "make_weight_map"]

WeightMapBuilder = Callable[..., np.ndarray]
BLEND_WEIGHTS: Registry[WeightMapBuilder] = Registry("blend mode")
MIN_WEIGHT = 1e-3


def register_blend(name: str) -> Callable[[WeightMapBuilder], WeightMapBuilder]:
    """Decorator: register ``builder(shape, **kw) -> h×w float32`` as blending mode ``name``."""
    return BLEND_WEIGHTS.decorator(name)


def blend_names() -> list[str]:
    """Registered blending modes, sorted."""
    return BLEND_WEIGHTS.names()


def _centre_distance(n: int) -> np.ndarray:
    """Distance of each pixel centre to the nearest edge of a length-``n`` axis (0.5 at the edges)."""
    i = np.arange(n, dtype=np.float64) + 0.5
    return np.minimum(i, n - i)


@register_blend("constant")
def constant_weights(shape: tuple[int, int]) -> np.ndarray:
    """All ones: a plain average of the overlapping windows."""
    return np.ones(shape, dtype=np.float32)


@register_blend("gaussian")
def gaussian_weights(shape: tuple[int, int], sigma_scale: float = 0.125, min_weight: float = MIN_WEIGHT) -> np.ndarray:
    """Separable Gaussian centred on the window, sigma = ``sigma_scale`` × side (MONAI's default 0.125)."""
    if sigma_scale <= 0:
        raise ValueError(f"sigma_scale must be > 0, got {sigma_scale}")
    axes = []
    for n in shape:
        offset = np.arange(n, dtype=np.float64) - (n - 1) / 2.0
        axes.append(np.exp(-0.5 * (offset / (sigma_scale * n)) ** 2))
    weights = np.outer(axes[0], axes[1])
    return np.maximum(weights / weights.max(), min_weight).astype(np.float32)


@register_blend("pyramid")
def pyramid_weights(shape: tuple[int, int], min_weight: float = MIN_WEIGHT) -> np.ndarray:
    """Distance to the nearest window edge, normalised to 1 at the centre (DeepLive, HuBMAP 2021 4th place)."""
    dy = _centre_distance(shape[0]) / (shape[0] / 2.0)
    dx = _centre_distance(shape[1]) / (shape[1] / 2.0)
    weights = np.minimum(dy[:, None], dx[None, :])
    return np.maximum(weights / weights.max(), min_weight).astype(np.float32)


def make_weight_map(name: str, shape: int | tuple[int, int], **kwargs) -> np.ndarray:
    """The ``name`` weight map of ``shape``; an unknown name raises KeyError listing the valid ones."""
    builder = BLEND_WEIGHTS.get(name)
    shape = (shape, shape) if isinstance(shape, int) else tuple(int(s) for s in shape)
    if len(shape) != 2 or min(shape) < 1:
        raise ValueError(f"weight map shape must be (height, width) with positive sides, got {shape}")
    return builder(shape, **kwargs)
