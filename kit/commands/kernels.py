"""``python -m kit kernels build|push|sync-notebooks``: kernel folders for Kaggle, a checked push, and the
bootstrap cell written into the committed notebooks."""

from __future__ import annotations

import argparse
import sys

__all__ = ["HELP", "configure", "run"]

HELP = ("build Kaggle kernel folders from kernels/*.json, push one (validated, fails on invalid sources), "
        "or refresh the notebooks' bootstrap cell")


def configure(parser: argparse.ArgumentParser) -> None:
    """``build --user U [--competition SLUG] [--out DIR] [NAME...]``, ``push NAME [--out DIR]`` and
    ``sync-notebooks [--check] [NOTEBOOK...]``."""
    sub = parser.add_subparsers(dest="action", required=True)
    build = sub.add_parser("build", help="write build/kernels/<name>/ (kernel-metadata.json + notebook)")
    build.add_argument("--user", required=True, help="your Kaggle user name (owner of kernels and datasets)")
    build.add_argument("--competition", help="competition slug attached as a source and set as COMPETITION")
    build.add_argument("--out", default="build/kernels")
    build.add_argument("names", nargs="*", help="only these kernels (default: all)")
    push = sub.add_parser("push", help="validate then `kaggle kernels push`; prints the version")
    push.add_argument("name", help="kernel name, e.g. 03-inference")
    push.add_argument("--out", default="build/kernels")
    sync = sub.add_parser("sync-notebooks", help="write the canonical bootstrap cell before each parameters cell")
    sync.add_argument("--check", action="store_true", help="change nothing; exit 1 if a notebook is stale")
    sync.add_argument("notebooks", nargs="*", help="notebook files (default: notebooks/*.ipynb)")


def _sync(args: argparse.Namespace) -> int:
    from kit.kernels import sync_notebooks

    changed = sync_notebooks(args.notebooks or None, check=args.check)
    for path in changed:
        print(f"{'stale' if args.check else 'synced'} {path}")
    if not changed:
        print("bootstrap cells up to date")
    return 1 if args.check and changed else 0


def run(args: argparse.Namespace) -> int:
    """Build, push or sync; a failing kaggle CLI call prints its message and returns 1."""
    from pathlib import Path

    from kit.commands.checks import output_folder
    from kit.kernels import build_kernel_folders, load_kernel_settings, push_kernel

    if args.action == "sync-notebooks":
        return _sync(args)
    if args.action == "build":
        output_folder(args.out)
        for folder in build_kernel_folders(args.user, args.competition, args.out, names=args.names or None):
            print(f"built {folder}")
        return 0
    settings = load_kernel_settings()
    if args.name not in settings:
        raise KeyError(f"unknown kernel {args.name!r}; valid: {', '.join(settings)}")
    try:
        version = push_kernel(Path(args.out) / args.name, submission=settings[args.name].submission)
    except RuntimeError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"pushed {args.name}: version {version}")
    if settings[args.name].submission:
        print(f"once it has run: kaggle competitions submit <competition> -k <user>/{settings[args.name].slug} "
              f"-v {version} -m 'message'")
    return 0
