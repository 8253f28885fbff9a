"""Run a study: every cell of the grid trains its folds under one wall-clock budget; reruns continue.

Layout under ``out``: ``<cell>/fold<k>/`` run folders, ``<cell>/runs.csv`` (one row per fold), ``<cell>/oof.npz``
(every fold pooled), then ``runs.csv`` (one row per finished cell), ``results.md`` and ``study.png``. A finished
cell (every fold has its summary) is skipped; an interrupted one resumes at its unfinished fold's ``last.pt``.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from kit.study.spec import Cell, Study, load_study

__all__ = ["StudyRun", "cell_config", "run_study"]


@dataclass
class StudyRun:
    """What one call of :func:`run_study` did."""

    out_dir: Path
    finished: list[str] = field(default_factory=list)  # every finished cell, including earlier calls'
    trained: list[str] = field(default_factory=list)  # cells this call trained (wholly or in part)
    stopped: str = ""  # "" (all done), "budget" or "max_cells"
    table: Path | None = None
    figure: Path | None = None


def cell_config(study: Study, cell: Cell, out_dir: str | Path, tiles_dir: str | None = None,
                data_dir: str | None = None, smoke: bool = False):
    """The TrainConfig of one cell: the study's recipe < its ``base`` < the cell's values < the data folders."""
    from kit.recipes import load_recipe

    recipe = load_recipe(study.recipe, study.competition)
    config = recipe.train_config(**study.base, **cell.values, out_dir=str(Path(out_dir) / cell.name),
                                 tiles_dir=tiles_dir, data_dir=data_dir)
    if smoke:  # CI sizes, but the cell's loss, augmentation and (smp) architecture choices stay visible
        config = config.smoke().replace(loss=config.loss, augment=config.augment, epochs=min(config.epochs, 2))
    return config


def _cell_row(cell: Cell, config, summaries: dict[int, dict[str, Any]], oof_path: Path) -> dict[str, Any]:
    from kit.train import oof_scores

    dice = [s["best_dice"] for s in summaries.values()]
    spread = f" ± {statistics.stdev(dice):.3f}" if len(dice) > 1 else ""
    folds = ",".join(map(str, summaries))
    oof = ""
    if oof_path.is_file():
        oof = f"; pooled OOF Dice {oof_scores(oof_path, config.threshold).loc['all', 'dice']:.3f}"
    size = "x".join(map(str, config.image_size)) if config.image_size else "native"
    return {"run": cell.name, "architecture": config.arch, "encoder": config.encoder or "", "loss": config.loss,
            "image_size": size, "augmentation": config.augment,
            "epochs": max(s["epochs"] for s in summaries.values()), "val_dice": statistics.fmean(dice),
            "val_iou": "", "notes": f"{cell.title}; folds {folds}: mean {statistics.fmean(dice):.3f}{spread}{oof}"}


def run_study(
    study: Study | str | Path, out_dir: str | Path, tiles_dir: str | None = None, data_dir: str | None = None,
    smoke: bool = False, budget_hours: float | None = None, max_cells: int | None = None,
    log: Callable[[str], None] = print,
) -> StudyRun:
    """Train the cells of ``study`` in ``out_dir`` within ``budget_hours`` (default: the study's; None: no
    limit) and write the runs log, the results table and the figure.

    ``max_cells`` stops after that many cells were worked on in this call (a session that ends on purpose).
    """
    from kit.artifacts.oof import OOF_FILE
    from kit.results import append_run, results_table
    from kit.study.report import plot_study
    from kit.fsutil import atomic_write_text
    from kit.train.folds import fold_dir, fold_summary, parse_folds, train_folds

    study = study if isinstance(study, Study) else load_study(study)
    out = Path(out_dir)
    hours = budget_hours if budget_hours is not None else study.budget_hours
    deadline = time.time() + hours * 3600 if hours else None
    result = StudyRun(out)
    runs_csv = out / "runs.csv"
    for cell in study.cells():
        config = cell_config(study, cell, out, tiles_dir, data_dir, smoke)
        folds = parse_folds(study.folds, config.n_folds)
        if any(fold_summary(fold_dir(config.out_dir, k)) is None for k in folds):
            if max_cells is not None and len(result.trained) >= max_cells:
                result.stopped = "max_cells"
                break
            if deadline is not None and time.time() >= deadline:
                result.stopped = "budget"
                break
            result.trained.append(cell.name)
        log(f"cell {cell.name}: {cell.title}")
        summaries = train_folds(config, folds, deadline=deadline, log=lambda text: log(f"  {text}"))
        if any(s is None for s in summaries.values()):
            result.stopped = "budget"
            break
        append_run(runs_csv, _cell_row(cell, config, summaries, Path(config.out_dir) / OOF_FILE))
        result.finished.append(cell.name)
    if result.stopped:
        log(f"study stopped ({result.stopped}); rerun the same command to continue")
    if runs_csv.is_file():
        result.table = out / "results.md"
        atomic_write_text(result.table, results_table(runs_csv, sort_by="val_dice") + "\n")
        result.figure = plot_study(out, [c for c in study.cells() if c.name in result.finished],
                                   out / "study.png", title=study.name)
    return result

