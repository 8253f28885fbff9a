"""``python -m kit kernels build|rehearse|push|sync-notebooks``: kernel folders for Kaggle, a rehearsal of the
chain as Kaggle runs it, a checked push, and the bootstrap cell written into the committed notebooks."""

from __future__ import annotations

import argparse
import sys

__all__ = ["HELP", "configure", "parse_overrides", "run"]

HELP = ("build Kaggle kernel folders from kernels/*.json, rehearse the 00 -> 03 chain as Kaggle runs it, push one "
        "(validated, fails on invalid sources), or refresh the notebooks' bootstrap cell")


def configure(parser: argparse.ArgumentParser) -> None:
    """``build --user U [--competition SLUG] [--set NAME=VALUE] [--out DIR] [NAME...]``, ``rehearse
    [--competition SLUG] [--data DIR] [--layout new|legacy] [--full] ...``, ``push NAME [--out DIR]`` and
    ``sync-notebooks [--check] [NOTEBOOK...]``."""
    from kit.kernels.rehearse import LAYOUTS

    sub = parser.add_subparsers(dest="action", required=True)
    build = sub.add_parser("build", help="write build/kernels/<name>/ (kernel-metadata.json + notebook)")
    build.add_argument("--user", required=True, help="your Kaggle user name (owner of kernels and datasets)")
    build.add_argument("--competition", help="competition slug attached as a source and set as COMPETITION "
                                             "(default: the notebooks' default, printed)")
    build.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", dest="overrides",
                       help="inject a notebook parameter (Python literal) into every kernel that has it, e.g. "
                            "--set BUDGET_MINUTES=400 or --set SKIP_ERRORS=False (repeatable)")
    build.add_argument("--out", default="build/kernels")
    build.add_argument("names", nargs="*", help="only these kernels (default: all)")
    push = sub.add_parser("push", help="validate then `kaggle kernels push`; prints the version")
    push.add_argument("name", help="kernel name, e.g. 03-inference")
    push.add_argument("--out", default="build/kernels")
    rehearse = sub.add_parser("rehearse", help="build the kernels and datasets, then run 00 -> 03 as Kaggle would "
                                               "(offline sandbox, declared mounts only, a hidden rerun); step 0")
    rehearse.add_argument("--competition", help="competition slug (default: the notebooks' default, printed)")
    rehearse.add_argument("--data", help="the competition folder (default: a synthetic sample in its layout)")
    rehearse.add_argument("--wheels", help="a wheels dataset folder (default: kit + the missing packages repacked "
                                           "from this environment, offline)")
    rehearse.add_argument("--weights", help="a pretrained weights dataset folder (datasets build weights; default: "
                                            "an empty one, nothing is downloaded)")
    rehearse.add_argument("--layout", type=LAYOUTS.parse, choices=LAYOUTS, default="new",
                          help="Kaggle's /kaggle/input layout")
    rehearse.add_argument("--full", action="store_true", help="run the kernels as built (default: smoke settings, "
                                                              "a tiny model for 1 epoch)")
    rehearse.add_argument("--python", help="the kernels' interpreter (default: a python3.12 that has the image's "
                                           "packages, else this one; the output says which)")
    rehearse.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", dest="overrides",
                          help="as for build")
    rehearse.add_argument("--timeout", type=float, default=600, help="seconds per notebook cell")
    rehearse.add_argument("--out", default="build/rehearsal")
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


def parse_overrides(items: list[str]) -> dict:
    """``["NAME=VALUE", ...]`` -> {NAME: literal VALUE}; a malformed item raises ValueError naming it."""
    import ast

    values = {}
    for item in items:
        name, sep, text = item.partition("=")
        try:
            if not sep or not name.isidentifier():
                raise ValueError
            values[name] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            raise ValueError(f"--set {item!r}: expected NAME=VALUE with a Python literal, e.g. SKIP_ERRORS=True") \
                from None
    return values


def _build(args: argparse.Namespace) -> int:
    from kit.commands.checks import output_folder
    from kit.kernels.build import build_kernels, submission_warnings

    output_folder(args.out)
    overrides = parse_overrides(args.overrides)
    competition = _default_competition(args.competition)
    for kernel in build_kernels(args.user, competition, args.out, names=args.names or None, overrides=overrides):
        print(f"built {kernel.folder}")
        for problem in submission_warnings(kernel.parameters) if kernel.submission else []:
            print(f"warning: {kernel.folder.name}: {problem}")
    return 0


def _default_competition(given: str | None) -> str:
    from kit.competitions import DEFAULT_COMPETITION

    if given is None:
        print(f"no --competition given: using the notebooks' default {DEFAULT_COMPETITION!r} "
              "(pass --competition SLUG for another)")
    return given or DEFAULT_COMPETITION


def _rehearse(args: argparse.Namespace) -> int:
    from kit.kernels.rehearse import rehearse

    report = rehearse(_default_competition(args.competition), args.out, args.data, args.wheels, args.layout,
                      weights=args.weights, smoke=not args.full, python=args.python,
                      overrides=parse_overrides(args.overrides), timeout=args.timeout)
    print(report)
    return 0 if report.ok else 1


def run(args: argparse.Namespace) -> int:
    """Build, push or sync; a failing kaggle CLI call prints its message and returns 1."""
    from pathlib import Path

    from kit.kernels import load_kernel_settings, push_kernel

    if args.action == "sync-notebooks":
        return _sync(args)
    if args.action == "build":
        return _build(args)
    if args.action == "rehearse":
        return _rehearse(args)
    kernel = load_kernel_settings().get(args.name)  # an unknown name: UnknownNameError with the valid names
    try:
        version = push_kernel(Path(args.out) / args.name, submission=kernel.submission)
    except RuntimeError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"pushed {args.name}: version {version}")
    if kernel.submission:
        print(f"once it has run: kaggle competitions submit <competition> -k <user>/{kernel.slug} "
              f"-v {version} -m 'message'")
    return 0
