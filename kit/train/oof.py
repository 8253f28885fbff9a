"""Scores of out-of-fold predictions (the competition metric per image, class and organ) and examples to show.

The OOF file itself (``oof.npz``, :class:`~kit.artifacts.oof.OofImage`) is owned by :mod:`kit.artifacts.oof`.
API: :func:`image_counts` / :func:`score_images` (the competition metric), :func:`oof_scores`, :func:`oof_examples`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from kit.artifacts.oof import OofImage, read_oof
from kit.artifacts.run_folder import CONFIG_FILE, read_config
from kit.metrics import fraction_counts, labels_from_probs, scores_from_counts
from kit.registry import Registry

__all__ = ["ORDERS", "image_counts", "score_images", "oof_scores", "oof_examples"]

ORDERS = Registry.of("order", ("random", "worst", "best"), "order must be one of {valid}; got {name!r}{hint}",
                     sort=False)


def image_counts(image: OofImage, threshold: float = 0.5, probs: np.ndarray | None = None) -> np.ndarray:
    """TP, FP, FN per foreground class (F×3) of one image, its probabilities (or ``probs``, e.g. a blend, on the
    0–255 scale) turned into labels by the kit's threshold rule (one channel) or argmax."""
    probs = image.probs if probs is None else probs
    labels = labels_from_probs(probs, threshold, max_value=255)
    return fraction_counts(labels, image.targets, image.valid)


def score_images(
    images: Sequence[OofImage], thresholds: float | Mapping[str, float] = 0.5, class_names: Sequence[str] = ()
) -> dict:
    """The competition metric on ``images``: mean over images of the mean over foreground classes of each
    class's Dice (empty vs empty = 1); per class, per group (organ), per image, and pooled-pixel variants.

    ``thresholds``: one value, or {group: value} with a ``"default"`` for groups without their own.
    Returns ``dice``, ``iou``, ``precision``, ``recall``, ``dice_global``, ``per_class`` {name: Dice},
    ``per_group`` {group: Dice}, ``per_image`` (N Dice values), ``counts`` N×F×3.
    """
    if not images:
        raise ValueError("score_images got no images")

    def level(group: str) -> float:
        if not isinstance(thresholds, Mapping):
            return float(thresholds)
        return float(thresholds.get(group, thresholds.get("default", 0.5)))

    counts = np.stack([image_counts(im, level(im.group)) for im in images])
    scores = scores_from_counts(counts)
    per_image = scores["dice"].mean(axis=1)
    n_classes = counts.shape[1]
    names = list(class_names) if len(class_names) == n_classes else [f"class {k + 1}" for k in range(n_classes)]
    groups = np.asarray([im.group for im in images])
    return {
        **{name: float(scores[name].mean(axis=1).mean()) for name in ("dice", "iou", "precision", "recall")},
        "dice_global": float(scores_from_counts(counts.sum(axis=0))["dice"].mean()),
        "per_class": {name: float(scores["dice"][:, k].mean()) for k, name in enumerate(names)},
        "per_group": {str(g): float(per_image[groups == g].mean()) for g in sorted(set(groups) - {""})},
        "per_image": per_image, "counts": counts,
    }


def oof_scores(path: str | Path, threshold: float = 0.5, class_names: Sequence[str] = ()) -> pd.DataFrame:
    """Dice, IoU, precision, recall (means over images, empty vs empty = 1), pooled-pixel Dice and image count per
    organ and over all OOF images; with several foreground classes, one Dice column per class too (named after
    ``class_names``, by default the classes of the run folder's ``config.json``)."""
    images = read_oof(path)
    if not class_names and (Path(path) / CONFIG_FILE).is_file():
        from kit.train.config import TrainConfig

        class_names = TrainConfig.from_dict(read_config(path)).class_names
    groups = sorted({im.group for im in images} - {""})
    rows = {}
    for name, subset in [(g, [im for im in images if im.group == g]) for g in groups] + [("all", images)]:
        result = score_images(subset, threshold, class_names)
        row = {k: result[k] for k in ("dice", "iou", "precision", "recall", "dice_global")}
        if len(result["per_class"]) > 1:
            row.update({f"dice {c}": v for c, v in result["per_class"].items()})
        rows[name] = {**row, "images": len(subset)}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "organ"
    return table


def oof_examples(
    run_dir: str | Path, n: int = 4, order: str = "random", seed: int = 0, threshold: float = 0.5
) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray], list[str]]:
    """(images, targets, predictions, titles) of ``n`` held-out images of a run, for
    :func:`kit.viz.show_predictions`; ``order`` "random", "worst" or "best" by per-image Dice.

    Images are re-read from the run's data (``config.json``) at the OOF (working) resolution; targets are the
    area shares rounded to class ids.
    """
    from kit.train.config import TrainConfig
    from kit.train.validation import read_working_image

    ORDERS.check(order)
    run_dir = Path(run_dir)
    config = TrainConfig.from_dict(read_config(run_dir))
    images = read_oof(run_dir)
    dice = score_images(images, threshold)["per_image"]
    if order == "random":
        picks = np.random.default_rng(seed).permutation(len(dice))[:n]
    else:
        picks = np.argsort(dice if order == "worst" else -dice, kind="stable")[:n]
    pictures, targets, preds, titles = [], [], [], []
    for k in picks:
        im = images[k]
        pictures.append(read_working_image(config, im))
        truth = np.zeros(im.targets.shape[1:], np.uint8)
        for c in range(im.targets.shape[0]):
            truth[im.targets[c] >= 128] = c + 1
        targets.append(truth)
        preds.append(labels_from_probs(im.probs, threshold))
        titles.append(f"{im.id} {im.group} Dice {dice[k]:.3f}".replace("  ", " "))
    return pictures, targets, preds, titles
