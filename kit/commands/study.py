"""``python -m kit study``: run a grid of training configurations under a wall-clock budget; reruns continue."""

from __future__ import annotations

import argparse

__all__ = ["HELP", "configure", "run"]

HELP = ("run a study file (recipe × grid of architectures, losses, sizes ...) over its folds within a time budget; "
        "finished cells are skipped, an interrupted one resumes; writes runs.csv, results.md, study.png")


def configure(parser: argparse.ArgumentParser) -> None:
    """Study file, output folder, data and budget options."""
    from kit.commands.flags import add_field_flags
    from kit.study import run_study

    parser.add_argument("study", help="study file or shipped study name (kit/recipes/studies/)")
    parser.add_argument("--out", required=True, help="study folder (one sub-folder per cell)")
    parser.add_argument("--tiles", default=None, help="tiles folder (tile-trained recipes)")
    parser.add_argument("--data", default=None, help="competition data folder (whole-image recipes, fold groups)")
    add_field_flags(parser, run_study, {"--budget-hours": "budget_hours", "--max-cells": "max_cells",
                                        "--smoke": "smoke"},
                    helps={"--budget-hours": "wall-clock budget (default: the study's)",
                           "--max-cells": "stop after training this many cells",
                           "--smoke": "CI sizes for every cell (loss and augmentation kept)"})
    parser.add_argument("--list", action="store_true", help="print the cells and exit")


def run(args: argparse.Namespace) -> int:
    """List or run the study; print where the table and figure are."""
    from kit.study import load_study, run_study

    study = load_study(args.study)
    if args.list:
        for cell in study.cells():
            print(f"{cell.name}: {cell.values}")
        return 0
    if args.tiles is None and args.data is None:
        raise ValueError("study needs --tiles (tile-trained recipes) or --data (whole images)")
    result = run_study(study, args.out, tiles_dir=args.tiles, data_dir=args.data, smoke=args.smoke,
                       budget_hours=args.budget_hours, max_cells=args.max_cells)
    print(f"{len(result.finished)} of {len(study.cells())} cells finished; table {result.table}, "
          f"figure {result.figure}")
    return 0
