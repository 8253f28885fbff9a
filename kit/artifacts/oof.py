"""The OOF file (``oof.npz``): one entry per held-out image, written by the trainer, read by the ensemble search.

This module owns the format; every reader and writer goes through it. Each :class:`OofImage` holds an image's
probabilities at the working resolution (uint8 0–255, the map the predictor makes before upsampling), its id, organ
and data source, its scale (source pixels per working pixel), its full-resolution size and its targets as **area
shares**: for every foreground class, the share of each working pixel's full-resolution pixels that belong to it.
Dice from shares equals the full-resolution Dice of the prediction upsampled by nearest neighbour, so OOF scores
track the competition's full-resolution metric without storing full-resolution masks. API: :func:`write_oof`,
:func:`read_oof`, :func:`combine_oof` (folds into one); the scores are training's.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from kit.fsutil import atomic_path

__all__ = ["OOF_FILE", "OOF_FORMAT", "OofImage", "write_oof", "read_oof", "combine_oof"]

OOF_FILE = "oof.npz"
OOF_FORMAT = "kit-oof-images/1"


@dataclass
class OofImage:
    """One held-out image's OOF prediction (see the module docstring).

    ``probs`` C×h×w uint8; ``targets`` F×h×w uint8 area shares × 255 (F = foreground classes); ``valid``
    h×w uint8 share × 255 of pixels that are not ``ignore_index`` (None: all count); ``shape`` the
    full-resolution (height, width); ``group`` the organ ("" when none); ``truth`` the full-resolution mask of
    each foreground class as RLE in ``rle_order`` (empty for tile entries): what the submission path is scored
    against (:func:`kit.infer.scoring.score_probs`); ``fold_group`` the image's value of the folds' grouping column
    ``fold_column`` (e.g. its video sequence; "" when training did not record it, as for tile entries).
    """

    id: str
    probs: np.ndarray
    targets: np.ndarray
    group: str = ""
    data_source: str = ""
    scale: float = 1.0
    shape: tuple[int, int] = (0, 0)
    valid: np.ndarray | None = None
    truth: tuple[str, ...] = ()
    rle_order: str = "F"
    fold_group: str = ""
    fold_column: str = ""

    def __post_init__(self) -> None:
        if self.probs.ndim != 3 or self.targets.ndim != 3 or self.probs.shape[1:] != self.targets.shape[1:]:
            raise ValueError(f"OOF image {self.id!r}: probs C×h×w and targets F×h×w must share h×w; got "
                             f"{self.probs.shape} and {self.targets.shape}")
        if self.probs.dtype != np.uint8 or self.targets.dtype != np.uint8:
            raise ValueError(f"OOF image {self.id!r}: probs and targets must be uint8 (0–255)")


def write_oof(path: str | Path, images: Sequence[OofImage]) -> Path:
    """Write ``images`` to ``path`` (npz, atomic): per-image arrays ``probs_i``, ``targets_i``, ``valid_i`` and
    the tables ``ids``, ``groups``, ``data_sources``, ``scales``, ``shapes``, ``rle_orders``, ``fold_groups``,
    ``fold_columns``."""
    if not images:
        raise ValueError(f"no OOF images to write to {path}")
    ids = [im.id for im in images]
    if len(set(ids)) != len(ids):
        raise ValueError(f"OOF images for {path} repeat ids: {sorted({i for i in ids if ids.count(i) > 1})[:5]}")
    arrays: dict[str, np.ndarray] = {
        "format": np.asarray(OOF_FORMAT), "ids": np.asarray(ids, dtype=str),
        "groups": np.asarray([im.group for im in images], dtype=str),
        "data_sources": np.asarray([im.data_source for im in images], dtype=str),
        "scales": np.asarray([im.scale for im in images], np.float64),
        "shapes": np.asarray([im.shape for im in images], np.int64).reshape(-1, 2),
        "rle_orders": np.asarray([im.rle_order for im in images], dtype=str),
        "fold_groups": np.asarray([im.fold_group for im in images], dtype=str),
        "fold_columns": np.asarray([im.fold_column for im in images], dtype=str),
    }
    for i, im in enumerate(images):
        arrays[f"probs_{i}"], arrays[f"targets_{i}"] = im.probs, im.targets
        if im.valid is not None:
            arrays[f"valid_{i}"] = im.valid
        if im.truth:
            arrays[f"truth_{i}"] = np.asarray(im.truth, dtype=str)
    path = Path(path)
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez_compressed(tmp, **arrays)
    return path


def read_oof(path: str | Path) -> list[OofImage]:
    """The images of an ``oof.npz`` (or of the one in run folder ``path``); a missing file, another format or a
    missing array raises naming the file."""
    path = Path(path)
    if path.is_dir():
        path = path / OOF_FILE
    if not path.exists():
        raise FileNotFoundError(f"OOF file {path} not found: train first (notebook 01 / python -m kit train)")
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, EOFError, ValueError, zipfile.BadZipFile) as err:  # not an npz, truncated, or pickled objects
        raise ValueError(f"OOF file {path} could not be read ({type(err).__name__}: {err}): re-run the training's "
                         f"OOF step or delete the run") from None
    if not hasattr(data, "files"):
        raise ValueError(f"OOF file {path} is a single .npy array, not the npz that training writes")
    with data:
        if "format" not in data.files or str(data["format"]) != OOF_FORMAT:
            raise ValueError(f"{path} is not a per-image OOF file ({OOF_FORMAT}); it was written by an older kit "
                             "(one row per tile): train again to rewrite it")
        try:
            ids, groups, sources = (data[k].astype(str) for k in ("ids", "groups", "data_sources"))
            groups = np.where(np.isin(groups, ["nan", "None"]), "", groups)  # pandas' missing organ: no organ
            scales, shapes, orders = data["scales"], data["shapes"], data["rle_orders"].astype(str)

            def optional(name: str):
                return data[name] if name in data.files else None

            blank = np.full(len(ids), "")  # files written before fold groups were recorded
            fold_groups, fold_columns = (data[k].astype(str) if k in data.files else blank
                                         for k in ("fold_groups", "fold_columns"))

            return [OofImage(ids[i], data[f"probs_{i}"], data[f"targets_{i}"], groups[i], sources[i],
                             float(scales[i]), (int(shapes[i][0]), int(shapes[i][1])), optional(f"valid_{i}"),
                             tuple(map(str, data[f"truth_{i}"])) if f"truth_{i}" in data.files else (),
                             str(orders[i]), str(fold_groups[i]), str(fold_columns[i])) for i in range(len(ids))]
        except KeyError as err:
            raise ValueError(f"{path} lacks array {err.args[0]!r}") from None


def combine_oof(parts: Sequence[Sequence[OofImage]], names: Sequence[str] | None = None) -> list[OofImage]:
    """The images of several OOF files (e.g. the folds of one recipe) as one list sorted by id; an id found
    twice raises ValueError naming the parts (``names``, default their positions)."""
    names = list(names) if names is not None else [f"part {i}" for i in range(len(parts))]
    seen: dict[str, str] = {}
    out = []
    for name, images in zip(names, parts):
        for im in images:
            if im.id in seen:
                raise ValueError(f"image {im.id!r} is in both {seen[im.id]} and {name}: folds must not overlap")
            seen[im.id] = name
            out.append(im)
    return sorted(out, key=lambda im: im.id)
