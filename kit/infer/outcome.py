"""A finished prediction run's report (:class:`PredictionReport`, one :class:`ImageResult` per test image), and
whether the run failed as a whole although its submission file is valid.

A run where every test image failed, or where every prediction is empty although the ensemble's OOF predictions
rarely were (``oof_nonempty`` in ensemble.json), leaves a valid file that is certainly garbage:
:func:`check_outcome` raises :class:`PredictionFailed` with the reasons (the fallback file stays in place).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from kit.infer.ensemble_config import EnsembleConfig

__all__ = ["ImageResult", "PredictionReport", "PredictionFailed", "check_outcome"]


@dataclass
class ImageResult:
    """What happened to one test image (a row of :meth:`PredictionReport.table`)."""

    image_id: str
    status: str  # "predicted", "budget" (not reached: empty fallback rows), "error" (skipped: fallback rows)
    height: int | None = None
    width: int | None = None
    organ: str | None = None
    data_source: str | None = None
    threshold: float | None = None
    foreground: float | None = None  # predicted share of the image's pixels (all classes)
    seconds: float = 0.0
    error: str = ""


@dataclass
class PredictionReport:
    """The submission written, one :class:`ImageResult` per test image, and the run's timing."""

    submission: Path
    competition: str
    data_dir: Path | None = None  # the competition folder found
    results: list[ImageResult] = field(default_factory=list)
    seconds: float = 0.0
    budget_seconds: float | None = None
    note: str = ""  # where the submission ids came from when not from sample_submission.csv

    @property
    def predicted(self) -> int:
        """Images with predicted rows."""
        return sum(r.status == "predicted" for r in self.results)

    @property
    def failed(self) -> list[ImageResult]:
        """Images that failed (they keep their empty fallback rows), each with its error."""
        return [r for r in self.results if r.status == "error"]

    def table(self) -> pd.DataFrame:
        """One row per test image."""
        return pd.DataFrame([asdict(r) for r in self.results])

    def __str__(self) -> str:
        counts = self.table()["status"].value_counts().to_dict() if self.results else {}
        budget = "" if self.budget_seconds is None else f" of a {self.budget_seconds:.0f} s budget"
        parts = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "no images"
        failures = "".join(f"\n  failed {r.image_id}: {r.error}" for r in self.failed)
        note = f" ({self.note})" if self.note else ""
        return (f"{self.submission}: {len(self.results)} test images ({parts}) in {self.seconds:.1f} s{budget}; "
                f"validated{note}{failures}")


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
