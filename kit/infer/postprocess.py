"""From probabilities to clean masks: thresholds (global, per organ, per data source), small components, holes.

Thresholds are probabilities in [0, 1] and apply to float maps in [0, 1] or to uint8 maps in 0–255 alike:
a pixel is foreground when ``probability > threshold`` (:func:`kit.metrics.threshold`, the kit's one
rule). A threshold table is a dict looked up from the most
specific key to the least: ``"<data_source>/<organ>"``, ``"<organ>"``, ``"<data_source>"``, ``"default"``.

>>> resolve_threshold({"default": 0.5, "lung": 0.1, "Hubmap/lung": 0.05}, organ="lung", data_source="HPA")
0.1
"""

from __future__ import annotations

from typing import Mapping

import cv2
import numpy as np

from kit.metrics import threshold as metric_threshold

__all__ = [
    "ThresholdTable",
    "resolve_threshold",
    "apply_threshold",
    "remove_small_components",
    "fill_holes",
    "clean_mask",
    "clean_probs",
]

ThresholdTable = float | Mapping[str, float]


def _check_probability(value: float, where: str) -> float:
    value = float(value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"threshold {where} must be in [0, 1], got {value}")
    return value


def resolve_threshold(thresholds: ThresholdTable, organ: str | None = None, data_source: str | None = None) -> float:
    """The threshold for one image; a table without a matching key and without ``"default"`` raises KeyError."""
    if not isinstance(thresholds, Mapping):
        return _check_probability(thresholds, "")
    keys = []
    if organ is not None and data_source is not None:
        keys.append(f"{data_source}/{organ}")
    keys += [k for k in (organ, data_source) if k is not None] + ["default"]
    for key in keys:
        if key in thresholds:
            return _check_probability(thresholds[key], f"{key!r}")
    raise KeyError(f"no threshold for organ={organ!r}, data_source={data_source!r}: tried keys {keys}; "
                   f"the table has {sorted(thresholds)} (add a 'default')")


def apply_threshold(probs: np.ndarray, threshold: float) -> np.ndarray:
    """uint8 0/1 mask of ``probs > threshold`` (uint8 maps are read as probability × 255)."""
    return metric_threshold(probs, _check_probability(threshold, ""))


def _binary(mask: np.ndarray) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"mask must be 2-D (height, width), got shape {mask.shape}")
    return np.ascontiguousarray((mask != 0).view(np.uint8))


def remove_small_components(mask: np.ndarray, min_area: int, connectivity: int = 8) -> np.ndarray:
    """Drop connected foreground components with fewer than ``min_area`` pixels (uint8 0/1 result)."""
    if connectivity not in (4, 8):
        raise ValueError(f"connectivity must be 4 or 8, got {connectivity}")
    binary = _binary(mask)
    if min_area <= 1 or not binary.any():
        return binary
    count, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=connectivity)
    keep = stats[:, cv2.CC_STAT_AREA] >= min_area
    keep[0] = False  # label 0 is the background
    return keep[labels].view(np.uint8) if count > 1 else binary


def fill_holes(mask: np.ndarray, max_area: int | None = None) -> np.ndarray:
    """Fill background regions not connected to the image border (only those up to ``max_area`` if given)."""
    binary = _binary(mask)
    background = 1 - binary
    count, labels, stats, _ = cv2.connectedComponentsWithStats(background, connectivity=4)
    if count <= 1:
        return binary
    border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    hole = np.ones(count, dtype=bool)
    hole[0] = False  # label 0 is the foreground here
    hole[border] = False
    if max_area is not None:
        hole &= stats[:, cv2.CC_STAT_AREA] <= max_area
    return (binary.astype(bool) | hole[labels]).view(np.uint8)


def clean_mask(mask: np.ndarray, min_area: int = 0, fill: bool = False) -> np.ndarray:
    """:func:`fill_holes` (when ``fill``) then :func:`remove_small_components` with ``min_area``."""
    binary = fill_holes(mask) if fill else _binary(mask)
    return remove_small_components(binary, min_area)


def clean_probs(probs: np.ndarray, threshold: float, min_area: int = 0, fill: bool = False) -> np.ndarray:
    """A uint8 probability map (0–255) whose ``> threshold`` mask is the cleaned mask of ``probs``.

    Pixels that :func:`clean_mask` drops are lowered to at most the threshold level, pixels it adds (filled holes)
    raised just above it; the others keep their value. A bilinear upsample of the result, thresholded at the same
    value, therefore keeps the smooth borders of ``probs`` while the dropped components stay dropped and the
    filled holes stay filled: post-processing runs at the working resolution, never on a full-resolution map.
    """
    probs = np.asarray(probs)
    if probs.dtype != np.uint8 or probs.ndim != 2:
        raise ValueError(f"probs must be a 2-D uint8 map (0–255), got {probs.dtype} of shape {probs.shape}")
    mask = apply_threshold(probs, threshold)
    cleaned = clean_mask(mask, min_area, fill)
    if np.array_equal(mask, cleaned):
        return probs
    low = int(np.floor(_check_probability(threshold, "") * 255))  # level <= threshold * 255: background
    high = min(low + 1, 255)  # level > threshold * 255 (for thresholds below 1): foreground
    out = probs.copy()
    out[(mask == 1) & (cleaned == 0)] = low
    out[(mask == 0) & (cleaned == 1)] = high
    return out
