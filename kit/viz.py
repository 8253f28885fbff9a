"""Plots for the notebooks: tile grids with mask overlays, kept/dropped counts, training curves, predictions
next to ground truth, augmentation previews (every plot returns its Figure).

Figures are closed in pyplot before they are returned, so a notebook shows each one once (as the cell's
value) and nothing accumulates in pyplot's state.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

__all__ = [
    "CLASS_COLOURS", "overlay", "show_tiles", "plot_kept_counts", "plot_history", "show_predictions",
    "show_augmentations",
]

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


def plot_history(log: pd.DataFrame, title: str = ""):
    """Training curves from a run's log table (:func:`kit.artifacts.run_folder.read_log`): train/val loss, val Dice
    (per class too) / IoU, and the learning rate. Epochs without validation (``val_every``) are NaN and skipped."""
    import matplotlib.pyplot as plt

    missing = [c for c in ("epoch", "train_loss", "val_loss", "val_dice") if c not in log.columns]
    if missing:
        raise ValueError(f"training log lacks columns {missing}; it has {list(log.columns)}")
    if log.empty:
        raise ValueError("training log has no epochs yet")
    val = log.dropna(subset=["val_dice"])  # epochs that were validated (val_every)
    if val.empty:
        raise ValueError("training log has no validated epoch yet")
    whole = "val_images" in val.columns and val["val_images"].max() > 0
    fig, (ax_loss, ax_dice, ax_lr) = plt.subplots(1, 3, figsize=(13, 3.4))
    ax_loss.plot(log["epoch"], log["train_loss"], "o-", ms=3, label="train")
    ax_loss.plot(val["epoch"], val["val_loss"], "o-", ms=3, label="validation")
    ax_loss.set(xlabel="epoch", ylabel="loss", title="loss")
    ax_loss.legend()
    ax_dice.plot(val["epoch"], val["val_dice"], "o-", ms=3, color="tab:green",
                 label="Dice (whole images)" if whole else "Dice (tiles)")
    for column in (c for c in val.columns if c.startswith("val_dice_")):  # per class, beside the mean
        ax_dice.plot(val["epoch"], val[column], ".--", ms=3, lw=1, label=f"Dice {column[len('val_dice_'):]}")
    if "val_iou" in val.columns:
        ax_dice.plot(val["epoch"], val["val_iou"], "o-", ms=3, color="tab:olive", label="IoU")
    if whole and "val_tile_dice" in val.columns:
        ax_dice.plot(val["epoch"], val["val_tile_dice"], ":", color="grey", label="tile Dice")
    best = val["val_dice"].idxmax()
    ax_dice.axhline(val["val_dice"][best], color="grey", lw=0.8, ls="--")
    ax_dice.set(xlabel="epoch", ylim=(0, 1), title=f"validation (best Dice {val['val_dice'][best]:.3f}, "
                f"epoch {int(val['epoch'][best])})")
    ax_dice.legend(loc="lower right", fontsize="small")
    if "lr" in log.columns:
        ax_lr.plot(log["epoch"], log["lr"], color="tab:purple")
        ax_lr.set_yscale("log")
    ax_lr.set(xlabel="epoch", title="learning rate (end of epoch)")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    plt.close(fig)
    return fig


def show_predictions(images: Sequence[np.ndarray], targets: Sequence[np.ndarray], preds: Sequence[np.ndarray],
                     titles: Sequence[str] | None = None, alpha: float = 0.45, size: float = 2.6):
    """One row per image: the image, ground truth tinted over it, the prediction tinted over it; returns the Figure."""
    import matplotlib.pyplot as plt

    if not (len(images) == len(targets) == len(preds)) or len(images) == 0:
        raise ValueError(f"got {len(images)} images, {len(targets)} targets and {len(preds)} predictions: "
                         "need the same non-zero count")
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"got {len(titles)} titles for {len(images)} images")
    fig, axes = plt.subplots(len(images), 3, figsize=(3 * size, size * len(images)), squeeze=False)
    for k, (image, target, pred) in enumerate(zip(images, targets, preds, strict=True)):
        panels = (image, overlay(image, target, alpha), overlay(image, pred, alpha))
        names = ("image" if titles is None else titles[k], "ground truth", "prediction")
        for ax, panel, name in zip(axes[k], panels, names, strict=True):
            ax.imshow(panel)
            ax.set_title(name, fontsize=8)
            ax.axis("off")
    fig.tight_layout()
    plt.close(fig)
    return fig


def show_augmentations(images: Sequence[np.ndarray], masks: Sequence[np.ndarray], transform, variants: int = 4,
                       seed: int = 0, size: float = 2.2):
    """Each image (first column) and ``variants`` draws of an albumentations ``transform``, masks tinted over."""
    import matplotlib.pyplot as plt

    if len(images) == 0 or len(images) != len(masks):
        raise ValueError(f"got {len(images)} images and {len(masks)} masks: need the same non-zero count")
    fig, axes = plt.subplots(len(images), variants + 1, figsize=(size * (variants + 1), size * len(images)),
                             squeeze=False)
    for k, (image, mask) in enumerate(zip(images, masks, strict=True)):
        shown = [(image, mask, "original")]
        for v in range(variants):
            if hasattr(transform, "set_random_seed"):
                transform.set_random_seed(seed * 1000 + k * variants + v)
            out = transform(image=image, mask=mask)
            shown.append((out["image"], out["mask"], f"draw {v + 1}"))
        for ax, (img, msk, name) in zip(axes[k], shown, strict=True):
            ax.imshow(overlay(img, msk))
            ax.set_title(name, fontsize=8)
            ax.axis("off")
    fig.tight_layout()
    plt.close(fig)
    return fig
