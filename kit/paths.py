"""Where data lives: local folders or Kaggle mounts (new ``competitions/``/``datasets/`` and legacy forms).

``KIT_KAGGLE_INPUT`` and ``KIT_KAGGLE_WORKING`` point the Kaggle input and working roots at local folders,
so tests and the demo can simulate ``/kaggle/input`` and ``/kaggle/working``.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["SCORING_DIR", "kaggle_input_root", "working_root", "on_kaggle", "find_competition_data", "find_dataset",
           "find_file", "find_marked_folders", "find_step_output", "find_training_inputs", "check_plain_id",
           "path_inside"]

#: where a data folder keeps hidden test labels (the synthetic samples write them, the hold-out scorer reads them),
#: outside the competition layout the notebooks read
SCORING_DIR = "_scoring"


def kaggle_input_root() -> Path:
    """``$KIT_KAGGLE_INPUT`` or ``/kaggle/input``."""
    return Path(os.environ.get("KIT_KAGGLE_INPUT", "/kaggle/input"))


def working_root() -> Path:
    """``$KIT_KAGGLE_WORKING``, else ``/kaggle/working`` when it exists, else the current folder."""
    if "KIT_KAGGLE_WORKING" in os.environ:
        return Path(os.environ["KIT_KAGGLE_WORKING"])
    kaggle = Path("/kaggle/working")
    return kaggle if kaggle.is_dir() else Path.cwd()


def on_kaggle() -> bool:
    """True inside a Kaggle kernel (its run-type variable is set) or when the input root exists."""
    return "KAGGLE_KERNEL_RUN_TYPE" in os.environ or kaggle_input_root().is_dir()


def _first_existing(candidates: list[Path], what: str) -> Path:
    for path in candidates:
        if path.is_dir():
            return path
    tried = "\n  ".join(str(p) for p in candidates)
    raise FileNotFoundError(f"{what} not found; looked in:\n  {tried}")


def find_competition_data(slug: str, local: str | Path | None = None) -> Path:
    """The competition's data folder: ``local`` if given, else the new then the legacy Kaggle mount."""
    if local is not None:
        return _first_existing([Path(local)], f"competition data for {slug}")
    root = kaggle_input_root()
    return _first_existing([root / "competitions" / slug, root / slug], f"competition data for {slug}")


def find_dataset(slug: str, owner: str | None = None) -> Path:
    """An attached dataset: ``datasets/<owner>/<slug>`` (any owner when None), then legacy ``<slug>``."""
    root = kaggle_input_root()
    owners = [owner] if owner else sorted(p.name for p in (root / "datasets").glob("*") if p.is_dir())
    candidates = [root / "datasets" / o / slug for o in owners] + [root / slug]
    if not owners:
        candidates.insert(0, root / "datasets" / "<owner>" / slug)
    return _first_existing(candidates, f"dataset {slug}")


def find_file(name: str, roots: list[str | Path] | None = None) -> Path:
    """The first file called ``name`` under ``roots`` (default: the Kaggle input root), searched recursively."""
    roots = [Path(r) for r in (roots or [kaggle_input_root()])]
    for root in roots:
        for path in sorted(root.rglob(name)) if root.is_dir() else []:
            if path.is_file():
                return path
    raise FileNotFoundError(f"no file named {name!r} under {', '.join(map(str, roots))}")


def find_marked_folders(marker: str, depth: int = 4) -> list[Path]:
    """Every folder under the Kaggle input root, at most ``depth`` levels down (``datasets/<owner>/<slug>`` is 3),
    that holds a file named ``marker``, sorted. Bounded, unlike :func:`find_file`: a tiles dataset may hold
    100 000 files."""
    root = kaggle_input_root()
    found = {path.parent for level in range(depth + 1) for path in root.glob("/".join(["*"] * level + [marker]))
             if path.is_file()}
    return sorted(found)


def find_step_output(local: str | Path, marker: str) -> Path:
    """The folder a previous notebook wrote: ``local`` if it holds ``marker``, else the first folder under the
    Kaggle input root that does (a kernel's output attached as a source, e.g. the tiles of kernel 00).

    ``marker`` is a file that step always writes (``tiling.json`` for tiles, ``oof.npz`` for a training run).
    """
    local = Path(local)
    if (local / marker).is_file():
        return local
    try:
        return find_file(marker, [local, kaggle_input_root()]).parent
    except FileNotFoundError:
        raise FileNotFoundError(f"no {marker} in {local} nor under {kaggle_input_root()}: run the notebook that "
                                f"writes it first, or attach that kernel's output") from None


def find_training_inputs(competition: str, tiles_dir: str | Path | None,
                         data_dir: str | Path | None) -> tuple[str | None, str | None]:
    """(tiles folder, data folder) of a training run, as strings for its recipe.

    Tiles: ``tiles_dir`` through :func:`find_step_output` (on Kaggle: the tiling kernel's output attached as a
    source). Data: ``data_dir`` (checked), or without tiles (full images, NeoPolyp) the competition data found by
    :func:`find_competition_data`; ``None`` when tiles need no data folder.
    """
    tiles = str(find_step_output(tiles_dir, "tiling.json")) if tiles_dir else None
    data = str(find_competition_data(competition, data_dir)) if data_dir or tiles is None else None
    return tiles, data


def check_plain_id(image_id: str, where: str) -> str:
    """``image_id`` when it is a plain file-name part (no folder separator, not ``.``/``..``, no NUL); else a
    ValueError naming ``where`` (the file and row it came from): an id from a table must not point elsewhere."""
    text = str(image_id)
    if not text or text in (".", "..") or any(c in text for c in ("/", "\\", "\0")):
        raise ValueError(f"{where}: id {text!r} is not a plain file name (no '/', '\\', '..'): it would name a "
                         f"file outside the image folder")
    return text


def path_inside(root: str | Path, relative: str | Path, what: str) -> Path:
    """``root / relative`` when ``relative`` is relative and, links resolved, stays inside ``root``; else a
    ValueError naming ``what`` (e.g. "ensemble.json model 'a' checkpoint"): paths read from a file stay in its
    folder."""
    relative = Path(relative)
    if relative.is_absolute() or ".." in relative.parts:
        raise ValueError(f"{what} {str(relative)!r} must be a path relative to {root} without '..'")
    path = Path(root) / relative
    base = Path(root).resolve()
    if path.resolve() != base and base not in path.resolve().parents:
        raise ValueError(f"{what} {str(relative)!r} resolves to {path.resolve()}, outside {base}")
    return path
