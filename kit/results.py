"""The runs log (one row per training run) and its markdown results table."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from kit.fsutil import atomic_path, locked

__all__ = ["RESULT_COLUMNS", "append_run", "read_runs", "results_table"]

RESULT_COLUMNS = (
    "run", "architecture", "encoder", "loss", "image_size", "augmentation", "epochs", "val_dice", "val_iou", "notes",
    "val_dice_per_class", "val_tile_dice",
)
_OPTIONAL = ("val_dice_per_class", "val_tile_dice")  # added later: older runs.csv files lack them


def append_run(runs_csv: str | Path, row: Mapping[str, Any]) -> None:
    """Add one run to ``runs_csv`` (created with a header if missing); a row for the same ``run`` is replaced.

    Safe across processes (a lock file beside it)."""
    unknown = sorted(set(row) - set(RESULT_COLUMNS))
    if unknown:
        raise KeyError(f"unknown result columns {unknown}; valid: {', '.join(RESULT_COLUMNS)}")
    with locked(runs_csv):  # runs of parallel processes (one fold per GPU) may share one runs log
        runs = read_runs(runs_csv)
        runs = runs[runs["run"].astype(str) != str(row.get("run", ""))]
        runs = pd.concat([runs, pd.DataFrame([{c: row.get(c, "") for c in RESULT_COLUMNS}])], ignore_index=True)
        with atomic_path(runs_csv, suffix=".csv") as tmp:
            runs.to_csv(tmp, index=False, quoting=csv.QUOTE_MINIMAL)


def read_runs(runs_csv: str | Path) -> pd.DataFrame:
    """The runs log as a table (empty with the standard columns if the file does not exist yet)."""
    path = Path(runs_csv)
    if not path.exists():
        return pd.DataFrame(columns=list(RESULT_COLUMNS))
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    for column in _OPTIONAL:
        if column not in table.columns:
            table[column] = ""
    missing = [c for c in RESULT_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{path} lacks columns {missing}; expected {', '.join(RESULT_COLUMNS)}")
    return table[list(RESULT_COLUMNS)]


def _fmt(value: str, digits: int = 3) -> str:
    try:
        return f"{float(value):.{digits}f}"
    except ValueError:
        return value or "-"


def results_table(runs_csv: str | Path, sort_by: str | None = None) -> str:
    """A markdown table like the NeoPolyp write-up's: Architecture | Loss | Image size | ... | Val Dice | Notes.

    Val Dice is the competition metric on whole held-out images; "per class" shows each class's Dice beside it
    (a class absent from the validation images scores 1 everywhere and lifts the mean)."""
    runs = read_runs(runs_csv)
    if sort_by:
        runs = runs.sort_values(sort_by, ascending=False, key=lambda s: pd.to_numeric(s, errors="coerce"))
    header = ("Architecture | Encoder | Loss | Image size | Augmentation | Epochs | Val Dice | per class | Val IoU | "
              "Notes")
    lines = [header, "--- | --- | --- | --- | --- | :---: | :---: | --- | :---: | ---"]
    for r in runs.itertuples(index=False):
        lines.append(
            f"{r.architecture} | {r.encoder or '-'} | {r.loss} | {r.image_size} | {r.augmentation} | {r.epochs} | "
            f"{_fmt(r.val_dice)} | {r.val_dice_per_class or '-'} | {_fmt(r.val_iou)} | {r.notes}"
        )
    return "\n".join(lines)
