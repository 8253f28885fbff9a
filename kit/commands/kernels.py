"""``python -m kit kernels build|push``: kernel folders for Kaggle and a checked push."""

from __future__ import annotations

import argparse

__all__ = ["HELP", "configure", "run"]

HELP = "build Kaggle kernel folders from kernels/*.json, or push one (validated, fails on invalid sources)"


def configure(parser: argparse.ArgumentParser) -> None:
    """``build --user U [--competition SLUG] [--out DIR] [NAME...]`` and ``push NAME [--out DIR]``."""
    sub = parser.add_subparsers(dest="action", required=True)
    build = sub.add_parser("build", help="write build/kernels/<name>/ (kernel-metadata.json + notebook)")
    build.add_argument("--user", required=True, help="your Kaggle user name (owner of kernels and datasets)")
    build.add_argument("--competition", help="competition slug attached as a source and set as COMPETITION")
    build.add_argument("--out", default="build/kernels")
    build.add_argument("names", nargs="*", help="only these kernels (default: all)")
    push = sub.add_parser("push", help="validate then `kaggle kernels push`; prints the version")
    push.add_argument("name", help="kernel name, e.g. 03-inference")
    push.add_argument("--out", default="build/kernels")


def run(args: argparse.Namespace) -> int:
    """Build or push."""
    from pathlib import Path

    from kit.kernels import build_kernel_folders, load_kernel_settings, push_kernel

    if args.action == "build":
        for folder in build_kernel_folders(args.user, args.competition, args.out, names=args.names or None):
            print(f"built {folder}")
        return 0
    settings = load_kernel_settings()
    if args.name not in settings:
        raise KeyError(f"unknown kernel {args.name!r}; valid: {', '.join(settings)}")
    version = push_kernel(Path(args.out) / args.name, submission=settings[args.name].submission)
    print(f"pushed {args.name}: version {version}")
    return 0
