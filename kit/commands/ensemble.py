"""``python -m kit ensemble``: weights and thresholds from the runs' OOF predictions -> ensemble.json."""

from __future__ import annotations

import argparse

__all__ = ["HELP", "OPTION_FLAGS", "configure", "run"]

HELP = ("build ensemble.json from training run folders: OOF-chosen weights and global + per-organ thresholds, "
        "TTA, post-processing, slim checkpoints in models/ beside it")

#: flag -> build_ensemble option (default and type from its signature), with the flag's help
OPTION_FLAGS = {"--out": "out", "--tta": "tta", "--step": "step", "--no-per-organ": "per_group",
                "--min-area": "min_area", "--fill-holes": "fill_holes", "--window": "window", "--overlap": "overlap",
                "--margin": "margin", "--blend": "blend", "--tiles": "tiles_dir"}
_HELPS = {
    "--out": "ensemble.json to write (models/ goes beside it)",
    "--tta": "TTA transforms or presets: identity hflip vflip rot90 ... | flips | d4 | none",
    "--step": "weight resolution of the search",
    "--no-per-organ": "per-organ thresholds when the OOF has organs, else one global threshold",
    "--min-area": "drop predicted components below this many pixels",
    "--fill-holes": "fill holes inside predicted components",
    "--window": "sliding window side (default: the training side)",
    "--overlap": "window overlap fraction",
    "--margin": "context pixels per window side that are dropped",
    "--blend": "window blending: constant, gaussian, pyramid",
    "--tiles": "tiles folder, if the one the runs name has moved",
}


def configure(parser: argparse.ArgumentParser) -> None:
    """Run folders, output, TTA, search and window options."""
    from kit.commands.flags import add_field_flags
    from kit.ensemble.build import build_ensemble

    parser.add_argument("--runs", nargs="+", required=True,
                        help="run folders (config.json, best.pt, oof.npz), or folders holding them (a --folds run: "
                             "its fold<k>/ runs, weighed as one member)")
    add_field_flags(parser, build_ensemble, OPTION_FLAGS, helps=_HELPS)


def run(args: argparse.Namespace) -> int:
    """Build, write, print the summary."""
    from kit.artifacts.run_folder import find_runs
    from kit.commands.checks import number, output_file
    from kit.commands.flags import field_values
    from kit.ensemble.build import build_ensemble

    output_file(args.out)
    number(args.step, "--step", 0, 1, low_inclusive=False)
    number(args.overlap, "--overlap", 0, 0.95)
    number(args.margin, "--margin", 0)
    number(args.min_area, "--min-area", 0)
    number(args.window, "--window", 1)
    run_dirs = [run for folder in args.runs for run in find_runs(folder)]
    build = build_ensemble(run_dirs, **field_values(args, OPTION_FLAGS))
    config = build.config
    print(build.runs.to_string(index=False))
    print(f"thresholds {config.thresholds}; TTA {config.tta}; OOF Dice {config.oof_score}")
    print(f"wrote {build.path}")
    return 0
