"""Blending weight maps for overlapping windows: constant, gaussian, pyramid (one registry, one factory).

Every map is float32, shaped like the window core, with its maximum at 1 and every value at least
``min_weight`` so each covered pixel gets a positive weight sum.

>>> make_weight_map("pyramid", (4, 4)).round(2)[1]
array([0.33, 1.  , 1.  , 0.33], dtype=float32)
"""

from __future__ import annotations

import difflib
from typing import Callable

import numpy as np

__all__ = ["WeightMapBuilder", "BLEND_WEIGHTS", "register_blend", "blend_names", "make_weight_map"]

WeightMapBuilder = Callable[..., np.ndarray]
BLEND_WEIGHTS: dict[str, WeightMapBuilder] = {}
MIN_WEIGHT = 1e-3


def register_blend(name: str) -> Callable[[WeightMapBuilder], WeightMapBuilder]:
    """Decorator: register ``builder(shape, **kw) -> h×w float32`` as blending mode ``name``."""

    def decorate(builder: WeightMapBuilder) -> WeightMapBuilder:
        if name in BLEND_WEIGHTS:
            raise ValueError(f"blend mode {name!r} is registered twice")
        BLEND_WEIGHTS[name] = builder
        return builder

    return decorate


def blend_names() -> list[str]:
    """Registered blending modes, sorted."""
    return sorted(BLEND_WEIGHTS)


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
    try:
        builder = BLEND_WEIGHTS[name]
    except KeyError:
        close = difflib.get_close_matches(str(name), blend_names(), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise KeyError(f"unknown blend mode {name!r}{hint}; valid: {', '.join(blend_names())}") from None
    shape = (shape, shape) if isinstance(shape, int) else tuple(int(s) for s in shape)
    if len(shape) != 2 or min(shape) < 1:
        raise ValueError(f"weight map shape must be (height, width) with positive sides, got {shape}")
    return builder(shape, **kwargs)
