"""Argument checks every command runs before it writes anything: output paths, numbers, devices.

Each raises ValueError naming the flag, the value and what was expected (the CLI prints it on one line, exit 2).
"""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path

from kit.fingerprint import FRESH, REFUSE, RESUME_ANYWAY

__all__ = ["output_folder", "output_file", "number", "device", "add_rerun_flags"]


def _writable_parent(path: Path, flag: str) -> None:
    """The nearest existing folder above ``path`` must be a folder this process may write into."""
    for parent in path.absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                raise ValueError(f"{flag} {path}: {parent} is a file, not a folder")
            if not os.access(parent, os.W_OK | os.X_OK):
                raise ValueError(f"{flag} {path}: folder {parent} is not writable")
            return


def output_folder(path: str | os.PathLike, flag: str = "--out") -> Path:
    """``path`` as a folder to write into: an existing writable folder, or one that can be created."""
    path = Path(path)
    if path.exists():
        if not path.is_dir():
            raise ValueError(f"{flag} {path} is a file; expected a folder")
        if not os.access(path, os.W_OK | os.X_OK):
            raise ValueError(f"{flag} {path}: folder is not writable")
        return path
    _writable_parent(path, flag)
    return path


def output_file(path: str | os.PathLike, flag: str = "--out") -> Path:
    """``path`` as a file to (re)write: not a folder, in a folder that exists or can be created."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{flag} {path} is a folder; expected a file name")
    if path.parent.exists():
        output_folder(path.parent, flag)
    else:
        _writable_parent(path, flag)
    return path


def number(value: float | int | None, flag: str, low: float | None = None, high: float | None = None,
           low_inclusive: bool = True) -> float | int | None:
    """``value`` when it is finite and within [low, high] (``low_inclusive=False``: above ``low``); None passes."""
    if value is None:
        return None
    below = low is not None and (value < low or (value == low and not low_inclusive))
    if not math.isfinite(value) or below or (high is not None and value > high):
        bounds = " and ".join(b for b in (
            "" if low is None else f"{'>=' if low_inclusive else '>'} {low:g}",
            "" if high is None else f"<= {high:g}") if b)
        raise ValueError(f"{flag} must be a finite number{' ' + bounds if bounds else ''}; got {value!r}")
    return value


def device(text: str | None, flag: str = "--device") -> str | None:
    """``text`` when torch knows that device and it is present here (``cuda`` needs a GPU); None passes."""
    if text is None:
        return None
    import torch

    try:
        parsed = torch.device(text)
    except (RuntimeError, ValueError):
        raise ValueError(f"{flag} {text!r} is not a device; expected cpu, cuda or cuda:N") from None
    if parsed.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ValueError(f"{flag} {text}: no CUDA GPU is available here; use --device cpu")
        if parsed.index is not None and parsed.index >= count:
            raise ValueError(f"{flag} {text}: only {count} CUDA device(s) here (cuda:0..cuda:{count - 1})")
    elif parsed.type != "cpu":
        raise ValueError(f"{flag} {text!r}: kit runs on cpu or cuda, not {parsed.type}")
    return text


def add_rerun_flags(parser: argparse.ArgumentParser, what: str) -> None:
    """``--resume-anyway`` / ``--fresh`` (into ``args.rerun``): what to do when the folder was made otherwise."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--resume-anyway", dest="rerun", action="store_const", const=RESUME_ANYWAY, default=REFUSE,
                       help=f"build on the {what} folder although its recipe or inputs changed")
    group.add_argument("--fresh", dest="rerun", action="store_const", const=FRESH,
                       help=f"delete what this command wrote in the {what} folder before, then start over")
