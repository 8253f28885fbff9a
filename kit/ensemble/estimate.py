"""How far to trust an OOF score: the Dice with thresholds chosen without seeing the scored images, and its
standard error over the fold groups.

The OOF score of ``build_ensemble`` is measured at the thresholds that maximise it on the very images it scores
(in-sample), and its images come in groups (video sequences, patients, or single images) that resemble each other
more than they resemble a hidden test set. :func:`cross_fitted_dice` scores each part of the OOF images (whole
fold groups, at most ``parts``) at the thresholds the *other* parts choose: what choosing a threshold without seeing
the scored images gives. :func:`grouped_standard_error` is the standard error of the mean per-image Dice with the
images of one group counted together (cluster-robust), so a one-fold OOF of four sequences says how little it
knows. :func:`fold_group_keys` reads each OOF image's group from the run's recipe (the folds' grouping column).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

__all__ = ["OofEstimate", "group_parts", "cross_fitted_dice", "grouped_standard_error", "fold_group_keys",
           "oof_estimate"]


@dataclass
class OofEstimate:
    """Cross-fitted OOF Dice, standard error of the OOF mean, and the fold groups they are computed over."""

    cross_fitted: float | None  # None: multi-class argmax (no threshold to choose) or a single group
    standard_error: float
    groups: int
    column: str


def group_parts(keys: Sequence[str], parts: int = 5) -> np.ndarray:
    """Each image's part (0..parts-1): whole groups, largest first onto the part with the fewest images."""
    keys = np.asarray([str(k) for k in keys])
    names, counts = np.unique(keys, return_counts=True)
    sizes = np.zeros(min(parts, len(names)), np.int64)
    part_of = {}
    for index in np.argsort(-counts, kind="stable"):
        target = int(np.argmin(sizes))
        part_of[names[index]] = target
        sizes[target] += counts[index]
    return np.asarray([part_of[k] for k in keys])


def _best_level(rows: np.ndarray) -> int:
    return int(np.argmax(rows.mean(axis=0)))


def cross_fitted_dice(table: np.ndarray, parts: np.ndarray, organs: Sequence[str] | None = None) -> float:
    """Mean Dice when each part's images are scored at the threshold level chosen on the other parts.

    ``table``: N×255 per-image Dice per threshold level (:func:`kit.infer.ensemble.dice_by_threshold`);
    ``organs``: per image its organ key for per-organ thresholds (chosen on the other parts' images of that organ,
    the other parts' global level when they have none).
    """
    parts = np.asarray(parts)
    if len(np.unique(parts)) < 2:
        raise ValueError("cross-fitting needs at least two parts")
    organs = None if organs is None else np.asarray([str(o) for o in organs])
    scores = np.zeros(len(table))
    for part in np.unique(parts):
        scored, seen = parts == part, parts != part
        level = _best_level(table[seen])
        if organs is None:
            scores[scored] = table[scored, level]
            continue
        for organ in np.unique(organs[scored]):
            rows, known = scored & (organs == organ), seen & (organs == organ)
            scores[rows] = table[rows, _best_level(table[known]) if known.any() else level]
    return float(scores.mean())


def grouped_standard_error(values: Sequence[float], keys: Sequence[str]) -> float:
    """Standard error of the mean of ``values`` with the values of one key counted together (cluster-robust:
    sqrt(G/(G-1) · Σ_g (Σ_{i∈g} (v_i − mean))²) / N); 0 with one group."""
    values, keys = np.asarray(values, np.float64), np.asarray([str(k) for k in keys])
    names = np.unique(keys)
    if len(names) < 2:
        return 0.0
    residual = values - values.mean()
    sums = np.asarray([residual[keys == name].sum() for name in names])
    return float(np.sqrt(len(names) / (len(names) - 1) * (sums ** 2).sum()) / len(values))


def fold_group_keys(config: dict[str, Any], ids: Sequence[str]) -> tuple[str, np.ndarray] | None:
    """(grouping column, each id's group) from the training items of the run recipe ``config``; None when the
    training data cannot be read here or an id is not among its items."""
    from kit.train.builders import fold_group_of, fold_items
    from kit.train.config import TrainConfig

    try:
        recipe = TrainConfig.from_dict(config)
        items = fold_items(recipe)[0]
    except (OSError, ValueError, KeyError):
        return None
    column = fold_group_of(recipe)
    if column not in items:
        return None
    by_id = dict(zip(items["id"].astype(str), items[column].astype(str)))
    if not all(str(i) in by_id for i in ids):
        return None
    return column, np.asarray([by_id[str(i)] for i in ids])


def oof_estimate(table: np.ndarray | None, per_image: Sequence[float], keys: Sequence[str], column: str,
                 organs: Sequence[str] | None = None, parts: int = 5) -> OofEstimate:
    """:class:`OofEstimate` of OOF images with Dice-per-level ``table`` (None: argmax, nothing to cross-fit),
    per-image Dice at the chosen thresholds ``per_image`` and fold group ``keys``."""
    split = group_parts(keys, parts)
    cross = cross_fitted_dice(table, split, organs) if table is not None and len(np.unique(split)) > 1 else None
    return OofEstimate(cross, grouped_standard_error(per_image, keys), len(set(map(str, keys))), column)
