"""``python -m kit ensemble``: weights and thresholds from the runs' OOF predictions -> ensemble.json."""

from __future__ import annotations

import argparse

__all__ = ["HELP", "configure", "run"]

HELP = ("build ensemble.json from training run folders: OOF-chosen weights and global + per-organ thresholds, "
        "TTA, post-processing, slim checkpoints in models/ beside it")


def configure(parser: argparse.ArgumentParser) -> None:
    """Run folders, output, TTA, search and window options."""
    parser.add_argument("--runs", nargs="+", required=True,
                        help="run folders (config.json, best.pt, oof.npz), or folders holding them (a --folds run: "
                             "its fold<k>/ runs, weighed as one member)")
    parser.add_argument("--out", default="ensemble.json", help="ensemble.json to write (models/ goes beside it)")
    parser.add_argument("--tta", nargs="+", default=["identity", "hflip", "vflip"],
                        help="TTA transforms or presets: identity hflip vflip rot90 ... | flips | d4 | none "
                             "(default: identity hflip vflip)")
    parser.add_argument("--step", type=float, default=0.1, help="weight resolution of the search (0.1)")
    parser.add_argument("--no-per-organ", dest="per_group", action="store_false",
                        help="one global threshold only (default: per organ when the OOF has organs)")
    parser.add_argument("--min-area", type=int, default=0, help="drop predicted components below this many pixels")
    parser.add_argument("--fill-holes", action="store_true", help="fill holes inside predicted components")
    parser.add_argument("--window", type=int, default=None, help="sliding window side (default: the training side)")
    parser.add_argument("--overlap", type=float, default=0.25, help="window overlap fraction")
    parser.add_argument("--margin", type=int, default=0, help="context pixels per window side that are dropped")
    parser.add_argument("--blend", default="gaussian", help="window blending: constant, gaussian, pyramid")
    parser.add_argument("--tiles", default=None, help="tiles folder, if the one the runs name has moved")


def run(args: argparse.Namespace) -> int:
    """Build, write, print the summary."""
    from kit.artifacts.run_folder import find_runs
    from kit.commands.checks import number, output_file
    from kit.ensemble.build import build_ensemble

    output_file(args.out)
    number(args.step, "--step", 0, 1, low_inclusive=False)
    number(args.overlap, "--overlap", 0, 0.95)
    number(args.margin, "--margin", 0)
    number(args.min_area, "--min-area", 0)
    number(args.window, "--window", 1)
    run_dirs = [run for folder in args.runs for run in find_runs(folder)]
    build = build_ensemble(run_dirs, args.out, tta=args.tta, step=args.step, per_group=args.per_group,
                           min_area=args.min_area, fill_holes=args.fill_holes, window=args.window,
                           overlap=args.overlap, margin=args.margin, blend=args.blend, tiles_dir=args.tiles)
    config = build.config
    print(build.runs.to_string(index=False))
    print(f"thresholds {config.thresholds}; TTA {config.tta}; OOF Dice {config.oof_score}")
    print(f"wrote {build.path}")
    return 0
