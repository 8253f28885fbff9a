"""``python -m kit demo``: synthetic sample → notebooks 00 → 03 on CPU → hold-out score (what ``make demo`` runs)."""

from __future__ import annotations

import argparse

__all__ = ["HELP", "configure", "run"]

HELP = "run the four notebooks end to end on a synthetic sample and print tiles, training, OOF and hold-out scores"


def configure(parser: argparse.ArgumentParser) -> None:
    """``[--competition] [--out] [--smoke] [--fresh] [--seed]``."""
    from kit.commands.flags import add_field_flags, flag_arguments
    from kit.competitions import PROFILES
    from kit.demo import run_demo

    parser.add_argument("--competition", choices=PROFILES, **flag_arguments(
        run_demo, "competition", type=PROFILES.parse, help="which competition's sample and recipe"))
    parser.add_argument("--out", default=None, help="run folder (default runs/demo/<competition>)")
    add_field_flags(parser, run_demo, {"--smoke": "smoke", "--fresh": "fresh", "--seed": "seed"},
                    helps={"--smoke": "tiny sizes: checks the chain in about a minute",
                           "--fresh": "delete the run folder first instead of resuming",
                           "--seed": "sample and training seed"})


def run(args: argparse.Namespace) -> int:
    """Run the demo and print its summary."""
    from kit.commands.checks import output_folder
    from kit.demo import run_demo

    if args.out is not None:
        output_folder(args.out)

    summary = run_demo(args.competition, args.out, smoke=args.smoke, fresh=args.fresh, seed=args.seed)
    print(summary)
    return 0
