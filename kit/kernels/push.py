"""Push wrappers over the kaggle CLI: validate first, run the CLI, report the version, fail on what it only warns."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Callable, Sequence

from kit.kernels.metadata import (
    DATASET_METADATA_FILE,
    KERNEL_METADATA_FILE,
    validate_dataset_metadata,
    validate_kernel_metadata,
)

__all__ = ["CliRunner", "run_kaggle_cli", "parse_kernel_push", "push_kernel", "push_dataset"]

CliRunner = Callable[[Sequence[str]], tuple[int, str]]
_VERSION = re.compile(r"Kernel version (\d+) successfully pushed")
_INVALID = re.compile(r"not valid (?:dataset|competition|kernel|model) sources|not valid tags|Kernel push error", re.I)


def run_kaggle_cli(args: Sequence[str]) -> tuple[int, str]:
    """Run ``kaggle ARGS``; returns (exit code, stdout + stderr)."""
    try:
        result = subprocess.run(["kaggle", *args], capture_output=True, text=True)
    except FileNotFoundError:
        raise FileNotFoundError("the kaggle CLI is not installed: pip install kaggle (>= 2.0)") from None
    return result.returncode, result.stdout + result.stderr


def parse_kernel_push(output: str) -> int:
    """The version number from ``kaggle kernels push`` output; raise if it reports invalid sources or an error."""
    bad = [line for line in output.splitlines() if _INVALID.search(line)]
    if bad:
        raise RuntimeError("kaggle kernels push reported problems:\n" + "\n".join(bad))
    match = _VERSION.search(output)
    if not match:
        raise RuntimeError(f"kaggle kernels push did not report a version:\n{output.strip()[-2000:]}")
    return int(match.group(1))


def _load(folder: Path, name: str) -> dict:
    path = folder / name
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: build the folder first")
    return json.loads(path.read_text())


def push_kernel(folder: str | Path, submission: bool = False, run: CliRunner = run_kaggle_cli) -> int:
    """Validate ``folder``'s kernel-metadata.json, ``kaggle kernels push -p folder``; returns the new version."""
    folder = Path(folder)
    validate_kernel_metadata(_load(folder, KERNEL_METADATA_FILE), folder, submission=submission)
    code, output = run(["kernels", "push", "-p", str(folder)])
    if code != 0:
        raise RuntimeError(f"kaggle kernels push failed ({code}):\n{output.strip()[-2000:]}")
    return parse_kernel_push(output)


def push_dataset(folder: str | Path, message: str = "update", run: CliRunner = run_kaggle_cli) -> str:
    """Validate, then create the dataset (or, if it exists, add a version with ``message``); returns the CLI's
    report. Anything but "is being created" raises RuntimeError with the CLI output (it exits 0 on errors)."""
    folder = Path(folder)
    validate_dataset_metadata(_load(folder, DATASET_METADATA_FILE), folder)
    code, output = run(["datasets", "create", "-p", str(folder), "-r", "zip", "-q"])
    if code == 0 and "is being created" in output:
        return output.strip()
    if "already in use" not in output:
        raise RuntimeError(f"kaggle datasets create failed ({code}):\n{output.strip()[-2000:]}")
    code, output = run(["datasets", "version", "-p", str(folder), "-m", message, "-r", "zip", "-q"])
    if code != 0 or "is being created" not in output:
        raise RuntimeError(f"kaggle datasets version failed ({code}):\n{output.strip()[-2000:]}")
    return output.strip()
