"""Whether a finished prediction run failed as a whole although its submission file is valid.

A run where every test image failed, or where every prediction is empty although the ensemble's OOF predictions
rarely were (``oof_nonempty`` in ensemble.json), leaves a valid file that is certainly garbage:
:func:`check_outcome` raises :class:`PredictionFailed` with the reasons (the fallback file stays in place).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kit.infer.ensemble import EnsembleConfig
    from kit.infer.runner import PredictionReport

__all__ = ["PredictionFailed", "check_outcome"]


class PredictionFailed(ValueError):
    """The submission was written and is valid, but the run failed as a whole (``report`` says how)."""

    def __init__(self, message: str, report: PredictionReport) -> None:
        super().__init__(message)
        self.report = report


def check_outcome(report: PredictionReport, config: EnsembleConfig) -> None:
    """Raise :class:`PredictionFailed` when every image failed, or every prediction is empty although the OOF
    predictions of this ensemble rarely were (a chance below 5 %): a valid file that is certainly garbage."""
    results = report.results
    errors = [r for r in results if r.status == "error"]
    if results and len(errors) == len(results):
        reasons = "; ".join(f"{r.image_id}: {' '.join(r.error.split())[:200]}" for r in errors[:3])
        raise PredictionFailed(f"every test image failed ({len(errors)}), {report.submission} holds only the empty "
                               f"fallback rows: {reasons}", report)
    predicted = [r for r in results if r.status == "predicted"]
    share = config.oof_nonempty
    if predicted and share and all(not r.foreground for r in predicted) and (1 - share) ** len(predicted) < 0.05:
        raise PredictionFailed(
            f"all {len(predicted)} predicted test images are empty while {share:.0%} of the ensemble's OOF "
            f"predictions were not: the models output nothing (NaN weights, wrong scale or normalisation?); "
            f"{report.submission} is valid but empty", report)
