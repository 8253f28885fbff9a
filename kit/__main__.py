"""Command line: ``python -m kit <command> [options]``; ``python -m kit <command> --help`` for each."""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

__all__ = ["COMMANDS", "main", "build_parser"]

# command name -> module in kit.commands; each module defines ``HELP``, ``configure(parser)`` and ``run(args)``.
COMMANDS: dict[str, str] = {
    "sample": "kit.commands.sample",
    "tile": "kit.commands.tile",
    "train": "kit.commands.train",
    "results": "kit.commands.results",
    "models": "kit.commands.models",
    "ensemble": "kit.commands.ensemble",
    "predict": "kit.commands.predict",
    "kernels": "kit.commands.kernels",
    "datasets": "kit.commands.datasets",
    "demo": "kit.commands.demo",
    "recipes": "kit.commands.recipes",
    "study": "kit.commands.study",
    "plan": "kit.commands.plan",
}


def _available() -> dict[str, object]:
    """Import the command modules that exist in this version of the kit."""
    found = {}
    for name, module_name in COMMANDS.items():
        try:
            found[name] = importlib.import_module(module_name)
        except ModuleNotFoundError as err:
            if err.name != module_name:  # the command exists but one of its imports is missing: say so
                raise
    return found


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level parser with one sub-parser per available command."""
    parser = argparse.ArgumentParser(prog="python -m kit", description=__doc__)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module in _available().items():
        cmd = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.configure(cmd)
        cmd.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run the chosen command; returns the process exit code."""
    args = build_parser().parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except (ValueError, FileNotFoundError, KeyError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
