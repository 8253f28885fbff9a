"""Plots for notebooks 02 and 03: OOF Dice against the threshold, ensemble weights, prediction overlays.

Overlays work from a submission file: each image is read and each RLE decoded one band of rows at a time
straight into a thumbnail, so previewing a gigapixel slide never holds it at full resolution. Every plot
returns its Figure, closed in pyplot (as :mod:`kit.viz` does).
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import cv2
import numpy as np
import pandas as pd

from kit.competitions import get_profile
from kit.rle import RleMask
from kit.submit import row_ids

__all__ = ["thumbnail", "prediction_previews", "show_test_overlays", "plot_threshold_curves", "plot_weights"]

_BAND_PIXELS = 1 << 25  # source pixels read (and decoded) per band


def thumbnail(path: str | Path, rles: Sequence[str] = (), order: str = "F", max_side: int = 384):
    """(RGB thumbnail, class map of the same size) of an image and its RLE masks (class k+1 for rles[k]).

    The longer side becomes ``max_side`` (never enlarged); masks are sampled nearest-neighbour.
    """
    from kit.io import open_image

    with open_image(path) as reader:
        h, w = reader.shape
        factor = max(1.0, max(h, w) / max_side)
        out_h, out_w = max(1, round(h / factor)), max(1, round(w / factor))
        masks = [RleMask(r or None, (h, w), order) for r in rles]
        step = max(1, int(_BAND_PIXELS / (w * h / out_h)))
        images, labels = [], []
        for oy0 in range(0, out_h, step):
            oy1 = min(out_h, oy0 + step)
            sy0, sy1 = round(oy0 * h / out_h), max(round(oy1 * h / out_h), round(oy0 * h / out_h) + 1)
            images.append(reader.read(sy0, 0, sy1 - sy0, w, out_size=(oy1 - oy0, out_w)))
            band = np.zeros((oy1 - oy0, out_w), np.uint8)
            for k, mask in enumerate(masks, start=1):
                part = cv2.resize(mask.window(sy0, 0, sy1 - sy0, w), (out_w, oy1 - oy0),
                                  interpolation=cv2.INTER_NEAREST)
                band[part > 0] = k
            labels.append(band)
    return np.concatenate(images), np.concatenate(labels)


def _rows(path: Path, columns: tuple[str, str]) -> dict[str, str]:
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    return dict(zip(table[columns[0]], table[columns[1]]))


def prediction_previews(
    competition: str,
    data_dir: str | Path,
    submission: str | Path,
    image_ids: Sequence[str],
    labels: str | Path | None = None,
    max_side: int = 384,
) -> list[dict]:
    """Thumbnails of test images with their predicted and (when a labels file exists) true class maps.

    ``labels`` defaults to the sample's hidden ``<data>/_scoring/test_labels.csv``; each item is a dict with
    ``id``, ``image``, ``prediction`` and ``truth`` (None without labels).
    """
    from kit.infer.scoring import labels_path, read_labels

    profile = get_profile(competition)
    predicted = _rows(Path(submission), profile.submission_columns)
    labels = Path(labels) if labels is not None else labels_path(data_dir)
    truth = read_labels(profile, labels) if labels.is_file() else None
    previews = []
    for image_id in image_ids:
        rows = row_ids(profile, image_id)
        missing = [r for r in rows if r not in predicted]
        if missing:
            raise KeyError(f"{submission} has no row {missing[0]!r}")
        path = profile.image_path(data_dir, image_id, "test")
        image, prediction = thumbnail(path, [predicted[r] for r in rows], profile.rle_order, max_side)
        true_map = None
        if truth is not None and all(r in truth for r in rows):
            true_map = thumbnail(path, [truth[r] for r in rows], profile.rle_order, max_side)[1]
        previews.append({"id": image_id, "image": image, "prediction": prediction, "truth": true_map})
    return previews


def show_test_overlays(previews: Sequence[dict], alpha: float = 0.45, size: float = 3.0):
    """One column per preview: the prediction tinted over the image, and below it the truth when known."""
    import matplotlib.pyplot as plt

    from kit.viz import overlay

    if not previews:
        raise ValueError("show_test_overlays needs at least one preview")
    with_truth = any(p["truth"] is not None for p in previews)
    rows = 2 if with_truth else 1
    fig, axes = plt.subplots(rows, len(previews), figsize=(size * len(previews), size * rows), squeeze=False)
    for col, item in enumerate(previews):
        panels = [("predicted", item["prediction"])] + ([("truth", item["truth"])] if with_truth else [])
        for row, (what, mask) in enumerate(panels):
            ax = axes[row, col]
            ax.axis("off")
            if mask is not None:
                ax.imshow(overlay(item["image"], mask, alpha))
                ax.set_title(f"{item['id']} · {what}", fontsize=8)
    fig.tight_layout()
    plt.close(fig)
    return fig


def plot_threshold_curves(curves: pd.DataFrame, thresholds: Mapping[str, float] | None = None):
    """OOF mean Dice against the threshold, one line per group ("all" thick); dots at the chosen thresholds."""
    import matplotlib.pyplot as plt

    missing = {"threshold", "group", "dice"} - set(curves.columns)
    if missing:
        raise ValueError(f"curves lacks columns {sorted(missing)}; it has {list(curves.columns)}")
    fig, ax = plt.subplots(figsize=(6.5, 4))
    thresholds = dict(thresholds or {})
    for group, part in curves.groupby("group", sort=False):
        line, = ax.plot(part["threshold"], part["dice"], lw=2.5 if group == "all" else 1.2, label=group)
        chosen = thresholds.get("default" if group == "all" else group)
        if chosen is not None:
            at = part.iloc[int(np.argmin(np.abs(part["threshold"].to_numpy() - chosen)))]
            ax.plot([at["threshold"]], [at["dice"]], "o", color=line.get_color())
    ax.set_xlabel("threshold")
    ax.set_ylabel("OOF mean per-image Dice")
    ax.set_xlim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    plt.close(fig)
    return fig


def plot_weights(runs: pd.DataFrame):
    """Bars of each run's ensemble weight, annotated with its family's own OOF Dice."""
    import matplotlib.pyplot as plt

    missing = {"run", "weight"} - set(runs.columns)
    if missing:
        raise ValueError(f"runs lacks columns {sorted(missing)}; it has {list(runs.columns)}")
    fig, ax = plt.subplots(figsize=(max(3.5, 0.8 * len(runs) + 2), 3.2))
    bars = ax.bar(runs["run"].astype(str), runs["weight"], color="tab:blue")
    if "family_oof_dice" in runs.columns:
        for bar, dice in zip(bars, runs["family_oof_dice"]):
            ax.annotate(f"{dice:.3f}", (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center",
                        va="bottom", fontsize=8)
    ax.set_ylabel("weight")
    ax.set_ylim(0, max(1.0, float(runs["weight"].max()) * 1.15))
    ax.set_title("ensemble weights (labels: OOF Dice of the run's family alone)", fontsize=9)
    fig.tight_layout()
    plt.close(fig)
    return fig
