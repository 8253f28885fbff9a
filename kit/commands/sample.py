"""``python -m kit sample``: write a synthetic dataset in a competition's exact layout."""

from __future__ import annotations

import argparse

__all__ = ["HELP", "configure", "run", "parse_size"]

HELP = "write a synthetic dataset in a competition's layout (train, test, sample_submission, hidden labels)"


def parse_size(text: str) -> int | tuple[int, int]:
    """``"512"`` -> 512, ``"2048x3072"`` -> (2048, 3072) (height x width)."""
    parts = text.lower().split("x")
    if len(parts) not in (1, 2) or not all(p.strip().isdigit() for p in parts):
        raise argparse.ArgumentTypeError(f"size must be N or HxW in pixels (e.g. 512 or 2048x3072), got {text!r}")
    sides = tuple(int(p) for p in parts)
    return sides[0] if len(sides) == 1 else sides


def configure(parser: argparse.ArgumentParser) -> None:
    """``--competition --out [--n --size --seed]``."""
    from kit.commands.flags import add_field_flags
    from kit.competitions import PROFILES
    from kit.sample import make_sample

    parser.add_argument("--competition", required=True, type=PROFILES.parse, choices=PROFILES)
    parser.add_argument("--out", required=True, help="folder to write the dataset into (empty, or a previous sample)")
    add_field_flags(parser, make_sample, {"--n": "n", "--size": "size", "--seed": "seed"}, types={"--size": parse_size},
                    helps={"--n": "number of images, train + test (default per competition)",
                           "--size": "image side / longer side in pixels, or HxW for 2021 slides (default "
                                     "per competition)",
                           "--seed": "same seed, same files"})


def run(args: argparse.Namespace) -> int:
    """Write the sample and print its summary."""
    from kit.commands.checks import output_folder
    from kit.sample import make_sample

    output_folder(args.out)
    print(make_sample(args.competition, args.out, n=args.n, size=args.size, seed=args.seed))
    return 0
