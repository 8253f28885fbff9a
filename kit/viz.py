"""Plots for the notebooks: tile grids with mask overlays, kept/dropped counts (every plot returns its Figure).

Figures are closed in pyplot before they are returned, so a notebook shows each one once (as the cell's
value) and nothing accumulates in pyplot's state.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

__all__ = ["CLASS_COLOURS", "overlay", "show_tiles", "plot_kept_counts"]

CLASS_COLOURS = ((255, 0, 0), (0, 255, 0), (0, 96, 255), (255, 200, 0))  # class 1, 2, 3, 4 (then repeats)


def overlay(image: np.ndarray, mask: np.ndarray | None, alpha: float = 0.4) -> np.ndarray:
    """RGB uint8 ``image`` with each class id > 0 of ``mask`` tinted in its :data:`CLASS_COLOURS` colour."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must be H×W×3 RGB, got shape {image.shape}")
    if mask is None:
        return image.copy()
    mask = np.asarray(mask)
    if mask.shape != image.shape[:2]:
        raise ValueError(f"mask of shape {mask.shape} does not match image of shape {image.shape[:2]}")
    out = image.astype(np.float32)
    for class_id in np.unique(mask[mask > 0]):
        colour = np.asarray(CLASS_COLOURS[(int(class_id) - 1) % len(CLASS_COLOURS)], np.float32)
        where = mask == class_id
        out[where] = out[where] * (1 - alpha) + colour * alpha
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def show_tiles(images: Sequence[np.ndarray], masks: Sequence[np.ndarray | None] | None = None,
               titles: Sequence[str] | None = None, cols: int = 4, alpha: float = 0.4, size: float = 2.5):
    """A grid of tiles (masks tinted over them when given), ``cols`` per row; returns the Figure."""
    import matplotlib.pyplot as plt

    if len(images) == 0:
        raise ValueError("show_tiles needs at least one image")
    masks = [None] * len(images) if masks is None else list(masks)
    if len(masks) != len(images) or (titles is not None and len(titles) != len(images)):
        raise ValueError(f"got {len(images)} images, {len(masks)} masks and "
                         f"{'no' if titles is None else len(titles)} titles: the counts must match")
    cols = max(1, min(cols, len(images)))
    rows = -(-len(images) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(size * cols, size * rows), squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k < len(images):
            ax.imshow(overlay(images[k], masks[k], alpha))
            if titles is not None:
                ax.set_title(titles[k], fontsize=8)
    fig.tight_layout()
    plt.close(fig)
    return fig


def plot_kept_counts(counts: pd.DataFrame, title: str = "tiles kept / dropped by the tissue filter"):
    """Stacked bars of the ``kept`` and ``dropped`` columns per row of ``counts``; returns the Figure."""
    import matplotlib.pyplot as plt

    missing = [c for c in ("kept", "dropped") if c not in counts.columns]
    if missing:
        raise ValueError(f"counts lacks columns {missing}; it has {list(counts.columns)}")
    labels = [" / ".join(map(str, k)) if isinstance(k, tuple) else str(k) for k in counts.index]
    fig, ax = plt.subplots(figsize=(max(4.0, 0.5 * len(labels) + 2), 3.5))
    positions = np.arange(len(labels))
    ax.bar(positions, counts["kept"], label="kept", color="tab:green")
    ax.bar(positions, counts["dropped"], bottom=counts["kept"], label="dropped", color="tab:gray")
    ax.set_xticks(positions, labels, rotation=45 if len(labels) > 4 else 0, ha="right" if len(labels) > 4 else "center")
    ax.set_ylabel("tiles")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    plt.close(fig)
    return fig
