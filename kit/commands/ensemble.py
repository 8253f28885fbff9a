"""``python -m kit ensemble``: weights and thresholds from the runs' OOF predictions -> ensemble.json."""

from __future__ import annotations

import argparse

__all__ = ["HELP", "OPTION_FLAGS", "POSTPROCESS_FLAGS", "WINDOW_FLAGS", "configure", "run"]

HELP = ("build ensemble.json from training run folders: OOF-chosen weights and global + per-organ thresholds, "
        "TTA, post-processing, slim checkpoints in models/ beside it")

#: flag -> build_ensemble option; the defaults come from its signature, which takes the post-processing and window
#: ones from EnsembleConfig and ModelInput (with their help)
OPTION_FLAGS = {"--out": "out", "--tta": "tta", "--step": "step", "--no-per-organ": "per_group", "--window": "window",
                "--tiles": "tiles_dir"}
POSTPROCESS_FLAGS = {"--min-area": "min_area", "--fill-holes": "fill_holes"}  # EnsembleConfig fields
WINDOW_FLAGS = {"--overlap": "overlap", "--margin": "margin", "--blend": "blend"}  # ModelInput fields
_HELPS = {
    "--out": "ensemble.json to write (models/ goes beside it)",
    "--step": "weight resolution of the search",
    "--no-per-organ": "per-organ thresholds when the OOF has organs, else one global threshold",
    "--window": "sliding window side (default: the training side)",
    "--tiles": "tiles folder, if the one the runs name has moved",
}


def configure(parser: argparse.ArgumentParser) -> None:
    """Run folders, output, TTA, search and window options."""
    from kit.commands.flags import add_field_flags
    from kit.ensemble.build import build_ensemble
    from kit.infer.blend import BLEND_WEIGHTS
    from kit.infer.ensemble_config import EnsembleConfig
    from kit.infer.model_input import ModelInput
    from kit.infer.tta import TTA_NAMES
    from kit.options import help_of

    parser.add_argument("--runs", nargs="+", required=True,
                        help="run folders (config.json, best.pt, oof.npz), or folders holding them (a --folds run: "
                             "its fold<k>/ runs, weighed as one member)")
    # the named options: their help lists the names, argparse checks them
    add_field_flags(parser, build_ensemble, OPTION_FLAGS, types={"--tta": TTA_NAMES.parse},
                    helps={**_HELPS, "--tta": f"TTA transforms or presets: {', '.join(TTA_NAMES.names())}"})
    add_field_flags(parser, EnsembleConfig, POSTPROCESS_FLAGS)
    add_field_flags(parser, ModelInput, WINDOW_FLAGS, types={"--blend": BLEND_WEIGHTS.parse},
                    helps={"--blend": f"{help_of(ModelInput, 'blend')}: {', '.join(BLEND_WEIGHTS.names())}"})


def run(args: argparse.Namespace) -> int:
    """Build, write, print the summary."""
    from kit.artifacts.run_folder import find_runs
    from kit.commands.checks import number, output_file
    from kit.commands.flags import field_values
    from kit.ensemble.build import build_ensemble
    from kit.ensemble.estimate import describe_oof

    output_file(args.out)
    number(args.step, "--step", 0, 1, low_inclusive=False)
    number(args.overlap, "--overlap", 0, 0.95)
    number(args.margin, "--margin", 0)
    number(args.min_area, "--min-area", 0)
    number(args.window, "--window", 1)
    run_dirs = [run for folder in args.runs for run in find_runs(folder)]
    build = build_ensemble(run_dirs, **field_values(args, {**OPTION_FLAGS, **POSTPROCESS_FLAGS, **WINDOW_FLAGS}))
    config = build.config
    print(build.runs.to_string(index=False))
    print(f"thresholds {config.thresholds}; TTA {config.tta}; "
          f"OOF Dice {describe_oof(config.oof_score, config.oof_uncertainty)}")
    print(f"wrote {build.path}")
    return 0
