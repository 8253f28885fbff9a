"""How far to trust an OOF score: its standard error over the fold groups of its images.

The OOF images come in groups (video sequences, patients, or single images) whose images resemble each other more
than they resemble a hidden test set. On CVC-ClinicDB one fold held 4 video sequences whose mean Dice ranged from
0.25 to 0.58 (bench/RESULTS.md): its OOF score knows the leaderboard's number only to about ±0.07, however the
threshold is chosen. :func:`grouped_standard_error` is the standard error of the mean per-image Dice with the
images of one group counted together (cluster-robust); :func:`fold_group_keys` reads each OOF image's group from
the run's recipe (the folds' grouping column); :func:`oof_uncertainty` combines them for ``build_ensemble``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

__all__ = ["OofUncertainty", "grouped_standard_error", "fold_group_keys", "oof_uncertainty", "describe_oof"]


@dataclass
class OofUncertainty:
    """Standard error of an OOF mean Dice over ``groups`` fold groups of column ``column``."""

    standard_error: float
    groups: int
    column: str

    def describe(self) -> str:
        """For a report, e.g. "± 0.069 (standard error over 4 sequence groups)"."""
        return f"± {self.standard_error:.3f} (standard error over {self.groups} {self.column} groups)"


def grouped_standard_error(values: Sequence[float], keys: Sequence[str]) -> float:
    """Standard error of the mean of ``values`` with the values of one key counted together (cluster-robust:
    sqrt(G/(G-1) · Σ_g (Σ_{i∈g} (v_i − mean))²) / N over G groups); 0 with one group."""
    values, keys = np.asarray(values, np.float64), np.asarray([str(k) for k in keys])
    if len(values) != len(keys):
        raise ValueError(f"{len(values)} values but {len(keys)} group keys")
    names = np.unique(keys)
    if len(names) < 2:
        return 0.0
    residual = values - values.mean()
    sums = np.asarray([residual[keys == name].sum() for name in names])
    return float(np.sqrt(len(names) / (len(names) - 1) * (sums ** 2).sum()) / len(values))


def fold_group_keys(config: dict[str, Any], ids: Sequence[str]) -> tuple[str, np.ndarray] | None:
    """(grouping column, each id's group) from the training items of the run recipe ``config`` (its
    ``fold_group``, else the profile's ``group_column``, else ``id``); None when the training data cannot be read
    here or an id is not among its items."""
    from kit.train.builders import fold_group_of, fold_items
    from kit.train.config import TrainConfig

    try:
        recipe = TrainConfig.from_dict(config)
        items = fold_items(recipe)[0]
        column = fold_group_of(recipe)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if column not in items or "id" not in items:
        return None
    by_id = dict(zip(items["id"].astype(str), items[column].astype(str)))
    if not all(str(i) in by_id for i in ids):
        return None
    return column, np.asarray([by_id[str(i)] for i in ids])


def oof_uncertainty(config: dict[str, Any], ids: Sequence[str], per_image: Sequence[float]) -> OofUncertainty | None:
    """:class:`OofUncertainty` of OOF images ``ids`` scoring ``per_image`` Dice, grouped as the recipe ``config``
    grouped its folds; None when the groups cannot be read."""
    keys = fold_group_keys(config, ids)
    if keys is None:
        return None
    column, groups = keys
    return OofUncertainty(grouped_standard_error(per_image, groups), len(set(groups)), column)


def describe_oof(score: float | None, uncertainty: dict[str, Any] | None) -> str:
    """An ensemble's OOF Dice with its spread (``EnsembleConfig.oof_score``, ``.oof_uncertainty``), e.g.
    "0.4321 ± 0.069 (standard error over 4 sequence groups)"; "unknown" without a score."""
    if score is None:
        return "unknown"
    return f"{score:.4f}" + ("" if not uncertainty else f" {OofUncertainty(**uncertainty).describe()}")
