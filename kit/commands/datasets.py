"""``python -m kit datasets build wheels|models|weights`` and ``datasets push NAME``: the datasets kernels attach."""

from __future__ import annotations

import argparse
import sys

__all__ = ["HELP", "configure", "run"]

HELP = "build the offline wheels, models or pretrained-weights dataset, or push one (validated)"


def configure(parser: argparse.ArgumentParser) -> None:
    """``build wheels|models|weights --user U`` and ``push NAME``."""
    sub = parser.add_subparsers(dest="action", required=True)
    build = sub.add_parser("build", help="write build/datasets/<name>/ with dataset-metadata.json")
    build.add_argument("name", choices=["wheels", "models", "weights"])
    build.add_argument("--user", required=True, help="your Kaggle user name")
    build.add_argument("--out", default="build/datasets")
    build.add_argument("--ensemble", default="models/ensemble.json",
                       help="models: the ensemble.json notebook 02 wrote (its checkpoints are packed with it)")
    build.add_argument("--offline", action="store_true",
                       help="wheels: no pip download; repack the installed pure-Python packages the image lacks "
                            "(binary ones are skipped and named)")
    build.add_argument("--encoder", action="append", default=[], metavar="ENCODER[:TAG]",
                       help="weights: an encoder's pretrained weights (tag default imagenet), repeatable: resnet34, "
                            "resnet50:ssl, tu-convnext_small.fb_in22k")
    build.add_argument("--from", dest="from_dir", metavar="DIR",
                       help="weights: take the files from DIR (a weights folder, <encoder>.<tag>.safetensors files "
                            "or a Hugging Face Hub cache) instead of downloading them")
    push = sub.add_parser("push", help="validate, then create or version the dataset with the kaggle CLI")
    push.add_argument("name", choices=["wheels", "models", "weights"])
    push.add_argument("--out", default="build/datasets")
    push.add_argument("--message", default="update")


def _build(args: argparse.Namespace, folder) -> None:
    from kit.kernels import KAGGLE_MISSING_PACKAGES, build_models_dataset, build_weights_dataset, build_wheels_dataset
    from kit.kernels.wheels import repackable

    if args.name == "models":
        build_models_dataset(folder, args.user, args.ensemble)
    elif args.name == "weights":
        if not args.encoder:
            raise ValueError("datasets build weights: name at least one --encoder (e.g. resnet34, resnet50:ssl, "
                             "tu-convnext_small.fb_in22k)")
        build_weights_dataset(folder, args.user, args.encoder, args.from_dir)
    else:
        repack, skipped = repackable(KAGGLE_MISSING_PACKAGES) if args.offline else ([], {})
        for name, reason in skipped.items():
            print(f"skipped {name}: {reason}")
        build_wheels_dataset(folder, args.user, download=not args.offline, repack=repack)
    files = sorted(p.name for p in folder.iterdir() if p.is_file())
    print(f"built {folder}: {len(files)} files ({', '.join(files[:8])}{', ...' if len(files) > 8 else ''})")


def run(args: argparse.Namespace) -> int:
    """Build or push; a failing pip or kaggle CLI call prints its message and returns 1."""
    from pathlib import Path

    from kit.commands.checks import output_folder
    from kit.kernels import push_dataset

    folder = Path(args.out) / args.name
    if args.action == "build":
        output_folder(folder)
    try:
        if args.action == "push":
            print(push_dataset(folder, args.message))
        else:
            _build(args, folder)
    except RuntimeError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0
