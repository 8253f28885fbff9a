"""Fingerprints of what made an output folder (a recipe, the inputs' sizes, times and hashes) and the rerun rule.

A resumable step (tiling, training) records ``fingerprint.json`` in its folder. A rerun whose fingerprint
differs while the folder holds work refuses and lists the differences, unless the caller says what to do:
``RESUME_ANYWAY`` keeps the old work, ``FRESH`` deletes the step's own files first (never anything else).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any, Iterable

from kit.fsutil import atomic_write_text
from kit.registry import Registry

__all__ = ["FINGERPRINT_FILE", "REFUSE", "RESUME_ANYWAY", "FRESH", "RERUN_POLICIES", "file_stamp", "file_hash",
           "differences", "check_rerun", "record_fingerprint"]

FINGERPRINT_FILE = "fingerprint.json"
REFUSE, RESUME_ANYWAY, FRESH = "refuse", "resume-anyway", "fresh"
RERUN_POLICIES = Registry.of("rerun policy", (REFUSE, RESUME_ANYWAY, FRESH),
                             "rerun policy {name!r} unknown{hint}; valid: {valid}", sort=False)


def file_stamp(path: str | Path) -> list[int]:
    """[size in bytes, modification time in ns] of a file (cheap: for images)."""
    stat = Path(path).stat()
    return [stat.st_size, stat.st_mtime_ns]


def file_hash(path: str | Path) -> str:
    """SHA-256 of a file's bytes (for tables and small JSON files)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def differences(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    """One phrase per differing key of two nested dicts: ``key: old -> new`` (or added / removed)."""
    found = []
    for key in sorted(set(old) | set(new)):
        name = f"{prefix}{key}"
        if key not in old:
            found.append(f"{name} added")
        elif key not in new:
            found.append(f"{name} removed")
        elif isinstance(old[key], dict) and isinstance(new[key], dict):
            found.extend(differences(old[key], new[key], f"{name}."))
        elif old[key] != new[key]:
            found.append(f"{name}: {old[key]!r} -> {new[key]!r}")
    return found


def _remove(folder: Path, names: Iterable[str]) -> None:
    for name in names:
        path = folder / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()


def check_rerun(folder: str | Path, fingerprint: dict[str, Any], has_work: bool, own_files: Iterable[str],
                policy: str = REFUSE, what: str = "folder", previous: dict[str, Any] | None = None) -> None:
    """Compare ``fingerprint`` with the one recorded in ``folder`` and apply ``policy`` (writes nothing).

    ``has_work``: the folder holds results a rerun would build on. ``own_files``: the names this step writes
    (deleted by ``FRESH``). ``previous``: the fingerprint to compare with when the folder has none recorded
    (older folders). A difference with ``REFUSE`` raises ValueError listing it and the two ways out.
    """
    RERUN_POLICIES.check(policy)
    folder = Path(folder)
    path = folder / FINGERPRINT_FILE
    if path.is_file():
        try:
            previous = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            previous = {"unreadable": str(path)}
    if policy == FRESH:
        _remove(folder, [*own_files, FINGERPRINT_FILE])
    elif has_work and previous is not None:
        changed = differences(previous, json.loads(json.dumps(fingerprint)))
        if changed and policy == REFUSE:
            more = f" ... ({len(changed)} in all)" if len(changed) > 6 else ""
            raise ValueError(f"{what} {folder} was made with other settings or inputs: {'; '.join(changed[:6])}{more}. "
                             f"Pass --resume-anyway to build on it, --fresh to start over, or use a new folder")


def record_fingerprint(folder: str | Path, fingerprint: dict[str, Any]) -> None:
    """Write ``fingerprint.json`` (once the step's arguments are known to be good, before its work)."""
    atomic_write_text(Path(folder) / FINGERPRINT_FILE, json.dumps(fingerprint, indent=1, sort_keys=True) + "\n")
