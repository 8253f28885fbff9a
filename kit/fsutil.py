"""Atomic file writes: write to a temporary file beside the target, then rename over it."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import IO, Iterator

__all__ = ["OUTPUT_MODE", "TEMP_MARK", "atomic_path", "atomic_open", "atomic_write_text", "atomic_write_bytes",
           "swap_folder", "remove_stale_temps", "locked"]

OUTPUT_MODE = 0o644  #: every output file is world-readable
TEMP_MARK = ".tmp"  #: temporary siblings are named ``.<target name>.<random>.tmp[<suffix>]``
_TEMP_NAME = re.compile(r"^\.(.+)\.[a-z0-9_]{8}\.tmp(\.[A-Za-z0-9]+)?$")  # mkstemp's 8 random characters


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success it replaces ``target`` as a world-readable file
    (0644: submissions, metadata and checkpoints are shared), on error it is removed.

    Use this for writers that want a file name (``torch.save``, ``cv2.imwrite``, ``DataFrame.to_csv``).
    ``suffix`` keeps an extension that the writer needs to pick a format (e.g. ".png").
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=TEMP_MARK + suffix, dir=target.parent)
    os.fchmod(fd, OUTPUT_MODE)  # mkstemp makes 0600 files; outputs are shared (Kaggle datasets, other users)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextlib.contextmanager
def atomic_open(target: str | os.PathLike, mode: str = "w", **kwargs) -> Iterator[IO]:
    """Open a temporary file for writing; it replaces ``target`` only if the block finishes without error."""
    with atomic_path(target) as tmp, open(tmp, mode, **kwargs) as handle:
        yield handle
        handle.flush()
        os.fsync(handle.fileno())


def atomic_write_text(target: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``target`` atomically."""
    with atomic_open(target, "w", encoding="utf-8") as handle:
        handle.write(text)


def atomic_write_bytes(target: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``target`` atomically."""
    with atomic_open(target, "wb") as handle:
        handle.write(data)


@contextlib.contextmanager
def swap_folder(target: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty temporary sibling folder; when the block succeeds it replaces ``target`` (the old folder is
    removed only after the swap), on error it is removed and ``target`` stays as it was."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=TEMP_MARK, dir=target.parent))
    os.chmod(tmp, 0o755)
    try:
        yield tmp
        old = tmp.with_name(tmp.name + ".old")
        if target.exists():
            os.replace(target, old)
        os.replace(tmp, target)
        if old.exists():
            shutil.rmtree(old)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


@contextlib.contextmanager
def locked(target: str | os.PathLike) -> Iterator[None]:
    """Hold an exclusive lock on ``<target>.lock`` (processes updating one file in turn, e.g. runs.csv)."""
    import fcntl

    lock = Path(f"{target}.lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def remove_stale_temps(*folders: str | os.PathLike) -> list[Path]:
    """Delete the temporary siblings :func:`atomic_path` and :func:`swap_folder` left in ``folders`` when a
    process was killed (kill -9, power cut); a folder killed between the two renames of a swap is put back.
    Call it at the start of a run, before any writer of that folder starts. Returns what it removed."""
    removed = []
    for folder in map(Path, folders):
        for path in sorted(folder.glob(f".*{TEMP_MARK}*")) if folder.is_dir() else []:
            name = path.name.removesuffix(".old")
            match = _TEMP_NAME.match(name)
            if match is None:
                continue
            if path.is_dir() and path.name.endswith(".old") and not (folder / match.group(1)).exists():
                os.replace(path, folder / match.group(1))  # the swap stopped halfway: the old folder is the good one
                continue
            shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
            removed.append(path)
    return removed
