"""``python -m kit sample``: write a synthetic dataset in a competition's exact layout."""

from __future__ import annotations

import argparse

__all__ = ["HELP", "configure", "run"]

HELP = "write a synthetic dataset in a competition's layout (train, test, sample_submission, hidden labels)"


def configure(parser: argparse.ArgumentParser) -> None:
    """``--competition --out [--n --size --seed]``."""
    from kit.competitions import list_competitions

    parser.add_argument("--competition", required=True, choices=list_competitions())
    parser.add_argument("--out", required=True, help="folder to write the dataset into")
    parser.add_argument("--n", type=int, default=None, help="number of images (train + test)")
    parser.add_argument("--size", type=int, default=None, help="image side / longer side in pixels")
    parser.add_argument("--seed", type=int, default=0)


def run(args: argparse.Namespace) -> int:
    """Write the sample and print its summary."""
    from kit.sample import make_sample

    print(make_sample(args.competition, args.out, n=args.n, size=args.size, seed=args.seed))
    return 0
