"""The study figure: validation Dice by configuration, each fold a dot, the mean a bar, the spread a line."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import pandas as pd

from kit.study.spec import Cell

__all__ = ["fold_scores", "plot_study"]


def fold_scores(out_dir: str | Path, cells: Sequence[Cell]) -> pd.DataFrame:
    """One row per (cell, fold): ``cell``, ``title``, ``fold``, ``val_dice``, read from each cell's runs.csv."""
    from kit.results import read_runs

    rows = []
    for cell in cells:
        runs = read_runs(Path(out_dir) / cell.name / "runs.csv")
        for run in runs.itertuples(index=False):
            rows.append({"cell": cell.name, "title": cell.title, "fold": run.run,
                         "val_dice": pd.to_numeric(run.val_dice, errors="coerce")})
    return pd.DataFrame(rows, columns=["cell", "title", "fold", "val_dice"])


def plot_study(out_dir: str | Path, cells: Sequence[Cell], path: str | Path, title: str = "") -> Path:
    """Save the figure (PNG, atomic) with the cells sorted by mean Dice; returns ``path``."""
    import matplotlib.pyplot as plt

    from kit.fsutil import atomic_path

    scores = fold_scores(out_dir, cells)
    order = scores.groupby("title", sort=False)["val_dice"].agg(["mean", "min", "max"]).sort_values("mean")
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(order) + 1.2))
    ax.barh(range(len(order)), order["mean"], color="#9ecae1", label="mean over folds")
    ax.hlines(range(len(order)), order["min"], order["max"], color="#08519c", label="spread over folds")
    for y, name in enumerate(order.index):
        values = scores.loc[scores["title"] == name, "val_dice"]
        ax.plot(values, [y] * len(values), "o", color="#08519c", markersize=4)
    ax.set_yticks(range(len(order)), order.index)
    ax.set_xlabel("validation Dice (best epoch, per fold)")
    ax.set_xlim(0, 1)
    ax.set_title(title or "study")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)
    return Path(path)
