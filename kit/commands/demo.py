"""``python -m kit demo``: synthetic sample → notebooks 00 → 03 on CPU → hold-out score (what ``make demo`` runs)."""

from __future__ import annotations

import argparse

__all__ = ["HELP", "configure", "run"]

HELP = "run the four notebooks end to end on a synthetic sample and print tiles, training, OOF and hold-out scores"


def configure(parser: argparse.ArgumentParser) -> None:
    """``[--competition] [--out] [--smoke] [--fresh] [--seed]``."""
    from kit.competitions import DEFAULT_COMPETITION, PROFILES

    parser.add_argument("--competition", default=DEFAULT_COMPETITION, type=PROFILES.parse, choices=PROFILES,
                        help=f"which competition's sample and recipe (default: {DEFAULT_COMPETITION})")
    parser.add_argument("--out", default=None, help="run folder (default runs/demo/<competition>)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks the chain in about a minute")
    parser.add_argument("--fresh", action="store_true", help="delete the run folder first instead of resuming")
    parser.add_argument("--seed", type=int, default=0, help="sample and training seed")


def run(args: argparse.Namespace) -> int:
    """Run the demo and print its summary."""
    from kit.commands.checks import output_folder
    from kit.demo import run_demo

    if args.out is not None:
        output_folder(args.out)

    summary = run_demo(args.competition, args.out, smoke=args.smoke, fresh=args.fresh, seed=args.seed)
    print(summary)
    return 0
