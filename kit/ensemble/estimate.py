"""How far to trust an OOF score: its standard error over the fold groups of its images.

The OOF images come in groups (video sequences, patients, or single images) whose images resemble each other more
than they resemble a hidden test set. On CVC-ClinicDB one fold held 4 video sequences whose mean Dice ranged from
0.25 to 0.58 (bench/RESULTS.md): its OOF score knows the leaderboard's number only to about ±0.07, however the
threshold is chosen. :func:`grouped_standard_error` is the standard error of the mean per-image Dice with the
images of one group counted together (cluster-robust); :func:`oof_uncertainty` applies it to OOF images grouped
as training recorded them in ``oof.npz`` (the folds' grouping column), for ``build_ensemble``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from kit.artifacts.oof import OofImage

__all__ = ["OofUncertainty", "grouped_standard_error", "oof_uncertainty", "describe_oof"]


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


def oof_uncertainty(images: Sequence[OofImage], per_image: Sequence[float]) -> OofUncertainty | None:
    """:class:`OofUncertainty` of OOF ``images`` scoring ``per_image`` Dice, grouped by the fold group training
    recorded for each image; None when it recorded none (tile entries, files from older kits)."""
    keys = [im.fold_group for im in images]
    if not keys or not all(keys):
        return None
    return OofUncertainty(grouped_standard_error(per_image, keys), len(set(keys)), images[0].fold_column)


def describe_oof(score: float | None, uncertainty: dict[str, Any] | None) -> str:
    """An ensemble's OOF Dice with its spread (``EnsembleConfig.oof_score``, ``.oof_uncertainty``), e.g.
    "0.4321 ± 0.069 (standard error over 4 sequence groups)"; "unknown" without a score."""
    if score is None:
        return "unknown"
    return f"{score:.4f}" + ("" if not uncertainty else f" {OofUncertainty(**uncertainty).describe()}")
