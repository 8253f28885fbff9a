"""Command line: ``python -m kit <command> [options]``; ``python -m kit <command> --help`` for each."""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

__all__ = ["COMMANDS", "USER_ERRORS", "main", "build_parser", "one_line"]

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


#: errors a user can cause (bad files, flags, folders, NaN training): one line on stderr, exit code 2
USER_ERRORS = (ValueError, KeyError, OSError, ArithmeticError)


def one_line(err: BaseException) -> str:
    """The message of ``err`` on one line (a KeyError's without its quotes, line breaks joined by "; ")."""
    text = str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err) or type(err).__name__
    return "; ".join(line.strip() for line in text.splitlines() if line.strip())


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``error: <command>: <message> (see --help)``, exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"error: {self.prog}: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(2)


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """Build the top-level parser with one sub-parser per available command.

    ``only``: configure that command's options alone (its flags come from the step's dataclass, whose module
    may import torch); the others keep their one-line help.
    """
    parser = _Parser(prog="python -m kit", description=__doc__)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module in _available().items():
        cmd = sub.add_parser(name, help=module.HELP, description=module.HELP)
        if only is None or name == only:
            module.configure(cmd)
        cmd.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run the chosen command; returns the process exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    chosen = next((a for a in argv if not a.startswith("-")), "")  # the command, if any: configure it alone
    args = build_parser(chosen).parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except USER_ERRORS as err:
        _close_progress_bars()
        print(f"error: {one_line(err)}", file=sys.stderr)
        return 2


def _close_progress_bars() -> None:
    """End the progress bars an error interrupted, so the error message starts on its own line."""
    tqdm = sys.modules.get("tqdm")
    for bar in list(getattr(getattr(tqdm, "tqdm", None), "_instances", ())):
        bar.close()


if __name__ == "__main__":
    sys.exit(main())
