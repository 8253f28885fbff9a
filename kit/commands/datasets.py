"""``python -m kit datasets build wheels|models`` and ``datasets push NAME``: the datasets kernels attach."""

from __future__ import annotations

import argparse

__all__ = ["HELP", "configure", "run"]

HELP = "build the offline wheels dataset or the models dataset, or push one (validated)"


def configure(parser: argparse.ArgumentParser) -> None:
    """``build wheels|models --user U`` and ``push NAME``."""
    sub = parser.add_subparsers(dest="action", required=True)
    build = sub.add_parser("build", help="write build/datasets/<name>/ with dataset-metadata.json")
    build.add_argument("name", choices=["wheels", "models"])
    build.add_argument("--user", required=True, help="your Kaggle user name")
    build.add_argument("--out", default="build/datasets")
    build.add_argument("--ensemble", default="runs/ensemble.json", help="models: the ensemble.json of notebook 02")
    build.add_argument("--no-download", action="store_true",
                       help="wheels: only the kit wheel (no pip download of the packages the Kaggle image lacks)")
    push = sub.add_parser("push", help="validate, then create or version the dataset with the kaggle CLI")
    push.add_argument("name", choices=["wheels", "models"])
    push.add_argument("--out", default="build/datasets")
    push.add_argument("--message", default="update")


def run(args: argparse.Namespace) -> int:
    """Build or push."""
    from pathlib import Path

    from kit.kernels import build_models_dataset, build_wheels_dataset, push_dataset

    folder = Path(args.out) / args.name
    if args.action == "push":
        print(push_dataset(folder, args.message))
        return 0
    if args.name == "wheels":
        build_wheels_dataset(folder, args.user, download=not args.no_download)
    else:
        build_models_dataset(folder, args.user, args.ensemble)
    files = sorted(p.name for p in folder.rglob("*") if p.is_file())
    print(f"built {folder}: {len(files)} files ({', '.join(files[:8])}{', ...' if len(files) > 8 else ''})")
    return 0
