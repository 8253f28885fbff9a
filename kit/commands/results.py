"""``python -m kit results``: print the runs log as a markdown results table."""

from __future__ import annotations

import argparse

__all__ = ["HELP", "configure", "run"]

HELP = "print the runs log (runs.csv) as a markdown table: architecture, loss, size, val Dice, notes"


def configure(parser: argparse.ArgumentParser) -> None:
    """``--runs`` file and optional ``--sort`` column."""
    parser.add_argument("--runs", default="runs/runs.csv", help="runs log written by training (default runs/runs.csv)")
    parser.add_argument("--sort", default=None, help="column to sort by, descending (e.g. val_dice)")


def run(args: argparse.Namespace) -> int:
    """Print the table."""
    from pathlib import Path

    from kit.results import results_table

    if not Path(args.runs).is_file():
        raise FileNotFoundError(f"runs log {args.runs} not found: training writes runs.csv beside each run folder")
    print(results_table(args.runs, sort_by=args.sort))
    return 0
